"""Hostile and bad input: random and malformed requests get documented status codes with the
field named, the servers stay healthy, and a valid request still succeeds afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deploy.local import LocalStack, first_json_line
from edgetier.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
)
from npu_sim.catalog import default_catalog
from orchestrator.client import OrchestratorClient
from routing.policies import BUILTINS
from tests.live import small_stack

pytestmark = pytest.mark.timeout(180)

ORCHESTRATOR_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
AGENT_CODES = ORCHESTRATOR_CODES | {grpc.StatusCode.FAILED_PRECONDITION}
INFER_FIELDS = {f.name for f in orchestrator_pb2.InferRequest.DESCRIPTOR.fields} | {"request"}
RUN_FIELDS = {f.name for f in agent_pb2.RunRequest.DESCRIPTOR.fields} | {"request"}
MODELS = sorted(default_catalog().models_by_id)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(small_stack(time_scale=0.0), port=0, log_dir=tmp_path_factory.mktemp("l")) as s:
        yield s


@pytest.fixture(scope="module")
def orchestrator(stack: LocalStack) -> Iterator[orchestrator_pb2_grpc.OrchestratorStub]:
    with grpc.insecure_channel(stack.address) as channel:
        yield orchestrator_pb2_grpc.OrchestratorStub(channel)


@pytest.fixture(scope="module")
def agent(stack: LocalStack) -> Iterator[agent_pb2_grpc.DeviceAgentStub]:
    with grpc.insecure_channel(stack.children[1].ready["grpc"]) as channel:
        yield agent_pb2_grpc.DeviceAgentStub(channel)


def text() -> st.SearchStrategy[str]:
    return st.text(max_size=300) | st.sampled_from(["", " ", "\x00", "\u202e", "x" * 5000])


@st.composite
def infer_requests(draw: st.DrawFn) -> orchestrator_pb2.InferRequest:
    request = orchestrator_pb2.InferRequest(
        model=draw(st.sampled_from(MODELS) | text()),
        task=draw(st.integers(0, 9)),
        max_tokens=draw(st.integers(0, 2**32 - 1)),
        slo_ms=draw(st.floats(allow_nan=True, allow_infinity=True)),
        request_id=draw(text()),
        client_node=draw(st.sampled_from(["", "dev-0", "edge-0", "cloud-0"]) | text()),
        policy=draw(st.sampled_from(["", *BUILTINS]) | text()),
    )
    prompt = draw(st.sampled_from(["text", "tokens", "none"]))
    if prompt == "text":
        request.prompt_text = draw(text())
    elif prompt == "tokens":
        request.prompt_tokens = draw(st.integers(0, 2**32 - 1))
    return request


def _named(error: grpc.RpcError, fields: set[str]) -> bool:
    return (error.details() or "").split(":", 1)[0] in fields


@FUZZ
@given(request=infer_requests())
def test_fuzzed_infer_requests_get_documented_codes(
    orchestrator: orchestrator_pb2_grpc.OrchestratorStub, request: orchestrator_pb2.InferRequest
) -> None:
    try:
        reply = orchestrator.Infer(request, timeout=30)
    except grpc.RpcError as error:
        assert error.code() in ORCHESTRATOR_CODES, (error.code(), error.details())
        if error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            assert _named(error, INFER_FIELDS), error.details()
    else:
        assert reply.tier != common_pb2.TIER_UNSPECIFIED and reply.latency_s >= 0


@FUZZ
@example(node="dev-0", model="qwen2.5-0.5b", prompt=1, output=32768, request_id="")  # past context
@given(
    node=st.sampled_from(["dev-0", "edge-1", "cloud-0", ""]) | text(),
    model=st.sampled_from(MODELS) | text(),
    prompt=st.integers(0, 2**32 - 1),
    output=st.integers(0, 2**32 - 1),
    request_id=text(),
)
def test_fuzzed_run_requests_get_documented_codes(
    agent: agent_pb2_grpc.DeviceAgentStub,
    node: str,
    model: str,
    prompt: int,
    output: int,
    request_id: str,
) -> None:
    request = agent_pb2.RunRequest(
        node=node, model=model, prompt_tokens=prompt, output_tokens=output, request_id=request_id
    )
    try:
        agent.Run(request, timeout=30)
    except grpc.RpcError as error:
        assert error.code() in AGENT_CODES, (error.code(), error.details())
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            assert _named(error, RUN_FIELDS), error.details()


def _raw(address: str, method: str, payload: bytes) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(method)  # bytes in, bytes out: no client-side checks
        try:
            call(payload, timeout=30)
        except grpc.RpcError as error:
            assert error.code() in AGENT_CODES, (error.code(), error.details())
            return error.code()
    return grpc.StatusCode.OK


@FUZZ
@given(payload=st.binary(max_size=120))
def test_malformed_frames_are_invalid_argument_not_crashes(
    stack: LocalStack, payload: bytes
) -> None:
    _raw(stack.address, "/edgetier.v1.Orchestrator/Infer", payload)
    _raw(stack.children[1].ready["grpc"], "/edgetier.v1.DeviceAgent/Run", payload)


def test_invalid_utf8_and_truncated_frames_name_the_message(stack: LocalStack) -> None:
    bad_utf8 = b"\x0a\x03\xff\xfe\xfd"  # field 1 (model), 3 bytes that are not UTF-8
    truncated = b"\x0a\x10qwen"  # field 1 says 16 bytes, 4 follow
    huge = b"\x20" + _VarintBytes(2**64 - 1)  # prompt_tokens = -1 as a varint
    for payload in (bad_utf8, truncated):
        with (
            grpc.insecure_channel(stack.address) as channel,
            pytest.raises(grpc.RpcError) as caught,
        ):
            channel.unary_unary("/edgetier.v1.Orchestrator/Infer")(payload, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("request: not a valid edgetier.v1.InferRequest")
    assert (
        _raw(stack.address, "/edgetier.v1.Orchestrator/Infer", b"\x0a\x0cqwen2.5-0.5b" + huge)
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_oversized_messages_are_refused(stack: LocalStack) -> None:
    request = orchestrator_pb2.InferRequest(model="qwen2.5-0.5b", prompt_text="x" * (2 << 20))
    with grpc.insecure_channel(stack.address) as channel, pytest.raises(grpc.RpcError) as caught:
        orchestrator_pb2_grpc.OrchestratorStub(channel).Infer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_servers_stay_healthy_and_serve_after_the_fuzzing(stack: LocalStack) -> None:
    for child in stack.children:
        with grpc.insecure_channel(child.ready["grpc"]) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        assert child.process.poll() is None
    with OrchestratorClient(stack.address, timeout_s=30) as client:
        assert (
            client.infer("qwen2.5-0.5b", prompt="still there?", max_tokens=4)["output_tokens"] == 4
        )


def test_client_tokens_unauthenticated_and_permission_denied(tmp_path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgetier",
            "orchestrator",
            "--port",
            "0",
            "--client-token",
            "s3cret",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = first_json_line(process.stdout, 30)["grpc"]
        request = orchestrator_pb2.InferRequest(model="qwen2.5-0.5b", prompt_tokens=8)
        with grpc.insecure_channel(address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
            for metadata, code in (
                ((), grpc.StatusCode.UNAUTHENTICATED),
                ((("authorization", "Bearer nope"),), grpc.StatusCode.PERMISSION_DENIED),
                ((("authorization", "Bearer s3cret"),), grpc.StatusCode.UNAVAILABLE),
            ):
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Infer(request, metadata=metadata, timeout=10)
                assert caught.value.code() == code, caught.value.details()
            nodes = stub.ListNodes(
                orchestrator_pb2.ListNodesRequest(),
                metadata=(("authorization", "Bearer s3cret"),),
                timeout=10,
            )
            assert list(nodes.nodes) == []
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert "s3cret" not in process.stderr.read()  # no secret in the logs
