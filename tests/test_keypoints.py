"""BlazePose → H36M17 mapping, and mediapipe running offline on a real frame."""

from __future__ import annotations

import numpy as np
import pytest

from engine.body.joints import H36M17
from engine.keypoints import BLAZEPOSE_TO_H36M17, blazepose_to_h36m17, detect_pose, detected_keypoints, h36m17_to_blazepose, unsure_copies
from tests.paths import VIDEOS

ROOFTOP = VIDEOS / "pexels_2795750_man_dancing_on_rooftop.mp4"
needs_videos = pytest.mark.skipif(not ROOFTOP.is_file(), reason=f"no example videos at {VIDEOS} (set ENGINE_VIDEOS_DIR)")

# A person facing the camera: their left side is on the image's right (+x), y points down.
BLAZEPOSE_POSITIONS = {
    "NOSE": (0, -160),
    "LEFT_EAR": (12, -165),
    "RIGHT_EAR": (-12, -165),
    "LEFT_SHOULDER": (40, -120),
    "RIGHT_SHOULDER": (-40, -120),
    "LEFT_ELBOW": (90, -110),
    "RIGHT_ELBOW": (-90, -110),
    "LEFT_WRIST": (140, -100),
    "RIGHT_WRIST": (-140, -100),
    "LEFT_HIP": (25, 0),
    "RIGHT_HIP": (-25, 0),
    "LEFT_KNEE": (35, 90),
    "RIGHT_KNEE": (-35, 90),
    "LEFT_ANKLE": (45, 180),
    "RIGHT_ANKLE": (-45, 180),
}


def _pose_landmark_enum() -> dict[str, int]:
    from mediapipe.python.solutions.pose import PoseLandmark

    return {landmark.name: landmark.value for landmark in PoseLandmark}


def _synthetic_landmarks(channels: int) -> tuple[np.ndarray, dict[str, int]]:
    """Two frames of BlazePose landmarks with the named positions (frame 1 shifted) and a
    distinct confidence per landmark."""
    index = _pose_landmark_enum()
    landmarks = np.zeros((2, 33, channels))
    for name, xy in BLAZEPOSE_POSITIONS.items():
        landmarks[:, index[name], :2] = np.array(xy) + [[300, 400], [310, 395]]
    landmarks[..., -1] = np.linspace(0.3, 0.99, 33)
    if channels == 4:
        landmarks[..., 2] = np.arange(33) * 0.01
    return landmarks, index


@pytest.mark.parametrize("channels", [3, 4])
def test_mapping_follows_the_documented_definitions(channels):
    landmarks, lm = _synthetic_landmarks(channels)
    joints = blazepose_to_h36m17(landmarks)
    assert joints.shape == (2, 17, channels)

    def at(*names: str) -> np.ndarray:
        return landmarks[:, [lm[n] for n in names]]

    expected = {
        "pelvis": at("LEFT_HIP", "RIGHT_HIP"),
        "r_hip": at("RIGHT_HIP"),
        "r_knee": at("RIGHT_KNEE"),
        "r_ankle": at("RIGHT_ANKLE"),
        "l_hip": at("LEFT_HIP"),
        "l_knee": at("LEFT_KNEE"),
        "l_ankle": at("LEFT_ANKLE"),
        "spine": at("LEFT_HIP", "RIGHT_HIP", "LEFT_SHOULDER", "RIGHT_SHOULDER"),
        "thorax": at("LEFT_SHOULDER", "RIGHT_SHOULDER"),
        "neck": at("NOSE"),
        "head": at("LEFT_EAR", "RIGHT_EAR"),
        "l_shoulder": at("LEFT_SHOULDER"),
        "l_elbow": at("LEFT_ELBOW"),
        "l_wrist": at("LEFT_WRIST"),
        "r_shoulder": at("RIGHT_SHOULDER"),
        "r_elbow": at("RIGHT_ELBOW"),
        "r_wrist": at("RIGHT_WRIST"),
    }
    for name, parts in expected.items():
        j = H36M17.index(name)
        np.testing.assert_allclose(joints[:, j, :-1], parts[..., :-1].mean(axis=1), err_msg=name)
        np.testing.assert_allclose(joints[:, j, -1], parts[..., -1].min(axis=1), err_msg=name)

    # spine is the midpoint of pelvis and thorax; the person's left is on the image's right
    np.testing.assert_allclose(joints[:, 7, :2], (joints[:, 0, :2] + joints[:, 8, :2]) / 2)
    for left, right in H36M17.flip_pairs:
        assert np.all(joints[:, left, 0] > joints[:, right, 0]), (H36M17.names[left], H36M17.names[right])


def test_mapping_rejects_other_shapes_and_keeps_missed_frames_empty():
    with pytest.raises(ValueError, match="BlazePose"):
        blazepose_to_h36m17(np.zeros((4, 17, 3)))
    assert not blazepose_to_h36m17(np.zeros((3, 33, 3))).any()
    assert np.isnan(blazepose_to_h36m17(np.full((1, 33, 4), np.nan))).all()
    assert all(0 <= i < 33 for sources in BLAZEPOSE_TO_H36M17 for i in sources)


def _side_view() -> np.ndarray:
    """One frame of H36M17 pixels (1, 17, 3) of a person seen from the right, every joint seen,
    torso 100 px long, the right arm raised."""
    joints = np.zeros((1, 17, 3))
    for name, xy in {
        "pelvis": (300, 400),
        "r_hip": (300, 400),
        "l_hip": (302, 400),
        "r_knee": (305, 480),
        "l_knee": (290, 478),
        "r_ankle": (300, 560),
        "l_ankle": (285, 555),
        "spine": (300, 350),
        "thorax": (300, 300),
        "neck": (310, 270),
        "head": (305, 250),
        "r_shoulder": (300, 300),
        "l_shoulder": (302, 300),
        "r_elbow": (320, 240),
        "l_elbow": (300, 350),
        "r_wrist": (330, 180),
        "l_wrist": (300, 400),
    }.items():
        joints[0, H36M17.index(name)] = (*xy, 0.95)
    return joints


def test_a_hidden_limb_drawn_over_its_seen_twin_is_a_copy_and_loses_its_confidence():
    seen = _side_view()
    copied = seen.copy()
    for joint, twin in (("l_elbow", "r_elbow"), ("l_wrist", "r_wrist")):
        copied[0, H36M17.index(joint)] = copied[0, H36M17.index(twin)] + (6.0, -4.0, 0.0)
        copied[0, H36M17.index(joint), 2] = 0.1
    marked = unsure_copies(copied)
    assert marked[0, H36M17.index("l_elbow"), 2] == marked[0, H36M17.index("l_wrist"), 2] == 0.0
    np.testing.assert_array_equal(
        np.delete(marked[0], [H36M17.index("l_elbow"), H36M17.index("l_wrist")], 0),
        np.delete(copied[0], [H36M17.index("l_elbow"), H36M17.index("l_wrist")], 0),
    )
    np.testing.assert_array_equal(marked[..., :2], copied[..., :2])  # the landmarks stay where the detector put them


def test_unsure_joints_away_from_their_twin_and_seen_twins_side_by_side_keep_their_confidence():
    unsure = _side_view()
    unsure[0, H36M17.index("l_wrist"), 2] = 0.1  # hidden, guessed hanging, far from the raised right wrist
    np.testing.assert_array_equal(unsure_copies(unsure), unsure)
    knees = _side_view()  # both knees seen, 15 px apart: two legs, not a copy
    np.testing.assert_array_equal(unsure_copies(knees), knees)
    assert not unsure_copies(np.zeros((3, 17, 3))).any()  # nobody seen


def test_the_lifters_keypoints_are_the_mapping_with_copies_marked():
    landmarks = h36m17_to_blazepose(_side_view())
    landmarks[0, 15, :2] = landmarks[0, 16, :2] + 3.0  # the left wrist drawn on the right one
    landmarks[0, 15, 2] = 0.2
    keypoints = detected_keypoints(landmarks)
    assert keypoints[0, H36M17.index("l_wrist"), 2] == 0.0
    np.testing.assert_array_equal(
        np.delete(keypoints, H36M17.index("l_wrist"), 1), np.delete(blazepose_to_h36m17(landmarks), H36M17.index("l_wrist"), 1)
    )


def test_h36m17_keypoints_as_landmarks_map_back_to_themselves():
    rng = np.random.default_rng(0)
    joints = rng.uniform(0, 640, (5, 17, 3))
    joints[..., 2] = rng.uniform(0, 1, (5, 17))
    # pelvis, thorax and spine are midpoints, as the mapping defines them, as sure as their least sure part
    for joint, (a, b) in ((0, (1, 4)), (8, (11, 14)), (7, (0, 8))):
        joints[:, joint, :2] = (joints[:, a, :2] + joints[:, b, :2]) / 2
        joints[:, joint, 2] = np.minimum(joints[:, a, 2], joints[:, b, 2])
    landmarks = h36m17_to_blazepose(joints)
    assert landmarks.shape == (5, 33, 3) and not landmarks[:, 29:].any()  # heels and toes: nobody gives them
    np.testing.assert_allclose(blazepose_to_h36m17(landmarks), joints)
    with pytest.raises(ValueError, match="H36M17"):
        h36m17_to_blazepose(np.zeros((4, 33, 3)))


@needs_videos
def test_mediapipe_finds_the_dancer_offline():
    import cv2

    capture = cv2.VideoCapture(str(ROOFTOP))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    height, width = frame.shape[:2]
    landmarks2d, world = detect_pose([np.zeros_like(frame), frame])
    assert landmarks2d.shape == (2, 33, 3) and world.shape == (2, 33, 4)
    assert not landmarks2d[0].any() and np.isnan(world[0]).all()  # nobody in a black frame

    joints = blazepose_to_h36m17(landmarks2d[1:])[0]
    assert np.all((joints[:, 0] >= 0) & (joints[:, 0] < width) & (joints[:, 1] >= 0) & (joints[:, 1] < height))
    assert np.all(joints[:, 2] > 0.5)
    head, ankles = joints[H36M17.index("head")], joints[[H36M17.index("l_ankle"), H36M17.index("r_ankle")]]
    assert np.all(ankles[:, 1] - head[1] > 0.3 * height)  # upright, head above the feet
    assert np.isfinite(world[1]).all() and np.abs(world[1, :, :3]).max() < 2.0  # metres around the hips
