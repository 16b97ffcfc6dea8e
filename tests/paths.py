"""Where the tests find the shared data: $ENGINE_MOCAP_DIR, else ../shared beside the repository,
else the workplace's /work/shared (for clones made elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SHARED = next((p for p in (REPO.parent / "shared", Path("/work/shared")) if p.is_dir()), REPO.parent / "shared")
MOCAP = Path(os.environ.get("ENGINE_MOCAP_DIR", _SHARED / "mocap"))
VIDEOS = Path(os.environ.get("ENGINE_VIDEOS_DIR", _SHARED / "videos"))
REFERENCE = _SHARED / "reference"
EXAMPLE_CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"  # 25 fps, 640×360, the person always seen
EXAMPLE_MOTION = REPO / "tests" / "data" / "example_clip_motion.npz"  # its capture with the default settings

needs_videos = pytest.mark.skipif(not VIDEOS.is_dir(), reason=f"no videos at {VIDEOS} (set ENGINE_VIDEOS_DIR)")
needs_mocap = pytest.mark.skipif(not (MOCAP / "cmu").is_dir(), reason=f"no mocap data at {MOCAP} (set ENGINE_MOCAP_DIR)")


def official_state_dict(file: str) -> list[tuple[str, str]]:
    """(name, shape) of every entry in a reference state_dict list (``REFERENCE / file``), in
    order; skips the test when the list is not there."""
    path = REFERENCE / file
    if not path.is_file():
        pytest.skip(f"no reference state_dict list at {path}")
    lines = [line.split("\t") for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [(name, shape) for name, shape in lines]
