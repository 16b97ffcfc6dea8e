"""`engine live`: each frame of a live capture sent to the subscribed clients the moment it is made.

One process, three threads: the reader (:class:`~engine.pipeline.live_source.FrameReader`) and
this one, which owns the ROUTER socket (bound as ``engine serve`` binds its own:
:func:`~engine.server.bind_router`) and runs :meth:`LiveServer.run`: between frames it answers
clients (``hello``, ``ping``, ``live-subscribe``, ``live-unsubscribe``; anything else gets an
``error`` and the stream goes on), takes the newest frame whose 2D keypoints the detection
thread has found (:class:`~engine.pipeline.live.Detection`), makes its pose
(:class:`~engine.pipeline.live.LiveProcessor`) and sends it at once as a ``live-frame`` to
every subscriber. A live stream is not a job of ``engine serve``: serve runs one capture
at a time in a child process and sends chunks, while here one long-lived pipeline must answer
within a frame, so it keeps its own socket and port (docs/protocol.md, docs/live.md).

A subscriber too slow to read is never waited for: ZeroMQ keeps at most ``SEND_QUEUE``
messages for it and drops the rest (and a client that is gone is forgotten by its socket).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zmq

from engine import __version__
from engine.pipeline.live import Detection, LiveFrame, LiveProcessor, LiveStats
from engine.pipeline.live_source import FrameReader
from engine.protocol import DEFAULT_LIVE_ADDRESS, Message, ProtocolError, decode, encode
from engine.server import bind_router

log = logging.getLogger("engine.live")
SEND_QUEUE = 300  # messages kept per subscriber that does not read: 10 s at 30 fps
WAIT_S = 0.005  # the longest a client's message waits while no frame comes
CLIENT_TYPES = {"hello", "ping", "live-subscribe", "live-unsubscribe"}


class LiveServer:
    """The live stream's socket (module docstring); ``capabilities`` go into every ``welcome``."""

    def __init__(
        self, bind: str = DEFAULT_LIVE_ADDRESS, curve_keys: Path | None = None, insecure: bool = False, capabilities: dict | None = None
    ) -> None:
        self.socket = bind_router(bind, curve_keys, insecure, send_queue=SEND_QUEUE)
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.capabilities = {"live": True, **(capabilities or {})}
        self.subscribers: list[bytes] = []
        self.start: Message | None = None  # live-start, once the stream's skeleton is known

    def _send(self, identity: bytes, message: Message) -> None:
        self.socket.send_multipart([identity, *encode(message)])

    def handle(self, identity: bytes, frames: list[bytes]) -> None:
        """Answer one client message; anything wrong becomes an ``error`` reply."""
        try:
            message = decode(frames)
            if message.type not in CLIENT_TYPES:
                raise ProtocolError("bad-message", f"{message.type!r}: engine live answers {', '.join(sorted(CLIENT_TYPES))} only")
            if message.type == "hello":
                self._send(identity, Message("welcome", fields={"engine": __version__, "capabilities": self.capabilities}))
            elif message.type == "ping":
                self._send(identity, Message("pong"))
            elif message.type == "live-subscribe":
                if identity not in self.subscribers:
                    self.subscribers.append(identity)
                if self.start is not None:  # a late subscriber needs the skeleton before its first frame
                    self._send(identity, self.start)
            elif identity in self.subscribers:  # live-unsubscribe
                self.subscribers.remove(identity)
        except ProtocolError as e:
            self._send(identity, Message("error", fields={"code": e.code, "message": str(e)}))

    def poll(self, timeout_ms: int = 0) -> None:
        """Answer every client message waiting, after at most ``timeout_ms`` for the first."""
        if self.socket.poll(timeout_ms):
            while self.socket.poll(0):
                identity, *frames = self.socket.recv_multipart()
                self.handle(identity, frames)

    def broadcast(self, message: Message) -> float:
        """Send ``message`` to every subscriber; ``time.perf_counter()`` once it has left (handed
        to ZeroMQ's I/O thread, which writes it to the network)."""
        frames = encode(message)
        for identity in self.subscribers:
            self.socket.send_multipart([identity, *frames])
        return time.perf_counter()

    def send_start(self, source: str, fps: float, width: int, height: int, rest: np.ndarray) -> None:
        fields = {"source": source, "fps": fps, "width": width, "height": height}
        self.start = Message("live-start", fields=fields, arrays={"rest_joints": rest})
        self.broadcast(self.start)

    def send_frame(self, frame: LiveFrame) -> float:
        arrays = {"poses": frame.poses[None], "trans": frame.trans[None], "contacts": frame.contacts[None]}
        return self.broadcast(Message("live-frame", fields={"index": frame.index, "time": frame.time}, arrays=arrays))

    def send_stopped(self, reason: str, stats: dict) -> None:
        self.broadcast(Message("live-stopped", fields={"reason": reason, "stats": stats}))

    def close(self, linger_ms: int = 1000) -> None:
        """Close the socket, giving the last messages (``live-stopped``) ``linger_ms`` to leave."""
        self.socket.close(linger_ms)

    def run(
        self,
        reader: FrameReader,
        processor: LiveProcessor,
        stop: threading.Event | None = None,
        seconds: float | None = None,
        wait_for_subscriber: bool = False,
        on_frame: Callable[[LiveFrame], None] | None = None,
    ) -> tuple[str, LiveStats]:
        """Stream until the source ends, ``stop`` is set or ``seconds`` have passed (module
        docstring); tells the subscribers why with ``live-stopped`` and its stats. With
        ``wait_for_subscriber`` the source is read only once a client has subscribed (a file
        then starts when someone is there to see it). ``on_frame`` gets each frame sent."""
        stop = stop or threading.Event()
        while wait_for_subscriber and not self.subscribers and not stop.is_set():
            self.poll(50)
        stats, detection = LiveStats(), Detection(reader, processor)
        reader.start()
        detection.start()
        reason = "the source ended"
        try:
            while True:
                if stop.is_set():
                    reason = "stopped"
                    break
                if seconds is not None and time.perf_counter() - stats.started >= seconds:
                    reason = f"{seconds:g} s passed"
                    break
                self.poll(0)
                detected = detection.slot.take(WAIT_S)
                if detected is None:
                    if detection.slot.finished:
                        if detection.slot.error is not None:
                            raise detection.slot.error
                        break
                    continue
                frame, pixels = detected
                stats.processed += 1
                made = processor.pose(frame, pixels)
                if made is None:
                    continue
                if self.start is None:
                    self.send_start(reader.name, processor.fps, reader.width, reader.height, processor.rest)
                stats.sent(frame.handed_over, self.send_frame(made))
                if on_frame is not None:
                    on_frame(made)
        except Exception as e:
            reason = f"failed: {type(e).__name__}: {e}"
            raise
        finally:
            reader.stop()
            detection.stop()
            stats.ended, stats.cpu_ended = time.perf_counter(), time.process_time()
            stats.read, stats.dropped = reader.slot.read, reader.slot.dropped + detection.slot.dropped
            stats.calibration, stats.unseen = processor.calibration_frames, processor.unseen_frames
            self.send_stopped(reason, stats.summary())
        return reason, stats
