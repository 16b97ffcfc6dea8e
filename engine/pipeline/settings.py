"""Capture settings: what `engine mocap` options and a client's ``capture`` options set (no torch here)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from engine.lifting.registry import DEFAULT_LIFTER, capture_lifters
from engine.solving import DEFAULT_SOLVER, SOLVERS

# A phone's main camera (26 mm equivalent) sees about 69° across the frame's long side.
DEFAULT_FOV_DEG = 69.0
# Accepted ranges of the numeric settings.
RANGES = {"fov_deg": (10.0, 170.0), "smooth": (0.0, 50.0), "foot_lock": (0.0, 1.0)}


@dataclass(frozen=True)
class Settings:
    lifter: str = DEFAULT_LIFTER  # a capture lifter of engine.lifting.registry
    solver: str = DEFAULT_SOLVER  # engine.solving.SOLVERS: what turns world joints into SMPL rotations
    fov_deg: float = DEFAULT_FOV_DEG
    smooth: float = 1.5  # frames (Gaussian sigma) for the root trajectory
    foot_lock: float = 1.0  # 0 switches foot locking off
    lifter_weights: str = ""  # a weights file used instead of the lifter's shipped weights

    def __post_init__(self) -> None:
        if self.lifter not in capture_lifters():
            raise ValueError(f"lifter must be one of {', '.join(capture_lifters())}, got {self.lifter!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if self.lifter_weights and not Path(self.lifter_weights).is_file():
            raise ValueError(f"lifter_weights: {self.lifter_weights}: no such file")
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")

    @classmethod
    def from_options(cls, options: dict) -> Settings:
        """Settings from a client's options (keys as the dataclass's fields but ``lifter_weights``:
        a client does not make the engine load files); ValueError names a bad one."""
        known = [f.name for f in fields(cls) if f.name != "lifter_weights"]
        unknown = set(options) - set(known)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; known: {', '.join(known)}")
        return cls(**options)

    def key(self) -> str:
        """A short digest of the settings, for knowing whether earlier outputs are up to date."""
        return hashlib.sha256(repr(sorted(asdict(self).items())).encode()).hexdigest()[:12]
