"""The camera that films a rendered person: a pinhole per frame that keeps them in view.

Static for most clips, following the person in a share of them (``MOVING_SHARE``), as
people film: a horizontal field of view of 40-90°, anywhere around the person, from 10° below
to 35° above the aim point, a little roll; far enough that the standing person fills 35-90 %
of the frame's height, or farther when the motion needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from engine.data.cameras import look_at

HFOV_DEG = (40.0, 90.0)
ELEVATION_DEG = (-10.0, 35.0)  # positive: the camera is above the aim point, looking down
ROLL_DEG = 4.0  # standard deviation of the camera's roll
PERSON_FILL = (0.35, 0.9)  # the person's standing height over the frame's height
# A static camera far enough back to hold a long walk shows the person too small for the
# detector (measured: nobody found at 17 % of a 360-line frame): below this, follow them.
MIN_STATIC_FILL = 0.3
MOVING_SHARE = 0.3  # clips whose camera follows the person
MARGIN = 0.03  # of the frame: every joint stays this far inside it


class NoCamera(ValueError):
    """No camera of the kinds drawn keeps a clip's whole motion in view."""


@dataclass
class CameraTrack:
    """A camera per frame: world-to-camera rotations ``R`` (T, 3, 3) and translations ``t``
    (T, 3) (OpenCV: x right, y down, z forward; ``X_cam = R X + t``), pinhole intrinsics in
    pixels and the frame size."""

    R: np.ndarray
    t: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    moving: bool

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (T, N, 2) of world points (T, N, 3), frame by frame."""
        cam = np.einsum("tij,tnj->tni", self.R, points) + self.t[:, None]
        return np.stack([self.fx * cam[..., 0] / cam[..., 2] + self.cx, self.fy * cam[..., 1] / cam[..., 2] + self.cy], -1)

    def depth(self, points: np.ndarray) -> np.ndarray:
        return np.einsum("tij,tnj->tni", self.R, points)[..., 2] + self.t[:, None, 2]

    def summary(self) -> dict:
        eye = -np.einsum("tji,tj->ti", self.R, self.t)
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
            "hfov_deg": round(float(np.degrees(2 * np.arctan(self.width / 2 / self.fx))), 2),
            "moving": self.moving,
            "height_m": round(float(eye[:, 1].mean()), 3),
            "travel_m": round(float(np.linalg.norm(eye[-1] - eye[0])), 3),
        }


def _rolled(R: np.ndarray, roll: float) -> np.ndarray:
    c, s = np.cos(roll), np.sin(roll)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R


def _fits(track: CameraTrack, points: np.ndarray) -> bool:
    if track.depth(points).min() < 0.5:
        return False
    uv = track.project(points)
    low, high = MARGIN * np.array([track.width, track.height]), (1 - MARGIN) * np.array([track.width, track.height])
    return bool(np.all((uv >= low) & (uv <= high)))


def random_camera_track(rng: np.random.Generator, joints: np.ndarray, stature: float, width: int, height: int) -> CameraTrack:
    """A camera that keeps every joint (T, J, 3; the head's top included by the caller) in
    the frame: horizontal field of view 40-90°, anywhere around the person, 10° below to 35°
    above the aim point, a little roll, far enough that the standing person fills 35-90 % of
    the frame's height, or farther when the motion needs it. In ``MOVING_SHARE`` of the clips it
    follows the person (aiming at their smoothed path, circling slowly, a little hand shake);
    a static camera that can only hold a long walk from so far that the person fills under
    ``MIN_STATIC_FILL`` of the frame's height becomes a moving one."""
    frames = len(joints)
    focal = width / 2 / np.tan(np.radians(rng.uniform(*HFOV_DEG)) / 2)
    azimuth, elevation = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(*ELEVATION_DEG))
    roll = np.radians(np.clip(rng.normal(0, ROLL_DEG), -2.5 * ROLL_DEG, 2.5 * ROLL_DEG))
    distance = focal * stature / (rng.uniform(*PERSON_FILL) * height)
    aim = rng.uniform(-0.15, 0.15, 3) + [0.0, rng.uniform(-0.2, 0.2), 0.0]
    pelvis = joints[:, 0]
    moving = rng.uniform() < MOVING_SHARE
    drift = np.radians(rng.uniform(-10, 10)) / 30.0  # per frame
    shake = gaussian_filter1d(rng.normal(0, 1, (frames, 3)), 6, axis=0, mode="nearest")
    shake *= np.radians(0.4) / max(shake.std(), 1e-9)
    for _ in range(40):
        if moving:
            target = gaussian_filter1d(pelvis, 15, axis=0, mode="nearest") + aim
            turn = azimuth + drift * np.arange(frames)
        else:
            target = np.broadcast_to(pelvis.mean(axis=0) + aim, (frames, 3))
            turn = np.full(frames, azimuth)
        direction = np.stack([np.cos(elevation) * np.sin(turn), np.full(frames, np.sin(elevation)), np.cos(elevation) * np.cos(turn)], -1)
        eye = target + distance * direction
        if eye[:, 1].min() < 0.2:  # under the floor: look up less
            elevation = max(elevation, np.arcsin((0.2 - target[:, 1].min()) / distance) + 0.01)
            continue
        R = np.stack([_rolled(look_at(e, g), roll) for e, g in zip(eye, target)])
        if moving:  # a hand-held camera shakes a little
            R = Rotation.from_rotvec(shake).as_matrix() @ R
        track = CameraTrack(R, -np.einsum("tij,tj->ti", R, eye), focal, focal, width / 2, height / 2, width, height, moving)
        if _fits(track, joints):
            return track
        distance *= 1.15
        if not moving and focal * stature / (distance * height) < MIN_STATIC_FILL:
            moving, distance = True, focal * stature / (rng.uniform(*PERSON_FILL) * height)
    raise NoCamera("no camera keeps the whole motion in view")
