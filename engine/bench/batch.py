"""`engine bench batch`: clips per minute of ``engine mocap`` with ``--workers 1``, ``--workers 2``
and ``--ray``, and the Ray driver's peak memory on a folder of many tiny clips.

Each run is a fresh ``engine mocap`` process over the same folder (``--formats npz --force``,
into a folder of its own), timed from start to exit: model loading, and starting Ray for
``--ray local``, count, as they do for a user. The driver's peak memory is that process's own
(``ru_maxrss`` of itself, not of the workers). The tiny clips (2 frames of 64×64 grey) have
nobody in them, so each fails with "no person found": what is measured there is the driver
streaming a thousand tasks and their outcomes, not the captures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

# Runs engine's command line (the arguments after the first) in this process, then writes the
# process's own peak memory in KB into the file named first (its output is the workers' too).
DRIVER = """import resource, sys
from pathlib import Path
from engine.cli import app
try:
    app(sys.argv[2:], prog_name="engine")
finally:
    Path(sys.argv[1]).write_text(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def cut_clips(source: Path, folder: Path, count: int, frames: int, size: tuple[int, int] = (640, 360)) -> list[Path]:
    """``count`` clips of ``frames`` frames at ``size`` (width, height), cut from successive
    stretches of ``source`` (looping over it), as ``folder/clip_N.mp4``."""
    folder.mkdir(parents=True, exist_ok=True)
    reader = cv2.VideoCapture(str(source))
    fps = reader.get(cv2.CAP_PROP_FPS) or 25.0
    clips = []
    for i in range(count):
        clips.append(folder / f"clip_{i}.mp4")
        writer = cv2.VideoWriter(str(clips[-1]), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        for _ in range(frames):
            ok, frame = reader.read()
            if not ok:  # the source ran out: start it again
                reader.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = reader.read()
            writer.write(cv2.resize(frame, size))
        writer.release()
    reader.release()
    return clips


def tiny_clips(folder: Path, count: int) -> None:
    """``count`` copies of a 2-frame 64×64 grey clip in ``folder``, ``tiny_N.mp4``."""
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "tiny_0.mp4"
    writer = cv2.VideoWriter(str(first), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 64))
    for _ in range(2):
        writer.write(np.full((64, 64, 3), 128, np.uint8))
    writer.release()
    for i in range(1, count):
        shutil.copyfile(first, folder / f"tiny_{i}.mp4")


def run_mocap(folder: Path, out: Path, options: list[str]) -> dict:
    """One ``engine mocap`` process over ``folder``: its wall time, peak memory and totals."""
    peak = out.with_name(out.name + ".peak_kb")
    command = [sys.executable, "-c", DRIVER, str(peak), "mocap", str(folder), "--out", str(out), "--formats", "npz", "--force", *options]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = out / "summary.json"
    if not summary.is_file():
        raise RuntimeError(f"engine mocap {' '.join(options)} wrote no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return {"seconds": seconds, "driver_peak_mb": int(peak.read_text()) / 1024, "totals": json.loads(summary.read_text())["totals"]}


def bench_batch(source: Path, clips: int = 6, frames: int = 75, tiny: int = 1000, ray: str = "local") -> dict:
    """Clips per minute of the three ways of running a batch on ``clips`` clips of ``frames``
    frames cut from ``source``, and the ``--ray`` driver's peak memory on ``tiny`` tiny clips."""
    results: dict = {"clips": clips, "frames_per_clip": frames}
    with tempfile.TemporaryDirectory(prefix="engine-bench-batch-") as scratch:
        folder = Path(scratch) / "clips"
        cut_clips(source, folder, clips, frames)
        for mode, options in (("workers 1", ["--workers", "1"]), ("workers 2", ["--workers", "2"]), ("ray", ["--ray", ray])):
            run = run_mocap(folder, Path(scratch) / mode.replace(" ", "_"), options)
            if run["totals"]["done"] != clips:
                raise RuntimeError(f"{mode}: {run['totals']['done']} of {clips} clips captured")
            results[mode] = {
                "clips_per_minute": clips / run["seconds"] * 60,
                "seconds": run["seconds"],
                "driver_peak_mb": run["driver_peak_mb"],
            }
        tiny_folder = Path(scratch) / "tiny"
        tiny_clips(tiny_folder, tiny)
        run = run_mocap(tiny_folder, Path(scratch) / "tiny_out", ["--ray", ray])
        results[f"ray, {tiny} tiny clips"] = {
            "seconds": run["seconds"],
            "driver_peak_mb": run["driver_peak_mb"],
            "failed": run["totals"]["failed"],
        }
    return results
