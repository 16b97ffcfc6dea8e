"""Writing files so that a failure or a kill never leaves a half-written one in place."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged(out: Path) -> Iterator[Callable[[str], Path]]:
    """Temporary paths for the files named (``stage(name)``), renamed into place together when
    the block succeeds and removed when it fails, so a failure never leaves a half-written file."""
    moves: dict[Path, Path] = {}

    def stage(name: str) -> Path:
        temporary = out / f".{name}.partial{Path(name).suffix}"  # keep the suffix: writers check it
        moves[temporary] = out / name
        return temporary

    out.mkdir(parents=True, exist_ok=True)
    try:
        yield stage
        for temporary, final in moves.items():
            if temporary.exists():
                os.replace(temporary, final)
    finally:
        for temporary in moves:
            temporary.unlink(missing_ok=True)
