"""Video → Motion: the one function ``engine mocap`` and the server call.

Stages: decode (``engine.video``) → 2D keypoints (mediapipe, ``engine.keypoints``; a second
look on crops where the person is small, and for other people, ``person``) → gaps
bridged or marked, timing made uniform (``track``) → HoT lifting (``engine.lifting``) → root
translation, floor and foot locking (``world``) → per-clip bone lengths and analytic IK
(``engine.body.ik``) → a :class:`~engine.motion.Motion`. Frames in long detection gaps
hold the last seen pose and carry zero 2D confidence: no motion is invented for them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.ik import fit_rest_skeleton, solve_ik
from engine.body.kinematics import forward_kinematics_np
from engine.body.skeleton import default_rest_joints
from engine.data.cameras import normalise_screen
from engine.keypoints import blazepose_to_h36m17, detect_pose
from engine.lifting.inference import lift_sequence
from engine.lifting.weights import load_hot
from engine.motion import Motion
from engine.pipeline.person import second_look
from engine.pipeline.settings import LIFTER_WEIGHTS, Settings
from engine.pipeline.track import bridge_gaps, resample, uniform_rate
from engine.pipeline.world import lock_feet, root_translation, smooth_translation, to_world
from engine.video import probe, read_frames

Progress = Callable[[str, int, int], None]  # stage, done, total


def intrinsics(width: int, height: int, fov_deg: float) -> np.ndarray:
    """(fx, fy, cx, cy) of a centred pinhole seeing ``fov_deg`` across the long side."""
    focal = max(width, height) / 2 / np.tan(np.radians(fov_deg) / 2)
    return np.array([focal, focal, width / 2, height / 2])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def capture(path: str | Path, settings: Settings = Settings(), progress: Progress | None = None) -> tuple[Motion, dict]:
    """The Motion of the person in ``path`` and a report (frames, rates, timings, warnings)."""
    path = Path(path)
    report_progress = progress or (lambda stage, done, total: None)
    timings: dict[str, float] = {}
    info = probe(path)
    started = time.perf_counter()

    times: list[float] = []

    def frames():
        for frame in read_frames(path):
            times.append(frame.time)
            report_progress("2D keypoints", frame.index + 1, info.nominal_frames)
            yield frame.rgb

    landmarks, _ = detect_pose(frames())
    report_progress("second look", 0, 1)
    landmarks, person = second_look(path, landmarks, info.height)
    timings["decode and 2D"] = time.perf_counter() - started
    stamp = np.array(times)
    pixels, in_long_gap = bridge_gaps(blazepose_to_h36m17(landmarks).astype(np.float64), stamp)
    detected = landmarks[..., 2].max(axis=1) > 0
    if not detected.any():
        raise ValueError(f"{path}: no person found in any of its {len(stamp)} frames")
    fps, even = uniform_rate(stamp)
    if not even:
        pixels = resample(pixels, stamp, fps)
        in_long_gap = resample(in_long_gap.astype(float), stamp, fps) > 0.5
    _hold_through_gaps(pixels, in_long_gap)

    started = time.perf_counter()
    report_progress("lifting", 0, 1)
    model = load_hot(LIFTER_WEIGHTS[settings.lifter])
    normalised = np.concatenate([normalise_screen(pixels[..., :2], info.width, info.height), pixels[..., 2:]], -1)
    relative = lift_sequence(model, normalised).astype(np.float64)
    timings["lifting"] = time.perf_counter() - started

    started = time.perf_counter()
    camera = intrinsics(info.width, info.height, settings.fov_deg)
    translation = smooth_translation(root_translation(relative, pixels, camera), settings.smooth)
    trajectory = lock_feet(to_world(relative + translation[:, None], fps), settings.foot_lock)
    rest = fit_rest_skeleton(trajectory.joints[~in_long_gap], default_rest_joints())
    local, trans = solve_ik(trajectory.joints, rest)
    poses = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(local), -1)
    joints, _ = forward_kinematics_np(local, rest, trans, rep="matrix")
    timings["trajectory and IK"] = time.perf_counter() - started

    keypoints2d = pixels.copy()
    keypoints2d[in_long_gap, :, 2] = 0.0
    motion = Motion(
        poses=poses, trans=trans, fps=fps, joints=joints, keypoints2d=keypoints2d,
        contacts=trajectory.contacts[:, [0, 0, 1, 1]], camera=camera, source=(path.name, file_sha256(path)),
        rest_joints=rest,
    )  # fmt: skip
    warnings = list(trajectory.notes)
    if not even:
        warnings.append(f"variable frame rate: resampled to {fps:.3g} fps by timestamps")
    if person["frames_with_others"]:
        warnings.append(f"someone else is in {len(person['frames_with_others'])} of {person['sampled_frames']} sampled "
                        "frames; the engine follows the person the detector found first")  # fmt: skip
    if in_long_gap.any():
        warnings.append(f"{int(in_long_gap.sum())} frames in gaps longer than the bridgeable; pose held, confidence 0")
    report = {
        "video": str(path), "frames_decoded": len(stamp), "frames": motion.num_frames, "fps": fps,
        "width": info.width, "height": info.height, "rotation": info.rotation,
        "detection_rate": float(detected.mean()), "person": person, "lifter": settings.lifter, "lifter_card": model.card["name"],
        "settings": asdict(settings), "settings_key": settings.key(), "timings_s": timings, "warnings": warnings,
    }  # fmt: skip
    return motion, report


def _hold_through_gaps(pixels: np.ndarray, in_long_gap: np.ndarray) -> None:
    """Give frames in long gaps the nearest seen frame's keypoints (in place, confidence kept at 0)."""
    seen = np.flatnonzero(~in_long_gap)
    nearest = seen[np.clip(np.searchsorted(seen, np.arange(len(pixels))), 0, len(seen) - 1)]
    pixels[in_long_gap, :, :2] = pixels[nearest[in_long_gap], :, :2]
