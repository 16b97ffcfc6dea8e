"""A real engine for the tests inside Blender: a free loopback address, an ``engine serve``
there (``MOCAP_ENGINE``, from the engine's own environment), and waiting until the add-on's
*Test connection* gets an answer."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import bpy


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def start_engine(address: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [os.environ["MOCAP_ENGINE"], "serve", "--bind", address, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_for_engine(prefs) -> None:
    """Until the engine at the preferences' address answers (it starts in a few seconds)."""
    deadline = time.monotonic() + 60
    while bpy.ops.mocap.test_connection() and not prefs.engine_status.startswith("engine"):
        assert time.monotonic() < deadline, prefs.engine_status
        time.sleep(0.5)
