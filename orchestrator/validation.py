"""Turning an InferRequest into a core `Request`, or an error that names the bad field.

Bad input never reaches the router: each check raises `InvalidRequest` with the gRPC status to
answer (INVALID_ARGUMENT, or NOT_FOUND for an unknown model or policy) and a message that
starts with the field's name.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection

import grpc

from edgetier.v1 import common_pb2, orchestrator_pb2
from npu_sim.catalog import Catalog, UnknownNameError
from npu_sim.models import LLM, Model
from npu_sim.quality import DEFAULT_TASK, TASKS
from routing.cluster import Cluster
from routing.request import Request

DEFAULT_MAX_TOKENS = 128
MAX_OUTPUT_TOKENS = 32_768
MAX_ID_LENGTH = 128
MAX_PROMPT_CHARS = 256 * 1024
CHARS_PER_TOKEN = 4

TASK_KINDS = {
    common_pb2.TASK_TEXT_GENERATION: ("llm",),
    common_pb2.TASK_DETECTION: ("detection",),
    common_pb2.TASK_IMAGE_EMBEDDING: ("embedding", "classification"),
}


class InvalidRequest(Exception):  # noqa: N818 (an answer, not a bug)
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(grpc.StatusCode.INVALID_ARGUMENT, message)


def parse_infer(
    message: orchestrator_pb2.InferRequest,
    catalog: Catalog,
    cluster: Cluster,
    policies: Collection[str],
    default_policy: str,
) -> tuple[Request, str, str]:
    """The core request, the policy name and the run its id is unique in, or InvalidRequest."""
    if not message.model:
        raise _bad("model: required")
    try:
        model = catalog.model(message.model)
    except UnknownNameError as exc:
        raise InvalidRequest(grpc.StatusCode.NOT_FOUND, f"model: {exc}") from None
    policy = message.policy or default_policy
    if policy not in policies:
        raise InvalidRequest(
            grpc.StatusCode.NOT_FOUND,
            f"policy: {policy!r} is not loaded (a request cannot load code); loaded: "
            + ", ".join(policies),
        )
    if message.task != common_pb2.TASK_UNSPECIFIED:
        kinds = TASK_KINDS.get(message.task)
        kind = "llm" if isinstance(model, LLM) else model.task
        if kinds is None or kind not in kinds:
            raise _bad(
                f"task: {common_pb2.Task.Name(message.task) if kinds else message.task} "
                f"does not match {model.id} ({kind})"
            )
    task = _task_family(message.task_family, model)
    prompt_tokens, output_tokens = 1, 1
    if isinstance(model, LLM):
        prompt_tokens = _prompt_tokens(message)
        output_tokens = message.max_tokens or DEFAULT_MAX_TOKENS
        if output_tokens > MAX_OUTPUT_TOKENS:
            raise _bad(f"max_tokens: at most {MAX_OUTPUT_TOKENS}, got {output_tokens}")
        overflow = model.context_overflow(prompt_tokens, output_tokens)
        if overflow is not None:
            field = message.WhichOneof("prompt") if overflow.field == "prompt_tokens" else None
            raise _bad(f"{field or 'max_tokens'}: {overflow.message}")
    slo_s = None
    if message.slo_ms != 0:
        if not math.isfinite(message.slo_ms) or message.slo_ms < 0:
            raise _bad(f"slo_ms: must be a positive number of milliseconds, got {message.slo_ms}")
        slo_s = message.slo_ms / 1000
    request_id = _identifier("request_id", message.request_id) or uuid.uuid4().hex
    origin = _identifier("client_node", message.client_node) or None
    if origin is not None:
        node = cluster.node(origin)
        if node is None or node.tier != "device":
            raise _bad(f"client_node: {origin!r} is not a registered device node")
    run = _identifier("run", message.run)
    request = Request(request_id, model.id, prompt_tokens, output_tokens, slo_s, origin, task)
    return request, policy, run


def _task_family(value: str, model: Model) -> str | None:
    """An LLM request's task family (DEFAULT_TASK when not given); none for a vision model."""
    if not isinstance(model, LLM):
        if value:
            raise _bad(f"task_family: {model.id} is not an LLM; only LLM requests have one")
        return None
    if not value:
        return DEFAULT_TASK
    if value not in TASKS:
        shown = repr(value) if len(value) <= MAX_ID_LENGTH else "value"
        raise _bad(f"task_family: unknown {shown}; valid: {', '.join(TASKS)}")
    return value


def _prompt_tokens(message: orchestrator_pb2.InferRequest) -> int:
    which = message.WhichOneof("prompt")
    if which == "prompt_tokens":
        if message.prompt_tokens < 1:
            raise _bad("prompt_tokens: must be at least 1")
        return message.prompt_tokens
    if which == "prompt_text":
        text = message.prompt_text
        if not text.strip():
            raise _bad("prompt_text: must not be empty")
        if len(text) > MAX_PROMPT_CHARS:
            raise _bad(f"prompt_text: at most {MAX_PROMPT_CHARS} characters")
        return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))
    raise _bad("prompt_text: one of prompt_text or prompt_tokens is required for an LLM")


def _identifier(field: str, value: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise _bad(f"{field}: at most {MAX_ID_LENGTH} characters")
    if any(not ch.isprintable() for ch in value):
        raise _bad(f"{field}: must be printable text")
    return value
