"""``engine eval video`` on a small rendered corpus made here: a walk seen by two cameras.

The ground truth is the example walk (``examples/sample_walk.npz``, SMPL24 joints at 30 fps) put
on a floor; each clip's "detections" are its exact projection plus Gaussian pixel noise (given
to the pipeline with ``--stored-2d``: a plain frame has no one for mediapipe to find), and its
"mediapipe world landmarks" are the exact hip-centred joints in the camera frame, so mediapipe's
errors must come out zero if its landmarks are read by the right indices and axes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from engine.body.ik import h36m_of_rest
from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.body.skeleton import default_rest_joints
from engine.cli import app
from engine.eval.video import BODY_ROTATED, METHODS, WEIGHTS, evaluate_video, from_truth, score
from engine.keypoints import BLAZEPOSE_NUM_LANDMARKS, h36m17_to_blazepose
from engine.motion import Motion
from engine.pipeline.capture import intrinsics
from engine.pipeline.settings import Settings
from tests.paths import REPO

WIDTH, HEIGHT, FPS = 640, 360, 30.0
NOISE_PX = 6.0
CORPUS_CLIP = REPO / "runs" / "render_corpus_test" / "clips" / "test" / "000001.npz"
WORLD_KEYS = {"wa_mpjpe100_mm", "foot_height_cm", "foot_bias_cm", "world_jitter_m_s3", "truth_world_jitter_m_s3"}
WORLD_KEYS |= {"rotation_error_deg", "ankles_wrists_rotation_deg", "ankles_rotation_deg", "foot_direction_deg"}
METRIC_KEYS = {"frames", "coverage", "mpjpe_mm", "pa_mpjpe_mm", "trunk_tilt_deg", "accel_error_m_s2", "accel_frames"}
METRIC_KEYS |= {"jitter_m_s3", "jitter_frames", "truth_jitter_m_s3"}
# mediapipe's PoseLandmark numbers (left, right), written out here to check the engine's mapping.
BLAZEPOSE_LIMB_LANDMARKS = {
    "shoulder": (11, 12),
    "elbow": (13, 14),
    "wrist": (15, 16),
    "hip": (23, 24),
    "knee": (25, 26),
    "ankle": (27, 28),
}


def camera_looking_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World → camera [R | t] (3, 4), OpenCV axes, of a camera at ``eye`` looking at ``target``."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(forward, right), forward])
    return np.concatenate([rotation, -rotation @ eye[:, None]], axis=1)


def write_clip(folder: Path, index: int, smpl: np.ndarray, poses: np.ndarray, eye: np.ndarray, rng: np.random.Generator) -> None:
    """One rendered clip, NNNNNN.npz and a plain NNNNNN.mp4 of as many frames (module docstring)."""
    frames = len(smpl)
    h36m = h36m_of_rest(smpl)
    extrinsics = np.tile(camera_looking_at(eye, smpl[:, 0].mean(axis=0)), (frames, 1, 1))
    seen = np.einsum("tij,tnj->tni", extrinsics[:, :, :3], h36m) + extrinsics[:, None, :, 3]
    fx, fy, cx, cy = intrinsics(WIDTH, HEIGHT, Settings().fov_deg)
    pixels = seen[..., :2] / seen[..., 2:] * [fx, fy] + [cx, cy] + rng.normal(0.0, NOISE_PX, seen[..., :2].shape)
    landmarks = h36m17_to_blazepose(np.concatenate([pixels, np.full(seen.shape[:2] + (1,), 0.9)], axis=-1))
    seen_smpl = np.einsum("tij,tnj->tni", extrinsics[:, :, :3], smpl) + extrinsics[:, None, :, 3]
    hip_centred = seen_smpl - seen_smpl[:, [SMPL24.index("l_hip"), SMPL24.index("r_hip")]].mean(axis=1, keepdims=True)
    world_landmarks = np.zeros((frames, BLAZEPOSE_NUM_LANDMARKS, 3))
    for joint, landmarks_lr in BLAZEPOSE_LIMB_LANDMARKS.items():
        for side, landmark in zip("lr", landmarks_lr):
            world_landmarks[:, landmark] = hip_centred[:, SMPL24.index(f"{side}_{joint}")]
    world_landmarks[3] = np.nan  # mediapipe found nobody there
    valid = np.ones(frames, bool)
    valid[10] = False  # a mocap glitch
    meta = {"fps": FPS, "frames": frames, "mocap_clip": "02_01", "mocap_path": "cmu/02_01.bvh.gz"}
    meta["camera"] = {"width": WIDTH, "height": HEIGHT, "moving": False}
    np.savez(
        folder / f"{index:06d}.npz",
        h36m=h36m,
        smpl_joints=smpl,
        poses=poses,
        landmarks=landmarks,
        world_landmarks=world_landmarks,
        valid=valid,
        intrinsics=np.tile([fx, fy, cx, cy], (frames, 1)),
        extrinsics=extrinsics,
        meta=np.array(json.dumps(meta)),
    )
    background = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(folder / f"{index:06d}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for _ in range(frames):
        writer.write(background)
    writer.release()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    folder = root / "clips" / "test"
    folder.mkdir(parents=True)
    motion = Motion.load(REPO / "examples" / "sample_walk.npz")
    walk, poses = motion.joints.astype(np.float64), motion.poses.astype(np.float64)
    ankles = walk[:, [SMPL24.index("l_ankle"), SMPL24.index("r_ankle")], 1].min(axis=1)
    walk[..., 1] -= np.percentile(ankles, 5) - 0.08  # soles on y = 0
    rng = np.random.default_rng(0)
    write_clip(folder, 0, walk[:60], poses[:60], np.array([5.0, 1.4, -1.0]), rng)
    write_clip(folder, 1, walk[30:], poses[30:], np.array([-4.0, 1.8, 1.5]), rng)
    return root


@pytest.fixture(scope="module")
def results(corpus, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("out") / "video.json"
    result = CliRunner().invoke(app, ["eval", "video", str(corpus), "--stored-2d", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "by motion family" in result.output
    return json.loads(out.read_text())


def test_the_json_has_the_documented_keys(results):
    assert {"data", "lifter", "solver", "overall", "by_family", "per_clip"} <= set(results)
    assert (results["lifter"], results["solver"]) == (Settings().lifter, Settings().solver)
    assert len(results["per_clip"]) == 2 and list(results["by_family"]) == ["cmu/02"]
    for clip in results["per_clip"]:
        assert {"clip", "family", "frames", "valid_frames", *METHODS} <= set(clip)
    for method in METHODS:
        expected = METRIC_KEYS | (set() if method == "mediapipe" else WORLD_KEYS)
        assert set(results["overall"][method]) == expected, method
    assert np.isfinite(results["overall"]["pa_mpjpe_pipeline_over_mediapipe"])


def test_rotation_errors_are_the_local_angles_to_the_truth_and_the_feet_point_in_the_camera():
    motion = Motion.load(REPO / "examples" / "sample_walk.npz")
    poses = motion.poses[:40].astype(np.float64)
    clip = {"smpl_joints": motion.joints[:40].astype(np.float64), "poses": poses, "valid": np.ones(40, bool)}
    clip["extrinsics"] = np.tile(camera_looking_at(np.array([4.0, 1.5, 0.0]), np.zeros(3)), (40, 1, 1))
    truth = from_truth(clip)
    flexed = {**truth, "local": truth["local"].copy(), "feet": truth["feet"].copy()}
    ankles = [SMPL24.index("l_ankle"), SMPL24.index("r_ankle")]
    flex = Rotation.from_rotvec([np.radians(30.0), 0.0, 0.0]).as_matrix()
    flexed["local"][:, ankles] = truth["local"][:, ankles] @ flex
    # The feet turn with their ankles: 30° in the camera too, wherever the camera is.
    world = forward_kinematics_np(flexed["local"], default_rest_joints(), rep="matrix")[1]
    foot = [SMPL24.index("l_foot"), SMPL24.index("r_foot")]
    rest_feet = default_rest_joints()[foot] - default_rest_joints()[ankles]
    flexed["feet"] = np.einsum("tij,tkj->tki", clip["extrinsics"][:, :, :3], np.einsum("tkij,kj->tki", world[:, ankles], rest_feet))
    scored = score(flexed, truth, FPS)
    assert scored["ankles_rotation_deg"] == pytest.approx(30.0) and scored["ankles_wrists_rotation_deg"] == pytest.approx(15.0)
    assert scored["rotation_error_deg"] == pytest.approx(60.0 / len(BODY_ROTATED))
    assert scored["foot_direction_deg"] > 20.0
    assert score(truth, truth, FPS)["foot_direction_deg"] == pytest.approx(0.0, abs=1e-6)


def test_exact_2d_scores_better_than_noisy_2d(results):
    pipeline, exact = results["overall"]["pipeline"], results["overall"]["exact_2d"]
    for key in ("mpjpe_mm", "wa_mpjpe100_mm", "accel_error_m_s2"):
        assert exact[key] < pipeline[key], key
    # Not PA-MPJPE, the pose's shape alone: the pipeline run averages its limbs with the
    # detector's world landmarks (engine.lifting.averaged_with_detector), which this corpus makes
    # the truth itself, while the exact-2D run has none.
    assert exact["pa_mpjpe_mm"] < 60


def test_mediapipe_landmarks_are_read_by_the_right_indices_and_axes(results):
    mediapipe = results["overall"]["mediapipe"]
    assert mediapipe["mpjpe_mm"] < 1e-3 and mediapipe["pa_mpjpe_mm"] < 1e-3 and mediapipe["accel_error_m_s2"] < 1e-6
    # Frame 3 unseen and frame 10 not valid in each clip: 58 and 54 of 59 and 55 valid frames.
    assert mediapipe["frames"] == 58 + 54 and mediapipe["coverage"] == pytest.approx(112 / 114)


def test_overall_and_per_family_are_the_frame_weighted_means_of_the_clips(results):
    clips = results["per_clip"]
    for method in METHODS:
        overall = results["overall"][method]
        assert results["by_family"]["cmu/02"][method] == overall
        for key, value in overall.items():
            if key in ("frames", "accel_frames", "jitter_frames"):
                assert value == sum(c[method][key] for c in clips)
            elif key != "coverage":
                weights = [c[method][WEIGHTS.get(key, "frames")] for c in clips]
                assert value == pytest.approx(np.average([c[method][key] for c in clips], weights=weights)), (method, key)


def test_a_folder_without_clips_is_refused_clearly(tmp_path):
    (tmp_path / "clips" / "test").mkdir(parents=True)
    (tmp_path / "clips" / "test" / "000000.npz").write_bytes(b"")  # no video beside it
    result = CliRunner().invoke(app, ["eval", "video", str(tmp_path)])
    assert result.exit_code == 2 and "no rendered clips" in " ".join(result.output.split())
    with pytest.raises(ValueError, match="not a folder"):
        evaluate_video(tmp_path / "missing")
    not_weights = tmp_path / "lifter.pt"
    not_weights.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(app, ["eval", "video", str(tmp_path), "--lifter-weights", str(not_weights)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and said.startswith("error: --lifter-weights:") and "not a PyTorch checkpoint" in said


@pytest.mark.skipif(not CORPUS_CLIP.is_file(), reason=f"no rendered test corpus at {CORPUS_CLIP.parent} (engine data render)")
def test_a_rendered_clip_through_the_whole_pipeline(tmp_path):
    for suffix in (".npz", ".mp4"):
        shutil.copy(CORPUS_CLIP.with_suffix(suffix), tmp_path / CORPUS_CLIP.with_suffix(suffix).name)
    clip = evaluate_video(tmp_path)["per_clip"][0]
    assert not clip["failed"]
    for method in METHODS:
        assert clip[method]["coverage"] > 0.9 and clip[method]["pa_mpjpe_mm"] < 150, method
