"""Live and simulated agree: the tiny scenario run by fleetsim and by the live stack.

The live stack (deploy.local.LocalStack: orchestrator and agent processes on loopback) gets the
scenario's topology and, for each deterministic policy, the scenario's requests in arrival
order, one at a time (light load, as in the simulation where the fleet is mostly idle). Every
request must land on the same tier, and mean latency and total energy must agree within 10%.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.local import LocalStack
from deploy.scenario import scenario_stack
from fleetsim.runner import simulate_policy
from fleetsim.scenario import Scenario, load_scenario
from fleetsim.workload import arrivals
from npu_sim.models import LLM
from npu_sim.predictor import default_predictor
from orchestrator.client import OrchestratorClient
from routing.specs import PolicySpec
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(180)
DETERMINISTIC = ("device-first", "cloud-only", "edge-only")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    tiny = load_scenario(REPO / "scenarios" / "tiny.yaml")
    assert not tiny.events  # outages are not played live
    return tiny


@pytest.fixture(scope="module")
def client(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OrchestratorClient]:
    config = scenario_stack(scenario, time_scale=0.02)
    with (
        LocalStack(config, port=0, log_dir=tmp_path_factory.mktemp("logs")) as stack,
        OrchestratorClient(stack.address, timeout_s=60) as live,
    ):
        yield live


def simulated(scenario: Scenario, policy: str) -> dict[str, dict]:
    outcomes: dict[str, dict] = {}

    def keep(batch) -> None:  # type: ignore[no-untyped-def]
        for request, outcome, answer in zip(
            batch.requests, batch.outcomes, batch.answers, strict=True
        ):
            outcomes[request.id] = {
                "tier": outcome.tier or "none",
                "latency_s": outcome.latency_s,
                "energy_j": outcome.energy_j,
                "model": outcome.model,
                "requested": request.model,
                "p_correct": answer.p_correct if answer else None,
                "correct": answer.correct if answer else None,
            }

    simulate_policy(scenario, PolicySpec(policy), scenario.seed, [keep], default_predictor())
    return outcomes


def send(client: OrchestratorClient, scenario: Scenario, policy: str, prefix: str) -> dict:
    """The scenario's requests, one at a time, ids `prefix` + the simulation's."""
    catalog = default_predictor().catalog
    live: dict[str, dict] = {}
    for arrival in arrivals(scenario):
        request = arrival.request
        fields: dict = {
            "client_node": request.origin or "",
            "policy": policy,
            "request_id": f"{prefix}{request.id}",
            "slo_ms": (request.slo_s or 0) * 1000,
            "task": request.task or "",
        }
        if isinstance(catalog.model(request.model), LLM):
            fields |= {"prompt_tokens": request.prompt_tokens, "max_tokens": request.output_tokens}
        try:
            live[request.id] = client.infer(request.model, **fields)
        except Exception as exc:  # an unserved request is an UNAVAILABLE error live
            assert "UNAVAILABLE" in repr(exc) or "no tier can serve" in str(exc), exc
            live[request.id] = {"tier": "none", "latency_s": None, "energy_j": 0.0}
    return live


def test_live_replies_carry_the_answer_quality_the_simulation_records_for_each_request(
    scenario: Scenario, client: OrchestratorClient
) -> None:
    """The cascade answers with its small model or the requested one, request by request, from
    its seeded confidence; live and simulated it must answer each request with the same model
    and report the same P(correct) and outcome (same seed, same request ids)."""
    sim = simulated(scenario, "cascade")
    live = send(client, scenario, "cascade", prefix="")
    assert set(live) == set(sim)
    answered = [rid for rid in sim if sim[rid]["p_correct"] is not None]
    models = {rid: (sim[rid]["model"], live[rid]["model"]) for rid in answered}
    assert all(s == lv for s, lv in models.values()), f"answering model (sim, live): {models}"
    for rid in answered:
        assert live[rid]["p_correct"] == pytest.approx(sim[rid]["p_correct"], rel=1e-12), rid
        assert live[rid]["correct"] == sim[rid]["correct"], rid
    # Some answers came from the cascade's small model standing in for a larger one.
    assert any(sim[rid]["model"] != sim[rid]["requested"] for rid in answered)


@pytest.mark.parametrize("policy", DETERMINISTIC)
def test_live_and_simulated_agree_request_by_request(
    scenario: Scenario, client: OrchestratorClient, policy: str
) -> None:
    sim = simulated(scenario, policy)
    live = send(client, scenario, policy, prefix=f"{policy}-")
    assert set(live) == set(sim)
    mismatched = {rid: (sim[rid]["tier"], live[rid]["tier"]) for rid in sim}
    mismatched = {rid: pair for rid, pair in mismatched.items() if pair[0] != pair[1]}
    assert not mismatched, f"{policy}: tier (sim, live) differs: {mismatched}"
    served = [rid for rid in sim if sim[rid]["tier"] != "none"]
    assert served
    sim_latency = sum(sim[rid]["latency_s"] for rid in served) / len(served)
    live_latency = sum(live[rid]["latency_s"] for rid in served) / len(served)
    assert live_latency == pytest.approx(sim_latency, rel=0.10)
    sim_energy = sum(sim[rid]["energy_j"] for rid in served)
    live_energy = sum(live[rid]["energy_j"] for rid in served)
    assert live_energy == pytest.approx(sim_energy, rel=0.10)
