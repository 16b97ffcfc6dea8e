"""Pinhole cameras: projection to pixels and random virtual cameras.

Camera frame is OpenCV's (x right, y down, z forward); world frame is SMPL's (y up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (width, height) of the virtual frames: 16:9, 9:16 and 4:3, long side 1280 px.
FRAME_SIZES = ((1280, 720), (720, 1280), (1280, 960))
DISTANCE_M = (2.5, 8.0)
PITCH_DEG = (-10.0, 35.0)  # positive: the camera is above the subject, looking down
HFOV_DEG = (40.0, 90.0)
MIN_DEPTH_M = 0.5


@dataclass
class Camera:
    """World-to-camera rotation ``R`` (3, 3) and translation ``t`` (X_cam = R X + t),
    intrinsics in pixels, and the frame size."""

    R: np.ndarray
    t: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) in the camera frame."""
        return points @ self.R.T + self.t

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of world points (..., 3)."""
        cam = self.to_camera(points)
        return np.stack([self.fx * cam[..., 0] / cam[..., 2] + self.cx, self.fy * cam[..., 1] / cam[..., 2] + self.cy], -1)

    @property
    def intrinsics(self) -> np.ndarray:
        """(fx, fy, cx, cy), as the Motion record stores them."""
        return np.array([self.fx, self.fy, self.cx, self.cy])


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera rotation of a camera at ``eye`` looking at ``target``, no roll."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def random_camera(rng: np.random.Generator, joints: np.ndarray) -> Camera:
    """A camera 2.5-8 m from the subject, anywhere around it, pitched -10° to +35°, with a
    horizontal field of view of 40°-90° and a 16:9, 9:16 or 4:3 frame, aimed near the mean
    pelvis of ``joints`` (T, J, 3; joint 0 the pelvis); drawn again while any joint comes
    closer than 0.5 m to the camera's plane."""
    pelvis = joints[:, 0].mean(axis=0)
    for _ in range(20):
        width, height = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
        focal = width / 2 / np.tan(np.radians(rng.uniform(*HFOV_DEG)) / 2)
        azimuth, pitch = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(*PITCH_DEG))
        direction = np.array([np.cos(pitch) * np.sin(azimuth), np.sin(pitch), np.cos(pitch) * np.cos(azimuth)])
        target = pelvis + rng.uniform(-0.2, 0.2, 3)
        eye = target + rng.uniform(*DISTANCE_M) * direction
        R = look_at(eye, target)
        camera = Camera(R, -R @ eye, focal, focal, width / 2, height / 2, width, height)
        if camera.to_camera(joints)[..., 2].min() > MIN_DEPTH_M:
            return camera
    raise ValueError("no camera position keeps the subject in front of the camera")
