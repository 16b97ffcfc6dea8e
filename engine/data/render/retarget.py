"""The mocap's motion on Anny's skeleton, by rotations, and the joints of the posed Anny body.

**Joints.** Anny's SMPL24 and H36M17 joints are defined by the same rules as every mocap
skeleton's (``engine.body.correspondence``; docs/training-data.md, point 5), applied to the
Anny bones named in :data:`NAMED_BONES`: hips, knees, ankles, shoulders, elbows and wrists at
the heads of ``upperleg01``, ``lowerleg01``, ``foot``, ``upperarm01``, ``lowerarm01`` and
``wrist``; feet at the head of ``toe3-1`` (the ball of the foot); hands 0.4 forearm lengths
beyond the wrists, carried by them; pelvis, spine1-3, neck, collars and head where the default
skeleton has them relative to the mid-hips or the thorax, carried by ``root``, the spine bone
below, ``spine01`` (the chest) and ``head``; H36M17's pelvis, spine and thorax from the hips and
shoulders, its nose and head (ear midpoint) where mediapipe puts them (``HEAD_LANDMARKS``),
carried by ``head``.

**Driving rotations.** The prepared ``poses`` fix every bone's direction, but not how a bone
with one child is turned about itself (some sources' arrive twisted by up to 180°, which a
skinned mesh would show as a wrung spine). The body is therefore posed by the pipeline's own
analytic IK (``engine.body.ik``) on the clip's H36M17 joints: torso twist shared along the
spine, thighs and upper arms turned so knees and elbows bend as hinges, the head turned to
the nose; then ankles and wrists aimed at the mocap's feet and hands. Each Anny bone turns
with one of those SMPL24 world rotations (:func:`driver_of`): a limb bone with its limb's
joint, a spine or neck bone with the torso joint whose segment overlaps it most. A limb
segment (hip to knee, knee to ankle, ankle to toe, shoulder to elbow, elbow to wrist, wrist to
hand) is aligned at rest by the smallest rotation taking Anny's rest direction onto the
default skeleton's, so every limb points exactly along the mocap's limb and keeps Anny's length:
nothing is stretched. Torso, neck and head bones share the alignment of Anny's torso frame
onto the default skeleton's, and follow the mocap to a few degrees (the two spines bend at
different places).

**On the floor.** Across the floor the body follows the mocap's pelvis, its path scaled by the
ratio of Anny's legs to the performer's, so steps fit the legs and planted feet do not slide;
up and down it follows the mocap's lowest foot joint (ankles and balls of the feet), so a
planted foot stays planted whatever the two bodies' proportions. Then the whole clip is raised
so the body stands on the floor (y = 0, its soles, not its ankles as in the prepared mocap):
its lowest point is there in all but the 5 % lowest frames, as the mocap's floor is found.
"""

from __future__ import annotations

import numpy as np

from engine.body.correspondence import joint_maps
from engine.body.ik import fit_rest_skeleton, solve_ik
from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.body.skeleton import default_rest_joints
from engine.data.prepare import contact_labels
from engine.data.render.body import Body
from engine.geometry import smallest_rotations, torso_frame

SPINE_CHAIN = ("spine05", "spine04", "spine03", "spine02", "spine01", "neck01", "neck02", "neck03", "head")
# Anny bones that define joints, by names the skeleton recogniser reads (``find_landmarks``).
NAMED_BONES = {"root": "Hips"} | dict(zip(SPINE_CHAIN, ("Spine", "Spine1", "Spine2", "Spine3", "Chest", "Neck", "Neck1", "Neck2", "Head")))
for _side, _name in (("L", "Left"), ("R", "Right")):
    NAMED_BONES |= {
        f"upperleg01.{_side}": f"{_name}UpLeg",
        f"lowerleg01.{_side}": f"{_name}Leg",
        f"foot.{_side}": f"{_name}Foot",
        f"toe3-1.{_side}": f"{_name}ToeBase",
        f"clavicle.{_side}": f"{_name}Shoulder",
        f"upperarm01.{_side}": f"{_name}Arm",
        f"lowerarm01.{_side}": f"{_name}ForeArm",
        f"wrist.{_side}": f"{_name}Hand",
    }
# Anny bone-name prefixes of each limb's SMPL joint ("l_" or "r_" is prepended).
_LIMB_DRIVERS = {
    "upperleg": "hip",
    "lowerleg": "knee",
    "foot": "ankle",
    "toe": "foot",
    "clavicle": "collar",
    "shoulder01": "collar",
    "upperarm": "shoulder",
    "lowerarm": "elbow",
    "wrist": "wrist",
    "finger": "wrist",
    "metacarpal": "wrist",
}
# The limb segments, each joint's one child; aligned at rest on it, and checked by the tests.
LIMBS = {"hip": "knee", "knee": "ankle", "ankle": "foot", "shoulder": "elbow", "elbow": "wrist", "wrist": "hand"}
TORSO = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")


def driver_of(name: str, extent: tuple[float, float], torso_heights: dict[str, float]) -> str:
    """The SMPL24 joint whose world rotation turns Anny bone ``name`` (module docstring); a
    spine or neck bone's from its ``extent`` (lowest, highest height) and the torso joints' heights."""
    if name[-2:] in (".L", ".R"):
        for prefix, joint in _LIMB_DRIVERS.items():
            if name.startswith(prefix):
                return name[-1].lower() + "_" + joint
    if name in ("head", "eye.L", "eye.R"):
        return "head"
    if name.startswith(("spine", "neck")):
        bounds = [torso_heights[j] for j in TORSO[1:]]
        overlap = [min(extent[1], high) - max(extent[0], low) for low, high in zip([-np.inf, *bounds], [*bounds, np.inf])]
        return TORSO[int(np.argmax(overlap))]
    return "pelvis"  # root and pelvis.L/R


def driving_rotations(h36m: np.ndarray, smpl_joints: np.ndarray) -> np.ndarray:
    """SMPL24 world rotations (T, 24, 3, 3) that pose the default skeleton's bones along a
    clip's joints, H36M17 (T, 17, 3) and SMPL24 (T, 24, 3) (module docstring)."""
    rest = fit_rest_skeleton(h36m, default_rest_joints())
    local, _ = solve_ik(h36m, rest)
    _, world = forward_kinematics_np(local, rest, rep="matrix")
    s = SMPL24.index
    for side in "lr":  # H36M17 ends at ankles and wrists: aim them at the mocap's feet and hands
        for joint, leaf in (("ankle", "foot"), ("wrist", "hand")):
            j, c = s(f"{side}_{joint}"), s(f"{side}_{leaf}")
            world[:, j] = smallest_rotations(world[:, j] @ (rest[c] - rest[j]), smpl_joints[:, c] - smpl_joints[:, j]) @ world[:, j]
            world[:, c] = world[:, j]
    return world


class AnnyRig:
    """A body's joint definitions and bone drivers (module docstring)."""

    def __init__(self, body: Body) -> None:
        self.body = body
        self.sources = [body.bone(b) for b in NAMED_BONES]
        heads, rotations = body.rest_heads[self.sources], body.rest_rotations[self.sources]

        def named_parent(b: int) -> int:
            b = body.bone_parents[b]
            while b >= 0 and b not in self.sources:
                b = body.bone_parents[b]
            return self.sources.index(b) if b >= 0 else -1

        maps = joint_maps(list(NAMED_BONES.values()), [named_parent(b) for b in self.sources], heads, rotations)
        self.smpl_map, self.h36m_map = maps["SMPL24"], maps["H36M17"]
        self.rest_joints = self.smpl_map.positions(heads, rotations)

        at = lambda joints, n: joints[SMPL24.index(n)]  # noqa: E731
        default = default_rest_joints()
        hips_shoulders = ("l_hip", "r_hip", "l_shoulder", "r_shoulder")
        torso = torso_frame(*(at(default, n) for n in hips_shoulders)) @ torso_frame(*(at(self.rest_joints, n) for n in hips_shoulders)).T
        align = {n: torso for n in SMPL24.names}
        for side in ("l_", "r_"):
            for joint, child in LIMBS.items():
                ours = at(self.rest_joints, side + child) - at(self.rest_joints, side + joint)
                align[side + joint] = smallest_rotations(ours, at(default, side + child) - at(default, side + joint))
            align[side + "foot"] = align[side + "ankle"]  # toes: nothing to aim at; they stay as the foot holds them
        up = lambda bone: float(body.rest_heads[body.bone(bone)][1])  # noqa: E731
        tops = {b: up(c) for b, c in zip(SPINE_CHAIN, SPINE_CHAIN[1:])}
        heights = {j: float(at(self.rest_joints, j)[1]) for j in TORSO}
        drivers = [driver_of(n, (up(n), tops.get(n, up(n) + 0.1)), heights) for n in body.bone_names]
        self.drivers = np.array([SMPL24.index(d) for d in drivers])
        self.alignments = np.stack([align[d] for d in drivers])  # (B, 3, 3)

    def bone_rotations(self, world: np.ndarray) -> np.ndarray:
        """World rotations (T, B, 3, 3) of every Anny bone from SMPL24 world rotations (T, 24, 3, 3)
        on the default skeleton (:func:`driving_rotations`)."""
        return world[:, self.drivers] @ self.alignments

    def heads(self, bone_rotations: np.ndarray) -> np.ndarray:
        """Bone heads (T, B, 3) for world bone rotations (T, B, 3, 3), the root's head at the
        origin: each head hangs from its parent's as the parent turns (Anny's ``world-orient``)."""
        rest, parents = self.body.rest_heads, self.body.bone_parents
        heads = np.zeros(bone_rotations.shape[:2] + (3,))
        for b in range(1, len(parents)):
            p = parents[b]
            heads[:, b] = heads[:, p] + bone_rotations[:, p] @ (rest[b] - rest[p])
        return heads

    def joints(self, heads: np.ndarray, bone_rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SMPL24 (T, 24, 3) and H36M17 (T, 17, 3) joints of the posed body: bone heads (T, B, 3)
        and the bones' world rotations (T, B, 3, 3), as :meth:`bone_rotations` gives them."""
        orientations = bone_rotations[:, self.sources] @ self.body.rest_rotations[self.sources]
        sources = heads[:, self.sources]
        return self.smpl_map.positions(sources, orientations), self.h36m_map.positions(sources, orientations)


def leg_length(joints: np.ndarray) -> float:
    """Median hip-knee-ankle length (metres) of SMPL24 joints (..., 24, 3), both sides."""
    s = SMPL24.index
    legs = [
        np.linalg.norm(joints[..., s(f"{side}_knee"), :] - joints[..., s(f"{side}_hip"), :], axis=-1)
        + np.linalg.norm(joints[..., s(f"{side}_ankle"), :] - joints[..., s(f"{side}_knee"), :], axis=-1)
        for side in "lr"
    ]
    return float(np.median(legs))


def perform(body: Body, mocap: dict[str, np.ndarray], fps: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``body`` performing a window of prepared mocap (``h36m``, ``smpl_joints``, ``poses``,
    ``valid``: the split's arrays, cut to the window), standing on the floor (module
    docstring). Returns the ground truth per frame (float32 ``h36m`` (T, 17, 3), ``smpl_joints``
    (T, 24, 3), ``face`` (T, 3, 3: nose tip, left and right ear on the skin), ``poses`` (the
    mocap's), ``contacts`` (T, 4: heels and toes, as the mocap's are labelled), ``valid``) and
    the vertices (T, V, 3)."""
    rig = AnnyRig(body)
    h36m_in, smpl_in = (np.asarray(mocap[k], np.float64) for k in ("h36m", "smpl_joints"))
    bones = rig.bone_rotations(driving_rotations(h36m_in, smpl_in))
    vertices, heads = body.pose(bones, np.zeros((len(bones), 3)))
    smpl, h36m = rig.joints(heads, bones)
    scale = leg_length(rig.rest_joints) / leg_length(smpl_in)
    shift = scale * smpl_in[:, 0] - smpl[:, 0]  # across the floor: the pelvis's path
    feet = [SMPL24.index(n) for n in ("l_ankle", "l_foot", "r_ankle", "r_foot")]
    shift[:, 1] = scale * smpl_in[:, feet, 1].min(axis=1) - smpl[:, feet, 1].min(axis=1)  # up: the lowest foot joint's height
    shift[:, 1] -= np.percentile((vertices[..., 1] + shift[:, 1:2]).min(axis=1), 5)
    vertices += shift[:, None]
    smpl, h36m = smpl + shift[:, None], h36m + shift[:, None]
    face = np.stack([vertices[:, points].mean(axis=1) for points in body.face_points()], axis=1)
    truth = {
        "h36m": h36m,
        "smpl_joints": smpl,
        "face": face,
        "poses": mocap["poses"],
        "contacts": contact_labels(smpl, fps),
        "valid": np.asarray(mocap["valid"], bool),
    }
    return {k: v if v.dtype == bool else v.astype(np.float32) for k, v in truth.items()}, vertices
