"""The Motion record and its AMASS-compatible .npz."""

from __future__ import annotations

import numpy as np
import pytest

from engine.motion import Motion, MotionFileError


def _motion(frames: int = 12, seed: int = 0) -> Motion:
    rng = np.random.default_rng(seed)
    return Motion(
        poses=rng.normal(0, 0.4, (frames, 72)),
        trans=rng.normal(0, 1, (frames, 3)),
        fps=29.97,
        betas=rng.normal(0, 1, 10),
        joints=rng.normal(0, 1, (frames, 24, 3)),
        keypoints2d=rng.uniform(0, 640, (frames, 17, 3)),
        contacts=rng.uniform(0, 1, (frames, 4)),
        camera=np.array([800.0, 800.0, 320.0, 180.0]),
        source=("clip.mp4", "ab" * 32),
        rest_joints=rng.normal(0, 0.3, (24, 3)),
        held=np.arange(frames) % 5 == 2,
        first_frame_time=1.48,
    )


def test_npz_round_trip_is_exact(tmp_path):
    motion = _motion()
    motion.save(tmp_path / "m.npz")
    assert Motion.load(tmp_path / "m.npz") == motion


def test_written_file_has_amass_keys_and_shapes(tmp_path):
    _motion(frames=7).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert data["poses"].shape == (7, 72) and data["poses"].dtype == np.float32
        assert data["trans"].shape == (7, 3)
        assert data["betas"].shape == (10,)
        assert data["mocap_framerate"].shape == () and float(data["mocap_framerate"]) == pytest.approx(29.97)
        assert str(data["gender"]) == "neutral"


def test_a_file_from_before_held_frames_and_first_frame_times_still_loads(tmp_path):
    np.savez(tmp_path / "old.npz", poses=np.zeros((3, 72)), trans=np.zeros((3, 3)), mocap_framerate=25.0)
    motion = Motion.load(tmp_path / "old.npz")
    assert motion.held is None and motion.first_frame_time == 0.0


def test_amass_smplh_file_keeps_body_joints(tmp_path):
    rng = np.random.default_rng(1)
    poses = rng.normal(size=(5, 156))
    np.savez(
        tmp_path / "amass.npz",
        poses=poses,
        trans=np.zeros((5, 3)),
        betas=np.ones(16),
        mocap_framerate=120.0,
        gender=np.array("female"),
        dmpls=np.zeros((5, 8)),
    )
    motion = Motion.load(tmp_path / "amass.npz")
    np.testing.assert_allclose(motion.poses[:, :66], poses[:, :66].astype(np.float32))
    assert not motion.poses[:, 66:].any() and motion.betas.shape == (10,) and motion.gender == "female"


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"trans": np.zeros((4, 3)), "mocap_framerate": 30.0}, "missing key 'poses'"),
        ({"poses": np.zeros((4, 71)), "trans": np.zeros((4, 3)), "mocap_framerate": 30.0}, "key 'poses': expected shape (T, 72)"),
        ({"poses": np.zeros((4, 72)), "trans": np.zeros((5, 3)), "mocap_framerate": 30.0}, "key 'trans': expected shape (T, 3) with T=4"),
        ({"poses": np.zeros((4, 72)), "trans": np.zeros((4, 3)), "mocap_framerate": 30.0, "betas": np.zeros(7)}, "key 'betas'"),
        (
            {"poses": np.full((4, 72), np.nan), "trans": np.zeros((4, 3)), "mocap_framerate": 30.0},
            "key 'poses': non-finite value at index (0, 0)",
        ),
        ({"poses": np.zeros((4, 72)), "trans": np.zeros((4, 3)), "mocap_framerate": -1.0}, "key 'mocap_framerate'"),
        ({"poses": np.zeros((4, 72)), "trans": np.zeros((4, 3)), "mocap_framerate": 30.0, "joints": np.zeros((4, 17, 3))}, "key 'joints'"),
        ({"poses": np.zeros((4, 72)), "trans": np.zeros((4, 3)), "mocap_framerate": 30.0, "held": np.zeros(3, bool)}, "key 'held'"),
        (
            {"poses": np.zeros((4, 72)), "trans": np.zeros((4, 3)), "mocap_framerate": 30.0, "first_frame_time": "soon"},
            "key 'first_frame_time'",
        ),
    ],
)
def test_bad_npz_names_file_and_key(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(MotionFileError) as error:
        Motion.load(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_unreadable_file_is_a_motion_error(tmp_path):
    path = tmp_path / "not.npz"
    path.write_text("hello")
    with pytest.raises(MotionFileError, match="not a readable .npz"):
        Motion.load(path)
    with pytest.raises(MotionFileError, match="no such file"):
        Motion.load(tmp_path / "missing.npz")
