"""The agent process's life: bad flags, a taken port, time scale 0, idempotent retries, and a
graceful SIGTERM that finishes the work in flight. Real processes on 127.0.0.1."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from edgetier.v1 import agent_pb2, agent_pb2_grpc
from npu_sim.predictor import Predictor
from tests.test_agent import AgentProcess, metric_samples, sample, start_agent


def edgetier_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", "agent", *args, "--no-register"],
        capture_output=True,
        text=True,
        timeout=60,
    )


BASE = {
    "--name": "b",
    "--tier": "edge",
    "--hardware": "ax650n",
    "--models": "qwen2-0.5b:w8a16",
}


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--hardware", "ax640", ["ax640", "ax650n", "h100-pcie-80g"]),
        ("--tier", "moon", ["moon", "device", "edge", "cloud"]),
        ("--models", "gpt-5:w8a16", ["gpt-5", "qwen2-0.5b"]),
        ("--models", "qwen2-0.5b:int3", ["int3", "w8a16", "w4a16"]),
        ("--models", "qwen2-0.5b", ["MODEL:PRECISION"]),
        ("--models", "qwen2-0.5b:fp16", ["fp16"]),  # ax650n has no fp16 compute rate
        ("--models", "llama3.1-70b:w4a16", ["llama3.1-70b", "does not fit", "qwen2-0.5b"]),
        ("--nodes", "0", ["must be a whole number >= 1, got 0"]),
        ("--time-scale", "-1", ["-1"]),
    ],
)
def test_bad_flags_exit_2_naming_the_flag_and_valid_values(
    flag: str, value: str, words: list[str]
) -> None:
    args = {**BASE, flag: value}
    done = edgetier_agent(*[x for pair in args.items() for x in pair])
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr
    for word in words:
        assert word in done.stderr
    assert done.stdout == ""  # never announced as listening


def test_a_taken_port_is_an_error_naming_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = {**BASE, "--port": str(port)}
        done = edgetier_agent(*[x for pair in args.items() for x in pair])
    assert done.returncode == 1
    assert "--port" in done.stderr and str(port) in done.stderr
    assert done.stdout == ""


@pytest.fixture(scope="module")
def instant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """A cloud agent at time scale 0: modelled time jumps from event to event."""
    log = tmp_path_factory.mktemp("instant") / "agent.log"
    running = start_agent(
        log,
        *("--name", "z", "--tier", "cloud", "--hardware", "h100-pcie-80g", "--nodes", "2"),
        *("--models", "llama3.1-8b:fp16,qwen2.5-0.5b:fp16", "--time-scale", "0"),
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(60)
def test_time_scale_zero_runs_a_long_generation_without_waiting(
    instant: AgentProcess, predictor: Predictor
) -> None:
    request = agent_pb2.RunRequest(
        node="z-0", model="llama3.1-8b", prompt_tokens=512, output_tokens=4000
    )
    reply = instant.stub().Run(request, timeout=50)
    expected = predictor.predict("h100-pcie-80g", "llama3.1-8b", "fp16", 512, 4000)
    assert expected.latency_s is not None and expected.latency_s > 50  # most of a minute, modelled
    assert reply.latency_s == pytest.approx(expected.latency_s)
    assert reply.energy_j == pytest.approx(expected.energy_j)


@pytest.mark.timeout(60)
def test_time_scale_zero_streams_concurrent_batched_requests_exactly(
    instant: AgentProcess,
) -> None:
    stub = instant.stub()
    sizes = [5, 50, 200, 1]
    streams = [
        stub.RunStream(
            agent_pb2.RunRequest(
                node="z-1", model="qwen2.5-0.5b", prompt_tokens=64, output_tokens=n
            ),
            timeout=50,
        )
        for n in sizes
    ]
    for n, stream in zip(sizes, streams, strict=True):
        messages = list(stream)
        summary = messages[-1].summary
        times = [m.token.time_s for m in messages[:-1]]
        assert [m.token.index for m in messages[:-1]] == list(range(n))
        assert summary.output_tokens == n
        assert times == sorted(times) and times[-1] == pytest.approx(summary.latency_s)


def _node_energy(stub: agent_pb2_grpc.DeviceAgentStub, node: str) -> float:
    nodes = stub.Describe(agent_pb2.DescribeRequest(), timeout=10).nodes
    return next(n.energy_j for n in nodes if n.id == node)


@pytest.mark.timeout(60)
def test_an_idempotent_retry_returns_the_first_result_without_running_again(
    instant: AgentProcess,
) -> None:
    stub = instant.stub()

    def ok_count() -> float:
        return sample(
            metric_samples(instant.metrics),
            "edgetier_agent_requests_total",
            tier="cloud",
            model="qwen2.5-0.5b",
            outcome="ok",
        )

    request = agent_pb2.RunRequest(
        node="z-0", model="qwen2.5-0.5b", prompt_tokens=100, output_tokens=100, request_id="d1"
    )
    count = ok_count()
    first = stub.Run(request, timeout=30)
    energy = _node_energy(stub, "z-0")  # time scale 0: an idle node's clock stands still
    again = stub.Run(request, timeout=30)
    assert again == first
    assert _node_energy(stub, "z-0") == energy  # no second run drew energy
    assert ok_count() == count + 1

    # Concurrent duplicates (and a stream among them) share one run.
    request.request_id = "d2"
    calls = [stub.Run.future(request, timeout=30) for _ in range(3)]
    streamed = list(stub.RunStream(request, timeout=30))
    replies = [call.result() for call in calls]
    assert all(reply == replies[0] for reply in replies)
    assert streamed[-1].summary == replies[0] and len(streamed) == 101
    assert ok_count() == count + 2

    # No request id: no dedupe.
    request.request_id = ""
    stub.Run(request, timeout=30)
    stub.Run(request, timeout=30)
    assert ok_count() == count + 4


@pytest.mark.timeout(60)
def test_sigterm_finishes_in_flight_work_then_exits_0(tmp_path: Path) -> None:
    agent = start_agent(
        tmp_path / "agent.log",
        *("--name", "s", "--tier", "device", "--hardware", "ax630c"),
        *("--models", "qwen2-0.5b:w8a16", "--time-scale", "0.05", "--grace-s", "30"),
    )
    try:
        stub = agent.stub()
        request = agent_pb2.RunRequest(
            node="s-0", model="qwen2-0.5b", prompt_tokens=128, output_tokens=128
        )
        in_flight = stub.Run.future(request, timeout=50)
        deadline = time.monotonic() + 30
        while stub.Describe(agent_pb2.DescribeRequest(), timeout=10).nodes[0].in_flight == 0:
            assert time.monotonic() < deadline, "the request never reached the node"
            time.sleep(0.01)
        agent.process.send_signal(signal.SIGTERM)
        # New work is refused while the accepted request finishes (or, if it already has
        # and the process is gone, the connection is refused: UNAVAILABLE either way).
        with pytest.raises(grpc.RpcError) as refused:
            stub.Run(request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        reply = in_flight.result()
        assert reply.output_tokens == 128 and reply.latency_s > 12  # modelled seconds
        assert agent.process.wait(timeout=30) == 0
        assert "SIGTERM" in agent.log.read_text()
    finally:
        agent.stop()
