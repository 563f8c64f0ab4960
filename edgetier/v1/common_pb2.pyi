from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_DEVICE: _ClassVar[Tier]
    TIER_EDGE: _ClassVar[Tier]
    TIER_CLOUD: _ClassVar[Tier]

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_TEXT_GENERATION: _ClassVar[Task]
    TASK_DETECTION: _ClassVar[Task]
    TASK_IMAGE_EMBEDDING: _ClassVar[Task]
TIER_UNSPECIFIED: Tier
TIER_DEVICE: Tier
TIER_EDGE: Tier
TIER_CLOUD: Tier
TASK_UNSPECIFIED: Task
TASK_TEXT_GENERATION: Task
TASK_DETECTION: Task
TASK_IMAGE_EMBEDDING: Task

class ModelInfo(_message.Message):
    __slots__ = ("id", "precision", "resident")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    precision: str
    resident: bool
    def __init__(self, id: _Optional[str] = ..., precision: _Optional[str] = ..., resident: _Optional[bool] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("id", "agent", "tier", "hardware", "state", "queue_depth", "queue_capacity", "in_flight", "models", "power_w", "energy_j", "utilisation", "max_batch")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    QUEUE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    ENERGY_J_FIELD_NUMBER: _ClassVar[int]
    UTILISATION_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent: str
    tier: Tier
    hardware: str
    state: str
    queue_depth: int
    queue_capacity: int
    in_flight: int
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    power_w: float
    energy_j: float
    utilisation: float
    max_batch: int
    def __init__(self, id: _Optional[str] = ..., agent: _Optional[str] = ..., tier: _Optional[_Union[Tier, str]] = ..., hardware: _Optional[str] = ..., state: _Optional[str] = ..., queue_depth: _Optional[int] = ..., queue_capacity: _Optional[int] = ..., in_flight: _Optional[int] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., power_w: _Optional[float] = ..., energy_j: _Optional[float] = ..., utilisation: _Optional[float] = ..., max_batch: _Optional[int] = ...) -> None: ...
