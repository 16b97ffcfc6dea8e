"""Write engine/body/default_skeleton.json: the SMPL24 rest skeleton the engine uses by default.

Source: the CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu; free, commercial
use allowed), the 31-joint skeleton of every subject in ../shared/mocap/cmu. Each subject's
rest pose is read for its landmarks (engine.body.correspondence.find_landmarks) and mapped
to SMPL24 joints (``smpl24_from_cmu`` below), the subjects are averaged, left and right are made mirror images, and the limbs are laid out as
SMPL's rest pose has them: legs straight down, arms straight out to the sides (T-pose),
keeping the mean bone lengths. The pelvis is at the origin, so ``trans`` is the pelvis
position. Run from the repository root:

    python smpl_assets/make_default_skeleton.py [--mocap ../shared/mocap/cmu]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from engine.body.correspondence import HAND_BEYOND_WRIST, find_landmarks
from engine.body.joints import SMPL24
from engine.body.skeleton import DEFAULT_SKELETON_PATH
from engine.io.bvh import read_bvh

CMU_UNIT_M = 0.0254 / 0.45  # the ASF files' length unit, from their "length 0.45" in inches
# Limbs straightened along these directions, from each chain's first joint (SMPL's T-pose).
STRAIGHT_CHAINS = {
    (0.0, -1.0, 0.0): [("l_hip", "l_knee", "l_ankle"), ("r_hip", "r_knee", "r_ankle")],
    (1.0, 0.0, 0.0): [("l_shoulder", "l_elbow", "l_wrist", "l_hand")],
    (-1.0, 0.0, 0.0): [("r_shoulder", "r_elbow", "r_wrist", "r_hand")],
}


def _along(points: np.ndarray, fraction: float) -> np.ndarray:
    """The point ``fraction`` of the way along a polyline (N, 3), by length."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    at = np.interp(fraction * lengths.sum(), np.concatenate([[0], np.cumsum(lengths)]), np.arange(len(points)))
    i = min(int(at), len(points) - 2)
    return points[i] + (at - i) * (points[i + 1] - points[i])


def smpl24_from_cmu(rest: np.ndarray, names: list[str], parents: list[int]) -> np.ndarray:
    """SMPL24 joint positions (24, 3) on a CMU 31-joint rest skeleton: limbs at their joints,
    spine1/spine2 a third and two thirds up the spine's joints, spine3 at the neck base, neck
    halfway to the head joint, collars halfway along the clavicles, hands beyond the wrists."""
    lm = find_landmarks(names, parents)
    at: dict[str, np.ndarray] = {
        "pelvis": rest[lm.pelvis],
        "spine1": _along(rest[list(lm.spine)], 1 / 3),
        "spine2": _along(rest[list(lm.spine)], 2 / 3),
        "spine3": rest[lm.neck_base],
        "neck": (rest[lm.neck_base] + rest[lm.head]) / 2,
        "head": rest[lm.head],
    }
    for s in "lr":
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            at[f"{s}_{part}"] = rest[getattr(lm, part)[s]]
        at[f"{s}_foot"] = rest[lm.toe[s]]
        at[f"{s}_collar"] = (rest[lm.collar[s]] + rest[lm.shoulder[s]]) / 2
        at[f"{s}_hand"] = at[f"{s}_wrist"] + HAND_BEYOND_WRIST * (at[f"{s}_wrist"] - at[f"{s}_elbow"])
    return np.array([at[name] for name in SMPL24.names])


def subject_rest_skeletons(mocap: Path) -> dict[str, np.ndarray]:
    """Mean SMPL24 rest positions (24, 3), pelvis-relative in metres, per CMU subject."""
    per_subject: dict[str, list[np.ndarray]] = defaultdict(list)
    for manifest in sorted(mocap.glob("manifest*.csv")):
        for row in csv.DictReader(manifest.open()):
            if not row["unit"].startswith("cmu"):
                continue
            bvh = read_bvh(mocap / row["file"])
            rest = smpl24_from_cmu(bvh.rest_positions() * CMU_UNIT_M, bvh.names, bvh.parents)
            per_subject[row["subject"]].append(rest - rest[0])
    return {s: np.mean(r, axis=0) for s, r in sorted(per_subject.items(), key=lambda kv: int(kv[0]))}


def symmetrise(joints: np.ndarray) -> np.ndarray:
    """Average each joint with its mirrored twin (x -> -x); centre joints get x = 0."""
    mirrored = joints[SMPL24.flip_permutation] * np.array([-1.0, 1.0, 1.0])
    return (joints + mirrored) / 2


def straighten(joints: np.ndarray) -> np.ndarray:
    """Lay each limb chain along its T-pose direction, keeping its bone lengths."""
    out = joints.copy()
    for direction, chains in STRAIGHT_CHAINS.items():
        for chain in chains:
            idx = [SMPL24.index(n) for n in chain]
            for parent, child in zip(idx, idx[1:]):
                length = np.linalg.norm(joints[child] - joints[parent])
                shift = out[parent] + length * np.array(direction) - out[child]
                # Move the whole subtree so joints below the chain (the feet) follow.
                for j in range(len(SMPL24)):
                    if j == child or _descends(j, child):
                        out[j] += shift
    return out


def _descends(j: int, ancestor: int) -> bool:
    while j >= 0:
        j = SMPL24.parents[j]
        if j == ancestor:
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mocap", type=Path, default=Path("../shared/mocap/cmu"))
    args = parser.parse_args()
    subjects = subject_rest_skeletons(args.mocap)
    mean = np.mean(list(subjects.values()), axis=0)
    rest = straighten(symmetrise(mean))
    rest -= rest[0]
    sole = rest[:, 1].min()
    document = {
        "joint_set": SMPL24.name,
        "units": "metres; y up, body facing +z, pelvis at the origin",
        "source": "CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu), free for commercial use; "
        "mean of the 31-joint rest skeletons of the subjects listed, mapped to SMPL24, mirrored, "
        "limbs straightened to a T-pose; made by smpl_assets/make_default_skeleton.py",
        "subjects": list(subjects),
        "lowest_joint_below_pelvis_m": round(float(-sole), 4),
        "names": list(SMPL24.names),
        "rest_joints": [[round(float(v), 5) for v in joint] for joint in rest],
    }
    DEFAULT_SKELETON_PATH.write_text(json.dumps(document, indent=1) + "\n")
    spread = np.std([np.linalg.norm(s[SMPL24.index("head")] - s[SMPL24.index("l_ankle")]) for s in subjects.values()])
    print(f"{len(subjects)} subjects; head-to-ankle spread {spread:.3f} m; wrote {DEFAULT_SKELETON_PATH}")


if __name__ == "__main__":
    main()
