"""`engine bench pipeline CLIP`: the capture's speed per stage and end to end, and how clean its motion is.

Stages are timed inside one capture (decoding also alone, since in a capture it runs in a
thread beside 2D detection): each stage's frames per second is the clip's frames over the
seconds that stage was busy; the real-time factor is the clip's duration over the capture's
wall time (above 1.0: faster than the video plays), reported beside the bare detector's (one
mediapipe pose detector in this process on the same decoded frames, nothing else: what the
capture is built on) and the process's peak memory after the capture. The same clip is then
captured with foot
locking off, and both motions are scored: bone-length std (zero by construction: the SMPL
skeleton is fitted once per clip), mean joint acceleration and jitter, and foot skate (the
feet's horizontal speed on the frames labelled in contact).
"""

from __future__ import annotations

import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.body.joints import SMPL24
from engine.eval.metrics import bone_length_std, foot_skate, jitter
from engine.keypoints import PoseDetector
from engine.motion import Motion
from engine.pipeline.capture import capture
from engine.pipeline.settings import Settings
from engine.video import read_frames

# Motion.contacts columns: left heel, left toe, right heel, right toe.
CONTACT_JOINTS = [SMPL24.index("l_ankle"), SMPL24.index("l_foot"), SMPL24.index("r_ankle"), SMPL24.index("r_foot")]


def motion_quality(motion: Motion) -> dict[str, float]:
    """Smoothness and foot contact of a captured motion (module docstring)."""
    joints, fps = motion.joints, motion.fps
    return {
        "bone_length_std_mm": 1000 * bone_length_std(joints, SMPL24.parents),
        "acceleration_m_s2": float(np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).mean() * fps**2) if len(joints) > 2 else 0.0,
        "jitter_m_s3": jitter(joints, fps) if len(joints) > 3 else 0.0,
        "foot_skate_cm_s": 100 * foot_skate(joints, motion.contacts, CONTACT_JOINTS, fps) if len(joints) > 1 else 0.0,
        "contact_fraction": float((motion.contacts > 0.5).mean()),
    }


def detector_seconds(clip: Path) -> float:
    """Seconds one mediapipe pose detector (video mode) spends on every frame of ``clip``."""
    seconds = 0.0
    with PoseDetector() as detector:
        for frame in read_frames(clip):
            started = time.perf_counter()
            detector.process(frame.rgb)
            seconds += time.perf_counter() - started
    return seconds


def bench_pipeline(clip: Path, settings: Settings = Settings()) -> dict:
    """The benchmark (module docstring) on ``clip``."""
    started = time.perf_counter()
    decoded = sum(1 for _ in read_frames(clip))
    decode_seconds = time.perf_counter() - started
    motion, report = capture(clip, settings)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timings = report["timings_s"]
    duration = report["frames_decoded"] / report["fps"]
    stages = {"decode": {"seconds": decode_seconds, "fps": decoded / decode_seconds, "note": "timed alone"}}
    for stage in ("2D keypoints", "lifting", "trajectory and IK"):
        stages[stage] = {"seconds": timings[stage], "fps": report["frames_decoded"] / max(timings[stage], 1e-9)}
    detector_only = duration / detector_seconds(clip)
    unlocked, _ = capture(clip, replace(settings, foot_lock=0.0))
    return {
        "clip": str(clip),
        "width": report["width"],
        "height": report["height"],
        "fps": report["fps"],
        "frames": report["frames_decoded"],
        "video_seconds": duration,
        "seconds": timings["wall"],
        "realtime_factor": duration / timings["wall"],
        "detector_only_realtime_factor": detector_only,
        "realtime_factor_over_detector_only": duration / timings["wall"] / detector_only,
        "peak_memory_mb": peak_mb,
        "stages": stages,
        "quality": {"foot_lock": motion_quality(motion), "no_foot_lock": motion_quality(unlocked)},
    }
