"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from engine.body.skeleton import default_rest_joints


@pytest.fixture
def rest_joints() -> np.ndarray:
    """The default SMPL24 rest skeleton (24, 3), metres."""
    return default_rest_joints()
