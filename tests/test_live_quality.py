"""Answer quality live: a reply carries its task family and the P(correct) that npu_sim.quality
gives for the orchestrator's --seed and the request id (the figure fleetsim records), and the
orchestrator exports it as edgetier_answer_p_correct_ratio; the learned router, its file given
as a policy option, routes live; bad task families are named."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from deploy.local import LocalStack
from npu_sim.quality import default_quality
from orchestrator.client import OrchestratorClient
from routing.policies.learned_router import DEFAULT_MODEL_FILE
from routing.specs import PolicySpec
from tests.live import metric_sum, scrape, small_stack

pytestmark = pytest.mark.timeout(120)
SEED = 7


ROUTER = PolicySpec("learned-router", {"model_file": str(DEFAULT_MODEL_FILE)})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The small stack with the learned router, its file given as an option, by default."""
    config = small_stack()
    orchestrator = dataclasses.replace(config.orchestrator, seed=SEED, policy=ROUTER)
    config = dataclasses.replace(config, orchestrator=orchestrator)
    with LocalStack(config, port=0, log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture
def client(stack: LocalStack) -> Iterator[OrchestratorClient]:
    with OrchestratorClient(stack.address, timeout_s=60) as c:
        yield c


def test_a_reply_carries_the_p_correct_of_its_seed_and_id_and_the_metric_counts_it(
    stack: LocalStack, client: OrchestratorClient
) -> None:
    reply = client.infer(
        "qwen2.5-0.5b",
        prompt_tokens=32,
        max_tokens=8,
        client_node="dev-0",
        request_id="quality-1",
        task="math",
        policy="device-first",
    )
    quality = default_quality().with_seed(SEED)
    assert reply["model"] == "qwen2.5-0.5b" and reply["task"] == "math"
    assert reply["p_correct"] == pytest.approx(
        quality.p_correct("qwen2.5-0.5b", "math", "quality-1"), rel=1e-12
    )
    assert reply["requested_p_correct"] == reply["p_correct"]
    assert reply["correct"] == quality.outcome("qwen2.5-0.5b", "math", "quality-1")
    metrics = scrape(stack.orchestrator.ready["metrics"])
    count = metric_sum(
        metrics,
        "edgetier_answer_p_correct_ratio_count",
        tier="device",
        model="qwen2.5-0.5b",
        task="math",
    )
    total = metric_sum(
        metrics, "edgetier_answer_p_correct_ratio_sum", model="qwen2.5-0.5b", task="math"
    )
    assert count == 1 and total == pytest.approx(reply["p_correct"])


def test_an_llm_request_without_a_task_is_a_chat_turn(client: OrchestratorClient) -> None:
    reply = client.infer(
        "qwen2.5-7b", prompt_tokens=32, max_tokens=8, request_id="quality-2", policy="cloud-only"
    )
    assert reply["task"] == "chat"
    assert reply["p_correct"] == pytest.approx(
        default_quality().with_seed(SEED).p_correct("qwen2.5-7b", "chat", "quality-2"), rel=1e-12
    )


def test_the_learned_router_loaded_from_its_file_answers_live_with_the_quality_of_its_choice(
    client: OrchestratorClient,
) -> None:
    quality = default_quality().with_seed(SEED)
    for i in range(6):
        rid = f"routed-{i}"
        reply = client.infer(
            "llama3.1-70b", prompt_tokens=64, max_tokens=16, request_id=rid, task="knowledge"
        )
        assert reply["policy"] == ROUTER.label
        assert reply["p_correct"] == pytest.approx(
            quality.p_correct(reply["model"], "knowledge", rid), rel=1e-12
        )
        assert reply["requested_p_correct"] == pytest.approx(
            quality.p_correct("llama3.1-70b", "knowledge", rid), rel=1e-12
        )


def test_a_vision_reply_has_no_answer_quality_and_cannot_take_a_task(
    client: OrchestratorClient,
) -> None:
    reply = client.infer("yolov8s", client_node="dev-1")
    assert reply["task"] is None and reply["p_correct"] is None and reply["correct"] is None
    with pytest.raises(grpc.RpcError) as caught:
        client.infer("yolov8s", task="chat")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("task_family: yolov8s is not an LLM")


def test_an_unknown_task_family_is_invalid_and_the_message_lists_the_valid_ones(
    client: OrchestratorClient,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.infer("qwen2.5-0.5b", prompt_tokens=8, task="poetry")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        "task_family: unknown 'poetry'; valid: knowledge, math, code, chat"
    )


def infer(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "edgetier", "infer", "--orchestrator", address, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_edgetier_infer_task_prints_the_task_and_p_correct(stack: LocalStack) -> None:
    done = infer(
        stack.address, "--model", "qwen2.5-0.5b", "--prompt", "hi", "--task", "code", "--json"
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["task"] == "code" and 0 < reply["p_correct"] < 1
    bad = infer(stack.address, "--model", "qwen2.5-0.5b", "--task", "poetry")
    assert bad.returncode == 2 and "--task" in bad.stderr and "Traceback" not in bad.stderr
