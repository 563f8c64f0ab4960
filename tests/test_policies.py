"""Routing policies and the escalation bookkeeping, on a hand-built cluster (pure core)."""

from __future__ import annotations

import pytest

from npu_sim.predictor import default_predictor
from npu_sim.quality import default_quality
from routing.cluster import Cluster, NodeState
from routing.escalation import Escalator, NodeResult
from routing.policies import BUILTINS
from routing.policies.cascade import Cascade
from routing.policy import Policy
from routing.request import Request
from routing.specs import PolicyError, PolicySpec

DEVICE_MODELS = {"qwen2.5-0.5b": "w8a16", "yolov8s": "w8a8"}
EDGE_MODELS = {"qwen2.5-0.5b": "w8a16", "qwen2.5-7b": "w4a16", "yolov8s": "w8a8"}
CLOUD_MODELS = {"llama3.1-70b": "w8a16", "qwen2.5-7b": "fp16", "qwen2.5-0.5b": "fp16"}


def build(devices: int = 4, edges: int = 2, clouds: int = 1) -> Cluster:
    predictor = default_predictor()
    cluster = Cluster(predictor)
    hw = predictor.catalog.hardware
    for i in range(devices):
        cluster.upsert(NodeState(f"dev-{i}", "dev", "device", hw("ax630c"), DEVICE_MODELS, 4))
    for i in range(edges):
        cluster.upsert(NodeState(f"edge-{i}", "edge", "edge", hw("ax650n"), EDGE_MODELS, 8))
    for i in range(clouds):
        cluster.upsert(
            NodeState(f"cloud-{i}", "cloud", "cloud", hw("h100-pcie-80g"), CLOUD_MODELS, 64, 32)
        )
    return cluster


def request(
    model: str = "qwen2.5-0.5b",
    slo: float | None = None,
    origin: str | None = "dev-0",
    rid: str = "r1",
) -> Request:
    return Request(rid, model, 64, 32, slo, origin)


def make_policy(name: str, seed: int = 0) -> Policy:
    return PolicySpec(name).build(seed)


def runnable(plan: tuple) -> list[str]:
    return [step.tier for step in plan if step.skip is None]


def test_registry_has_every_builtin_policy() -> None:
    assert set(BUILTINS) == {
        "device-first",
        "cloud-only",
        "edge-only",
        "latency-greedy",
        "energy-aware",
        "energy-marginal",
        "power-of-two-choices",
        "cascade",
        "learned-router",
        "random-substitution",
        "smallest-model",
    }
    with pytest.raises(PolicyError, match="built-in: device-first"):
        make_policy("fastest")


def test_device_first_keeps_small_models_on_the_origin_device() -> None:
    plan = make_policy("device-first").decide(request(), build())
    assert plan[0].tier == "device" and plan[0].node == "dev-0" and plan[0].skip is None
    assert runnable(plan) == ["device", "edge", "cloud"]


def test_device_first_escalates_a_model_that_fits_no_device() -> None:
    plan = make_policy("device-first").decide(request("llama3.1-70b"), build())
    assert [(s.tier, s.skip) for s in plan] == [
        ("device", "does_not_fit"),
        ("edge", "does_not_fit"),
        ("cloud", None),
    ]
    plan = make_policy("device-first").decide(request("qwen2.5-7b"), build())
    assert (plan[0].tier, plan[0].skip) == ("device", "not_served")


def test_full_queue_and_predicted_slo_miss_pass_a_tier_over() -> None:
    cluster = build()
    cluster.node("dev-0").in_flight = 5  # 4 queued + 1 running: full
    plan = make_policy("device-first").decide(request(), cluster)
    assert (plan[0].tier, plan[0].skip) == ("device", "queue_full")
    cluster.node("dev-0").in_flight = 0
    plan = make_policy("device-first").decide(request(slo=2.0), cluster)
    assert (plan[0].tier, plan[0].skip) == ("device", "slo_miss")
    assert (plan[1].tier, plan[1].skip) == ("edge", None)


def test_down_nodes_are_not_chosen() -> None:
    cluster = build(edges=2)
    cluster.set_up("edge-0", False)
    picks = {make_policy("edge-only", seed=s).decide(request(), cluster)[0].node for s in range(20)}
    assert picks == {"edge-1"}
    cluster.set_up("edge-1", False)
    assert make_policy("edge-only").decide(request(), cluster)[0].skip == "not_served"
    cluster.set_up("dev-0", False)
    assert make_policy("device-first").decide(request(), cluster)[0].skip == "unavailable"


def test_single_tier_policies() -> None:
    assert runnable(make_policy("cloud-only").decide(request(), build())) == ["cloud"]
    assert runnable(make_policy("edge-only").decide(request(), build())) == ["edge"]


def test_latency_greedy_and_energy_aware_rank_by_their_objective() -> None:
    cluster = build()
    req = request("qwen2.5-7b", origin=None)
    fastest = make_policy("latency-greedy").decide(req, cluster)[0]
    assert fastest.tier == "cloud"
    req = request(origin="dev-1")
    plan = make_policy("energy-aware").decide(req, cluster)
    joules = [cluster.estimate(cluster.node(step.node), req).energy_j for step in plan]
    assert joules == sorted(joules) and len(plan) == 3
    # With an SLO only the cloud can meet, energy-aware gives up the cheap tiers.
    tight = make_policy("energy-aware").decide(request("qwen2.5-7b", slo=3.0, origin=None), cluster)
    assert tight[0].tier == "cloud"


def test_power_of_two_choices_balances_across_tiers() -> None:
    cluster = build(devices=0, edges=2, clouds=2)
    cluster.node("edge-0").in_flight = 6
    cluster.node("edge-1").in_flight = 6
    tiers = [
        make_policy("power-of-two-choices", seed=s).decide(request(origin=None), cluster)[0].tier
        for s in range(40)
    ]
    assert tiers.count("cloud") > tiers.count("edge")


def test_cascade_tries_the_small_model_first_with_a_deterministic_confidence() -> None:
    cluster = build()
    policy = make_policy("cascade", seed=7)
    assert isinstance(policy, Cascade)
    plan = policy.decide(request("qwen2.5-7b"), cluster)
    assert (plan[0].tier, plan[0].model, plan[0].min_confidence) == ("device", "qwen2.5-0.5b", 0.5)
    scores = [
        policy.confidence(request("qwen2.5-7b", rid=str(i)), "qwen2.5-0.5b") for i in range(2000)
    ]
    assert scores == [
        make_policy("cascade", seed=7).confidence(request("qwen2.5-7b", rid=str(i)), "qwen2.5-0.5b")
        for i in range(2000)
    ]
    # The confidence is the small model's own, an AUROC-0.75 observation of its correctness.
    quality = default_quality().with_seed(7)
    right = [quality.outcome("qwen2.5-0.5b", "chat", str(i)) for i in range(2000)]
    confident_right = sum(s >= 0.5 and r for s, r in zip(scores, right, strict=True)) / sum(right)
    confident_wrong = sum(s >= 0.5 and not r for s, r in zip(scores, right, strict=True)) / (
        len(right) - sum(right)
    )
    assert confident_right > confident_wrong + 0.2


def _escalator(plan: tuple, req: Request, cluster: Cluster) -> Escalator:
    models = {step.model: cluster.model(step.model) for step in plan}
    return Escalator(req, plan, cluster.network, models)


def test_escalator_records_the_path_and_the_cost() -> None:
    cluster = build()
    req = request("qwen2.5-0.5b", slo=10.0)
    walk = _escalator(make_policy("device-first").decide(req, cluster), req, cluster)
    assert walk.next_step().tier == "device"
    walk.refused("queue_full")
    step = walk.next_step()
    assert step.tier == "edge"
    assert walk.answered(NodeResult(0.2, 1.5, 7.0, 32))
    outcome = walk.outcome
    assert outcome.served and outcome.tier == "edge" and outcome.slo_met
    assert [(e.from_tier, e.to_tier, e.reason) for e in outcome.escalations] == [
        ("device", "edge", "queue_full")
    ]
    transfer = cluster.network.transfer("edge", cluster.model("qwen2.5-0.5b"), 64, 32)
    assert outcome.latency_s == pytest.approx(1.5 + transfer.seconds)
    assert outcome.energy_j == pytest.approx(7.0 + transfer.joules)
    assert walk.next_step() is None


def test_escalator_ends_unserved_with_every_reason() -> None:
    cluster = build()
    req = request("llama3.1-70b")
    walk = _escalator(make_policy("device-first").decide(req, cluster), req, cluster)
    assert walk.next_step().tier == "cloud"
    walk.refused("unavailable")
    assert walk.next_step() is None
    outcome = walk.outcome
    assert (
        not outcome.served
        and "device: does_not_fit" in outcome.reason
        and "cloud: unavailable" in outcome.reason
    )
    assert [e.to_tier for e in outcome.escalations] == ["cloud", "cloud", None]


def test_low_confidence_answers_escalate_and_are_paid_for() -> None:
    cluster = build()
    req = request("qwen2.5-7b")
    plan = make_policy("cascade").decide(req, cluster)
    walk = _escalator(plan, req, cluster)
    walk.next_step()
    assert not walk.answered(NodeResult(0.3, 3.0, 4.0, 32), confidence=0.1)
    nxt = walk.next_step()
    assert nxt.model == "qwen2.5-7b"
    assert walk.answered(NodeResult(0.5, 6.0, 20.0, 32))
    outcome = walk.outcome
    assert outcome.energy_j > 24.0 and outcome.latency_s > 9.0
    assert outcome.escalations[0].reason == "low_confidence"


def test_marginal_joules_are_the_cost_alone_on_an_idle_node_and_less_in_a_running_batch() -> None:
    cluster = build()
    req = request("qwen2.5-0.5b", origin=None)
    cloud, device = cluster.node("cloud-0"), cluster.node("dev-0")
    assert cloud is not None and device is not None
    alone = cluster.estimate(cloud, req).energy_j
    assert cluster.marginal_joules(cloud, req) == pytest.approx(alone)
    assert cluster.marginal_joules(device, req) == pytest.approx(
        cluster.estimate(device, req).energy_j
    )  # a chip that does not batch: its own run
    cloud.in_flight = 16
    assert cluster.marginal_joules(cloud, req) < alone / 4


def test_energy_marginal_sends_work_to_a_busy_gpu_and_keeps_it_off_an_idle_one() -> None:
    cluster = build()
    req = request("qwen2.5-7b", slo=60.0, origin="dev-0")
    idle = PolicySpec("energy-marginal").build().decide(req, cluster)
    cloud = cluster.node("cloud-0")
    assert cloud is not None
    cloud.in_flight = 24  # a full batch is running: joining it costs little
    busy = PolicySpec("energy-marginal").build().decide(req, cluster)
    assert runnable(idle)[0] == "edge" and runnable(busy)[0] == "cloud"


def test_energy_marginal_joins_the_running_batch_rather_than_waking_an_idle_gpu() -> None:
    cluster = build(clouds=3)
    req = request("qwen2.5-7b", slo=60.0, origin=None)
    busy = cluster.node("cloud-1")
    assert busy is not None
    busy.in_flight = 8
    for seed in range(5):  # whichever GPU the sample names, the busy one is tried first
        plan = PolicySpec("energy-marginal").build(seed).decide(req, cluster)
        cloud = [step.node for step in plan if step.tier == "cloud" and step.skip is None]
        assert cloud[0] == "cloud-1"
    busy.in_flight = busy.queue_capacity + busy.max_batch  # full: it would refuse
    for seed in range(5):
        plan = PolicySpec("energy-marginal").build(seed).decide(req, cluster)
        assert "cloud-1" not in [step.node for step in plan if step.skip is None]


def test_smallest_model_answers_an_llm_request_with_the_smallest_served_llm_then_the_asked() -> (
    None
):
    cluster = build()
    plan = make_policy("smallest-model").decide(request("qwen2.5-7b"), cluster)
    small = [step for step in plan if step.model == "qwen2.5-0.5b"]
    assert small and plan[: len(small)] == tuple(small)  # every runnable tier of it, first
    assert {step.model for step in plan[len(small) :]} == {"qwen2.5-7b"}
    vision = make_policy("smallest-model").decide(request("yolov8s"), cluster)
    assert {step.model for step in vision} == {"yolov8s"}
