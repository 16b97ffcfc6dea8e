"""A client of ``engine serve``: what the Blender add-on and the tests use (zmq and numpy, no torch)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import zmq

from .protocol import Message, ProtocolError, decode, encode  # relative: the add-on carries both files

DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"


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

    def close(self) -> None:
        self.socket.close(0)


def assemble(chunks: list[Message]) -> dict[str, np.ndarray]:
    """``frames`` chunks (any order) joined into poses (T, 72), trans (T, 3), contacts (T, 4);
    raises ProtocolError if frames are missing or repeated."""
    chunks = sorted(chunks, key=lambda m: m.fields["start"])
    expected = 0
    for chunk in chunks:
        if chunk.fields["start"] != expected:
            raise ProtocolError("bad-array", f"frames {expected}..{chunk.fields['start'] - 1} are missing or repeated")
        expected += len(chunk.arrays["poses"])
    return {name: np.concatenate([c.arrays[name] for c in chunks]) for name in ("poses", "trans", "contacts")}
