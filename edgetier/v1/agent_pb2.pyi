from edgetier.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunRequest(_message.Message):
    __slots__ = ("node", "request_id", "model", "prompt_tokens", "output_tokens")
    NODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    node: str
    request_id: str
    model: str
    prompt_tokens: int
    output_tokens: int
    def __init__(self, node: _Optional[str] = ..., request_id: _Optional[str] = ..., model: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class RunReply(_message.Message):
    __slots__ = ("node", "request_id", "model", "queue_s", "ttft_s", "latency_s", "energy_j", "output_tokens")
    NODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_S_FIELD_NUMBER: _ClassVar[int]
    TTFT_S_FIELD_NUMBER: _ClassVar[int]
    LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    ENERGY_J_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    node: str
    request_id: str
    model: str
    queue_s: float
    ttft_s: float
    latency_s: float
    energy_j: float
    output_tokens: int
    def __init__(self, node: _Optional[str] = ..., request_id: _Optional[str] = ..., model: _Optional[str] = ..., queue_s: _Optional[float] = ..., ttft_s: _Optional[float] = ..., latency_s: _Optional[float] = ..., energy_j: _Optional[float] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("index", "time_s")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    index: int
    time_s: float
    def __init__(self, index: _Optional[int] = ..., time_s: _Optional[float] = ...) -> None: ...

class RunStreamMessage(_message.Message):
    __slots__ = ("token", "summary")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    token: Token
    summary: RunReply
    def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ..., summary: _Optional[_Union[RunReply, _Mapping]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeReply(_message.Message):
    __slots__ = ("agent", "nodes")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    agent: str
    nodes: _containers.RepeatedCompositeFieldContainer[_common_pb2.NodeInfo]
    def __init__(self, agent: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[_common_pb2.NodeInfo, _Mapping]]] = ...) -> None: ...
