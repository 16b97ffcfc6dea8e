"""The engine ↔ client protocol over ZeroMQ: one definition for both sides (numpy only, no torch).

Every message is multipart: a UTF-8 JSON header ``{"v": VERSION, "type": ..., "job": ..., ...}``
then one raw little-endian buffer per array the header lists in ``"arrays"`` as
``{"name", "dtype", "shape"}``. Nothing is ever pickled. :func:`decode` checks everything
(JSON, version, type, every field's type and range, array dtypes, shapes and sizes, the
number of buffers) and raises :class:`ProtocolError` with a code and a human message, which
the server sends back as an ``error`` message. docs/protocol.md describes every message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"  # where the engine serves and clients look: loopback only
DEFAULT_LIVE_ADDRESS = "tcp://127.0.0.1:5558"  # where `engine live` streams: its own port, so both can run
# 2 added the `final` series, which a version-1 client cannot read. The live-* types came without
# a bump: only a client that asks (live-subscribe) is sent them, and an engine without them
# refuses that as an unknown type (docs/protocol.md).
VERSION = 2
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
DTYPES = {"<f4": np.float32, "<f8": np.float64, "<i4": np.int32, "<u1": np.uint8}
MAX_ARRAYS = 8
MAX_DIMS = 4

# Fields per message type: name -> (type, required). Arrays each type may or must carry.
_STR, _INT, _NUM, _DICT, _BOOL = str, int, float, dict, bool
FIELDS: dict[str, dict[str, tuple[type, bool]]] = {
    # client -> engine
    "hello": {"client": (_STR, True)},
    "capture": {"video": (_STR, True), "options": (_DICT, False)},
    "cancel": {},
    "attach": {"since": (_INT, False)},
    "ping": {},
    "live-subscribe": {},
    "live-unsubscribe": {},
    # engine -> client
    "welcome": {"engine": (_STR, True), "capabilities": (_DICT, True)},
    "accepted": {"position": (_INT, True)},
    "progress": {"stage": (_STR, True), "done": (_INT, True), "total": (_INT, True)},
    "skeleton": {},
    "frames": {"start": (_INT, True), "fps": (_NUM, True)},
    "final": {"start": (_INT, True), "fps": (_NUM, True)},
    "done": {"summary": (_DICT, True), "files": (_DICT, True)},
    "error": {"code": (_STR, True), "message": (_STR, True)},
    "pong": {},
    "live-start": {"source": (_STR, True), "fps": (_NUM, True), "width": (_INT, True), "height": (_INT, True)},
    "live-frame": {"index": (_INT, True), "time": (_NUM, True)},
    "live-stopped": {"reason": (_STR, True), "stats": (_DICT, True)},
}
NEEDS_JOB = {"cancel", "attach", "accepted", "progress", "skeleton", "frames", "final", "done"}
# The motion a `frames` or `final` chunk carries, one row per frame.
MOTION_ARRAYS = {"poses": ("<f4", (None, 72)), "trans": ("<f4", (None, 3)), "contacts": ("<f4", (None, 4))}
ARRAYS: dict[str, dict[str, tuple[str, tuple[int | None, ...]]]] = {
    "skeleton": {"rest_joints": ("<f4", (24, 3))},
    "frames": MOTION_ARRAYS,
    "final": {**MOTION_ARRAYS, "rest_joints": ("<f4", (24, 3))},  # each chunk carries the final rest skeleton: it stands alone
    "live-start": {"rest_joints": ("<f4", (24, 3))},
    "live-frame": {name: (dtype, (1, *shape[1:])) for name, (dtype, shape) in MOTION_ARRAYS.items()},  # a chunk of exactly one frame
}
ERROR_CODES = (
    "bad-message",
    "version",
    "unknown-type",
    "bad-field",
    "bad-array",
    "too-large",
    "no-such-file",
    "outside-root",
    "no-such-job",
    "busy",
    "cancelled",
    "failed",
)


class ProtocolError(ValueError):
    """A message that breaks the protocol; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Message:
    type: str
    job: str | None = None
    fields: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def encode(message: Message) -> list[bytes]:
    """Multipart frames for ``message`` (validated as :func:`decode` would)."""
    arrays = {name: np.ascontiguousarray(a, dtype=np.dtype(ARRAYS[message.type][name][0])) for name, a in message.arrays.items()}
    header = {"v": VERSION, "type": message.type, **({"job": message.job} if message.job is not None else {}), **message.fields}
    header["arrays"] = [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape)} for n, a in arrays.items()]
    frames = [json.dumps(header).encode()] + [a.tobytes() for a in arrays.values()]
    decode(frames)  # never send what the other side would refuse
    return frames


def _field(header: dict, name: str, kind: type, required: bool) -> None:
    if name not in header:
        if required:
            raise ProtocolError("bad-field", f"{header['type']}: missing field {name!r}")
        return
    value = header[name]
    ok = (
        (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))
        if kind is float
        else (isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
    )
    if not ok:
        raise ProtocolError("bad-field", f"{header['type']}: field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    if kind is int and not 0 <= value < 2**53:
        raise ProtocolError("bad-field", f"{header['type']}: field {name!r} out of range: {value}")
    if kind is str and len(value) > 4096:
        raise ProtocolError("bad-field", f"{header['type']}: field {name!r} is longer than 4096 characters")


def _arrays(header: dict, buffers: list[bytes]) -> dict[str, np.ndarray]:
    listed = header.get("arrays", [])
    allowed = ARRAYS.get(header["type"], {})
    if not isinstance(listed, list) or len(listed) > MAX_ARRAYS:
        raise ProtocolError("bad-array", "'arrays' must be a list of at most 8 descriptions")
    if len(listed) != len(buffers):
        raise ProtocolError("bad-array", f"the header describes {len(listed)} arrays but {len(buffers)} buffers follow")
    arrays, frames = {}, None
    for spec, buffer in zip(listed, buffers):
        if not isinstance(spec, dict) or set(spec) != {"name", "dtype", "shape"}:
            raise ProtocolError("bad-array", f"array description must have exactly name, dtype, shape: {spec!r}")
        name, dtype, shape = spec["name"], spec["dtype"], spec["shape"]
        if name not in allowed:
            raise ProtocolError("bad-array", f"{header['type']}: unexpected array {name!r}")
        want_dtype, want_shape = allowed[name]
        if dtype != want_dtype:
            raise ProtocolError("bad-array", f"array {name!r}: dtype must be {want_dtype}, got {dtype!r}")
        if (
            not isinstance(shape, list)
            or len(shape) != len(want_shape)
            or len(shape) > MAX_DIMS
            or any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in shape)
            or any(w is not None and w != n for w, n in zip(want_shape, shape))
        ):
            raise ProtocolError("bad-array", f"array {name!r}: shape must be {list(want_shape)} (None = any), got {shape!r}")
        if want_shape[0] is None:  # one row per frame: a message's per-frame arrays describe the same frames
            if frames is not None and shape[0] != frames:
                raise ProtocolError("bad-array", f"array {name!r}: {shape[0]} frames, the others have {frames}")
            frames = shape[0]
        itemsize = np.dtype(DTYPES[dtype]).itemsize
        if math.prod(shape) * itemsize != len(buffer):
            raise ProtocolError("bad-array", f"array {name!r}: shape {shape} needs {math.prod(shape) * itemsize} bytes, got {len(buffer)}")
        array = np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ProtocolError("bad-array", f"array {name!r} holds non-finite values")
        arrays[name] = array
    missing = set(allowed) - set(arrays)
    if missing:
        raise ProtocolError("bad-array", f"{header['type']}: missing arrays {sorted(missing)}")
    return arrays


def decode(frames: list[bytes]) -> Message:
    """The :class:`Message` in multipart ``frames``, or :class:`ProtocolError` saying what is wrong."""
    if not frames:
        raise ProtocolError("bad-message", "empty message")
    if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too-large", f"message larger than {MAX_MESSAGE_BYTES} bytes")
    if len(frames[0]) > MAX_HEADER_BYTES:
        raise ProtocolError("too-large", f"header larger than {MAX_HEADER_BYTES} bytes")
    try:
        header = json.loads(frames[0].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError("bad-message", f"header is not UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad-message", "header must be a JSON object")
    if header.get("v") != VERSION:
        raise ProtocolError("version", f"protocol version {header.get('v')!r} not spoken here; this engine speaks {VERSION}")
    kind = header.get("type")
    if kind not in FIELDS:
        raise ProtocolError("unknown-type", f"unknown message type {kind!r}; known: {', '.join(FIELDS)}")
    known = set(FIELDS[kind]) | {"v", "type", "job", "arrays"}
    extra = set(header) - known
    if extra:
        raise ProtocolError("bad-field", f"{kind}: unknown fields {sorted(extra)}")
    if kind in NEEDS_JOB or "job" in header:
        _field(header, "job", str, True)
    for name, (field_type, required) in FIELDS[kind].items():
        _field(header, name, field_type, required)
    arrays = _arrays(header, list(frames[1:]))
    fields = {k: v for k, v in header.items() if k not in ("v", "type", "job", "arrays")}
    return Message(kind, header.get("job"), fields, arrays)
