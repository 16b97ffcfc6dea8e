"""One capture followed from Blender: non-blocking reads, bounded in time, frames kept in order.

``CaptureSession.tick()`` is what the add-on's timer calls: it reads whatever the engine has
sent, for at most ``budget_s``, and returns the frames that arrived (in order, none missing:
a chunk that comes early waits for the ones before it). It never raises on a dead engine; it
reports it, and what was received stays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .client import Client
from .protocol import Message, ProtocolError

PING_AFTER_S = 2.0  # quiet this long (a job queued behind another): ask the engine if it is there
SILENCE_S = 10.0  # quiet this long, pings unanswered: the engine is gone


@dataclass
class CaptureSession:
    client: Client
    job: str
    stage: str = "queued"
    done: int = 0
    total: int = 0
    fps: float | None = None
    rest_joints: np.ndarray | None = None  # the clip's SMPL rest skeleton, before the first frames
    received: int = 0  # frames handed out so far, in order
    error: str | None = None
    finished: bool = False
    summary: dict = field(default_factory=dict)
    _early: dict[int, Message] = field(default_factory=dict)
    _heard: float = field(default_factory=time.monotonic)
    _pinged: float = 0.0

    @classmethod
    def start(cls, address: str, video: str, options: dict, server_key: bytes | None = None, timeout_s: float = 5.0) -> CaptureSession:
        """Connect, ask for the capture and return its session (raises ``EngineError`` or
        ``TimeoutError`` with the engine's or the network's reason)."""
        client = Client(address, server_key, name="blender")
        try:
            job, _ = client.capture(video, options, timeout_s=timeout_s)
        except Exception:
            client.close()
            raise
        return cls(client, job)

    def tick(self, budget_s: float = 0.02) -> dict[str, np.ndarray] | None:
        """The frames that arrived since the last tick, joined (poses, trans, contacts), or None."""
        if self.finished:
            return None
        deadline, chunks = time.monotonic() + budget_s, []
        while time.monotonic() < deadline:
            try:
                message = self.client.receive(timeout_s=0)
            except ProtocolError as e:
                self._end(f"the engine sent something unreadable: {e}")
                break
            if message is None:
                quiet = time.monotonic() - self._heard
                if quiet > SILENCE_S:
                    self._end(f"the engine has said nothing for {SILENCE_S:.0f} s: it stopped or the connection dropped")
                elif quiet > PING_AFTER_S and time.monotonic() - self._pinged > PING_AFTER_S:
                    self.client.send(Message("ping"))
                    self._pinged = time.monotonic()
                break
            self._heard = time.monotonic()
            if message.job not in (None, self.job):
                continue
            chunks += self._take(message)
            if self.finished:
                break
        if not chunks:
            return None
        return {name: np.concatenate([c.arrays[name] for c in chunks]) for name in ("poses", "trans", "contacts")}

    def _take(self, message: Message) -> list[Message]:
        if message.type == "skeleton":
            self.rest_joints = message.arrays["rest_joints"].astype(np.float64)
        elif message.type == "progress":
            self.stage, self.done, self.total = message.fields["stage"], message.fields["done"], message.fields["total"]
        elif message.type == "frames":
            self.fps = message.fields["fps"]
            self._early[message.fields["start"]] = message
            ready = []
            while self.received in self._early:
                chunk = self._early.pop(self.received)
                self.received += len(chunk.arrays["poses"])
                ready.append(chunk)
            return ready
        elif message.type == "done":
            self.stage, self.summary = "done", message.fields["summary"]
            self._end(None)
        elif message.type == "error":
            self._end(f"{message.fields['code']}: {message.fields['message']}")
        return []

    def cancel(self) -> None:
        """Ask the engine to stop the job; its ``error`` (cancelled) ends the session."""
        if not self.finished:
            self.client.cancel(self.job)

    def stop(self, reason: str) -> None:
        """End the session here and now (cancelling the job), with ``reason`` as its error."""
        self.cancel()
        self._end(reason)

    def _end(self, error: str | None) -> None:
        self.error, self.finished = error, True
        self.client.close()
