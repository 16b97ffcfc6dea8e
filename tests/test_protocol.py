"""The ZeroMQ protocol: round trips, precise refusals, and nothing but ProtocolError from any bytes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.protocol import MAX_MESSAGE_BYTES, VERSION, Message, ProtocolError, decode, encode

EXAMPLES = [
    Message("hello", fields={"client": "blender 5.0 add-on 0.1"}),
    Message("capture", fields={"video": "/clips/a.mp4", "options": {"fov": 60.0, "foot_lock": 1.0}}),
    Message("cancel", job="j1"),
    Message("attach", job="j1", fields={"since": 120}),
    Message("ping"),
    Message("welcome", fields={"engine": "0.1.0", "capabilities": {"lifters": ["hot"]}}),
    Message("accepted", job="j1", fields={"position": 2}),
    Message("progress", job="j1", fields={"stage": "lifting", "done": 3, "total": 10}),
    Message(
        "frames",
        job="j1",
        fields={"start": 0, "fps": 25.0},
        arrays={"poses": np.zeros((5, 72)), "trans": np.ones((5, 3)), "contacts": np.zeros((5, 4))},
    ),
    Message("done", job="j1", fields={"summary": {"frames": 5}, "files": {"npz": "/out/a.npz"}}),
    Message("error", job="j1", fields={"code": "cancelled", "message": "cancelled by the client"}),
    Message("pong"),
    Message(
        "final",
        job="j1",
        fields={"start": 0, "fps": 25.0},
        arrays={"poses": np.zeros((5, 72)), "trans": np.ones((5, 3)), "contacts": np.zeros((5, 4)), "rest_joints": np.ones((24, 3))},
    ),
    Message("live-subscribe"),
    Message("live-unsubscribe"),
    Message(
        "live-start", fields={"source": "camera 0", "fps": 30.0, "width": 1280, "height": 720}, arrays={"rest_joints": np.ones((24, 3))}
    ),
    Message(
        "live-frame",
        fields={"index": 41, "time": 1.366},
        arrays={"poses": np.zeros((1, 72)), "trans": np.ones((1, 3)), "contacts": np.zeros((1, 4))},
    ),
    Message("live-stopped", fields={"reason": "the source ended", "stats": {"frames_read": 300, "drop_rate": 0.01}}),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_every_message_type_round_trips(message):
    back = decode(encode(message))
    assert (back.type, back.job, back.fields) == (message.type, message.job, message.fields)
    for name, array in message.arrays.items():
        assert back.arrays[name].dtype == np.float32 and np.array_equal(back.arrays[name], array)


def test_the_protocol_module_needs_no_torch():
    code = "import sys, engine.protocol; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _header(**fields) -> bytes:
    return json.dumps({"v": VERSION, **fields}).encode()


@pytest.mark.parametrize(
    "frames, code, words",
    [
        ([b"{not json"], "bad-message", "not UTF-8 JSON"),
        ([json.dumps({"v": 99, "type": "ping"}).encode()], "version", "protocol version 99"),
        ([_header(type="launch")], "unknown-type", "unknown message type 'launch'"),
        ([_header(type="capture")], "bad-field", "missing field 'video'"),
        ([_header(type="progress", job="j", stage="x", done=True, total=3)], "bad-field", "'done' must be int"),
        ([_header(type="ping", extra=1)], "bad-field", "unknown fields ['extra']"),
        ([_header(type="cancel")], "bad-field", "missing field 'job'"),
        (
            [_header(type="frames", job="j", start=0, fps=30.0, arrays=[{"name": "poses", "dtype": "<f4", "shape": [10**9, 72]}]), b""],
            "bad-array",
            "needs",
        ),
        (
            [_header(type="frames", job="j", start=0, fps=30.0, arrays=[{"name": "poses", "dtype": "<f4", "shape": [1, 72]}])],
            "bad-array",
            "1 arrays but 0 buffers",
        ),
        (
            [_header(type="frames", job="j", start=0, fps=30.0, arrays=[{"name": "poses", "dtype": "<f8", "shape": [1, 72]}]), bytes(576)],
            "bad-array",
            "dtype must be <f4",
        ),
        ([b"x" * (MAX_MESSAGE_BYTES + 1)], "too-large", "larger than"),
        (  # a live frame is one frame, never a chunk
            [_header(type="live-frame", index=3, time=0.1, arrays=[{"name": "poses", "dtype": "<f4", "shape": [2, 72]}]), bytes(576)],
            "bad-array",
            "shape must be [1, 72]",
        ),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(frames, code, words):
    with pytest.raises(ProtocolError) as error:
        decode(frames)
    assert error.value.code == code and words in str(error.value)


def test_non_finite_numbers_are_refused():
    frames = encode(EXAMPLES[8])
    poses = np.frombuffer(frames[1], np.float32).copy()
    poses[3] = np.nan
    with pytest.raises(ProtocolError, match="non-finite"):
        decode([frames[0], poses.tobytes(), *frames[2:]])


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=0, max_size=5))
def test_any_bytes_decode_or_raise_protocol_error(frames):
    try:
        decode(frames)
    except ProtocolError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from([m.type for m in EXAMPLES] + ["nope"]),
    st.dictionaries(
        st.sampled_from(
            [
                "job",
                "client",
                "video",
                "options",
                "since",
                "position",
                "stage",
                "done",
                "total",
                "start",
                "fps",
                "arrays",
                "code",
                "message",
                "index",
                "time",
                "source",
                "width",
                "height",
                "reason",
                "stats",
            ]
        ),
        _json,
    ),
    st.lists(st.binary(max_size=64), max_size=3),
)
def test_headers_of_any_shape_decode_or_raise_protocol_error(kind, fields, buffers):
    try:
        decode([json.dumps({"v": VERSION, "type": kind, **fields}).encode(), *buffers])
    except ProtocolError:
        pass
