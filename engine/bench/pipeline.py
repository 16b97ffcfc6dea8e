"""`engine bench pipeline CLIP`: the capture's speed per stage and end to end, and how clean its motion is.

The clip is captured twice, each time in a fresh process (so neither inherits the other's
loaded models or memory): with one 2D detector thread, and with one per core (``engine
mocap``'s choice for one video; ``engine.pipeline.parallel_tracking``). For each: the stages'
frames per second (the clip's frames over the seconds that stage was busy), the real-time
factor (the clip's duration over the capture's wall time; above 1.0 the capture is faster
than the video plays) and the process's peak memory. Beside them, the bare detector's
real-time factor (one mediapipe pose detector in this process on the same decoded frames,
nothing else: what the capture is built on), decoding timed alone, how far the motion moved
between one and several detector threads (root-relative MPJPE), and the capture's motion
scored with and without foot locking: bone-length std (zero by construction: the SMPL
skeleton is fitted once per clip), mean joint acceleration and jitter, and foot skate (the
feet's horizontal speed on the frames labelled in contact).

Given more than one solver (``solvers``; the first is the one the captures above use), each
other solver captures the clip once more, in a fresh process with the same detector threads,
and is reported beside the first: its wall time, its "world and solver" stage's seconds, how
much it adds to the first's wall time (``wall_time_added``: the two captures' wall times, and
``stage_time_added``: the two stages' seconds, over the first's wall time; the stage runs in
its own thread beside detection, so it adds to the wall time only where it holds detection
up) and its motion's quality.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.body.joints import SMPL24
from engine.eval.metrics import bone_length_std, foot_skate, jitter
from engine.keypoints import PoseDetector
from engine.motion import Motion
from engine.pipeline.batch import torch_threads
from engine.pipeline.capture import capture
from engine.pipeline.settings import Settings, split_cores
from engine.video import read_frames

STAGES = ("2D keypoints", "lifting", "world and solver")
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


def _capture_in_fresh_process(clip: Path, settings: Settings) -> tuple[Motion, dict, float]:
    """``capture`` run in a new process: the motion, the report and the process's peak memory (MB)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(_capture_with_peak, clip, settings).result()


def _capture_with_peak(clip: Path, settings: Settings) -> tuple[Motion, dict, float]:
    torch_threads(1, settings.detect_workers)  # as engine mocap sets them for one video
    motion, report = capture(clip, settings)
    return motion, report, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_pipeline(clip: Path, settings: Settings = Settings(), solvers: tuple[str, ...] = ()) -> dict:
    """The benchmark (module docstring) on ``clip``, with ``settings`` but for the detector threads
    and the solver (the first of ``solvers``; ``settings.solver`` when none are given)."""
    solvers = solvers or (settings.solver,)
    settings = replace(settings, solver=solvers[0])
    started = time.perf_counter()
    decoded = sum(1 for _ in read_frames(clip))
    decode_seconds = time.perf_counter() - started
    threads = split_cores(1)[1]
    captures = {}
    for workers in sorted({1, threads}):
        motion, report, peak_mb = _capture_in_fresh_process(clip, replace(settings, detect_workers=workers))
        timings = report["timings_s"]
        duration = report["frames_decoded"] / report["fps"]
        stages = {stage: {"seconds": timings[stage], "fps": report["frames_decoded"] / max(timings[stage], 1e-9)} for stage in STAGES}
        captures[workers] = (
            motion,
            {
                "detector_threads": workers,
                "seconds": timings["wall"],
                "realtime_factor": duration / timings["wall"],
                "peak_memory_mb": peak_mb,
                "stages": stages,
            },
        )
    detector_only = duration / detector_seconds(clip)
    motion, best = captures[threads]
    root_relative = [m.joints - m.joints[:, :1] for m, _ in (captures[1], captures[threads])]
    unlocked, _, _ = _capture_in_fresh_process(clip, replace(settings, detect_workers=threads, foot_lock=0.0))
    first = {"solver": solvers[0], "seconds": best["seconds"], "stage_seconds": best["stages"]["world and solver"]["seconds"]}
    compared = [first | {"quality": motion_quality(motion)}]
    for solver in solvers[1:]:
        other, report, _ = _capture_in_fresh_process(clip, replace(settings, detect_workers=threads, solver=solver))
        seconds, stage = report["timings_s"]["wall"], report["timings_s"]["world and solver"]
        compared.append(
            {
                "solver": solver,
                "seconds": seconds,
                "stage_seconds": stage,
                "wall_time_added": seconds / first["seconds"] - 1.0,
                "stage_time_added": (stage - first["stage_seconds"]) / first["seconds"],
                "quality": motion_quality(other),
            }
        )
    return {
        "clip": str(clip),
        "width": report["width"],
        "height": report["height"],
        "fps": report["fps"],
        "frames": report["frames_decoded"],
        "video_seconds": duration,
        "decode_fps_alone": decoded / decode_seconds,
        "realtime_factor": best["realtime_factor"],
        "detector_only_realtime_factor": detector_only,
        "realtime_factor_over_detector_only": best["realtime_factor"] / detector_only,
        "speedup_over_one_detector_thread": best["realtime_factor"] / captures[1][1]["realtime_factor"],
        "motion_moved_mm": 1000 * float(np.linalg.norm(root_relative[1] - root_relative[0], axis=-1).mean()),
        "captures": [c for _, c in captures.values()],
        "quality": {"foot_lock": motion_quality(motion), "no_foot_lock": motion_quality(unlocked)},
        "solvers": compared,
    }
