"""An engine on this machine, started on demand: ``engine serve`` run from the add-on's
preferences (the ``engine`` executable, or the Python of the environment mocap-engine is
installed in), stopped when Blender quits or the add-on is disabled. No bpy here."""

from __future__ import annotations

import atexit
import subprocess
from pathlib import Path

_ENGINE: list[subprocess.Popen] = []


def engine_command(program: str, address: str) -> list[str]:
    """The command that serves at ``address`` from ``program``: the ``engine`` executable, or the
    Python of the environment mocap-engine is installed in."""
    engine = [program, "-m", "engine"] if Path(program).name.lower().startswith("python") else [program]
    return [*engine, "serve", "--bind", address]


def running() -> bool:
    """Whether the engine this Blender started is still running."""
    return bool(_ENGINE) and _ENGINE[0].poll() is None


def start_engine(program: str, address: str) -> list[str]:
    """Start ``engine serve`` at ``address`` from ``program`` (see :func:`engine_command`); the
    command started. Raises OSError when it cannot be started."""
    command = engine_command(program, address)
    _ENGINE[:] = [subprocess.Popen(command)]
    return command


def stop_engine() -> None:
    """Stop the engine this Blender started, if any (it has a few seconds to end its captures)."""
    for process in _ENGINE:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
    _ENGINE.clear()


atexit.register(stop_engine)  # a local engine ends with Blender


def register() -> None:
    pass


def unregister() -> None:
    stop_engine()
