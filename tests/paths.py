"""Where the tests find the shared mocap data (../shared/mocap beside the repository, or $ENGINE_MOCAP_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MOCAP = Path(os.environ.get("ENGINE_MOCAP_DIR", REPO.parent / "shared" / "mocap"))

needs_mocap = pytest.mark.skipif(not (MOCAP / "cmu").is_dir(), reason=f"no mocap data at {MOCAP} (set ENGINE_MOCAP_DIR)")
