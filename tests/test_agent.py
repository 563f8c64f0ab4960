"""The device agent as a user runs it: a real `edgetier agent` process on 127.0.0.1, real gRPC
clients (DeviceAgent, health, reflection), real /metrics scrapes.

One agent serves the whole module (three ax650n nodes at time scale 0.01, queue capacity 2);
tests use separate nodes where one could disturb another: t-0 for single requests, t-1 for the
burst that fills its queue, t-2 for streams and cancelled clients.
"""

from __future__ import annotations

import json
import math
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from edgetier.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from npu_sim.predictor import Predictor

READY_TIMEOUT_S = 30


@dataclass
class AgentProcess:
    """A running `edgetier agent` child and what its JSON line said."""

    process: subprocess.Popen[str]
    ready: dict[str, object]
    log: Path

    @property
    def grpc(self) -> str:
        return str(self.ready["grpc"])

    @property
    def metrics(self) -> str:
        return str(self.ready["metrics"])

    def stub(self) -> agent_pb2_grpc.DeviceAgentStub:
        return agent_pb2_grpc.DeviceAgentStub(grpc.insecure_channel(self.grpc))

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not go; the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_agent(log: Path, *args: str) -> AgentProcess:
    """Start `python -m edgetier agent ARGS --no-register` and wait for its listening line."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "edgetier", "agent", *args, "--no-register"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.wait()
        raise AssertionError(f"agent did not start: {log.read_text()}")
    return AgentProcess(process, json.loads(line), log)


def metric_samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Scrape `url`: {(sample name, labels): value}."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    log = tmp_path_factory.mktemp("agent") / "agent.log"
    running = start_agent(
        log,
        *("--name", "t", "--tier", "edge", "--hardware", "ax650n", "--nodes", "3"),
        *("--models", "qwen2-0.5b:w8a16,yolov8s:w8a8,llama3.2-1b:w8a16"),
        *("--queue-capacity", "2", "--time-scale", "0.01"),
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def stub(agent: AgentProcess) -> agent_pb2_grpc.DeviceAgentStub:
    return agent.stub()


def run(stub: agent_pb2_grpc.DeviceAgentStub, **fields: object) -> agent_pb2.RunReply:
    return stub.Run(agent_pb2.RunRequest(**fields), timeout=30)


def test_listening_line_names_loopback_addresses_and_nodes(agent: AgentProcess) -> None:
    assert agent.ready["event"] == "listening" and agent.ready["agent"] == "t"
    assert agent.ready["nodes"] == 3
    assert agent.grpc.startswith("127.0.0.1:") and int(agent.grpc.rsplit(":", 1)[1]) > 0
    assert agent.metrics.startswith("http://127.0.0.1:") and agent.metrics.endswith("/metrics")


def test_a_lone_request_matches_the_prediction(
    stub: agent_pb2_grpc.DeviceAgentStub, predictor: Predictor
) -> None:
    reply = run(
        stub, node="t-0", model="qwen2-0.5b", prompt_tokens=64, output_tokens=32, request_id="r1"
    )
    expected = predictor.predict("ax650n", "qwen2-0.5b", "w8a16", 64, 32)
    assert (reply.node, reply.request_id, reply.model) == ("t-0", "r1", "qwen2-0.5b")
    assert reply.queue_s == 0.0
    assert reply.ttft_s == pytest.approx(expected.ttft_s)
    assert reply.latency_s == pytest.approx(expected.latency_s)
    assert reply.energy_j == pytest.approx(expected.energy_j)
    assert reply.output_tokens == 32
    assert 0 < reply.ttft_s < reply.latency_s


def test_a_vision_model_ignores_token_counts(
    stub: agent_pb2_grpc.DeviceAgentStub, predictor: Predictor
) -> None:
    reply = run(stub, node="t-0", model="yolov8s")  # no token counts: fine for vision
    expected = predictor.predict("ax650n", "yolov8s", "w8a8")
    assert reply.latency_s == pytest.approx(expected.latency_s)
    assert reply.energy_j == pytest.approx(expected.energy_j)
    assert reply.ttft_s == reply.latency_s and reply.output_tokens == 0


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"model": "qwen2-0.5b"}, grpc.StatusCode.INVALID_ARGUMENT, ["node: required"]),
        ({"node": "t-0"}, grpc.StatusCode.INVALID_ARGUMENT, ["model: required"]),
        (
            {"node": "t-9", "model": "qwen2-0.5b", "prompt_tokens": 8, "output_tokens": 8},
            grpc.StatusCode.NOT_FOUND,
            ["node:", "t-9", "t-0"],
        ),
        (
            {"node": "t-0", "model": "gpt-5", "prompt_tokens": 8, "output_tokens": 8},
            grpc.StatusCode.NOT_FOUND,
            ["model:", "gpt-5", "qwen2-0.5b"],
        ),
        (
            {"node": "t-0", "model": "qwen2-0.5b", "output_tokens": 8},
            grpc.StatusCode.INVALID_ARGUMENT,
            ["prompt_tokens:"],
        ),
        (
            {"node": "t-0", "model": "qwen2-0.5b", "prompt_tokens": 8},
            grpc.StatusCode.INVALID_ARGUMENT,
            ["output_tokens:"],
        ),
        (
            {"node": "t-0", "model": "qwen2-0.5b", "prompt_tokens": 40000, "output_tokens": 8},
            grpc.StatusCode.INVALID_ARGUMENT,
            ["prompt_tokens", "context"],
        ),
        (  # fits with a short context, not with this one (KV cache and activations)
            {"node": "t-0", "model": "llama3.2-1b", "prompt_tokens": 100000, "output_tokens": 8},
            grpc.StatusCode.FAILED_PRECONDITION,
            ["model:", "does not fit", "GiB"],
        ),
    ],
)
def test_errors_have_the_documented_code_and_name_the_field(
    stub: agent_pb2_grpc.DeviceAgentStub,
    fields: dict[str, object],
    code: grpc.StatusCode,
    words: list[str],
) -> None:
    for call in (stub.Run, lambda request, timeout: list(stub.RunStream(request, timeout=timeout))):
        with pytest.raises(grpc.RpcError) as caught:
            call(agent_pb2.RunRequest(**fields), timeout=30)
        assert caught.value.code() == code
        for word in words:
            assert word in caught.value.details()


@pytest.mark.timeout(60)
def test_a_burst_beyond_the_queue_is_resource_exhausted(
    stub: agent_pb2_grpc.DeviceAgentStub,
) -> None:
    request = agent_pb2.RunRequest(
        node="t-1", model="qwen2-0.5b", prompt_tokens=32, output_tokens=1500
    )
    calls: list[Future] = [stub.Run.future(request, timeout=50) for _ in range(8)]
    ok, exhausted = [], []
    for call in calls:
        try:
            ok.append(call.result())
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
            assert "node:" in error.details() and "queue is full" in error.details()
            exhausted.append(error)
    assert len(ok) >= 3 and exhausted  # one running + a queue of two; the rest refused
    assert len(ok) + len(exhausted) == 8
    assert sorted(r.queue_s for r in ok)[-1] > 0  # the queued ones waited


def test_stream_yields_every_token_in_order_then_the_summary(
    stub: agent_pb2_grpc.DeviceAgentStub,
) -> None:
    request = agent_pb2.RunRequest(
        node="t-2", model="qwen2-0.5b", prompt_tokens=16, output_tokens=40, request_id="s1"
    )
    messages = list(stub.RunStream(request, timeout=30))
    tokens = [m.token for m in messages[:-1]]
    summary = messages[-1]
    assert all(m.WhichOneof("kind") == "token" for m in messages[:-1])
    assert summary.WhichOneof("kind") == "summary"
    assert (
        [t.index for t in tokens] == list(range(40)) == list(range(summary.summary.output_tokens))
    )
    times = [t.time_s for t in tokens]
    assert times == sorted(times)
    assert times[0] == pytest.approx(summary.summary.ttft_s)
    assert times[-1] == pytest.approx(summary.summary.latency_s)
    assert summary.summary.request_id == "s1" and summary.summary.node == "t-2"


def test_stream_of_a_vision_model_is_just_the_summary(
    stub: agent_pb2_grpc.DeviceAgentStub,
) -> None:
    messages = list(stub.RunStream(agent_pb2.RunRequest(node="t-2", model="yolov8s"), timeout=30))
    assert len(messages) == 1 and messages[0].summary.model == "yolov8s"


@pytest.mark.timeout(60)
def test_a_client_that_gives_up_does_not_lose_the_request(
    stub: agent_pb2_grpc.DeviceAgentStub, predictor: Predictor
) -> None:
    request = agent_pb2.RunRequest(
        node="t-2", model="qwen2-0.5b", prompt_tokens=16, output_tokens=500, request_id="c1"
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.Run(request, timeout=0.05)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The retry finds the accepted request and waits for its result: it ran once, from the
    # first acceptance, alone on the node.
    reply = stub.Run(request, timeout=30)
    expected = predictor.predict("ax650n", "qwen2-0.5b", "w8a16", 16, 500)
    assert reply.request_id == "c1"
    assert reply.latency_s == pytest.approx(expected.latency_s)
    node = next(n for n in stub.Describe(agent_pb2.DescribeRequest()).nodes if n.id == "t-2")
    assert node.in_flight == 0 and node.queue_depth == 0


def test_describe_lists_every_node_with_live_state(
    stub: agent_pb2_grpc.DeviceAgentStub, predictor: Predictor
) -> None:
    reply = stub.Describe(agent_pb2.DescribeRequest(), timeout=10)
    assert reply.agent == "t"
    assert [n.id for n in reply.nodes] == ["t-0", "t-1", "t-2"]
    idle_w = predictor.catalog.hardware("ax650n").idle_w
    for node in reply.nodes:
        assert node.agent == "t" and node.tier == common_pb2.TIER_EDGE
        assert node.hardware == "ax650n" and node.state == "up"
        assert node.queue_capacity == 2 and node.queue_depth <= 2
        assert node.in_flight >= node.queue_depth
        assert [(m.id, m.precision, m.resident) for m in node.models] == [
            ("qwen2-0.5b", "w8a16", True),
            ("yolov8s", "w8a8", True),
            ("llama3.2-1b", "w8a16", True),
        ]
        assert node.power_w >= idle_w and node.energy_j > 0
        assert 0 <= node.utilisation <= 1


def test_health_is_serving_for_the_server_and_the_service(agent: AgentProcess) -> None:
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(agent.grpc))
    for service in ("", "edgetier.v1.DeviceAgent"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_and_describes_the_service(agent: AgentProcess) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(grpc.insecure_channel(agent.grpc))
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="edgetier.v1.DeviceAgent"),
    ]
    listing, files = list(reflection.ServerReflectionInfo(iter(requests), timeout=10))
    services = {s.name for s in listing.list_services_response.service}
    assert {"edgetier.v1.DeviceAgent", "grpc.health.v1.Health"} <= services
    assert files.file_descriptor_response.file_descriptor_proto  # what grpcurl describes


def test_metrics_have_the_contract_names_and_energy_grows_while_idle(
    agent: AgentProcess, stub: agent_pb2_grpc.DeviceAgentStub
) -> None:
    run(stub, node="t-0", model="yolov8s")
    with pytest.raises(grpc.RpcError):
        run(stub, node="", model="qwen2-0.5b")
    first = metric_samples(agent.metrics)
    names = {name for name, _ in first}
    assert {
        "edgetier_energy_joules_total",
        "edgetier_power_watts",
        "edgetier_queue_depth",
        "edgetier_node_in_flight",
        "edgetier_node_utilisation_ratio",
        "edgetier_agent_requests_total",
        "edgetier_agent_run_duration_seconds_bucket",
        "edgetier_agent_run_duration_seconds_count",
    } <= names
    assert sample(first, "edgetier_power_watts", tier="edge", node="t-0") > 0
    ok = sample(first, "edgetier_agent_requests_total", tier="edge", model="yolov8s", outcome="ok")
    assert ok >= 1
    assert (
        sample(
            first,
            "edgetier_agent_requests_total",
            tier="edge",
            model="qwen2-0.5b",
            outcome="invalid",
        )
        >= 1
    )
    before = sample(first, "edgetier_energy_joules_total", tier="edge", node="t-0")
    time.sleep(0.2)  # t-0 is idle: it still draws idle power
    after = sample(
        metric_samples(agent.metrics), "edgetier_energy_joules_total", tier="edge", node="t-0"
    )
    assert math.isfinite(after) and after > before
