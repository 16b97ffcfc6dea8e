"""The camera's own motion, measured on the background (issue #18, item 4: ``engine/pipeline/camera_motion.py``)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.pipeline.camera_motion import CameraMotion
from engine.pipeline.capture import Capture, intrinsics
from engine.pipeline.settings import Settings
from engine.video import Frame, VideoInfo, read_frames
from tests.paths import EXAMPLE_CLIP

WIDTH, HEIGHT = 640, 360
NOBODY = np.zeros((33, 3), np.float32)  # landmarks of a frame where no person is found


def _wide_still() -> np.ndarray:
    """A wide real picture: the example clip's first frame, twice as large (1280 × 720)."""
    first = next(iter(read_frames(EXAMPLE_CLIP))).rgb
    return np.repeat(np.repeat(first, 2, axis=0), 2, axis=1)


def _measured(frames: list[np.ndarray]) -> dict:
    camera = CameraMotion(WIDTH, HEIGHT, intrinsics(WIDTH, HEIGHT, 69.0))
    for frame in camera.watch(Frame(i, i / 25, rgb) for i, rgb in enumerate(frames)):
        camera.measure(frame.index, NOBODY)
    return camera.report()


def test_a_window_sliding_across_a_real_picture_is_measured_as_a_pan_of_its_length():
    """The background moves 3 px a frame for 40 frames: 117 px from the first frame to the last."""
    still, rng = _wide_still(), np.random.default_rng(0)
    frames = []
    for i in range(40):
        window = still[100 : 100 + HEIGHT, 200 + 3 * i : 200 + 3 * i + WIDTH].astype(np.int16)
        frames.append(np.clip(window + rng.integers(-3, 4, window.shape), 0, 255).astype(np.uint8))  # sensor noise
    found = _measured(frames)
    assert found["kind"] == "panning" and found["usable"] and found["compensated"]
    assert abs(found["pan_px"] - 117) < 4
    # A sliding window shifts every point alike, which no turn does exactly: the best turn lies
    # between the one moving the centre 117 px (14.1°) and the one moving the edge 117 px (10.9°).
    focal = intrinsics(WIDTH, HEIGHT, 69.0)[0]
    edge = np.degrees(np.arctan(WIDTH / 2 / focal) - np.arctan((WIDTH / 2 - 117) / focal))
    assert edge < found["pan_deg"] < np.degrees(np.arctan(117 / focal))
    assert found["note"].startswith("panning camera: 11")


def test_a_still_camera_with_sensor_noise_is_reported_static():
    still, rng = _wide_still(), np.random.default_rng(1)
    window = still[100 : 100 + HEIGHT, 200 : 200 + WIDTH].astype(np.int16)
    frames = [np.clip(window + rng.integers(-3, 4, window.shape), 0, 255).astype(np.uint8) for _ in range(40)]
    found = _measured(frames)
    assert found["kind"] == "static" and not found["compensated"] and found["pan_px"] < 1
    assert found["note"] == "static camera (measured on the background)"


def test_a_bare_background_cannot_be_measured_and_a_static_camera_is_assumed():
    grey = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    found = _measured([grey] * 10)
    assert found["kind"] == "unknown" and not found["usable"] and "static camera assumed" in found["note"]


def _capture(compensate: bool) -> Capture:
    info = VideoInfo(EXAMPLE_CLIP, WIDTH, HEIGHT, 0, 25.0, 50, False)
    capture = Capture(info, Settings(), lambda *args: None)
    capture.compensate = compensate
    return capture


def test_undoing_a_turning_cameras_rotation_keeps_a_still_person_in_one_place():
    """A person standing still 4 m away, filmed by a camera turning 0.4° a frame about its
    vertical axis: in the camera's frame they slide across; with the turns undone they stay put."""
    rng = np.random.default_rng(2)
    body = rng.normal(0, 0.3, (17, 3))
    body -= body[0]  # root-relative, as lifted
    place = np.array([0.2, 0.3, 4.0])
    turns = Rotation.from_rotvec(np.outer(np.radians(0.4) * np.arange(50), [0.0, 1.0, 0.0])).as_matrix()
    seen = np.einsum("tij,kj->tki", turns, body + place)  # x_t = R_t x_0, every joint
    fx, fy, cx, cy = intrinsics(WIDTH, HEIGHT, 69.0)
    pixels = np.stack([fx * seen[..., 0] / seen[..., 2] + cx, fy * seen[..., 1] / seen[..., 2] + cy, np.ones(seen.shape[:2])], -1)
    lifted = seen - seen[:, :1]
    gaps = np.zeros(50, bool)
    as_seen = _capture(False).camera_joints(lifted, pixels, gaps, turns)
    undone = _capture(True).camera_joints(lifted, pixels, gaps, turns)
    assert np.abs(as_seen[:, 0] - place).max() > 0.5  # the root slides 1.4 m across the picture
    np.testing.assert_allclose(undone, np.broadcast_to(body + place, undone.shape), atol=1e-3)


def test_without_compensation_the_measured_turns_change_nothing_bit_for_bit():
    """A camera found static (or moving, or unmeasured) is not compensated, and then the world
    trajectory is exactly what it was before camera motion was measured."""
    rng = np.random.default_rng(3)
    lifted, pixels = rng.normal(0, 0.3, (30, 17, 3)), rng.uniform(100, 300, (30, 17, 3))
    pixels[..., 2] = 1.0
    turns = Rotation.from_rotvec(rng.normal(0, 0.01, (30, 3))).as_matrix()
    gaps = np.zeros(30, bool)
    np.testing.assert_array_equal(
        _capture(False).camera_joints(lifted, pixels, gaps, turns),
        _capture(False).camera_joints(lifted, pixels, gaps, np.tile(np.eye(3), (30, 1, 1))),
    )
