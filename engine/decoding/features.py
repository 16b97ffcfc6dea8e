"""The decoder's numbers per frame: the motion features it answers and the conditions it is given.

**Motion features** (:data:`FEATURES` a frame): the representation
(:mod:`engine.decoding.representation`) flattened: the 24 non-root points relative to the pelvis
(72), the twists' cos and sin (36), and four foot contacts (left heel, left toe, right heel,
right toe; logits where the decoder answers them).

**Conditions** (:data:`CONDITIONS` a frame, :func:`window_conditions`): the H36M17 joints
relative to their pelvis and a flag (1 where the frame's joints are there). A window is turned
about the vertical so that its first frame there faces +z, and the answer is turned back. The
root's path is not among them: a capture gets it wrong wherever the camera moves (a following
camera's walker covered 0.3 m/s of a true 1.2, sideways to his facing), and with it (scaled by
10, as metres a frame) the decoder scored the same on the mocap test as without (2026-12-03:
rotations 31.9° against 31.8°, contact F1 0.86 both) and the same end to end (PA-MPJPE within
0.4 mm).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.joints import H36M17, SMPL24
from engine.decoding.representation import TWIST_JOINTS
from engine.geometry import torso_heading

POINTS = len(SMPL24) - 1 + 1  # the points a frame's features hold: SMPL24 and the nose, less the pelvis
FEATURES = 3 * POINTS + 2 * len(TWIST_JOINTS) + 4  # points, twists, contacts
CONDITIONS = 3 * len(H36M17) + 1  # joints, and whether they are there
_H36M_TORSO = [H36M17.index(n) for n in ("l_hip", "r_hip", "l_shoulder", "r_shoulder")]  # the same points


def motion_features(points: np.ndarray, twists: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """The flat per-frame vector (T, FEATURES) of pelvis-relative ``points`` (T, 25, 3),
    ``twists`` (T, 18, 2) and ``contacts`` (T, 4)."""
    return np.concatenate([points[:, 1:].reshape(len(points), -1), twists.reshape(len(points), -1), contacts], axis=1)


def split_features(motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of :func:`motion_features`: points (..., 25, 3) (pelvis at the origin), twists
    (..., 18, 2) and contacts (..., 4)."""
    lead = motion.shape[:-1]
    points = motion[..., :72].reshape(*lead, 24, 3)
    points = np.concatenate([np.zeros((*lead, 1, 3), motion.dtype), points], axis=-2)
    twists = motion[..., 72 : 72 + 2 * len(TWIST_JOINTS)].reshape(*lead, len(TWIST_JOINTS), 2)
    return points, twists, motion[..., -4:]


def heading_turn(torso: np.ndarray) -> np.ndarray:
    """The turn (3, 3) about +y that makes a torso (4, 3: left and right hips, left and right
    shoulders) face +z."""
    return Rotation.from_rotvec([0.0, -torso_heading(*torso), 0.0]).as_matrix()


def window_conditions(joints: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The denoiser's conditions (T, CONDITIONS) of a window's H36M17 joints (T, 17, 3) and
    which frames are there (T,), and the turn (3, 3) about
    +y that made the first frame there face +z (the answer is turned back by it)."""
    first = int(present.argmax()) if present.any() else 0
    turn = heading_turn(joints[first, _H36M_TORSO])
    relative = (joints - joints[:, :1]) @ turn.T
    flat = np.concatenate([relative.reshape(len(joints), -1), np.ones((len(joints), 1))], axis=1)
    return flat * present[:, None], turn


def played_back_and_forth(frames: int, length: int) -> np.ndarray:
    """Indices (length,) that fill a window of ``length`` with a clip of ``frames`` frames played
    forwards, backwards, forwards... (0, 1, 2, 1, 0, 1, ... for 3 frames; all 0 for one)."""
    period = max(2 * frames - 2, 1)
    k = np.arange(length) % period
    return np.where(k < frames, k, period - k)
