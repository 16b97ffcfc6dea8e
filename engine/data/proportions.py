"""Random body proportions for training: every rig (and every detector) puts joints elsewhere.

CMU's rigs put the shoulders 36 cm apart, Bandai Namco's 20 cm, and the H36M17 neck and head
joints follow the shoulders (they are placed in shoulder widths); hip width, spine and limbs
differ less. A lifter trained on one rig's proportions errs on another's. Scaling each bone
group of a window by a random factor (constant over the window, the same on both sides)
before the camera sees it teaches the lifter to read proportions from the 2D, whatever rig or
person they come from.
"""

from __future__ import annotations

import numpy as np

from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import positions_from_offsets

# Bone groups (named by the joints the bones end in) and the range of their length factors:
# wide enough to take either rig's shoulders to the other's, with room on both sides.
GROUPS: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = {
    "shoulders and head": (("l_shoulder", "r_shoulder", "neck", "head"), (0.5, 2.0)),
    "hips": (("l_hip", "r_hip"), (0.7, 1.5)),
    "spine": (("spine", "thorax"), (0.8, 1.25)),
    "thighs": (("l_knee", "r_knee"), (0.85, 1.15)),
    "shins": (("l_ankle", "r_ankle"), (0.85, 1.15)),
    "upper arms": (("l_elbow", "r_elbow"), (0.85, 1.15)),
    "forearms": (("l_wrist", "r_wrist"), (0.85, 1.15)),
}


def random_bone_factors(rng: np.random.Generator) -> np.ndarray:
    """Length factors (17,) for the bones ending in each H36M17 joint (1 for the root), drawn
    log-uniformly per group of :data:`GROUPS`."""
    factors = np.ones(len(H36M17.names))
    for joints, (low, high) in GROUPS.values():
        factors[[H36M17.index(j) for j in joints]] = np.exp(rng.uniform(np.log(low), np.log(high)))
    return factors


def scale_bones(joints: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """H36M17 positions (..., 17, 3) with every bone (parent → joint) scaled by ``factors[joint]``;
    the root stays where it was, bone directions are kept."""
    scaled = joints.copy()
    for joint, parent in enumerate(H36M17.parents):
        if parent >= 0:
            scaled[..., joint, :] = scaled[..., parent, :] + factors[joint] * (joints[..., joint, :] - joints[..., parent, :])
    return scaled


# The H36M17 joint whose bone group scales each SMPL24 bone (parent → joint); None: unscaled.
_SMPL_GROUP_OF = {
    **{f"{s}_{j}": f"{s}_{j}" for s in "lr" for j in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")},
    **{f"{s}_collar": f"{s}_shoulder" for s in "lr"},
    **{name: "spine" for name in ("spine1", "spine2", "spine3")},
    "neck": "neck",
    "head": "head",
}


def scale_rest_skeleton(rest: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """An SMPL24 rest skeleton (24, 3) with each bone scaled by the factor (of
    :func:`random_bone_factors`, per H36M17 joint) of the group it belongs to; feet and hands
    (toe and hand bones) and the pelvis stay as they are."""
    scale = np.array([factors[H36M17.index(_SMPL_GROUP_OF[n])] if n in _SMPL_GROUP_OF else 1.0 for n in SMPL24.names])
    offsets = rest - rest[[max(p, 0) for p in SMPL24.parents]]
    offsets[0] = rest[0]
    return positions_from_offsets(offsets * scale[:, None], SMPL24.parents)
