"""The node engine: conservation, agreement with predictions, batching, loading, rejections."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npu_sim.engine import Finished, FirstToken, Job, NodeEngine, NodeSpec
from npu_sim.predictor import Predictor, default_predictor


def drain(engine: NodeEngine) -> list:
    events = []
    while math.isfinite(engine.next_event_time()):
        events += engine.advance(engine.next_event_time())
    return events


def test_single_job_matches_the_prediction(predictor: Predictor) -> None:
    engine = NodeEngine(NodeSpec("n", "ax650n", {"qwen2.5-1.5b": "w8a16"}), predictor)
    assert engine.submit(Job("a", "qwen2.5-1.5b", 200, 64), 0.0) is None
    events = drain(engine)
    done = events[-1]
    assert isinstance(events[0], FirstToken) and isinstance(done, Finished)
    expected = predictor.predict("ax650n", "qwen2.5-1.5b", "w8a16", 200, 64)
    assert done.first_token_at == pytest.approx(expected.ttft_s)
    assert done.done_at == pytest.approx(expected.latency_s)
    assert done.energy_j == pytest.approx(expected.energy_j)
    assert engine.energy_j(done.done_at) == pytest.approx(expected.energy_j)


def test_idle_time_costs_energy(predictor: Predictor) -> None:
    engine = NodeEngine(NodeSpec("n", "ax630c", {"qwen2-0.5b": "w8a16"}), predictor)
    engine.advance(100.0)
    assert engine.energy_j(100.0) == pytest.approx(100.0 * engine.hardware.idle_w)


def test_continuous_batching_beats_serial_on_a_gpu(predictor: Predictor) -> None:
    def total_time(hardware: str, max_batch: int) -> float:
        spec = NodeSpec("n", hardware, {"llama3.1-8b": "fp16"}, max_batch=max_batch)
        engine = NodeEngine(spec, predictor)
        for i in range(8):
            engine.advance(i * 0.01)
            assert engine.submit(Job(str(i), "llama3.1-8b", 100, 100), i * 0.01) is None
        return max(e.done_at for e in drain(engine) if isinstance(e, Finished))

    assert total_time("h100-pcie-80g", 32) < 0.5 * total_time("h100-pcie-80g", 1)


def test_model_not_resident_is_loaded_first(predictor: Predictor) -> None:
    spec = NodeSpec("n", "ax650n", {"qwen2.5-0.5b": "w8a16"}, preload=())
    engine = NodeEngine(spec, predictor)
    engine.submit(Job("a", "qwen2.5-0.5b", 128, 8), 0.0)
    done = next(e for e in drain(engine) if isinstance(e, Finished))
    costs = engine.costs("qwen2.5-0.5b")
    load_s = costs.model.weight_bytes(costs.precision) / engine.hardware.host_link_bytes_per_s
    assert done.first_token_at == pytest.approx(load_s + costs.prefill(128).seconds)
    assert engine.resident_models == ["qwen2.5-0.5b"]


def test_rejections_say_why(predictor: Predictor) -> None:
    spec = NodeSpec("n", "ax630c", {"qwen2-0.5b": "w8a16", "llama3-8b": "w8a16"}, queue_capacity=2)
    engine = NodeEngine(spec, predictor)
    assert engine.submit(Job("x", "qwen2.5-72b", 10, 10), 0.0).reason == "unknown_model"
    no_fit = engine.submit(Job("y", "llama3-8b", 10, 10), 0.0)
    assert no_fit.reason == "does_not_fit" and "GiB" in no_fit.detail
    assert engine.submit(Job("z", "qwen2-0.5b", 0, 10), 0.0).reason == "bad_request"
    accepted = [engine.submit(Job(str(i), "qwen2-0.5b", 10, 10), 0.0) for i in range(3)]
    assert accepted == [None, None, None]  # one running, two waiting
    assert engine.submit(Job("w", "qwen2-0.5b", 10, 10), 0.0).reason == "queue_full"


JOBS = st.lists(
    st.tuples(
        st.floats(0, 5),  # gap before arrival
        st.sampled_from(["qwen2.5-0.5b", "qwen2.5-1.5b", "yolov8s", "llama3.2-1b"]),
        st.integers(1, 600),
        st.integers(1, 200),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    jobs=JOBS,
    hardware=st.sampled_from(["ax650n", "jetson-orin-nano-super"]),
    capacity=st.integers(1, 6),
)
def test_every_accepted_job_finishes_exactly_once(jobs: list, hardware: str, capacity: int) -> None:
    predictor = default_predictor()
    models = {
        "qwen2.5-0.5b": "w8a16",
        "qwen2.5-1.5b": "w4a16",
        "yolov8s": "w8a8",
        "llama3.2-1b": "w8a16",
    }
    engine = NodeEngine(NodeSpec("n", hardware, models, queue_capacity=capacity), predictor)
    now, accepted, events = 0.0, {}, []
    for i, (gap, model, prompt, output) in enumerate(jobs):
        now += gap
        events += engine.advance(now)
        if engine.submit(Job(str(i), model, prompt, output), now) is None:
            accepted[str(i)] = now
    events += drain(engine)
    finished = [e for e in events if isinstance(e, Finished)]
    assert sorted(e.job_id for e in finished) == sorted(accepted)
    firsts = {e.job_id: e.time for e in events if isinstance(e, FirstToken)}
    for done in finished:
        assert accepted[done.job_id] <= done.started_at <= done.first_token_at <= done.done_at
        assert firsts[done.job_id] == done.first_token_at
        assert done.energy_j > 0
    end = max([now, *(e.done_at for e in finished)])
    assert engine.energy_j(end) >= engine.hardware.idle_w * end * (1 - 1e-9)
    assert engine.energy_j(end) >= sum(e.energy_j for e in finished) * (1 - 1e-9)
    assert engine.in_flight == 0
