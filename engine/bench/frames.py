"""`engine bench frames`: how many motion frames a second the engine's ``frames`` channel carries.

The server's own socket and send path, a real :class:`~engine.client.Client` over TCP
loopback, and the protocol's full encode, decode and validation on both sides: the sender
cuts ``frames`` frames into chunks as the server does, the client receives and joins them
(``assemble`` checks that none is missing) and the time runs until the last one is joined.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from engine.client import Client, assemble
from engine.protocol import Message
from engine.server import CHUNK_FRAMES, Server


def bench_frames(frames: int = 120_000, chunk: int = CHUNK_FRAMES) -> dict:
    """Frames per second through the channel (module docstring)."""
    rng = np.random.default_rng(0)
    motion = {
        "poses": rng.normal(size=(frames, 72)).astype(np.float32),
        "trans": rng.normal(size=(frames, 3)).astype(np.float32),
        "contacts": rng.uniform(size=(frames, 4)).astype(np.float32),
    }
    with tempfile.TemporaryDirectory() as out:
        server = Server("tcp://127.0.0.1:0", out=Path(out))
        client = Client(server.address)
        client.send(Message("hello", fields={"client": "bench"}))
        identity = server.socket.recv_multipart()[0]  # how the server addresses this client

        def send() -> None:
            for start in range(0, frames, chunk):
                part = {name: values[start : start + chunk] for name, values in motion.items()}
                server._send(identity, Message("frames", job="bench", fields={"start": start, "fps": 30.0}, arrays=part))

        started = time.perf_counter()
        sender = threading.Thread(target=send)
        sender.start()
        received = []
        while sum(len(m.arrays["poses"]) for m in received) < frames:
            message = client.receive(timeout_s=10)
            if message is None:
                raise RuntimeError(f"the channel went quiet after {len(received)} chunks")
            received.append(message)
        joined = assemble(received)
        seconds = time.perf_counter() - started
        sender.join()
        client.close()
        server.socket.close(0)
    for name, values in motion.items():
        np.testing.assert_array_equal(joined[name], values)
    return {
        "frames": frames,
        "chunk_frames": chunk,
        "seconds": seconds,
        "frames_per_second": frames / seconds,
        "megabytes_per_second": sum(v.nbytes for v in motion.values()) / seconds / 1e6,
    }
