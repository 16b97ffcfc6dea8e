"""SMPL24 rotations from a mocap skeleton's motion: rotation transfer with rest alignment.

Each SMPL joint is driven by one source joint (the one its position leans on most in the
skeleton's :class:`~engine.body.correspondence.JointMap`; the ancestor on a tie). Its world
rotation is the driver's world rotation times a fixed rest alignment ``A_j``: the rotation
that best takes SMPL's rest bones below the joint onto the same bones in the source's
reference pose (its zero pose, or its first frame where the zero pose is not human-shaped),
relative to the driver's rotation there. Twist therefore follows the
driver. Then, frame by frame, a joint with one child is swung (smallest rotation) so that
its bone points exactly where the source's bone points, which settles the bones that span
several source bones (the spine, the neck); a joint with several children (pelvis, spine3)
is turned by the rotation that best fits all its bones (Kabsch), since the source's bones
below it need not move rigidly with the driver (Daz's hips hang from rotating buttocks).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.correspondence import JointMap, find_landmarks, is_human_shaped, joint_maps
from engine.body.joints import SMPL24
from engine.geometry import best_rotations, smallest_rotations, unit


class AnimatedSkeleton(Protocol):
    """A mocap clip's skeleton and motion, as ``engine.io.bvh.Bvh`` reads one: joint names,
    parents, End Site offsets by joint, the zero pose's world positions and every frame's world
    positions and rotations."""

    names: list[str]
    parents: list[int]
    end_sites: dict[int, np.ndarray]

    def rest_positions(self) -> np.ndarray: ...

    def world(self) -> tuple[np.ndarray, np.ndarray]: ...


def _rest_alignments(reference: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Per joint (24, 3, 3, parents first): the rotation that takes SMPL's rest bones below the
    joint onto the target's bones in the reference pose (``reference`` (24, 3)). A joint with
    several bones (pelvis, spine3) is fitted to all of them; a joint with one bone is its
    parent's alignment swung (smallest rotation) onto its bone, and a leaf takes its parent's.
    One bone cannot say how the joint is turned about it: the smallest rotation from SMPL's rest
    bone alone left a thigh facing the way SMPL's rest faces (+z) while the reference frame's
    person faced away (a walk's first frame), so every frame's thigh came out turned 180° about
    itself and the ankle turned the foot back (one prepared clip in eight: Bandai Namco's
    walks and runs, CMU 05 and 06)."""
    aligned = np.broadcast_to(np.eye(3), (len(SMPL24), 3, 3)).copy()
    for j, kids in enumerate(SMPL24.children):
        parent = aligned[SMPL24.parents[j]] if j else np.eye(3)
        source = reference[kids] - reference[j]
        ours = rest_joints[kids] - rest_joints[j]
        if len(kids) > 1:
            aligned[j] = Rotation.align_vectors(unit(source), unit(ours))[0].as_matrix()
        elif kids:
            aligned[j] = smallest_rotations(parent @ unit(ours[0]), unit(source[0])) @ parent
        else:
            aligned[j] = parent
    return aligned


def reference_pose(bvh: AnimatedSkeleton) -> tuple[np.ndarray, np.ndarray]:
    """World positions (J, 3) and rotations (J, 3, 3) of a pose of ``bvh`` that stands like a
    person: its zero pose (every rotation zero) where it does, else its first frame."""
    zero = bvh.rest_positions()
    if is_human_shaped(zero, find_landmarks(bvh.names, bvh.parents, bvh.end_sites)):
        return zero, np.broadcast_to(np.eye(3), zero.shape + (3,)).copy()
    positions, rotations = bvh.world()
    return positions[0], rotations[0]


def retarget(
    smpl_map: JointMap,
    positions: np.ndarray,
    rotations: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray],
    rest_joints: np.ndarray,
) -> np.ndarray:
    """SMPL24 local rotation matrices (T, 24, 3, 3) that pose ``rest_joints`` like the source.

    ``positions`` (T, J, 3) and ``rotations`` (T, J, 3, 3) are the source's world joint
    positions and rotations, ``reference`` the same for its reference pose (:func:`reference_pose`),
    ``smpl_map`` the skeleton's SMPL24 map. Units cancel: only directions are used.
    """
    drivers = smpl_map.weights.argmax(axis=1)
    targets = smpl_map.positions(positions, rotations)
    ref_positions, ref_rotations = reference
    # In the reference pose each SMPL joint's world rotation is the alignment; A_j keeps that
    # relation to its driver's rotation in every frame.
    align = _rest_alignments(smpl_map.positions(ref_positions, ref_rotations), rest_joints)
    world = rotations[:, drivers] @ (np.swapaxes(ref_rotations[drivers], -1, -2) @ align)
    for j, kids in enumerate(SMPL24.children):
        predicted = np.einsum("tij,kj->tki", world[:, j], rest_joints[kids] - rest_joints[j])
        observed = targets[:, kids] - targets[:, j : j + 1]
        if len(kids) == 1:
            world[:, j] = smallest_rotations(predicted[:, 0], observed[:, 0]) @ world[:, j]
        elif kids:
            world[:, j] = best_rotations(unit(predicted), unit(observed)) @ world[:, j]
    parents = [max(p, 0) for p in SMPL24.parents]
    local = np.swapaxes(world[:, parents], -1, -2) @ world
    local[:, 0] = world[:, 0]
    return local


def bone_direction_error(joints: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Angle in degrees (T, 23) between each SMPL24 bone in ``joints`` and in ``targets`` (T, 24, 3)."""
    parents = list(SMPL24.parents[1:])
    a, b = unit(joints[:, 1:] - joints[:, parents]), unit(targets[:, 1:] - targets[:, parents])
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def retarget_bvh(bvh: AnimatedSkeleton, rest_joints: np.ndarray, unit_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SMPL poses (T, 72) axis-angle, trans (T, 3) and the SMPL24 target joints (T, 24, 3),
    metres, from a BVH clip whose length unit is ``unit_m`` metres; FK of the poses on
    ``rest_joints`` puts the pelvis on the target pelvis and every bone along its target."""
    reference = reference_pose(bvh)
    smpl_map = joint_maps(bvh.names, bvh.parents, *reference, bvh.end_sites)["SMPL24"]
    positions, rotations = bvh.world()
    local = retarget(smpl_map, positions, rotations, reference, rest_joints)
    targets = smpl_map.positions(positions, rotations) * unit_m
    poses = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(local), -1)
    return poses.astype(np.float32), (targets[:, 0] - rest_joints[0]).astype(np.float32), targets
