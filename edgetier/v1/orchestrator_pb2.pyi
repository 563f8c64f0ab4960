from edgetier.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InferRequest(_message.Message):
    __slots__ = ("model", "task", "prompt_text", "prompt_tokens", "max_tokens", "slo_ms", "request_id", "client_node", "policy", "run", "task_family")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SLO_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NODE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    TASK_FAMILY_FIELD_NUMBER: _ClassVar[int]
    model: str
    task: _common_pb2.Task
    prompt_text: str
    prompt_tokens: int
    max_tokens: int
    slo_ms: float
    request_id: str
    client_node: str
    policy: str
    run: str
    task_family: str
    def __init__(self, model: _Optional[str] = ..., task: _Optional[_Union[_common_pb2.Task, str]] = ..., prompt_text: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., max_tokens: _Optional[int] = ..., slo_ms: _Optional[float] = ..., request_id: _Optional[str] = ..., client_node: _Optional[str] = ..., policy: _Optional[str] = ..., run: _Optional[str] = ..., task_family: _Optional[str] = ...) -> None: ...

class Escalation(_message.Message):
    __slots__ = ("from_tier", "to_tier", "reason", "from_node")
    FROM_TIER_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    from_tier: _common_pb2.Tier
    to_tier: _common_pb2.Tier
    reason: str
    from_node: str
    def __init__(self, from_tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., to_tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., reason: _Optional[str] = ..., from_node: _Optional[str] = ...) -> None: ...

class InferReply(_message.Message):
    __slots__ = ("request_id", "tier", "node", "agent", "model", "escalations", "ttft_s", "latency_s", "energy_j", "output_tokens", "prompt_tokens", "network_s", "network_energy_j", "slo_met", "policy", "task_family", "p_correct", "correct", "requested_p_correct")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    TTFT_S_FIELD_NUMBER: _ClassVar[int]
    LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    ENERGY_J_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_S_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ENERGY_J_FIELD_NUMBER: _ClassVar[int]
    SLO_MET_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    TASK_FAMILY_FIELD_NUMBER: _ClassVar[int]
    P_CORRECT_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_P_CORRECT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tier: _common_pb2.Tier
    node: str
    agent: str
    model: str
    escalations: _containers.RepeatedCompositeFieldContainer[Escalation]
    ttft_s: float
    latency_s: float
    energy_j: float
    output_tokens: int
    prompt_tokens: int
    network_s: float
    network_energy_j: float
    slo_met: bool
    policy: str
    task_family: str
    p_correct: float
    correct: bool
    requested_p_correct: float
    def __init__(self, request_id: _Optional[str] = ..., tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., node: _Optional[str] = ..., agent: _Optional[str] = ..., model: _Optional[str] = ..., escalations: _Optional[_Iterable[_Union[Escalation, _Mapping]]] = ..., ttft_s: _Optional[float] = ..., latency_s: _Optional[float] = ..., energy_j: _Optional[float] = ..., output_tokens: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., network_s: _Optional[float] = ..., network_energy_j: _Optional[float] = ..., slo_met: _Optional[bool] = ..., policy: _Optional[str] = ..., task_family: _Optional[str] = ..., p_correct: _Optional[float] = ..., correct: _Optional[bool] = ..., requested_p_correct: _Optional[float] = ...) -> None: ...

class StreamToken(_message.Message):
    __slots__ = ("index", "time_s")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    index: int
    time_s: float
    def __init__(self, index: _Optional[int] = ..., time_s: _Optional[float] = ...) -> None: ...

class InferStreamMessage(_message.Message):
    __slots__ = ("token", "summary")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    token: StreamToken
    summary: InferReply
    def __init__(self, token: _Optional[_Union[StreamToken, _Mapping]] = ..., summary: _Optional[_Union[InferReply, _Mapping]] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("agent", "address", "metrics_url", "nodes")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    METRICS_URL_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    agent: str
    address: str
    metrics_url: str
    nodes: _containers.RepeatedCompositeFieldContainer[_common_pb2.NodeInfo]
    def __init__(self, agent: _Optional[str] = ..., address: _Optional[str] = ..., metrics_url: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[_common_pb2.NodeInfo, _Mapping]]] = ...) -> None: ...

class RegisterReply(_message.Message):
    __slots__ = ("heartbeat_interval_s",)
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_s: float
    def __init__(self, heartbeat_interval_s: _Optional[float] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("agent", "nodes")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    agent: str
    nodes: _containers.RepeatedCompositeFieldContainer[_common_pb2.NodeInfo]
    def __init__(self, agent: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[_common_pb2.NodeInfo, _Mapping]]] = ...) -> None: ...

class HeartbeatReply(_message.Message):
    __slots__ = ("known",)
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    known: bool
    def __init__(self, known: _Optional[bool] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesReply(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_common_pb2.NodeInfo]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_common_pb2.NodeInfo, _Mapping]]] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPoliciesReply(_message.Message):
    __slots__ = ("policies", "default_policy")
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POLICY_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedScalarFieldContainer[str]
    default_policy: str
    def __init__(self, policies: _Optional[_Iterable[str]] = ..., default_policy: _Optional[str] = ...) -> None: ...
