"""Read what family detection needs from ONNX bytes, without the ``onnx`` package.

The runtime image carries onnxruntime but not ``onnx``; onnxruntime exposes shapes and
metadata but not the operators in the graph. So this module walks the protobuf wire
format of ``ModelProto`` directly, reading only: graph inputs and outputs (name, element
type, shape), the set of operator types, and ``metadata_props``. Tensor payloads are
skipped by their length prefix, so even a large model is read in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from detector.errors import ModelError

# Field numbers from onnx/onnx.proto3.
_MODEL_GRAPH = 7
_MODEL_METADATA = 14
_GRAPH_NODE = 1
_GRAPH_INITIALIZER = 5
_GRAPH_INPUT = 11
_GRAPH_OUTPUT = 12
_NODE_OP_TYPE = 4
_TENSOR_NAME = 8
_VALUE_NAME = 1
_VALUE_TYPE = 2
_TYPE_TENSOR = 1
_TENSOR_ELEM_TYPE = 1
_TENSOR_SHAPE = 2
_SHAPE_DIM = 1
_DIM_VALUE = 1
_DIM_PARAM = 2
_ENTRY_KEY = 1
_ENTRY_VALUE = 2

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5

# TensorProto.DataType values we name in messages.
ELEM_TYPES = {1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}

Dim = int | str | None  # a fixed size, a symbolic name, or unknown


@dataclass(frozen=True)
class TensorSpec:
    name: str
    elem_type: int  # TensorProto.DataType
    shape: tuple[Dim, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}[{dims}]"


@dataclass(frozen=True)
class ModelGraph:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    op_types: frozenset[str]
    metadata: dict[str, str]


def read_graph(model: bytes) -> ModelGraph:
    """Parse the parts of an ONNX ``ModelProto`` we need; ``ModelError`` if it is not one."""
    try:
        return _read_model(memoryview(model))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"the model is not a valid ONNX file ({exc})") from None


def _read_model(buf: memoryview) -> ModelGraph:
    graph: memoryview | None = None
    metadata: dict[str, str] = {}
    for number, value in _fields(buf):
        if number == _MODEL_GRAPH and isinstance(value, memoryview):
            graph = value
        elif number == _MODEL_METADATA and isinstance(value, memoryview):
            entry = {n: v for n, v in _fields(value) if isinstance(v, memoryview)}
            key = _text(entry.get(_ENTRY_KEY))
            metadata[key] = _text(entry.get(_ENTRY_VALUE))
    if graph is None:
        raise ValueError("no graph")
    return _read_graph(graph, metadata)


def _read_graph(buf: memoryview, metadata: dict[str, str]) -> ModelGraph:
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    op_types: set[str] = set()
    initializers: set[str] = set()
    for number, value in _fields(buf):
        if not isinstance(value, memoryview):
            continue
        if number == _GRAPH_NODE:
            op_types.update(_text(v) for n, v in _fields(value) if n == _NODE_OP_TYPE)
        elif number == _GRAPH_INITIALIZER:
            initializers.update(_text(v) for n, v in _fields(value) if n == _TENSOR_NAME)
        elif number == _GRAPH_INPUT:
            inputs.append(_read_value_info(value))
        elif number == _GRAPH_OUTPUT:
            outputs.append(_read_value_info(value))
    # Before IR version 4, weights were listed among the graph inputs too.
    real_inputs = tuple(spec for spec in inputs if spec.name not in initializers)
    return ModelGraph(real_inputs, tuple(outputs), frozenset(op_types), metadata)


def _read_value_info(buf: memoryview) -> TensorSpec:
    name = ""
    elem_type = 0
    shape: tuple[Dim, ...] = ()
    for number, value in _fields(buf):
        if number == _VALUE_NAME:
            name = _text(value)
        elif number == _VALUE_TYPE and isinstance(value, memoryview):
            for n, tensor in _fields(value):
                if n == _TYPE_TENSOR and isinstance(tensor, memoryview):
                    elem_type, shape = _read_tensor_type(tensor)
    return TensorSpec(name, elem_type, shape)


def _read_tensor_type(buf: memoryview) -> tuple[int, tuple[Dim, ...]]:
    elem_type = 0
    dims: list[Dim] = []
    for number, value in _fields(buf):
        if number == _TENSOR_ELEM_TYPE and isinstance(value, int):
            elem_type = value
        elif number == _TENSOR_SHAPE and isinstance(value, memoryview):
            dims.extend(_read_dim(d) for n, d in _fields(value) if n == _SHAPE_DIM)
    return elem_type, tuple(dims)


def _read_dim(value: int | memoryview) -> Dim:
    if not isinstance(value, memoryview):
        return None
    for number, item in _fields(value):
        if number == _DIM_VALUE and isinstance(item, int):
            return item
        if number == _DIM_PARAM:
            return _text(item) or None
    return None


def _text(value: int | memoryview | None) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, memoryview) else ""


def _fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """Yield ``(field number, value)``: an int for varints, a slice for everything else."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == _LENGTH:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise ValueError("truncated field")
            yield number, buf[pos : pos + size]
            pos += size
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            yield number, buf[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos != end:
        raise ValueError("truncated field")


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
