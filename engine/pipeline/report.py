"""A capture's report: what came in, what was done with it, and what the user should know."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from engine.motion import Motion
from engine.pipeline.settings import Settings
from engine.pipeline.track import MAX_BRIDGED_GAP_S, missed_runs
from engine.timeseries import uniform_rate
from engine.video import VideoInfo


def capture_report(
    path: Path,
    info: VideoInfo,
    settings: Settings,
    motion: Motion,
    times: np.ndarray,
    detected: np.ndarray,
    notes: list[str],
    camera_motion: dict,
    lifter_card: str,
    person: dict,
    timings: dict,
) -> dict:
    """The report of the capture of ``path`` that gave ``motion``: frames (decoded at ``times``,
    a person ``detected`` in each or not), rates, what the clip-wide choices assumed
    (``notes``), the camera's motion (``camera_motion``, :meth:`CameraMotion.report
    <engine.pipeline.camera_motion.CameraMotion.report>`), the lifter's card name, the person tracker's ``person`` counts, ``timings``
    (seconds per stage) and warnings; where the motion starts in the video
    (``first_frame_time_s``), the empty frames left out before and after it, and the runs of
    held frames (``held_frames``: [start, end) in motion frames)."""
    held = [[int(start), int(end)] for start, end in missed_runs(~motion.held)]
    # The motion's frames are a stretch of the clip's uniform frames (capture.Capture.uniform).
    before = int(round((motion.first_frame_time - times[0]) * motion.fps))
    after = int(round((times[-1] - times[0]) * motion.fps)) + 1 - before - motion.num_frames
    warnings = list(notes)
    if len(times) < 0.9 * info.nominal_frames:
        warnings.append(
            f"{path.name}: only {len(times)} of the {info.nominal_frames} frames its container announces "
            "could be decoded (a truncated or damaged file); the motion covers those"
        )
    if not uniform_rate(times)[1]:
        warnings.append(f"variable frame rate: resampled to {motion.fps:.3g} fps by timestamps")
    if person["frames_with_others"]:
        warnings.append(
            f"someone else is in {len(person['frames_with_others'])} of {person['sampled_frames']} sampled "
            "frames; the engine follows one person, the tallest in view when it first finds someone"
        )
    if person["chose_larger"]:
        warnings.append(f"at frames {person['chose_larger']} a taller person than the one first detected was chosen")
    if person.get("collapsed_frames"):
        frames = person["collapsed_frames"]
        warnings.append(
            f"{len(frames)} frames (from frame {frames[0]}) held a pose far smaller than the person had been "
            "(the detector taking something else for a person); counted as nobody seen"
        )
    if held:
        ranges = ", ".join(f"{start}-{end - 1}" for start, end in held[:10]) + (f" and {len(held) - 10} more" if len(held) > 10 else "")
        warnings.append(
            f"the person was not seen for more than {MAX_BRIDGED_GAP_S:g} s at motion frames {ranges}: "
            "the last seen pose is held there (npz key 'held'), with confidence 0"
        )
    return {
        "video": str(path),
        "frames_decoded": len(times),
        "frames": motion.num_frames,
        "fps": motion.fps,
        "first_frame_time_s": motion.first_frame_time,
        "frames_left_out": {"before": before, "after": after},
        "held_frames": held,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "detection_rate": float(detected.mean()),
        "camera_motion": camera_motion,
        "person": person,
        "lifter": settings.lifter_weights or settings.lifter,
        "lifter_card": lifter_card,
        "solver": settings.solver,
        "settings": asdict(settings),
        "settings_key": settings.key(),
        "timings_s": timings,
        "warnings": warnings,
    }
