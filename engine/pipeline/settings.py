"""Capture settings: what `engine mocap` options and a client's ``capture`` options set (no torch here)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from engine.lifting.registry import DEFAULT_LIFTER, capture_lifters, lifter_entry
from engine.solving import AUTO, SOLVERS, paired_solver

# A phone's main camera (26 mm equivalent) sees about 69° across the frame's long side.
DEFAULT_FOV_DEG = 69.0
# Accepted ranges of the numeric settings.
RANGES = {"fov_deg": (10.0, 170.0), "smooth": (0.0, 50.0), "foot_lock": (0.0, 1.0)}
# Where the world's origin is: "first-frame" puts the root of the motion's first frame at
# x = z = 0 facing +z (on the floor, as always); "camera" keeps the camera's place and heading.
ORIGINS = ("first-frame", "camera")
# Accepted ranges of the whole-number settings: a solver's sampling steps (the schedule has
# 1000; past tens, only slower) and 2D detector threads.
COUNTS = {"steps": (1, 50), "detect_workers": (1, 64)}
# engine live (engine/pipeline/live.py), here for the command line to read without torch: its
# single-frame lifter, the seconds of the person that fix its world and skeleton, and its
# One-Euro filter's defaults for camera-frame joints in metres at 30 fps (docs/live.md).
LIVE_LIFTER = "htnet"
LIVE_CALIBRATION_S = 1.0
LIVE_MIN_CUTOFF_HZ = 0.5
LIVE_BETA = 8.0


@dataclass(frozen=True)
class Settings:
    lifter: str = DEFAULT_LIFTER  # a capture lifter of engine.lifting.registry
    # engine.solving.SOLVERS: what turns world joints into SMPL rotations; "auto" becomes the
    # decoder trained under the lifter's licence (the shipped lifter's, whatever lifter_weights says)
    solver: str = AUTO
    steps: int = 1  # sampling steps of a solver that samples (the decoder's DDIM steps)
    fov_deg: float = DEFAULT_FOV_DEG
    smooth: float = 1.5  # frames (Gaussian sigma) for the root trajectory
    foot_lock: float = 1.0  # 0 switches foot locking off
    keep_empty: bool = False  # keep the frames before the person is first seen and after they are last seen
    origin: str = "first-frame"  # one of ORIGINS
    lifter_weights: str = ""  # a weights file used instead of the lifter's shipped weights
    # 2D detector threads for one video. Above one, the frames are tracked in segments
    # (engine.pipeline.parallel_tracking), which moves the motion by about a millimetre; any
    # count above one gives the same motion.
    detect_workers: int = 1

    def __post_init__(self) -> None:
        if self.lifter not in capture_lifters():
            raise ValueError(f"lifter must be one of {', '.join(capture_lifters())}, got {self.lifter!r}")
        if self.solver == AUTO:
            object.__setattr__(self, "solver", paired_solver(lifter_entry(self.lifter).licence))
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join([AUTO, *SOLVERS])}, got {self.solver!r}")
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(ORIGINS)}, got {self.origin!r}")
        if not isinstance(self.keep_empty, bool):
            raise ValueError(f"keep_empty must be true or false, got {self.keep_empty!r}")
        if self.lifter_weights and not Path(self.lifter_weights).is_file():
            raise ValueError(f"lifter_weights: {self.lifter_weights}: no such file")
        for name, (low, high) in COUNTS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")

    @classmethod
    def from_options(cls, options: dict) -> Settings:
        """Settings from a client's options (keys as the dataclass's fields but ``lifter_weights``,
        since a client does not make the engine load files, and ``detect_workers``, since the
        engine knows its own cores); ValueError names a bad one."""
        known = [f.name for f in fields(cls) if f.name not in ("lifter_weights", "detect_workers")]
        unknown = set(options) - set(known)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; known: {', '.join(known)}")
        return cls(**options)

    def key(self) -> str:
        """A short digest of the settings, for knowing whether earlier outputs are up to date."""
        values = {**asdict(self), "detect_workers": min(self.detect_workers, 2)}  # only 1 and more differ
        return hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest()[:12]


def split_cores(videos: int, workers: int | None = None, detect_workers: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """(videos captured at once, 2D detector threads per video) for ``videos`` on ``cores``
    (this machine's by default), filling in what the user left ``None``.

    Several videos at once beat several detectors per video: they need no warm-up frames
    (``engine.pipeline.parallel_tracking``) and their lifting overlaps the other's detection. So
    a batch runs one video per core with one detector each, and a single video gets every
    core's detector.
    """
    cores = cores or os.cpu_count() or 1
    workers = workers or max(1, min(videos, cores))
    return workers, detect_workers or max(1, cores // workers)
