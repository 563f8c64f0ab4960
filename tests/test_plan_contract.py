"""The plan contract every built-in keeps, on random cluster states (routing.policy.Policy):
a plan is never empty; each step names a node or why its tier was passed over; only nodes of
the view, on the step's tier; every tier in use (or exactly the policy's `tiers`) is covered;
and when every queue is full, every policy's request ends with the same status."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npu_sim.hardware import TIERS
from npu_sim.predictor import default_predictor
from routing.cluster import Cluster, NodeState
from routing.escalation import Escalator
from routing.placement import tiers_in_use
from routing.policies import BUILTINS
from routing.policy import Plan
from routing.request import Request
from routing.specs import PolicySpec

HARDWARE = {"device": "ax630c", "edge": "ax650n", "cloud": "h100-pcie-80g"}
MODELS = {
    "device": {"qwen2.5-0.5b": "w8a16", "yolov8s": "w8a8"},
    "edge": {"qwen2.5-0.5b": "w8a16", "qwen2.5-7b": "w4a16", "yolov8s": "w8a8"},
    "cloud": {
        "qwen2.5-0.5b": "fp16",
        "qwen2.5-7b": "fp16",
        "llama3.1-70b": "w8a16",
        "yolov8s": "fp16",
    },
}
REQUESTED = ["qwen2.5-0.5b", "qwen2.5-7b", "llama3.1-70b", "yolov8s", "clip-vit-b-16"]


@st.composite
def clusters(draw: st.DrawFn, full_serving: str | None = None) -> tuple[Cluster, list[str]]:
    """A cluster with 0-3 nodes per tier, each up or down, with a random load, serving a random
    subset of its tier's models; or, given `full_serving`, 1-3 nodes per tier, all up, every
    queue full, every node serving that model."""
    full = full_serving is not None
    predictor = default_predictor()
    cluster = Cluster(predictor)
    devices: list[str] = []
    for tier in TIERS:
        for i in range(draw(st.integers(1 if full else 0, 3))):
            served = draw(st.sets(st.sampled_from(sorted(MODELS[tier])), min_size=1))
            served |= {full_serving} if full_serving is not None else set()
            capacity = draw(st.integers(1, 8))
            batch = 32 if tier == "cloud" else 1
            node = NodeState(
                f"{tier}-{i}",
                tier,
                tier,
                predictor.catalog.hardware(HARDWARE[tier]),
                {model: MODELS[tier][model] for model in sorted(served)},
                capacity,
                batch,
                up=True if full else draw(st.booleans()),
                slowdown=draw(st.floats(0.5, 5.0)),
            )
            node.in_flight = capacity + batch if full else draw(st.integers(0, capacity + batch))
            cluster.upsert(node)
            if tier == "device":
                devices.append(node.id)
    return cluster, devices


@st.composite
def requests(draw: st.DrawFn, devices: list[str], model: str | None = None) -> Request:
    origin = draw(st.sampled_from([None, *devices]))
    slo = draw(st.none() | st.floats(0.05, 60.0))
    model = model or draw(st.sampled_from(REQUESTED))
    return Request("r", model, 64, 32, slo, origin)


def check_contract(plan: Plan, cluster: Cluster, policy: str) -> None:
    assert plan, f"{policy}: empty plan"
    for step in plan:
        assert step.node is not None or step.skip is not None, f"{policy}: {step} names nothing"
        if step.node is not None:
            node = cluster.node(step.node)
            assert node is not None, f"{policy}: {step.node} is not in the view"
            assert node.tier == step.tier, f"{policy}: {step.node} is not on {step.tier}"
    expected = BUILTINS[policy].tiers or tuple(tiers_in_use(cluster))
    assert {step.tier for step in plan} == set(expected), f"{policy}: tiers of {plan}"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_builtin_plan_is_nonempty_names_known_nodes_and_covers_its_tiers(
    data: st.DataObject,
) -> None:
    cluster, devices = data.draw(clusters())
    assume(tiers_in_use(cluster))  # a cluster with no node has no plan to make
    request = data.draw(requests(devices))
    for name in BUILTINS:
        policy = PolicySpec(name).build(seed=data.draw(st.integers(0, 3)))
        check_contract(policy.decide(request, cluster), cluster, name)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_when_every_queue_is_full_every_builtin_ends_with_resource_exhausted(
    data: st.DataObject,
) -> None:
    # Every node of every tier serves the model: what stops the request is load alone.
    model = data.draw(st.sampled_from(["qwen2.5-0.5b", "yolov8s"]))
    cluster, devices = data.draw(clusters(full_serving=model))
    request = data.draw(requests(devices, model))
    models = {m: cluster.model(m) for m in REQUESTED}
    for name in BUILTINS:
        plan = PolicySpec(name).build().decide(request, cluster)
        walk = Escalator(request, plan, cluster.network, models)
        assert walk.next_step() is None, f"{name} tried a full node: {plan}"
        assert walk.outcome.status == "RESOURCE_EXHAUSTED", f"{name}: {walk.outcome.reason}"
