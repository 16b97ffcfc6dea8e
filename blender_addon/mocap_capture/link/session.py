"""One capture, or one live stream, followed from Blender: non-blocking reads, bounded in time.

``CaptureSession.tick()`` is what the add-on's timer calls: it reads whatever the engine has
sent, for at most ``budget_s``, and returns the provisional frames that arrived (in order, none
missing: a chunk that comes early waits for the ones before it); the final motion is gathered in
``final`` until ``done`` ends the session. It never raises on a dead engine; it
reports it, and what was received stays. What each message means for the job (stage,
skeleton, frames and the final series in order, summary, error) is the engine client's own
:class:`~.client.CaptureFollower`, which ``engine client capture`` follows its captures with too;
the session adds the connection, the time budget and noticing a silent engine.
:class:`LiveSession` does the same for an ``engine live`` stream, with the client's
:class:`~.client.LiveFollower`.
"""

from __future__ import annotations

import time

import numpy as np

from .client import CaptureFollower, Client, EngineError, LiveFollower
from .protocol import Message, ProtocolError

PING_AFTER_S = 2.0  # quiet this long (a job queued behind another): ask the engine if it is there
SILENCE_S = 10.0  # quiet this long, pings unanswered: the engine is gone


class _Reading:
    """What both sessions share: reading their follower's messages from ``client`` for a
    bounded time, pinging a quiet engine and giving up on a silent one."""

    def _listen(self, client: Client) -> None:
        self.client = client
        self._heard = time.monotonic()
        self._pinged = 0.0

    def _read(self, budget_s: float, engine: str) -> list:
        """What ``take`` made of the messages that arrived within ``budget_s``, in order; a
        broken or silent ``engine`` (named so in the reason), or the follower finishing, ends
        the session."""
        deadline, taken = time.monotonic() + budget_s, []
        while time.monotonic() < deadline:
            try:
                message = self.client.receive(timeout_s=0)
            except ProtocolError as e:
                self._end(f"{engine} sent something unreadable: {e}")
                break
            if message is None:
                quiet = time.monotonic() - self._heard
                if quiet > SILENCE_S:
                    self._end(f"{engine} has said nothing for {SILENCE_S:.0f} s: it stopped or the connection dropped")
                elif quiet > PING_AFTER_S and time.monotonic() - self._pinged > PING_AFTER_S:
                    self.client.send(Message("ping"))
                    self._pinged = time.monotonic()
                break
            self._heard = time.monotonic()
            taken += self.take(message)
            if self.finished:  # the follower's end (done, live-stopped) or the engine's error
                self._end(self.error)
                break
        return taken


class CaptureSession(_Reading, CaptureFollower):
    """A :class:`~.client.CaptureFollower` (stage, done, total, fps, rest_joints, final,
    final_rest_joints, error, finished, summary, files) reading its job's messages from
    ``client`` without blocking."""

    def __init__(self, client: Client, job: str, **state) -> None:  # state: CaptureFollower's fields
        super().__init__(job, **state)
        self._listen(client)

    @classmethod
    def start(cls, address: str, video: str, options: dict, server_key: bytes | None = None, timeout_s: float = 5.0) -> CaptureSession:
        """Connect, ask for the capture and return its session (raises ``EngineError`` or
        ``TimeoutError`` with the engine's or the network's reason)."""
        client = Client(address, server_key, name="blender")
        try:
            job, position = client.capture(video, options, timeout_s=timeout_s)
        except Exception:
            client.close()
            raise
        return cls(client, job, position=position)

    def tick(self, budget_s: float = 0.02) -> dict[str, np.ndarray] | None:
        """The provisional frames that arrived since the last tick, joined (poses, trans, contacts), or None."""
        if self.finished:
            return None
        chunks = self._read(budget_s, "the engine")
        if not chunks:
            return None
        return {name: np.concatenate([c.arrays[name] for c in chunks]) for name in ("poses", "trans", "contacts")}

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


class LiveSession(_Reading, LiveFollower):
    """A :class:`~.client.LiveFollower` (source, fps, rest_joints, received, last_index, reason,
    stats, error, finished) reading an ``engine live`` stream from ``client`` without blocking."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self._listen(client)

    @classmethod
    def start(cls, address: str, server_key: bytes | None = None, timeout_s: float = 5.0) -> LiveSession:
        """Connect, check that ``engine live`` answers there and subscribe (raises ``EngineError``
        or ``TimeoutError`` with the reason)."""
        client = Client(address, server_key, name="blender live")
        try:
            if not client.hello(timeout_s).fields["capabilities"].get("live"):
                raise EngineError("not-live", f"the engine at {address} captures videos (engine serve); live frames come from engine live")
            client.subscribe_live()
        except Exception:
            client.close()
            raise
        return cls(client)

    def tick(self, budget_s: float = 0.02) -> list[Message]:
        """The ``live-frame`` messages that arrived since the last tick, in order (often none)."""
        if self.finished:
            return []
        frames = self._read(budget_s, "the live engine")
        return frames

    def stop(self, reason: str) -> None:
        """Stop following, for ``reason``: the engine is told (its stream goes on for others)."""
        if not self.finished:
            self.client.unsubscribe_live()
            self.reason = reason
            self._end(None, linger_ms=500)  # time for the unsubscribe to leave

    def _end(self, error: str | None, linger_ms: int = 0) -> None:
        self.error, self.finished = error, True
        self.client.close(linger_ms)
