"""Many videos in, files out: ``engine mocap``'s loop, resumable, one failure never stopping the rest.

Per video ``NAME`` it writes ``NAME.npz`` (the Motion), ``NAME.bvh``, ``NAME.fbx`` (when bpy
or a ``blender`` binary is present; otherwise a notice) and ``NAME.json`` (the report: frames,
rates, detection rate, timings, warnings, the files written), each written under a temporary
name and renamed into place only when all succeeded. A video whose report shows the
same video hash, settings and engine version, with every requested file present, is skipped.
With ``preview``, ``NAME.preview.mp4`` shows the clip's 2D skeleton beside a side view of the
3D motion (the SMPL body mesh when an SMPL model file is given); a photo always gets its
preview, as an image: ``NAME.preview.png``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from engine import __version__
from engine.io import FORMATS
from engine.io.fbx import FbxUnavailableError
from engine.io.staging import staged
from engine.io.write import write_motion
from engine.motion import Motion
from engine.pipeline.capture import FrameSink, Progress, capture, file_sha256
from engine.pipeline.preview import write_preview
from engine.pipeline.settings import Settings
from engine.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, probe


@dataclass
class Outcome:
    """How one video of a batch went."""

    video: Path
    status: str  # "done", "skipped" or "failed"
    frames: int = 0
    seconds: float = 0.0
    message: str = ""  # a failure's starts with the video's path; a done video's are its warnings
    files: list[str] = field(default_factory=list)  # names in the output folder


def torch_threads(workers: int, detect_workers: int) -> None:
    """Give torch (the lifter) the cores the detectors leave: one thread when they take them all."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // (workers * detect_workers)))


def run_many(
    videos: list[Path],
    out: Path,
    settings: Settings,
    formats: tuple[str, ...],
    preview: bool,
    workers: int,
    smpl: Path | None = None,
    force: bool = False,
) -> Iterator[Outcome]:
    """Outcomes of ``videos`` captured ``workers`` at a time in worker processes, as they finish
    (one worker decodes and detects while another lifts, so both cores stay busy)."""
    # Spawned, not forked: a fork of a process already running torch, mediapipe or decoding
    # threads can inherit their locks held and die.
    spawn = multiprocessing.get_context("spawn")
    threads = (workers, settings.detect_workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=spawn, initializer=torch_threads, initargs=threads) as pool:
        futures = [pool.submit(run_one, v, out, settings, formats, None, preview, None, smpl, force) for v in videos]
        for future in as_completed(futures):
            yield future.result()


def find_videos(paths: Iterable[Path]) -> list[Path]:
    """The given files, and the entries of the given folders (recursively, sorted) named like
    videos or images that are not folders: a broken link or a pipe named ``x.mp4`` is kept, so
    that it fails with its own message instead of vanishing from the batch."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            named = (p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES)
            found += sorted(p for p in named if not p.is_dir())
        else:
            found.append(path)
    return found


def write_outputs(
    motion: Motion, report: dict, stage: Callable[[str], Path], stem: str, formats: tuple[str, ...], also: list[str] = ()
) -> list[str]:
    """Write the requested files and the report (listing them and ``also``, files written
    beside them) to the paths ``stage`` gives (:func:`staged`); FBX without Blender becomes a
    notice in the report, not a failure."""
    written = []
    for format in (f for f in FORMATS if f in formats):
        try:
            write_motion(motion, stage(f"{stem}.{format}"), format)
            written.append(f"{stem}.{format}")
        except FbxUnavailableError as e:
            report["warnings"].append(f"no FBX: {e}")
    report["files"] = written + list(also) + [f"{stem}.json"]
    report["engine_version"] = __version__
    stage(f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    return report["files"]


def _up_to_date(video: Path, out: Path, stem: str, settings: Settings, formats: tuple[str, ...]) -> bool:
    report_path = out / f"{stem}.json"
    if not report_path.is_file():
        return False
    try:
        report = json.loads(report_path.read_text())
    except json.JSONDecodeError:
        return False
    written, warnings = report.get("files", []), report.get("warnings", [])
    # FBX counts as done when it was written, or when Blender was missing last time.
    have = all(f"{stem}.{f}" in written or (f == "fbx" and any(w.startswith("no FBX") for w in warnings)) for f in formats)
    return (
        have
        and all((out / name).is_file() for name in written)
        and report.get("sha256") == file_sha256(video)
        and report.get("settings_key") == settings.key()
        and report.get("engine_version") == __version__
    )


def preview_name(video: Path, preview: bool) -> str | None:
    """The preview file ``video`` gets: ``NAME.preview.mp4`` when asked for, a photo's
    ``NAME.preview.png`` always (one image, cheap, and the way to see what a photo gave)."""
    if probe(video).is_image:
        return f"{video.stem}.preview.png"
    return f"{video.stem}.preview.mp4" if preview else None


def skipped(video: Path, out: Path, settings: Settings, formats: tuple[str, ...], preview: str | None) -> Outcome | None:
    """The skipped :class:`Outcome` of ``video`` when its outputs in ``out`` (and the ``preview``
    file) are up to date (the same video hash, settings and engine version, every requested
    file present), else ``None``."""
    stem = video.stem
    if not _up_to_date(video, out, stem, settings, formats) or (preview and not (out / preview).is_file()):
        return None
    report = json.loads((out / f"{stem}.json").read_text())
    return Outcome(video, "skipped", report.get("frames", 0), 0.0, "up to date", report.get("files", []))


def run_one(
    video: Path,
    out: Path,
    settings: Settings,
    formats: tuple[str, ...],
    progress: Progress | None = None,
    preview: bool = False,
    on_frames: FrameSink | None = None,
    smpl: Path | None = None,
    force: bool = False,
    on_final: FrameSink | None = None,
) -> Outcome:
    """Capture one video into ``out`` (and its preview: :func:`preview_name`); every error
    becomes a failed :class:`Outcome`. ``on_frames`` gets the provisional motion as it is made,
    ``on_final`` the final motion (the one written) before the files are (``capture``).
    Up-to-date outputs are kept and the video skipped, unless ``force``."""
    stem = video.stem
    try:
        preview_file = preview_name(video, preview)
        if not force and (skip := skipped(video, out, settings, formats, preview_file)):
            return skip
        motion, report = capture(video, settings, progress, on_frames, on_final)
        report["sha256"] = motion.source[1]
        with staged(out) as stage:
            if preview_file:
                report["warnings"] += write_preview(video, motion, stage(preview_file), smpl)
            files = write_outputs(motion, report, stage, stem, formats, [preview_file] if preview_file else [])
        seconds = report["timings_s"]["wall"]
        return Outcome(video, "done", motion.num_frames, seconds, "; ".join(report["warnings"]), files)
    except Exception as e:  # one bad video must not cost the others
        # Our own errors (ValueError) say what is wrong and mostly name the file; others need their type.
        reason = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
        return Outcome(video, "failed", message=reason if reason.startswith(f"{video}: ") else f"{video}: {reason}")
