"""A client of ``engine serve`` and ``engine live``: what the Blender add-on and the tests use (zmq and numpy, no torch).

:class:`Client` sends requests and reads replies; :class:`CaptureFollower` keeps track of one
capture job from its messages (stage, skeleton, provisional frames and the final motion put in
order, summary, error), for
:meth:`Client.capture_motion` (which follows a capture to its end, blocking) and for the Blender
add-on's non-blocking session alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import zmq

from .protocol import DEFAULT_ADDRESS, MOTION_ARRAYS, Message, ProtocolError, decode, encode  # relative: the add-on carries both files


class EngineError(RuntimeError):
    """The engine answered with an ``error`` message (its ``code`` kept)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Client:
    """One DEALER connection. ``server_key`` (the server's CURVE public key, z85 bytes) turns on
    encryption with a fresh key pair for this client."""

    def __init__(self, address: str = DEFAULT_ADDRESS, server_key: bytes | None = None, name: str = "engine client") -> None:
        self.name = name
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if server_key is not None:
            public, secret = zmq.curve_keypair()
            self.socket.curve_serverkey, self.socket.curve_publickey, self.socket.curve_secretkey = server_key, public, secret
        self.socket.connect(address)

    def send(self, message: Message) -> None:
        self.socket.send_multipart(encode(message))

    def receive(self, timeout_s: float) -> Message | None:
        """The next message, or None after ``timeout_s`` seconds of silence."""
        if not self.socket.poll(int(timeout_s * 1000)):
            return None
        return decode(self.socket.recv_multipart())

    def _expect(self, kinds: set[str], timeout_s: float) -> Message:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                break
            if message.type == "error":
                raise EngineError(message.fields["code"], message.fields["message"])
            if message.type in kinds:
                return message
        raise TimeoutError(f"no {' or '.join(sorted(kinds))} from the engine within {timeout_s} s")

    def hello(self, timeout_s: float = 5.0) -> Message:
        """Introduce this client; the engine's ``welcome`` (version, capabilities)."""
        self.send(Message("hello", fields={"client": self.name}))
        return self._expect({"welcome"}, timeout_s)

    def capture(self, video: str, options: dict | None = None, timeout_s: float = 5.0) -> tuple[str, int]:
        """Queue a capture of ``video`` (a path the engine can read): (job id, queue position)."""
        self.send(Message("capture", fields={"video": str(video), **({"options": options} if options else {})}))
        accepted = self._expect({"accepted"}, timeout_s)
        return accepted.job, accepted.fields["position"]

    def cancel(self, job: str) -> None:
        self.send(Message("cancel", job=job))

    def attach(self, job: str, since: int = 0) -> None:
        """Follow ``job`` on this connection (after a reconnect), from frame ``since``."""
        self.send(Message("attach", job=job, fields={"since": since}))

    def ping(self, timeout_s: float = 5.0) -> float:
        """Seconds the engine took to answer."""
        started = time.monotonic()
        self.send(Message("ping"))
        self._expect({"pong"}, timeout_s)
        return time.monotonic() - started

    def capture_motion(
        self,
        video: str,
        options: dict | None = None,
        timeout_s: float = 120.0,
        on_progress: Callable[[CaptureFollower], None] | None = None,
    ) -> CaptureResult:
        """Capture ``video`` (a path the engine can read) to its end and return the motion.

        ``on_progress`` is called with the job's :class:`CaptureFollower` once when the engine
        accepts the job (its ``job``, ``position``; stage "queued") and again after every
        ``progress`` message. Raises :class:`EngineError` when the engine refuses or fails the
        job, TimeoutError when it says nothing for ``timeout_s`` seconds (waiting for the job to
        be accepted: at most 5 s), ProtocolError if frames are missing at the end."""
        job, position = self.capture(video, options, timeout_s=min(timeout_s, 5.0))
        follow = CaptureFollower(job, position=position)
        if on_progress is not None:
            on_progress(follow)
        for message in self.events(job, timeout_s):
            follow.take(message)
            if message.type == "progress" and on_progress is not None:
                on_progress(follow)
        if follow.failure is not None:
            raise follow.failure
        return follow.result()

    def events(self, job: str, timeout_s: float = 120.0) -> Iterator[Message]:
        """Messages of ``job`` up to and including its ``done`` or ``error``; TimeoutError when the
        engine stays silent for ``timeout_s``."""
        while True:
            message = self.receive(timeout_s)
            if message is None:
                raise TimeoutError(f"the engine said nothing about job {job} for {timeout_s} s")
            if message.job not in (job, None):
                continue
            yield message
            if message.type in ("done", "error"):
                return

    def subscribe_live(self) -> None:
        """Ask an ``engine live`` for its stream on this connection: ``live-start`` (at once, or
        once the engine has calibrated), a ``live-frame`` per frame, ``live-stopped`` at the end."""
        self.send(Message("live-subscribe"))

    def unsubscribe_live(self) -> None:
        self.send(Message("live-unsubscribe"))

    def follow_live(self, timeout_s: float = 10.0, on_frame: Callable[[Message], None] | None = None) -> LiveFollower:
        """Subscribe and follow the live stream to its end, blocking; every frame is kept in the
        follower (``frames``) and also given to ``on_frame`` as it comes. Raises
        :class:`EngineError` when the engine refuses, TimeoutError after ``timeout_s`` of silence."""
        follow = LiveFollower(keep=True)
        self.subscribe_live()
        while not follow.finished:
            message = self.receive(timeout_s)
            if message is None:
                raise TimeoutError(f"the live engine said nothing for {timeout_s} s")
            for frame in follow.take(message):
                if on_frame is not None:
                    on_frame(frame)
        if follow.failure is not None:
            raise follow.failure
        return follow

    def close(self, linger_ms: int = 0) -> None:
        """Close the connection; messages not yet sent get ``linger_ms`` to leave."""
        self.socket.close(linger_ms)


def assemble(chunks: list[Message]) -> dict[str, np.ndarray]:
    """``frames`` (or ``final``) chunks of one series, in any order, joined into poses (T, 72),
    trans (T, 3), contacts (T, 4) (no chunks: no frames); raises ProtocolError if frames are
    missing or repeated."""
    if not chunks:
        return {name: np.zeros((0, *shape[1:]), np.float32) for name, (_, shape) in MOTION_ARRAYS.items()}
    chunks = sorted(chunks, key=lambda m: m.fields["start"])
    expected = 0
    for chunk in chunks:
        if chunk.fields["start"] != expected:
            raise ProtocolError("bad-array", f"frames {expected}..{chunk.fields['start'] - 1} are missing or repeated")
        expected += len(chunk.arrays["poses"])
    return {name: np.concatenate([c.arrays[name] for c in chunks]) for name in MOTION_ARRAYS}


@dataclass
class CaptureResult:
    """A finished capture. Its final motion, the one ``engine mocap`` writes (the ``final``
    series): ``poses`` (T, 72) axis-angle, ``trans`` (T, 3), ``contacts`` (T, 4), in frame
    order, and their SMPL ``rest_joints`` (24, 3; None without frames); ``fps``; the engine's
    ``summary`` and ``files`` (format -> path on the engine's machine). ``provisional``: the
    frames streamed while the video was decoded (poses, trans, contacts), made with the floor and
    bone lengths of its first seconds, and their skeleton ``provisional_rest_joints``."""

    job: str
    poses: np.ndarray
    trans: np.ndarray
    contacts: np.ndarray
    fps: float | None
    rest_joints: np.ndarray | None
    summary: dict
    files: dict
    provisional: dict[str, np.ndarray]
    provisional_rest_joints: np.ndarray | None


@dataclass
class Series:
    """One series of a job's chunks (``frames`` or ``final``) put in frame order: a chunk that
    comes early waits in ``early`` for the ones before it; ``chunks`` are those in order,
    ``received`` the frames they hold."""

    chunks: list[Message] = field(default_factory=list)
    received: int = 0
    early: dict[int, Message] = field(default_factory=dict)  # chunks by start frame, waiting for earlier ones

    def take(self, chunk: Message) -> list[Message]:
        """Add ``chunk``; the chunks it puts in order (none when it came early)."""
        self.early[chunk.fields["start"]] = chunk
        ready = []
        while self.received in self.early:
            ready.append(self.early.pop(self.received))
            self.received += len(ready[-1].arrays["poses"])
        self.chunks += ready
        return ready

    def motion(self) -> dict[str, np.ndarray]:
        """The chunks joined (:func:`assemble`); ProtocolError if some never came."""
        if self.early:
            kind = next(iter(self.early.values())).type
            raise ProtocolError("bad-array", f"{kind} {self.received}..{min(self.early) - 1} never came")
        return assemble(self.chunks)


@dataclass
class CaptureFollower:
    """One capture job followed through its messages (:meth:`take` each one as it comes).

    Keeps the stage and its ``done``/``total`` count, the streamed frames' ``rest_joints`` (from
    ``skeleton``), ``fps``, the provisional ``frames`` (handed back in frame order as they come,
    for those who show them at once) and the ``final`` motion with its ``final_rest_joints``
    (complete when ``done`` comes), each a :class:`Series`.
    ``done`` ends it with ``summary`` and ``files``; ``error`` ends it with the engine's reason
    (``failure``, an :class:`EngineError`; ``error`` its text, also set by whoever ends it for
    another reason). Messages about other jobs are ignored.
    """

    job: str
    position: int = 0
    stage: str = "queued"
    done: int = 0
    total: int = 0
    fps: float | None = None
    rest_joints: np.ndarray | None = None  # the streamed frames' SMPL rest skeleton, before the first frames
    final_rest_joints: np.ndarray | None = None  # the final motion's, from its chunks
    frames: Series = field(default_factory=Series)
    final: Series = field(default_factory=Series)
    error: str | None = None
    failure: EngineError | None = None
    finished: bool = False
    summary: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def take(self, message: Message) -> list[Message]:
        """Update from ``message``; the ``frames`` chunks now ready, in order (often none)."""
        if message.job not in (None, self.job):
            return []
        if message.type == "skeleton":
            self.rest_joints = message.arrays["rest_joints"].astype(np.float64)
        elif message.type == "progress":
            self.stage, self.done, self.total = message.fields["stage"], message.fields["done"], message.fields["total"]
        elif message.type == "frames":
            self.fps = message.fields["fps"]
            return self.frames.take(message)
        elif message.type == "final":
            self.fps, self.final_rest_joints = message.fields["fps"], message.arrays["rest_joints"].astype(np.float64)
            self.final.take(message)
        elif message.type == "done":
            self.stage, self.summary, self.files = "done", message.fields["summary"], message.fields["files"]
            self.finished = True
        elif message.type == "error":
            self.failure = EngineError(message.fields["code"], message.fields["message"])
            self.error, self.finished = str(self.failure), True
        return []

    def result(self) -> CaptureResult:
        """The finished capture; ProtocolError if frames never came."""
        final = self.final.motion()
        return CaptureResult(
            self.job,
            final["poses"],
            final["trans"],
            final["contacts"],
            self.fps,
            self.final_rest_joints,
            self.summary,
            self.files,
            self.frames.motion(),
            self.rest_joints,
        )


@dataclass
class LiveFollower:
    """An ``engine live`` stream followed through its messages (:meth:`take` each one as it comes).

    ``live-start`` gives the ``source``, its ``fps`` and size and the SMPL ``rest_joints`` every
    frame is posed on; each ``live-frame`` is handed back by :meth:`take` (and kept in ``frames``
    with ``keep``); ``received`` counts them and ``last_index`` is the source frame number of the
    last one (the numbers skip the frames the engine dropped or did not send). ``live-stopped``
    ends it with the engine's ``reason`` and ``stats``; an ``error`` ends it with ``failure`` (an
    :class:`EngineError`) and ``error`` its text.
    """

    keep: bool = False
    source: str = ""
    fps: float | None = None
    width: int = 0
    height: int = 0
    rest_joints: np.ndarray | None = None
    received: int = 0
    last_index: int | None = None
    frames: list[Message] = field(default_factory=list)
    reason: str | None = None
    stats: dict = field(default_factory=dict)
    error: str | None = None
    failure: EngineError | None = None
    finished: bool = False

    def take(self, message: Message) -> list[Message]:
        """Update from ``message``; the ``live-frame`` it is, as a list (else empty)."""
        if message.type == "live-start":
            self.source, self.fps = message.fields["source"], message.fields["fps"]
            self.width, self.height = message.fields["width"], message.fields["height"]
            self.rest_joints = message.arrays["rest_joints"].astype(np.float64)
        elif message.type == "live-frame":
            self.received, self.last_index = self.received + 1, message.fields["index"]
            if self.keep:
                self.frames.append(message)
            return [message]
        elif message.type == "live-stopped":
            self.reason, self.stats, self.finished = message.fields["reason"], message.fields["stats"], True
        elif message.type == "error":
            self.failure = EngineError(message.fields["code"], message.fields["message"])
            self.error, self.finished = str(self.failure), True
        return []

    def motion(self) -> dict[str, np.ndarray]:
        """The kept frames joined: ``poses`` (N, 72), ``trans`` (N, 3), ``contacts`` (N, 4), and
        each frame's source ``index`` (N,) and ``time`` (N,)."""
        joined = {
            name: np.concatenate([f.arrays[name] for f in self.frames]) if self.frames else np.zeros((0, *shape[1:]), np.float32)
            for name, (_, shape) in MOTION_ARRAYS.items()
        }
        joined["index"] = np.array([f.fields["index"] for f in self.frames], np.int64)
        joined["time"] = np.array([f.fields["time"] for f in self.frames], np.float64)
        return joined
