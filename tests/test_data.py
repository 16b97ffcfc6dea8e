"""Training data from mocap: preparation, virtual cameras, windows, and one definition of the joints."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from engine.body.correspondence import HEAD_LANDMARKS, joint_maps
from engine.body.joints import H36M17
from engine.body.retarget import reference_pose
from engine.cli import app
from engine.data.cameras import look_at, random_camera
from engine.data.dataset import MocapWindows
from engine.data.prepare import SPLIT_MANIFEST, RejectedClip, choose_unit, contact_labels, read_split_manifest
from engine.data.proportions import GROUPS, random_bone_factors, scale_bones
from engine.geometry import torso_frame
from engine.io.bvh import read_bvh
from engine.lifting import normalise_screen
from tests.conftest import PREPARED_CLIPS
from tests.paths import MOCAP, REPO, VIDEOS, needs_mocap, needs_videos


@needs_mocap
def test_prepare_keeps_every_person_and_says_why_it_rejects_the_rest(prepared):
    out, summary, _ = prepared
    assert summary["prepared"] == len(PREPARED_CLIPS)
    [(path, reason)] = summary["rejected"].items()
    assert path == "cmu/not_a_person.bvh" and "cannot recognise the skeleton: no joint for l knee" in reason


@needs_mocap
def test_prepared_arrays_line_up_frame_by_frame(prepared):
    out, summary, _ = prepared
    clips = json.loads((out / "clips.json").read_text())
    for split in {c["split"] for c in clips}:
        arrays = {k: np.load(out / split / f"{k}.npy") for k in ("h36m", "smpl_joints", "poses", "trans", "contacts", "valid")}
        frames = sum(c["frames"] for c in clips if c["split"] == split)
        assert {len(a) for a in arrays.values()} == {frames}
        assert arrays["h36m"].shape[1:] == (17, 3) and arrays["smpl_joints"].shape[1:] == (24, 3) and arrays["poses"].shape[1:] == (72,)
    units = {c["name"]: c["unit"] for c in clips}
    assert units["02_01"] == "cmu" and units["05_01"] == "cm" and units["dataset-2_walk_normal_002"] == "cm"
    for clip in clips:
        assert 1.4 <= clip["height_m"] <= 2.1 and clip["direction_error_deg"] < 1.0 and clip["fps"] == 30.0
    assert {c["licence"].split(":")[0] for c in clips} == {
        "CMU Graphics Lab Motion Capture Database",
        "Bandai Namco Research Motion Dataset 2",
    }
    daz = next(c for c in clips if c["name"] == "05_01")
    assert daz["dropped_leading_frames"] > 0  # its frame 0 is a reference T-pose


@needs_mocap
def test_the_manifest_splits_by_subject_and_gains_new_groups(prepared):
    out, _, manifest = prepared
    clips = json.loads((out / "clips.json").read_text())
    assert {c["split"] for c in clips if c["subject"] == "02"} == {"test"}  # as the manifest says
    assert {c["split"] for c in clips if c["subject"] == "05"} == {"train"}
    bandai = next(c for c in clips if c["subject"] is None)
    assert bandai["group"] == "clip:bandai2/dataset-2_walk_normal_002.bvh.gz"  # no subject: its own group
    assert read_split_manifest(manifest)[bandai["group"]] == bandai["split"] == "validation"
    assert read_split_manifest(out / "split.csv") == read_split_manifest(manifest)  # the split used, beside the arrays


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


@needs_mocap
@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
def test_data_prepare_on_a_new_folder_leaves_the_repository_alone(tmp_path):
    """New groups are drawn into OUT/split.csv; the shipped manifest changes only when asked."""
    src = tmp_path / "mystudio"  # CMU-style names: subject "02" of a folder the manifest has never seen
    src.mkdir()
    for clip in ("02_01", "02_02"):
        shutil.copy(MOCAP / "cmu" / f"{clip}.bvh.gz", src)
    group = "subject:mystudio/02"
    assert group not in read_split_manifest(SPLIT_MANIFEST)
    shipped, before = SPLIT_MANIFEST.read_bytes(), _git_status()
    result = CliRunner().invoke(app, ["data", "prepare", str(src), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert _git_status() == before and SPLIT_MANIFEST.read_bytes() == shipped
    split = read_split_manifest(tmp_path / "out" / "split.csv")
    assert split[group] in ("train", "validation", "test")
    assert split == {**read_split_manifest(SPLIT_MANIFEST), group: split[group]}  # the shipped groups and the new one
    clips = json.loads((tmp_path / "out" / "clips.json").read_text())
    assert {(c["group"], c["split"]) for c in clips} == {(group, split[group])}

    # Only an explicit option writes new groups back, into the manifest it names.
    mine = tmp_path / "my_split.csv"
    mine.write_text("group,split\nsubject:other/01,test\n")
    args = ["data", "prepare", str(src), "--out", str(tmp_path / "out2"), "--workers", "1", "--split-manifest", str(mine)]
    assert CliRunner().invoke(app, args).exit_code == 0 and read_split_manifest(mine) == {"subject:other/01": "test"}
    assert CliRunner().invoke(app, [*args, "--update-split-manifest"]).exit_code == 0
    assert read_split_manifest(mine) == {"subject:other/01": "test", group: split[group]}
    missing = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "nope.csv: no such file" in " ".join(missing.output.split())


@needs_mocap
def test_floor_is_at_zero_and_walking_feet_touch_it(prepared):
    out, _, _ = prepared
    clips = json.loads((out / "clips.json").read_text())
    walk = next(c for c in clips if c["name"] == "02_01")
    joints = np.load(out / walk["split"] / "smpl_joints.npy")[walk["start"] : walk["start"] + walk["frames"]]
    contacts = np.load(out / walk["split"] / "contacts.npy")[walk["start"] : walk["start"] + walk["frames"]]
    lowest = joints[:, [7, 8, 10, 11], 1].min(axis=1)
    assert abs(np.percentile(lowest, 5)) < 1e-6
    assert 0.2 < contacts.mean() < 0.8 and contacts.any(axis=1).mean() > 0.8  # walking: mostly one foot down


def test_contact_needs_a_low_and_still_foot():
    t = np.arange(60) / 30
    joints = np.zeros((60, 24, 3))
    joints[:, [8, 11], 0] = t[:, None]  # right foot slides at 1 m/s
    joints[30:, [7, 10], 1] = 0.2  # left foot lifted halfway
    contacts = contact_labels(joints, fps=30)
    assert contacts[:30, :2].all() and not contacts[30:, :2].any() and not contacts[:, 2:].any()


def test_unit_is_found_from_body_height_or_the_clip_is_rejected():
    assert choose_unit(170.0, "a.bvh") == ("cm", 0.01)
    assert choose_unit(30.5, "b.bvh")[0] == "cmu"
    with pytest.raises(RejectedClip, match="c.bvh: body height 3 file units"):
        choose_unit(3.0, "c.bvh")


def test_camera_projects_its_target_to_the_image_centre():
    eye, target = np.array([1.0, 2.0, -4.0]), np.array([0.0, 1.0, 0.0])
    R = look_at(eye, target)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    right, down, forward = R
    assert down[1] < 0 and abs(right[1]) < 1e-12  # no roll: "down" points down the world's y
    rng = np.random.default_rng(0)
    joints = np.zeros((5, 17, 3)) + [0.0, 1.0, 0.0]
    for _ in range(50):
        cam = random_camera(rng, joints)
        centre = cam.project(joints[0, 0])
        assert np.all(np.abs(centre - [cam.cx, cam.cy]) < [cam.width, cam.height])
        distance = np.linalg.norm(cam.R.T @ -cam.t - joints[0, 0])
        hfov = 2 * np.degrees(np.arctan(cam.width / 2 / cam.fx))
        assert 2.0 < distance < 8.6 and 40 - 1e-6 <= hfov <= 90 + 1e-6


def test_hot_normalisation_spans_minus_one_to_one_across_the_width():
    uv = np.array([[0.0, 0.0], [1920.0, 1080.0], [960.0, 540.0]])
    np.testing.assert_allclose(normalise_screen(uv, 1920, 1080), [[-1, -0.5625], [1, 0.5625], [0, 0]])


@needs_mocap
@pytest.mark.parametrize("frames", [81, 243])
def test_windows_serve_camera_and_noise_drawn_per_sample(prepared, frames):
    out, _, _ = prepared
    split = json.loads((out / "clips.json").read_text())[0]["split"]
    dataset = MocapWindows(out, split, frames=frames, noise="realistic")
    torch.manual_seed(0)
    a = dataset[0]
    assert a["keypoints"].shape == (frames, 17, 3) and a["joints"].shape == (frames, 17, 3)
    assert torch.all(a["joints"][:, 0] == 0) and a["mask"].dtype == torch.bool
    torch.manual_seed(0)
    assert torch.equal(dataset[0]["keypoints"], a["keypoints"])  # torch's seed fixes the draw
    assert not torch.equal(dataset[0]["keypoints"], a["keypoints"])  # and the next draw differs
    assert (a["keypoints"][..., 2] < 1).any()  # realistic noise lowers some confidences
    fixed = MocapWindows(out, split, frames=frames, noise="clean", fixed=True)
    assert torch.equal(fixed[1]["keypoints"], fixed[1]["keypoints"]) and torch.all(fixed[1]["keypoints"][..., 2] == 1)


def test_bone_groups_are_scaled_alike_on_both_sides_keeping_directions():
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(5, 17, 3))
    factors = random_bone_factors(rng)
    scaled = scale_bones(joints, factors)
    np.testing.assert_array_equal(scaled[:, 0], joints[:, 0])
    for joint, parent in enumerate(H36M17.parents[1:], start=1):
        np.testing.assert_allclose(scaled[:, joint] - scaled[:, parent], factors[joint] * (joints[:, joint] - joints[:, parent]))
    for names, (low, high) in GROUPS.values():
        group = factors[[H36M17.index(n) for n in names]]
        assert np.all(group == group[0]) and low <= group[0] <= high
    np.testing.assert_allclose(scale_bones(joints, np.ones(17)), joints, atol=1e-12)


@needs_mocap
def test_training_windows_vary_the_shoulder_width_when_asked(prepared):
    out, _, _ = prepared
    split = json.loads((out / "clips.json").read_text())[0]["split"]

    def shoulder_widths(dataset):
        torch.manual_seed(0)
        return {round(float((s["joints"][0, 11] - s["joints"][0, 14]).norm()), 4) for s in (dataset[0] for _ in range(8))}

    assert len(shoulder_widths(MocapWindows(out, split, frames=27, noise="clean"))) == 1
    assert len(shoulder_widths(MocapWindows(out, split, frames=27, noise="clean", proportions=True))) == 8


@needs_mocap
def test_single_frames_seen_by_a_camera_aimed_at_their_clip_are_not_always_centred(prepared):
    # A camera aimed at each frame's own pelvis puts the person within its 0.2 m of aim of the
    # picture's centre; one aimed as for a stretch of the clip sees them where they have moved to.
    out, _, _ = prepared
    split = json.loads((out / "clips.json").read_text())[0]["split"]

    def spread(dataset):
        pelvis = np.array([dataset[i]["keypoints"][0, 0, :2].numpy() for i in range(0, len(dataset), 7)])
        return float(np.abs(pelvis).max())

    own = MocapWindows(out, split, frames=1, stride=1, noise="clean", fixed=True)
    clip = MocapWindows(out, split, frames=1, stride=1, noise="clean", fixed=True, camera_frames=243)
    assert clip[3]["keypoints"].shape == (1, 17, 3) and len(clip) == len(own)
    assert spread(clip) > 1.5 * spread(own)


def _head_points_in_torso_frame(h36m: np.ndarray) -> np.ndarray:
    """Nose and ears (H36M17 joints 9, 10) above and ahead of the thorax, per shoulder width: (T, 2, 2)."""
    out = []
    for frame in h36m:
        j = {n: frame[H36M17.index(n)] for n in H36M17.names}
        axes = torso_frame(j["l_hip"], j["r_hip"], j["l_shoulder"], j["r_shoulder"])
        width = np.linalg.norm(j["l_shoulder"] - j["r_shoulder"])
        rel = (np.stack([j["neck"], j["head"]]) - j["thorax"]) @ axes / width
        out.append(rel[:, 1:])
    return np.array(out)


@needs_mocap
@needs_videos
def test_mocap_targets_and_the_2d_model_define_nose_and_head_alike():
    """The training targets' nose and ear points sit where mediapipe finds them on a real person:
    walking mocap (CMU, Daz and Bandai skeletons) against an upright dancer facing the camera,
    medians in the torso's frame. (Heads move: dribbling lowers the nose by 0.2 shoulder
    widths, dancing with the head up raises it; compare like with like.)"""
    import cv2

    from engine.keypoints import blazepose_to_h36m17, detect_pose

    expected = np.array([HEAD_LANDMARKS["nose"], HEAD_LANDMARKS["ears"]])
    for clip in ("cmu/02_01", "cmu/05_01", "bandai2/dataset-2_walk_normal_002"):
        bvh = read_bvh(MOCAP / f"{clip}.bvh.gz")
        h36m = joint_maps(bvh.names, bvh.parents, *reference_pose(bvh), bvh.end_sites)["H36M17"].positions(*bvh.world())
        np.testing.assert_allclose(np.median(_head_points_in_torso_frame(h36m), axis=0), expected, atol=0.12, err_msg=clip)

    capture = cv2.VideoCapture(str(VIDEOS / "pexels_2795750_man_dancing_on_rooftop.mp4"))
    frames = []
    while len(frames) < 240:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    _, world = detect_pose(frames[::3])
    h36m = blazepose_to_h36m17(world * [1, -1, -1, 1])  # mediapipe: y down, z away from the camera
    h36m = h36m[np.isfinite(h36m).all(axis=(1, 2)) & (h36m[..., 3].min(axis=1) > 0.5), :, :3]
    assert len(h36m) > 30
    measured = np.median(_head_points_in_torso_frame(h36m), axis=0)
    np.testing.assert_allclose(measured, expected, atol=0.12)
