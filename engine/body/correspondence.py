"""Where the joints of our joint sets sit on any mocap skeleton, found by its joint names.

A skeleton is read for a few anatomical landmarks, by name and by the tree: each side's
knee (``LeftLeg``, ``lShin``, ``LowerLeg_L``, ``CC_Base_L_Calf``, ``ltibia``...) and elbow
(``LeftForeArm``, ``lForeArm``, ``LowerArm_L``, ``lradius``...); the hip is the knee's
parent, the ankle its child, the toe the ankle's child; the shoulder is the elbow's parent,
the collar the shoulder's parent, the wrist the elbow's child; the chest is where the two
collars meet, the pelvis where a leg and the chest meet, the neck base the chest's child towards
the joint named ``head``. Every target joint is then defined the same way on every skeleton
(one definition, not guessed per file):

SMPL24: hips, knees, ankles, shoulders, elbows and wrists at those joints; feet at the toe
joints (or the ankles' End Sites); hands 0.4 forearm lengths beyond the wrists, carried by
them. The torso and head joints, which skeletons place too differently to take as they are
(how high a pelvis joint sits, where a clavicle or a "head" joint starts), go where the
default skeleton has them relative to the mid-hips (pelvis, spine1, spine2) or the thorax
(spine3, neck, head, collars), scaled by torso length; as in SMPL, they ride rigidly on the
source joint that moves that part: pelvis and spine1 on the pelvis joint, spine2 on the spine
joint below it, spine3, neck and collars on the chest, head on the head joint.

H36M17 (as the 2D model sees a person, ``engine/keypoints.py``): pelvis the midpoint of the
hips; thorax the midpoint of the shoulders; spine halfway between; neck/nose and head (the
midpoint of the ears) carried by the head joint at fixed places relative to the torso:
``HEAD_LANDMARKS``, in shoulder widths, measured by mediapipe on the videos in
../shared/videos (docs/training-data.md).

Everything is measured on a reference pose of the skeleton that stands like a person (its
zero pose where it does; iClone's does not, so its first frame); points carried by a joint
are fixed offsets in that joint's frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.body.joints import H36M17, SMPL24, JointSet
from engine.body.skeleton import default_rest_joints
from engine.geometry import torso_frame

# Above the thorax (along the torso's up axis) and ahead of it (facing), in shoulder widths:
# medians of mediapipe 0.10.21's 3D world landmarks over 377 confident frames of 6 clips.
HEAD_LANDMARKS = {"nose": (0.48, 0.47), "ears": (0.51, 0.11)}
HAND_BEYOND_WRIST = 0.4  # forearm lengths

_PREFIX = re.compile(r"^(cc_base_|mixamorig\d*:|joint_|bip\d*[ _]|def-|b_)", re.IGNORECASE)
_SIDES = {"l": "l", "left": "l", "r": "r", "right": "r"}
# Stems of all-lowercase names (CMU's ASF) that start with a bare side letter: "lfemur".
_ASF_STEMS = "hipjoint|femur|tibia|foot|toes|clavicle|humerus|radius|wrist|hand|fingers|thumb"
_KNEE = {"leg", "lowerleg", "lowleg", "calf", "shin", "tibia", "knee"}
_ELBOW = {"forearm", "lowerarm", "lowarm", "radius", "elbow"}
_HELPER = re.compile(r"twist|roll|share|helper|adjust", re.IGNORECASE)


class SkeletonError(ValueError):
    """A skeleton whose joints cannot be recognised; the message says which are missing."""


def side_and_stem(name: str) -> tuple[str | None, str]:
    """The side ("l", "r" or None) a joint name says, and the rest of it in lower case.

    >>> side_and_stem("mixamorig:LeftForeArm"), side_and_stem("lShin"), side_and_stem("UpperArm_R")
    (('l', 'forearm'), ('l', 'shin'), ('r', 'upperarm'))
    """
    bare = _PREFIX.sub("", name)
    low = bare.lower()
    for pattern in (r"^(left|right)[ _.:-]?(.+)$", r"^(l|r)[ _.:-](.+)$"):
        m = re.match(pattern, low)
        if m:
            return _SIDES[m[1]], m[2]
    for pattern in (r"^(.+?)[ _.:-]?(left|right)$", r"^(.+)[ _.:-](l|r)$"):
        m = re.match(pattern, low)
        if m:
            return _SIDES[m[2]], m[1]
    m = re.match(r"^([LRlr])([A-Z].*)$", bare) or re.match(rf"^([lr])({_ASF_STEMS})$", low)
    if m:
        return m[1].lower(), m[2].lower()
    return None, low


@dataclass(frozen=True)
class Landmarks:
    """Indices of the anatomical landmarks in a skeleton; per side, keyed "l" and "r"."""

    pelvis: int
    chest: int
    neck_base: int
    head: int
    spine: tuple[int, ...]  # the joints from the pelvis up to the neck base
    hip: dict[str, int]
    knee: dict[str, int]
    ankle: dict[str, int]
    toe: dict[str, int | None]  # None: the toe is the ankle's End Site (Daz skeletons)
    collar: dict[str, int]
    shoulder: dict[str, int]
    elbow: dict[str, int]
    wrist: dict[str, int]


def _ancestors(j: int, parents: list[int]) -> list[int]:
    chain = []
    while parents[j] >= 0:
        j = parents[j]
        chain.append(j)
    return chain


def _real_parent(j: int, names: list[str], parents: list[int]) -> int:
    """The nearest ancestor that is not a twist or helper bone."""
    for a in _ancestors(j, parents):
        if not _HELPER.search(names[a]):
            return a
    raise SkeletonError(f"joint {names[j]} has no parent")


def _real_child(j: int, names: list[str], parents: list[int], prefer: str) -> int | None:
    kids = [k for k, p in enumerate(parents) if p == j and not _HELPER.search(names[k])]
    preferred = [k for k in kids if re.search(prefer, side_and_stem(names[k])[1])]
    return (preferred or kids or [None])[0]


def find_landmarks(names: list[str], parents: list[int], end_sites: dict[int, np.ndarray] | None = None) -> Landmarks:
    """Recognise a skeleton's landmarks by joint names and tree (see the module docstring).

    A skeleton without toe joints may end its ankles in End Sites (``end_sites``, keyed by
    joint index) instead.
    """
    found: dict[str, dict[str, int]] = {"knee": {}, "elbow": {}}
    for j, name in enumerate(names):
        side, stem = side_and_stem(name)
        if side is None or _HELPER.search(name):
            continue
        for part, stems in (("knee", _KNEE), ("elbow", _ELBOW)):
            if stem in stems and side not in found[part]:
                found[part][side] = j
    missing = [f"{side} {part}" for part in ("knee", "elbow") for side in "lr" if side not in found[part]]
    heads = [j for j, n in enumerate(names) if side_and_stem(n) == (None, "head")]
    if not heads:
        missing.append("head")
    if missing:
        raise SkeletonError(f"cannot recognise the skeleton: no joint for {', '.join(missing)} (joints: {', '.join(names)})")

    knee, elbow = found["knee"], found["elbow"]
    hip = {s: _real_parent(knee[s], names, parents) for s in "lr"}
    shoulder = {s: _real_parent(elbow[s], names, parents) for s in "lr"}
    collar = {s: _real_parent(shoulder[s], names, parents) for s in "lr"}
    ankle, wrist, toe = {}, {}, {}
    for s in "lr":
        ankle[s] = _real_child(knee[s], names, parents, "foot|ankle")
        wrist[s] = _real_child(elbow[s], names, parents, "hand|wrist")
        if ankle[s] is None or wrist[s] is None:
            raise SkeletonError(f"cannot recognise the skeleton: nothing below {names[knee[s]]} or {names[elbow[s]]}")
        toe[s] = _real_child(ankle[s], names, parents, "toe|ball")
        if toe[s] is None and ankle[s] not in (end_sites or {}):
            raise SkeletonError(f"cannot recognise the skeleton: no toe joint below {names[ankle[s]]}")

    def meeting(a: int, b: int) -> int:
        above_b = set(_ancestors(b, parents))
        return next(x for x in _ancestors(a, parents) if x in above_b)

    chest = meeting(collar["l"], collar["r"])
    pelvis = meeting(hip["l"], chest)  # where the legs and the spine meet (a sibling of the spine may carry the legs)
    head = heads[0]
    path_to_head = [head] + _ancestors(head, parents)
    if chest not in path_to_head or pelvis not in _ancestors(chest, parents) + [chest]:
        raise SkeletonError("cannot recognise the skeleton: the head does not hang below the chest, or the chest below the pelvis")
    neck_base = path_to_head[path_to_head.index(chest) - 1]
    spine = tuple(reversed(path_to_head[path_to_head.index(neck_base) : path_to_head.index(pelvis) + 1]))
    return Landmarks(pelvis, chest, neck_base, head, spine, hip, knee, ankle, toe, collar, shoulder, elbow, wrist)


@dataclass
class JointMap:
    """Target joints as ``weights @ source_positions + world_rotation[anchor] @ offset``.

    ``weights`` (J_target, J_source); ``anchors`` (J_target,) source joint indices whose
    rotation carries ``offsets`` (J_target, 3), in source units (zero where unused).
    """

    target: JointSet
    weights: np.ndarray
    anchors: np.ndarray
    offsets: np.ndarray

    def positions(self, source_positions: np.ndarray, source_rotations: np.ndarray) -> np.ndarray:
        """Target positions (..., J_target, 3) from source world positions (..., J, 3) and
        world rotation matrices (..., J, 3, 3)."""
        carried = np.einsum("...tij,tj->...ti", source_rotations[..., self.anchors, :, :], self.offsets)
        return np.einsum("ts,...sc->...tc", self.weights, source_positions) + carried


def head_points(l_hip: np.ndarray, r_hip: np.ndarray, l_shoulder: np.ndarray, r_shoulder: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where H36M17's nose and head (ear midpoint) sit on an upright torso: ``HEAD_LANDMARKS``."""
    frame = torso_frame(l_hip, r_hip, l_shoulder, r_shoulder)
    thorax, width = (l_shoulder + r_shoulder) / 2, np.linalg.norm(l_shoulder - r_shoulder, axis=-1, keepdims=True)
    return tuple(
        thorax + width * (frame @ np.array([0.0, above, ahead])) for above, ahead in (HEAD_LANDMARKS["nose"], HEAD_LANDMARKS["ears"])
    )


# SMPL joints that skeletons place too differently to take as they are (how high a pelvis
# joint sits, where a clavicle or a "head" joint starts): each goes where the default skeleton
# has it relative to the mid-hips or the thorax, scaled by torso length, and is carried by a
# source joint (``anchors`` in joint_maps).
_PLACED = {
    "pelvis": "hips",
    "spine1": "hips",
    "spine2": "hips",
    "spine3": "thorax",
    "neck": "thorax",
    "head": "thorax",
    "l_collar": "thorax",
    "r_collar": "thorax",
}


def _torso(at: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """Frame, base points (mid-hips, thorax) and torso length of a skeleton's hips and shoulders."""
    bases = {"hips": (at["l_hip"] + at["r_hip"]) / 2, "thorax": (at["l_shoulder"] + at["r_shoulder"]) / 2}
    frame = torso_frame(at["l_hip"], at["r_hip"], at["l_shoulder"], at["r_shoulder"])
    return frame, bases, float(np.linalg.norm(bases["thorax"] - bases["hips"]))


def _placed_in_default() -> dict[str, np.ndarray]:
    """The ``_PLACED`` joints of the default skeleton in its torso frame, per torso length."""
    ref = default_rest_joints()
    frame, bases, length = _torso({n: ref[SMPL24.index(n)] for n in SMPL24.names})
    return {n: frame.T @ (ref[SMPL24.index(n)] - bases[base]) / length for n, base in _PLACED.items()}


def is_human_shaped(rest: np.ndarray, lm: Landmarks) -> bool:
    """Whether joint positions (J, 3) stand like a person: ankles below hips below shoulders
    below the head, shoulders apart. Some rigs' zero pose does not (iClone's legs point up)."""
    at = lambda part: (rest[getattr(lm, part)["l"]] + rest[getattr(lm, part)["r"]]) / 2  # noqa: E731
    up = at("shoulder") - at("hip")
    heights = [at("ankle") @ up, at("hip") @ up, at("shoulder") @ up, rest[lm.head] @ up]
    shoulders = np.linalg.norm(rest[lm.shoulder["l"]] - rest[lm.shoulder["r"]])
    return bool(np.all(np.diff(heights) > 0) and shoulders > 0.3 * np.linalg.norm(up))


def joint_maps(
    names: list[str],
    parents: list[int],
    rest: np.ndarray,
    rest_rotations: np.ndarray,
    end_sites: dict[int, np.ndarray] | None = None,
) -> dict[str, JointMap]:
    """The SMPL24 and H36M17 maps of a skeleton (names, parents, End Sites), measured on one
    human-shaped pose of it: world joint positions ``rest`` (J, 3) and rotations (J, 3, 3)."""
    lm = find_landmarks(names, parents, end_sites)
    if not is_human_shaped(rest, lm):
        raise SkeletonError("the reference pose does not stand like a person (ankles, hips, shoulders, head)")
    limbs = {f"{s}_{part}": getattr(lm, part)[s] for s in "lr" for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")}
    frame, bases, length = _torso({n: rest[j] for n, j in limbs.items()})
    placed = {n: bases[base] + length * frame @ c for (n, base), c in zip(_PLACED.items(), _placed_in_default().values())}

    def spine_joint_below(point: np.ndarray) -> int:
        height = [(rest[j] - bases["hips"]) @ frame[:, 1] for j in lm.spine]
        below = [j for j, h in zip(lm.spine, height) if h <= (point - bases["hips"]) @ frame[:, 1]]
        return below[-1] if below else lm.spine[0]

    # As in SMPL, a joint's children ride rigidly on it: spine1 on the pelvis; the neck and the
    # collars on the chest. Shrugs and bends then show as the children's own rotations.
    anchors = {
        "pelvis": lm.pelvis,
        "spine1": lm.pelvis,
        "spine2": spine_joint_below(placed["spine2"]),
        "spine3": lm.chest,
        "neck": lm.chest,
        "head": lm.head,
        "l_collar": lm.chest,
        "r_collar": lm.chest,
    }
    # Each target: source joint weights, plus an offset carried by one source joint.
    smpl: dict[str, dict[int, float]] = {n: {j: 1.0} for n, j in limbs.items()}
    carried: dict[str, tuple[int, np.ndarray]] = {}
    for name, anchor in anchors.items():
        smpl[name] = {anchor: 1.0}
        carried[name] = (anchor, placed[name] - rest[anchor])
    for s in "lr":
        smpl[f"{s}_hand"] = {lm.wrist[s]: 1.0}
        carried[f"{s}_hand"] = (lm.wrist[s], HAND_BEYOND_WRIST * (rest[lm.wrist[s]] - rest[lm.elbow[s]]))
        smpl[f"{s}_foot"] = {lm.ankle[s] if lm.toe[s] is None else lm.toe[s]: 1.0}
        if lm.toe[s] is None:  # the toe is the ankle's End Site, an offset in the ankle's frame
            carried[f"{s}_foot"] = (lm.ankle[s], rest_rotations[lm.ankle[s]] @ end_sites[lm.ankle[s]])

    h36m: dict[str, dict[int, float]] = {n: {j: 1.0} for n, j in limbs.items()}
    h36m["pelvis"] = {lm.hip["l"]: 0.5, lm.hip["r"]: 0.5}
    h36m["thorax"] = {lm.shoulder["l"]: 0.5, lm.shoulder["r"]: 0.5}
    h36m["spine"] = {lm.hip["l"]: 0.25, lm.hip["r"]: 0.25, lm.shoulder["l"]: 0.25, lm.shoulder["r"]: 0.25}
    for joint, target in zip(("neck", "head"), head_points(*(rest[limbs[n]] for n in ("l_hip", "r_hip", "l_shoulder", "r_shoulder")))):
        h36m[joint] = {lm.head: 1.0}
        carried["h36m:" + joint] = (lm.head, target - rest[lm.head])

    # Offsets measured in the reference pose's world frame, carried in each anchor's own frame.
    carried = {k: (a, rest_rotations[a].T @ v) for k, (a, v) in carried.items()}

    def build(joint_set: JointSet, table: dict[str, dict[int, float]], prefix: str) -> JointMap:
        weights = np.zeros((len(joint_set), len(names)))
        anchors_ = np.zeros(len(joint_set), dtype=int)
        offs = np.zeros((len(joint_set), 3))
        for t, name in enumerate(joint_set.names):
            for source, w in table[name].items():
                weights[t, source] = w
            if prefix + name in carried:
                anchors_[t], offs[t] = carried[prefix + name]
        return JointMap(joint_set, weights, anchors_, offs)

    return {"SMPL24": build(SMPL24, smpl, ""), "H36M17": build(H36M17, h36m, "h36m:")}
