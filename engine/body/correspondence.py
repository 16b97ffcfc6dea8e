"""Where the joints of our joint sets sit on the skeletons of mocap files.

Each joint of a target set is a weighted mean of source-skeleton joint positions, so a
virtual joint that the source lacks (SMPL's collar, say) is defined by the joints around it.
"""

from __future__ import annotations

import numpy as np

from engine.body.joints import SMPL24, JointSet

Correspondence = dict[str, tuple[tuple[str, float], ...]]

# The CMU 31-joint skeleton (the ASF/AMC conversions and cgspeed's BVH releases share these
# names). Its "Neck" is the base of the neck where the clavicles start; "Neck1" is mid-neck,
# closest to SMPL's neck joint; SMPL's collar is halfway along the clavicle.
CMU31_TO_SMPL24: Correspondence = {
    "pelvis": (("Hips", 1.0),),
    "l_hip": (("LeftUpLeg", 1.0),),
    "r_hip": (("RightUpLeg", 1.0),),
    "spine1": (("Spine", 1.0),),
    "l_knee": (("LeftLeg", 1.0),),
    "r_knee": (("RightLeg", 1.0),),
    "spine2": (("Spine1", 1.0),),
    "l_ankle": (("LeftFoot", 1.0),),
    "r_ankle": (("RightFoot", 1.0),),
    "spine3": (("Neck", 1.0),),
    "l_foot": (("LeftToeBase", 1.0),),
    "r_foot": (("RightToeBase", 1.0),),
    "neck": (("Neck1", 1.0),),
    "l_collar": (("LeftShoulder", 0.5), ("LeftArm", 0.5)),
    "r_collar": (("RightShoulder", 0.5), ("RightArm", 0.5)),
    "head": (("Head", 1.0),),
    "l_shoulder": (("LeftArm", 1.0),),
    "r_shoulder": (("RightArm", 1.0),),
    "l_elbow": (("LeftForeArm", 1.0),),
    "r_elbow": (("RightForeArm", 1.0),),
    "l_wrist": (("LeftHand", 1.0),),
    "r_wrist": (("RightHand", 1.0),),
    "l_hand": (("LeftFingerBase", 1.0),),
    "r_hand": (("RightFingerBase", 1.0),),
}


def map_positions(
    positions: np.ndarray,
    source_names: list[str],
    correspondence: Correspondence,
    target: JointSet = SMPL24,
) -> np.ndarray:
    """Target joint positions (..., J_target, 3) from source positions (..., J_source, 3)."""
    weights = np.zeros((len(target), len(source_names)))
    for t, name in enumerate(target.names):
        for source, w in correspondence[name]:
            if source not in source_names:
                raise KeyError(f"joint {source!r} (for {target.name} {name!r}) is not in the skeleton")
            weights[t, source_names.index(source)] = w
    return np.einsum("ts,...sc->...tc", weights, positions)
