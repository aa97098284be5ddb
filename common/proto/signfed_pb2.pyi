from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENCODING_UNSPECIFIED: _ClassVar[Encoding]
    SIGN1: _ClassVar[Encoding]
    FLOAT32: _ClassVar[Encoding]
    FLOAT16: _ClassVar[Encoding]
    BFLOAT16: _ClassVar[Encoding]
    TERNARY: _ClassVar[Encoding]

class TensorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TENSOR_KIND_UNSPECIFIED: _ClassVar[TensorKind]
    ACTIVATIONS: _ClassVar[TensorKind]
    CUT_GRADIENT: _ClassVar[TensorKind]
    SERVER_OUTPUT: _ClassVar[TensorKind]
    OUTPUT_GRADIENT: _ClassVar[TensorKind]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    FINISHED: _ClassVar[Outcome]
    INTERRUPTED: _ClassVar[Outcome]
    FAILED: _ClassVar[Outcome]
ENCODING_UNSPECIFIED: Encoding
SIGN1: Encoding
FLOAT32: Encoding
FLOAT16: Encoding
BFLOAT16: Encoding
TERNARY: Encoding
TENSOR_KIND_UNSPECIFIED: TensorKind
ACTIVATIONS: TensorKind
CUT_GRADIENT: TensorKind
SERVER_OUTPUT: TensorKind
OUTPUT_GRADIENT: TensorKind
OUTCOME_UNSPECIFIED: Outcome
FINISHED: Outcome
INTERRUPTED: Outcome
FAILED: Outcome

class JoinRequest(_message.Message):
    __slots__ = ("protocol_version", "client_name", "batch_size", "requested_id")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_ID_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    client_name: str
    batch_size: int
    requested_id: int
    def __init__(self, protocol_version: _Optional[str] = ..., client_name: _Optional[str] = ..., batch_size: _Optional[int] = ..., requested_id: _Optional[int] = ...) -> None: ...

class RunSettings(_message.Message):
    __slots__ = ("algorithm", "dataset", "model", "num_params", "learning_rate", "rounds", "seed", "digest_every", "partition", "num_clients", "classes_per_client", "chunk_bytes", "lr_schedule", "dirichlet_alpha", "update_encoding", "decision_encoding", "local_epochs", "local_steps", "client_momentum", "weight_decay", "clients_per_round", "batch_sizes", "async_mode", "split_variant", "cut_layer", "partition_sizes", "size_sigma", "size_alpha")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DIGEST_EVERY_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    NUM_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    CLASSES_PER_CLIENT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    DIRICHLET_ALPHA_FIELD_NUMBER: _ClassVar[int]
    UPDATE_ENCODING_FIELD_NUMBER: _ClassVar[int]
    DECISION_ENCODING_FIELD_NUMBER: _ClassVar[int]
    LOCAL_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    CLIENTS_PER_ROUND_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZES_FIELD_NUMBER: _ClassVar[int]
    ASYNC_MODE_FIELD_NUMBER: _ClassVar[int]
    SPLIT_VARIANT_FIELD_NUMBER: _ClassVar[int]
    CUT_LAYER_FIELD_NUMBER: _ClassVar[int]
    PARTITION_SIZES_FIELD_NUMBER: _ClassVar[int]
    SIZE_SIGMA_FIELD_NUMBER: _ClassVar[int]
    SIZE_ALPHA_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    dataset: str
    model: str
    num_params: int
    learning_rate: float
    rounds: int
    seed: int
    digest_every: int
    partition: str
    num_clients: int
    classes_per_client: int
    chunk_bytes: int
    lr_schedule: str
    dirichlet_alpha: float
    update_encoding: Encoding
    decision_encoding: Encoding
    local_epochs: int
    local_steps: int
    client_momentum: float
    weight_decay: float
    clients_per_round: int
    batch_sizes: _containers.RepeatedScalarFieldContainer[int]
    async_mode: str
    split_variant: str
    cut_layer: str
    partition_sizes: str
    size_sigma: float
    size_alpha: float
    def __init__(self, algorithm: _Optional[str] = ..., dataset: _Optional[str] = ..., model: _Optional[str] = ..., num_params: _Optional[int] = ..., learning_rate: _Optional[float] = ..., rounds: _Optional[int] = ..., seed: _Optional[int] = ..., digest_every: _Optional[int] = ..., partition: _Optional[str] = ..., num_clients: _Optional[int] = ..., classes_per_client: _Optional[int] = ..., chunk_bytes: _Optional[int] = ..., lr_schedule: _Optional[str] = ..., dirichlet_alpha: _Optional[float] = ..., update_encoding: _Optional[_Union[Encoding, str]] = ..., decision_encoding: _Optional[_Union[Encoding, str]] = ..., local_epochs: _Optional[int] = ..., local_steps: _Optional[int] = ..., client_momentum: _Optional[float] = ..., weight_decay: _Optional[float] = ..., clients_per_round: _Optional[int] = ..., batch_sizes: _Optional[_Iterable[int]] = ..., async_mode: _Optional[str] = ..., split_variant: _Optional[str] = ..., cut_layer: _Optional[str] = ..., partition_sizes: _Optional[str] = ..., size_sigma: _Optional[float] = ..., size_alpha: _Optional[float] = ...) -> None: ...

class JoinReply(_message.Message):
    __slots__ = ("client_id", "session", "settings", "round", "model_digest", "batch_size")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    MODEL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    session: bytes
    settings: RunSettings
    round: int
    model_digest: bytes
    batch_size: int
    def __init__(self, client_id: _Optional[int] = ..., session: _Optional[bytes] = ..., settings: _Optional[_Union[RunSettings, _Mapping]] = ..., round: _Optional[int] = ..., model_digest: _Optional[bytes] = ..., batch_size: _Optional[int] = ...) -> None: ...

class Attach(_message.Message):
    __slots__ = ("client_id", "session")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    session: bytes
    def __init__(self, client_id: _Optional[int] = ..., session: _Optional[bytes] = ...) -> None: ...

class Update(_message.Message):
    __slots__ = ("round", "num_coords", "offset", "last", "crc32", "data", "encoding", "sequence")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    NUM_COORDS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    round: int
    num_coords: int
    offset: int
    last: bool
    crc32: int
    data: bytes
    encoding: Encoding
    sequence: int
    def __init__(self, round: _Optional[int] = ..., num_coords: _Optional[int] = ..., offset: _Optional[int] = ..., last: _Optional[bool] = ..., crc32: _Optional[int] = ..., data: _Optional[bytes] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., sequence: _Optional[int] = ...) -> None: ...

class Goodbye(_message.Message):
    __slots__ = ("model_digest",)
    MODEL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    model_digest: bytes
    def __init__(self, model_digest: _Optional[bytes] = ...) -> None: ...

class SplitTensor(_message.Message):
    __slots__ = ("round", "step", "kind", "shape", "encoding", "offset", "last", "crc32", "data", "labels", "loss", "channels_last")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_LAST_FIELD_NUMBER: _ClassVar[int]
    round: int
    step: int
    kind: TensorKind
    shape: _containers.RepeatedScalarFieldContainer[int]
    encoding: Encoding
    offset: int
    last: bool
    crc32: int
    data: bytes
    labels: _containers.RepeatedScalarFieldContainer[int]
    loss: float
    channels_last: bool
    def __init__(self, round: _Optional[int] = ..., step: _Optional[int] = ..., kind: _Optional[_Union[TensorKind, str]] = ..., shape: _Optional[_Iterable[int]] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., offset: _Optional[int] = ..., last: _Optional[bool] = ..., crc32: _Optional[int] = ..., data: _Optional[bytes] = ..., labels: _Optional[_Iterable[int]] = ..., loss: _Optional[float] = ..., channels_last: _Optional[bool] = ...) -> None: ...

class ClientMessage(_message.Message):
    __slots__ = ("attach", "update", "goodbye", "tensor")
    ATTACH_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    GOODBYE_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    attach: Attach
    update: Update
    goodbye: Goodbye
    tensor: SplitTensor
    def __init__(self, attach: _Optional[_Union[Attach, _Mapping]] = ..., update: _Optional[_Union[Update, _Mapping]] = ..., goodbye: _Optional[_Union[Goodbye, _Mapping]] = ..., tensor: _Optional[_Union[SplitTensor, _Mapping]] = ...) -> None: ...

class RoundStart(_message.Message):
    __slots__ = ("round", "model_digest")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    MODEL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    round: int
    model_digest: bytes
    def __init__(self, round: _Optional[int] = ..., model_digest: _Optional[bytes] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("round", "num_coords", "offset", "last", "crc32", "data", "model_digest", "encoding")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    NUM_COORDS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    MODEL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    round: int
    num_coords: int
    offset: int
    last: bool
    crc32: int
    data: bytes
    model_digest: bytes
    encoding: Encoding
    def __init__(self, round: _Optional[int] = ..., num_coords: _Optional[int] = ..., offset: _Optional[int] = ..., last: _Optional[bool] = ..., crc32: _Optional[int] = ..., data: _Optional[bytes] = ..., model_digest: _Optional[bytes] = ..., encoding: _Optional[_Union[Encoding, str]] = ...) -> None: ...

class Stop(_message.Message):
    __slots__ = ("reason", "rounds_done", "outcome")
    REASON_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_DONE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    reason: str
    rounds_done: int
    outcome: Outcome
    def __init__(self, reason: _Optional[str] = ..., rounds_done: _Optional[int] = ..., outcome: _Optional[_Union[Outcome, str]] = ...) -> None: ...

class Rejected(_message.Message):
    __slots__ = ("round", "reason", "code")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    round: int
    reason: str
    code: int
    def __init__(self, round: _Optional[int] = ..., reason: _Optional[str] = ..., code: _Optional[int] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("start", "decision", "stop", "rejected", "model", "tensor")
    START_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    start: RoundStart
    decision: Decision
    stop: Stop
    rejected: Rejected
    model: ModelChunk
    tensor: SplitTensor
    def __init__(self, start: _Optional[_Union[RoundStart, _Mapping]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., stop: _Optional[_Union[Stop, _Mapping]] = ..., rejected: _Optional[_Union[Rejected, _Mapping]] = ..., model: _Optional[_Union[ModelChunk, _Mapping]] = ..., tensor: _Optional[_Union[SplitTensor, _Mapping]] = ...) -> None: ...

class FetchModelRequest(_message.Message):
    __slots__ = ("client_id", "session")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    session: bytes
    def __init__(self, client_id: _Optional[int] = ..., session: _Optional[bytes] = ...) -> None: ...

class ModelChunk(_message.Message):
    __slots__ = ("round", "num_params", "offset", "data", "last", "model_digest", "final")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    MODEL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    round: int
    num_params: int
    offset: int
    data: bytes
    last: bool
    model_digest: bytes
    final: bool
    def __init__(self, round: _Optional[int] = ..., num_params: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ..., model_digest: _Optional[bytes] = ..., final: _Optional[bool] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("state", "round", "rounds", "active_clients", "algorithm", "last_accuracy")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    state: str
    round: int
    rounds: int
    active_clients: int
    algorithm: str
    last_accuracy: float
    def __init__(self, state: _Optional[str] = ..., round: _Optional[int] = ..., rounds: _Optional[int] = ..., active_clients: _Optional[int] = ..., algorithm: _Optional[str] = ..., last_accuracy: _Optional[float] = ...) -> None: ...
