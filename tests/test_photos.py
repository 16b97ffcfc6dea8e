"""Photos: `engine mocap photo.jpg` gives a one-frame Motion and a preview image; nobody in it, an error and no files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from engine.body.ik import h36m_of_rest
from engine.body.joints import H36M17, SMPL24
from engine.body.skeleton import default_rest_joints
from engine.cli import app
from engine.motion import Motion
from engine.pipeline.photo import LIMBS, limbs_on_rays
from engine.video import probe, read_frames
from tests.paths import EXAMPLE_CLIP

runner = CliRunner()
# Joints both sets place alike (their pelvis, neck and head are defined differently).
LIMB_JOINTS = [f"{side}_{joint}" for side in "lr" for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")]
REPROJECTION_PX = 15.0


def _frame_as_photo(index: int, path):
    frame = next(f for f in read_frames(EXAMPLE_CLIP) if f.index == index)
    cv2.imwrite(str(path), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of two frames of the example clip (a dancer, whole body in view) as jpg photos
    and its first two seconds as a video, captured as a folder."""
    folder = tmp_path_factory.mktemp("photos")
    paths = [_frame_as_photo(25, folder / "dancer_1s.jpg"), _frame_as_photo(175, folder / "dancer_7s.jpg")]
    writer = cv2.VideoWriter(str(folder / "dancer_clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for frame in read_frames(EXAMPLE_CLIP):
        if frame.index == 50:
            break
        writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path_factory.mktemp("photos_out")
    result = runner.invoke(app, ["mocap", str(folder), "--out", str(out), "--formats", "npz,bvh"])
    assert result.exit_code == 0, result.output
    return paths, out


def test_a_folder_may_mix_photos_and_videos(photos):
    _, out = photos
    frames = {path.stem: Motion.load(path).num_frames for path in out.glob("*.npz")}
    assert frames["dancer_1s"] == frames["dancer_7s"] == 1 and frames["dancer_clip"] == 50
    assert not (out / "dancer_clip.preview.mp4").exists()  # a video's preview only when asked for


def test_a_photo_gives_a_one_frame_motion_its_files_and_a_preview_image(photos):
    paths, out = photos
    for path in paths:
        motion = Motion.load(out / f"{path.stem}.npz")
        assert motion.num_frames == 1 and not motion.held.any()
        assert (out / f"{path.stem}.bvh").is_file()
        preview = cv2.imread(str(out / f"{path.stem}.preview.png"))
        height, width = cv2.imread(str(path)).shape[:2]
        assert preview.shape == (height, width + height, 3)  # the photo beside a square side view
        report = json.loads((out / f"{path.stem}.json").read_text())
        assert f"{path.stem}.preview.png" in report["files"]
        assert any("a photo" in w for w in report["warnings"])


def test_a_photos_pose_reprojects_onto_the_detected_keypoints(photos):
    paths, out = photos
    for path in paths:
        motion = Motion.load(out / f"{path.stem}.npz")
        seen = motion.to_pixels(motion.joints)[0, [SMPL24.index(n) for n in LIMB_JOINTS]]
        detected = motion.keypoints2d[0, [H36M17.index(n) for n in LIMB_JOINTS]]
        errors = np.linalg.norm(seen - detected[:, :2], axis=-1)
        assert errors.max() <= REPROJECTION_PX, f"{path.name}: {dict(zip(LIMB_JOINTS, errors.round(1)))}"


def test_a_photo_with_nobody_is_a_clear_error_and_writes_no_files(tmp_path):
    empty = tmp_path / "wall.jpg"
    cv2.imwrite(str(empty), np.full((360, 640, 3), 128, np.uint8))
    result = runner.invoke(app, ["mocap", str(empty), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert f"{empty}: no person found in the photo" in " ".join(result.output.split())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.json"]  # the batch's record of the failure


def test_heic_photos_are_read_through_pillow(tmp_path):
    jpg = _frame_as_photo(25, tmp_path / "dancer.jpg")
    pillow_heif.register_heif_opener()
    Image.open(jpg).save(tmp_path / "dancer.heic", quality=95)
    [frame] = read_frames(tmp_path / "dancer.heic")
    assert probe(tmp_path / "dancer.heic").is_image
    assert frame.rgb.shape == cv2.imread(str(jpg)).shape
    assert np.abs(frame.rgb.astype(int) - cv2.imread(str(jpg))[..., ::-1]).mean() < 8  # the same picture, lossy twice


def test_two_inputs_with_one_name_are_refused_before_anything_is_written(tmp_path):
    jpg = _frame_as_photo(25, tmp_path / "dancer.jpg")
    Image.open(jpg).save(tmp_path / "dancer.png")
    result = runner.invoke(app, ["mocap", str(jpg), str(tmp_path / "dancer.png"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "would write the same files" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_limbs_go_onto_their_keypoints_rays_at_the_poses_bone_lengths_keeping_the_lifters_depth():
    rng = np.random.default_rng(0)
    intrinsics = np.array([500.0, 500.0, 320.0, 240.0])
    # The default skeleton's rest pose (y up) in a camera's frame (y down), 3 m in front of it,
    # its right forearm turned towards the camera.
    truth = h36m_of_rest(default_rest_joints()) * [1, -1, 1] + [0.1, 0.0, 3.0]
    elbow, wrist = H36M17.index("r_elbow"), H36M17.index("r_wrist")
    forearm = np.linalg.norm(truth[wrist] - truth[elbow])
    truth[wrist] = truth[elbow] + forearm * np.array([0.0, 0.6, -0.8])
    seen = truth[:, :2] / truth[:, 2:] * intrinsics[:2] + intrinsics[2:]
    pixels = np.concatenate([seen, np.ones((17, 1))], -1)
    limbs = [H36M17.index(f"{s}_{j}") for s in "lr" for j in ("knee", "ankle", "elbow", "wrist")]
    # The lifter's guess: each limb bone turned 12° about a random axis (lengths kept), so its
    # joints are off across the picture.
    lifted = truth.copy()
    for parent, child in LIMBS:
        p, c = H36M17.index(parent), H36M17.index(child)
        turn = Rotation.from_rotvec(np.radians(12) * Rotation.random(random_state=rng).apply([1.0, 0.0, 0.0]))
        lifted[c] = lifted[p] + turn.apply(truth[c] - truth[p])
    placed = limbs_on_rays(lifted, pixels, intrinsics)
    reprojected = placed[:, :2] / placed[:, 2:] * intrinsics[:2] + intrinsics[2:]
    assert np.abs(reprojected[limbs] - seen[limbs]).max() < 0.5  # pixels
    for side in "lr":
        for parent, child in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow")):
            length = np.linalg.norm(placed[H36M17.index(f"{side}_{child}")] - placed[H36M17.index(f"{side}_{parent}")])
            assert np.isclose(
                length,
                np.mean([np.linalg.norm(lifted[H36M17.index(f"{s}_{child}")] - lifted[H36M17.index(f"{s}_{parent}")]) for s in "lr"]),
            )
    # The depth is the lifter's: the wrist stays on the camera's side of the elbow.
    assert placed[H36M17.index("r_wrist"), 2] < placed[H36M17.index("r_elbow"), 2]
    torso = [H36M17.index(n) for n in ("pelvis", "l_hip", "r_hip", "l_shoulder", "r_shoulder", "head")]
    assert (placed[torso] == lifted[torso]).all()  # only limbs move
