"""``engine eval video``: the whole pipeline on rendered clips with ground truth.

Every clip of a rendered corpus (``engine data render``: ``clips/SPLIT/NNNNNN.mp4`` beside
``NNNNNN.npz``, docs/training-data.md, *Rendered corpus*) is scored three ways, on the same
clips, against the same ground truth:

- ``pipeline``: :func:`engine.pipeline.capture.capture` on the mp4, as ``engine mocap`` runs it
  (decoding, 2D detection, lifting, world frame, solver). With ``stored_2d`` the detections the
  corpus stored (the same 2D stage, run when the clip was rendered) are given instead
  (:func:`~engine.pipeline.capture.capture_landmarks`), which skips the detector.
- ``mediapipe``: mediapipe's world landmarks, as the corpus stored them: metres, centred between
  the hips, axes the image's (x right, y down, z away from the camera), no floor and no
  trajectory.
- ``exact_2d``: the capture fed the exact 2D: the ground-truth H36M17 joints projected through
  each frame's stored camera, given as BlazePose landmarks with confidence 1
  (:func:`~engine.pipeline.capture.capture_landmarks`). It shows what the stages after the
  detector lose on their own.

In both captures the camera's motion is measured on the mp4's frames. A motion's frame ``i``
is at ``first_frame_time + i / fps`` s into the video, the ground truth's frame ``k`` at
``k / fps`` of the clip (its ``meta``); the motion's joints are interpolated (linearly) to the
ground truth's frame times. A frame is scored where the ground truth is ``valid`` and the method
has it: inside the motion and not ``held`` (the person unseen), or where mediapipe found someone.

Joints: the 12 limb joints both joint sets share (``LIMBS``: hips, knees, ankles, shoulders,
elbows, wrists; SMPL24 in a motion and the ground truth's ``smpl_joints``, BlazePose landmarks
23/24, 25/26, 27/28, 11/12, 13/14, 15/16 in mediapipe's, each its own person's left or right).
Mid-hips is the mean of the two hips, mid-shoulders of the two shoulders. Metrics:

- ``mpjpe_mm``: in the camera frame (a motion's through its ``camera_to_world``, the truth's
  through the stored extrinsics, mediapipe's as it is), both sets moved to put their mid-hips
  at the origin.
- ``pa_mpjpe_mm``: after each frame's similarity Procrustes alignment (``metrics.pa_mpjpe``).
- ``wa_mpjpe100_mm``: world joints (not mediapipe's) against the world truth after one
  similarity alignment per ``SEGMENT_FRAMES`` ground-truth frames (the last segment shorter).
- ``trunk_tilt_deg``: the mean over frames of | angle(mid-hips → mid-shoulders, up) minus the
  truth's |, up being +y of the world (for mediapipe: -y, the image's up, so that its error
  includes the camera's pitch and roll, which it does not know).
- ``foot_height_cm`` (world only): | height of the lower ankle above the motion's floor (y = 0)
  minus the truth's above its floor (y = 0 at the soles) |, mean over frames; ``foot_bias_cm`` the
  signed mean. Both are ankle joints (the capture's floor is ``FOOT_ABOVE_FLOOR`` below its
  ankles, the soles' level; the truth's ankle is Anny's foot bone's head).
- ``rotation_error_deg`` (a motion's only): the mean geodesic angle between its local joint
  rotations (at the nearest motion frame) and the truth's (the mocap's, which the rendered body
  was posed with), over the joints between the root and the leaves (the root's turn depends on
  each world's heading; toes and hands carry no rotation); ``ankles_wrists_rotation_deg`` and
  ``ankles_rotation_deg`` over those joints alone; ``foot_direction_deg``, the mean angle
  between its ankle → foot and the truth's in the camera frame (where the feet point, whatever
  the legs above them).
- ``accel_error_m_s2`` (``metrics.accel_error``) and ``jitter_m_s3`` (``metrics.jitter``) of
  the camera-frame joints relative to mid-hips, and ``truth_jitter_m_s3`` of the truth's on the same
  frames, over runs of consecutive scored frames; ``world_jitter_m_s3`` (and the truth's) of the
  world joints.

Per clip (with its motion family, :func:`motion_family`), per family and overall; the means
over clips are weighted by each metric's frames (``frames``, ``accel_frames`` for acceleration,
``jitter_frames`` for jitter), so they are the means over all scored frames.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.body.joints import H36M17, SMPL24
from engine.data.render.shards import to_camera
from engine.decoding.representation import LEAF_JOINTS
from engine.eval import metrics
from engine.geometry import procrustes_align, rotvec_to_matrix, unit
from engine.keypoints import BLAZEPOSE_TO_H36M17, h36m17_to_blazepose
from engine.motion import Motion
from engine.pipeline.settings import Settings
from engine.timeseries import interpolate

LIMBS = ("l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist")
SMPL_LIMBS = [SMPL24.index(name) for name in LIMBS]
BLAZEPOSE_LIMBS = [BLAZEPOSE_TO_H36M17[H36M17.index(name)][0] for name in LIMBS]  # single-landmark joints
HIPS, ANKLES, SHOULDERS = [0, 1], [4, 5], [6, 7]  # in LIMBS
BODY_ROTATED = [j for j in range(1, len(SMPL24)) if j not in LEAF_JOINTS]
ANKLES_WRISTS = [SMPL24.index(n) for n in ("l_ankle", "r_ankle", "l_wrist", "r_wrist")]
FEET = [SMPL24.index(n) for n in ("l_ankle", "l_foot", "r_ankle", "r_foot")]
METHODS = ("pipeline", "mediapipe", "exact_2d")
SEGMENT_FRAMES = 100  # WA-MPJPE100's segments
MM, CM = 1000.0, 100.0
# The weight of each metric in the means over clips (the rest: "frames").
WEIGHTS = {"accel_error_m_s2": "accel_frames", "jitter_m_s3": "jitter_frames", "truth_jitter_m_s3": "jitter_frames"}
WEIGHTS |= {"world_jitter_m_s3": "jitter_frames", "truth_world_jitter_m_s3": "jitter_frames"}


def clip_files(folder: str | Path) -> list[Path]:
    """The rendered clips' ``.npz`` files (each beside its ``.mp4``) in ``folder``: a corpus
    (``clips/SPLIT/``, every split) or one split's clip folder; ValueError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    found = sorted(folder.glob("clips/*/*.npz")) or sorted(folder.glob("*.npz"))
    clips = [path for path in found if re.fullmatch(r"\d+", path.stem) and path.with_suffix(".mp4").is_file()]
    if not clips:
        raise ValueError(f"{folder}: no rendered clips (NNNNNN.npz beside NNNNNN.mp4, in clips/SPLIT/ as engine data render writes them)")
    return clips


def motion_family(meta: dict) -> str:
    """The clip's motion family: its mocap source and CMU subject (``cmu/09``), or for Bandai-style
    names ``dataset-N_MOTION_STYLE_NNN`` the motion without its style (``bandai2/walk``); else the
    name without its trailing numbers."""
    source = Path(meta.get("mocap_path", "")).parts[0] if meta.get("mocap_path") else "mocap"
    name = meta.get("mocap_clip", "")
    styled = re.fullmatch(r"dataset-\d+_(.+)_[a-z]+_\d+", name)
    motion = styled.group(1) if styled else re.sub(r"(_\d+)+$", "", name) or name
    return f"{source}/{motion}"


def read_clip(path: Path) -> dict:
    """A rendered clip's ground truth and stored detections (arrays of its ``.npz``, float64),
    its ``meta`` (a dict) and its ``fps``."""
    with np.load(path, allow_pickle=False) as data:
        clip = {key: data[key] for key in data.files}
    meta = json.loads(str(clip.pop("meta")))
    clip = {key: value.astype(np.float64) if value.dtype.kind == "f" else value for key, value in clip.items()}
    return clip | {"meta": meta, "fps": float(meta.get("fps", 30.0))}


def exact_landmarks(clip: dict) -> np.ndarray:
    """BlazePose landmarks (T, 33, 3) of the clip's ground-truth H36M17 joints projected through
    each frame's stored camera, pixels and confidence 1."""
    seen = to_camera(clip["h36m"], clip["extrinsics"])
    fx, fy, cx, cy = (clip["intrinsics"][:, None, i] for i in range(4))
    pixels = np.stack([fx * seen[..., 0] / seen[..., 2] + cx, fy * seen[..., 1] / seen[..., 2] + cy, np.ones(seen.shape[:2])], -1)
    return h36m17_to_blazepose(pixels)


def true_fov_deg(clip: dict) -> float:
    """The clip's camera's field of view across the frame's long side (``Settings.fov_deg``'s sense)."""
    camera = clip["meta"]["camera"]
    long_side, focal = max(camera["width"], camera["height"]), clip["intrinsics"][0, 0]
    return float(np.degrees(2 * np.arctan(long_side / 2 / focal)))


def from_motion(motion: Motion, frames: int, fps: float) -> dict:
    """A capture's answer at the ground truth's ``frames`` frame times (``k / fps``): which it has
    (``has``, (K,): inside the motion, nearest motion frame not held), its limb joints in the camera
    frame (``camera``) and in its world (``upright``, y up, floor y = 0), (K, 12, 3), and the
    nearest motion frame's local rotations (``local``, (K, 24, 3, 3))."""
    joints = motion.joints[:, SMPL_LIMBS].astype(np.float64)
    to_world = motion.camera_to_world.astype(np.float64)
    seen = np.einsum("tji,tnj->tni", to_world[:, :3, :3], joints - to_world[:, None, :3, 3])  # Rᵀ (p - t)
    own = motion.first_frame_time + np.arange(motion.num_frames) / motion.fps
    times = np.arange(frames) / fps
    nearest = np.clip(np.round((times - own[0]) * motion.fps).astype(int), 0, motion.num_frames - 1)
    held = motion.held if motion.held is not None else np.zeros(motion.num_frames, bool)
    has = (times >= own[0] - 1e-6) & (times <= own[-1] + 1e-6) & ~held[nearest]
    feet = motion.joints[:, FEET].astype(np.float64)
    feet = np.einsum("tji,tnj->tni", to_world[:, :3, :3], feet[:, 1::2] - feet[:, ::2])  # ankle → foot, in the camera
    return {
        "has": has,
        "camera": interpolate(seen, own, times),
        "upright": interpolate(joints, own, times),
        "local": rotvec_to_matrix(motion.poses[nearest].astype(np.float64).reshape(-1, 24, 3)),
        "feet": feet[nearest],
        "world": True,
    }


def from_mediapipe(world_landmarks: np.ndarray) -> dict:
    """Mediapipe's world landmarks (T, 33, 3; NaN where nobody was found) as limb joints: as they
    are in the camera frame (its axes the image's, y down), and turned 180° about x for ``upright``
    (y up, the image's up; still hip-centred)."""
    joints = world_landmarks[:, BLAZEPOSE_LIMBS]
    has = np.isfinite(joints).all(axis=(1, 2))
    joints = np.where(has[:, None, None], joints, 0.0)
    return {"has": has, "camera": joints, "upright": joints * [1.0, -1.0, -1.0], "world": False}


def from_truth(clip: dict) -> dict:
    """The ground truth in the same form: its valid frames, its limb joints in each frame's camera and in the world, its local rotations."""
    joints = clip["smpl_joints"][:, SMPL_LIMBS]
    camera, feet = to_camera(joints, clip["extrinsics"]), to_camera(clip["smpl_joints"][:, FEET], clip["extrinsics"])
    local = rotvec_to_matrix(clip["poses"].astype(np.float64).reshape(-1, 24, 3))
    return {
        "has": clip["valid"].astype(bool),
        "camera": camera,
        "upright": joints,
        "local": local,
        "feet": feet[:, 1::2] - feet[:, ::2],
        "world": True,
    }


def _runs(mask: np.ndarray) -> list[slice]:
    """The runs of consecutive True in ``mask`` (K,)."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return [slice(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2])]


def _over_runs(metric: Callable[[slice], float], runs: list[slice], needed: int) -> tuple[float, int]:
    """The mean of ``metric`` over ``runs`` of at least ``needed`` frames, weighted by the
    windows each has (its length minus ``needed - 1``), and the number of windows."""
    counted = [(metric(run), run.stop - run.start - needed + 1) for run in runs if run.stop - run.start >= needed]
    windows = sum(count for _, count in counted)
    return (sum(value * count for value, count in counted) / windows if windows else float("nan")), windows


def _tilt_deg(upright: np.ndarray) -> np.ndarray:
    """The angle (degrees) between mid-hips → mid-shoulders and +y, per frame."""
    trunk = upright[:, SHOULDERS].mean(axis=1) - upright[:, HIPS].mean(axis=1)
    return np.degrees(np.arccos(np.clip(trunk[:, 1] / np.linalg.norm(trunk, axis=-1), -1.0, 1.0)))


def score(estimate: dict, truth: dict, fps: float) -> dict:
    """The metrics (module docstring) of one method's ``estimate`` on one clip against ``truth``
    (:func:`from_motion`, :func:`from_mediapipe`, :func:`from_truth`), with their frame counts."""
    scored = estimate["has"] & truth["has"]
    frames = int(scored.sum())
    result: dict = {"frames": frames, "coverage": frames / max(int(truth["has"].sum()), 1)}
    if not frames:
        return result
    cam, true_cam = estimate["camera"], truth["camera"]
    centred = cam - cam[:, HIPS].mean(axis=1, keepdims=True)
    true_centred = true_cam - true_cam[:, HIPS].mean(axis=1, keepdims=True)
    result["mpjpe_mm"] = metrics.mpjpe(centred[scored], true_centred[scored]) * MM
    result["pa_mpjpe_mm"] = metrics.pa_mpjpe(cam[scored], true_cam[scored]) * MM
    up, true_up = estimate["upright"], truth["upright"]
    if estimate["world"]:
        errors = []
        for start in range(0, len(scored), SEGMENT_FRAMES):
            picked = np.flatnonzero(scored[start : start + SEGMENT_FRAMES]) + start
            if not len(picked):
                continue
            aligned = procrustes_align(up[picked].reshape(1, -1, 3), true_up[picked].reshape(1, -1, 3))[0]
            errors.append(np.linalg.norm(aligned - true_up[picked].reshape(-1, 3), axis=-1))
        result["wa_mpjpe100_mm"] = float(np.concatenate(errors).mean()) * MM
    result["trunk_tilt_deg"] = float(np.abs(_tilt_deg(up[scored]) - _tilt_deg(true_up[scored])).mean())
    if estimate["world"]:
        height = up[scored][:, ANKLES, 1].min(axis=1) - true_up[scored][:, ANKLES, 1].min(axis=1)
        result["foot_height_cm"], result["foot_bias_cm"] = float(np.abs(height).mean()) * CM, float(height.mean()) * CM
    if "local" in estimate:
        angles = metrics.rotation_angle_deg(estimate["local"][scored], truth["local"][scored])
        result["rotation_error_deg"] = float(angles[:, BODY_ROTATED].mean())
        result["ankles_wrists_rotation_deg"] = float(angles[:, ANKLES_WRISTS].mean())
        result["ankles_rotation_deg"] = float(angles[:, ANKLES_WRISTS[:2]].mean())
        ours, true = (unit(f[scored]) for f in (estimate["feet"], truth["feet"]))
        result["foot_direction_deg"] = float(np.degrees(np.arccos(np.clip(np.sum(ours * true, -1), -1.0, 1.0))).mean())
    runs = _runs(scored)
    result["accel_error_m_s2"], result["accel_frames"] = _over_runs(
        lambda run: metrics.accel_error(centred[run], true_centred[run], fps), runs, 3
    )
    result["jitter_m_s3"], result["jitter_frames"] = _over_runs(lambda run: metrics.jitter(centred[run], fps), runs, 4)
    result["truth_jitter_m_s3"] = _over_runs(lambda run: metrics.jitter(true_centred[run], fps), runs, 4)[0]
    if estimate["world"]:
        result["world_jitter_m_s3"] = _over_runs(lambda run: metrics.jitter(up[run], fps), runs, 4)[0]
        result["truth_world_jitter_m_s3"] = _over_runs(lambda run: metrics.jitter(true_up[run], fps), runs, 4)[0]
    return result


def evaluate_clip(path: Path, settings: Settings, stored_2d: bool = False, true_fov: bool = False) -> dict:
    """One clip (its ``.npz`` at ``path``, the ``.mp4`` beside it) scored three ways (module
    docstring), with what it is: name, mocap clip, family, frames, camera."""
    from engine.pipeline.capture import capture, capture_landmarks
    from engine.video import read_frames_ahead

    clip = read_clip(path)
    meta, fps, frames = clip["meta"], clip["fps"], len(clip["smpl_joints"])
    video = path.with_suffix(".mp4")
    if true_fov:
        settings = replace(settings, fov_deg=true_fov_deg(clip))
    width, height = meta["camera"]["width"], meta["camera"]["height"]
    times = np.arange(frames) / fps

    def given(landmarks: np.ndarray, world: np.ndarray | None = None) -> Motion:
        return capture_landmarks(landmarks, times, width, height, settings, read_frames_ahead(video), video.name, world)[0]

    truth, estimates, failed = from_truth(clip), {"mediapipe": from_mediapipe(clip["world_landmarks"])}, {}
    runs = {"pipeline": lambda: given(clip["landmarks"], clip["world_landmarks"]) if stored_2d else capture(video, settings)[0]}
    runs["exact_2d"] = lambda: given(exact_landmarks(clip))
    for name, run in runs.items():
        try:
            estimates[name] = from_motion(run(), frames, fps)
        except ValueError as e:  # nobody found: the capture has no frame of this clip
            failed[name] = str(e)
            estimates[name] = {"has": np.zeros(frames, bool), "world": True}
    return {
        "clip": path.stem,
        "mocap_clip": meta.get("mocap_clip"),
        "family": motion_family(meta),
        "frames": frames,
        "valid_frames": int(truth["has"].sum()),
        "moving_camera": bool(meta["camera"].get("moving", False)),
        "fov_deg": round(true_fov_deg(clip), 2),
        **{name: score(estimates[name], truth, fps) for name in METHODS},
        "failed": failed,
    }


def combine(clips: list[dict]) -> dict:
    """The frame-weighted means of the clips' metrics per method (module docstring), their frame
    counts summed, and the pipeline's PA-MPJPE over mediapipe's."""
    combined: dict = {"clips": len(clips), "frames": sum(c["frames"] for c in clips)}
    for method in METHODS:
        results = [c[method] for c in clips]
        keys = [key for key in dict.fromkeys(k for r in results for k in r) if key not in ("coverage",)]
        out: dict = {}
        for key in keys:
            if key in ("frames", "accel_frames", "jitter_frames"):
                out[key] = sum(r.get(key, 0) for r in results)
                continue
            weighted = [(r[key], r[WEIGHTS.get(key, "frames")]) for r in results if key in r and np.isfinite(r[key])]
            total = sum(weight for _, weight in weighted)
            out[key] = sum(value * weight for value, weight in weighted) / total if total else float("nan")
        out["coverage"] = out.get("frames", 0) / max(sum(c["valid_frames"] for c in clips), 1)
        combined[method] = out
    pipeline, mediapipe = combined["pipeline"].get("pa_mpjpe_mm"), combined["mediapipe"].get("pa_mpjpe_mm")
    combined["pa_mpjpe_pipeline_over_mediapipe"] = pipeline / mediapipe if pipeline and mediapipe else float("nan")
    return combined


def evaluate_video(
    folder: str | Path,
    settings: Settings = Settings(),
    clips: int | None = None,
    stored_2d: bool = False,
    true_fov: bool = False,
    on_clip: Callable[[dict], None] | None = None,
) -> dict:
    """Every clip of the rendered corpus ``folder`` (the first ``clips`` of them) scored three
    ways (module docstring) with the capture ``settings`` (lifter, solver): ``overall``,
    ``by_family`` and ``per_clip`` results; ``on_clip`` is told each clip's as it is done."""
    paths = clip_files(folder)[:clips]
    per_clip = []
    for path in paths:
        per_clip.append(evaluate_clip(path, settings, stored_2d, true_fov))
        if on_clip is not None:
            on_clip(per_clip[-1])
    families = sorted({c["family"] for c in per_clip})
    return {
        "data": str(folder),
        "lifter": settings.lifter_weights or settings.lifter,
        "solver": settings.solver,
        "fov_deg": "each clip's true field of view" if true_fov else settings.fov_deg,
        "pipeline_2d": "stored detections" if stored_2d else "detected on the video",
        "joints": ", ".join(LIMBS),
        "overall": combine(per_clip),
        "by_family": {family: combine([c for c in per_clip if c["family"] == family]) for family in families},
        "per_clip": per_clip,
    }
