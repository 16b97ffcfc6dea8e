"""A photo's pose held to what the picture shows: limbs placed on the rays of their keypoints.

A clip's frames lean on each other; a photo has one pose, and the lifter's guess of where a
knee or a wrist is across the picture is less sure than the detector's, which sees it. So each
limb joint (knees, ankles, elbows, wrists) is moved onto the camera ray through its detected
keypoint, at the bone's length from its parent joint, on the side of the parent nearer the
lifted joint: the lifter still decides the depth (which way a forearm points), the picture
decides where it is seen. The bone lengths are the lifted pose's own, left and right averaged
(as the rest skeleton fitted on them will be), so the analytic IK reproduces the placed joints
and the Motion draws back onto the photo.
"""

from __future__ import annotations

import numpy as np

from engine.body.joints import H36M17

# Parent → child along each limb, parents first (a child is placed from its placed parent).
LIMBS = [(f"{side}_{parent}", f"{side}_{child}") for side in "lr" for parent, child in (("hip", "knee"), ("knee", "ankle"))] + [
    (f"{side}_{parent}", f"{side}_{child}") for side in "lr" for parent, child in (("shoulder", "elbow"), ("elbow", "wrist"))
]
MIN_CONFIDENCE = 0.2  # a keypoint less sure than this leaves the lifted joint where it is


def _symmetric_length(joints: np.ndarray, parent: str, child: str) -> float:
    """The bone's length in ``joints`` (17, 3), left and right averaged."""
    a, b = parent[2:], child[2:]
    return float(np.mean([np.linalg.norm(joints[H36M17.index(f"{s}_{b}")] - joints[H36M17.index(f"{s}_{a}")]) for s in "lr"]))


def limbs_on_rays(joints: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Camera-frame H36M17 ``joints`` (17, 3) with each limb joint on the ray of its keypoint
    in ``pixels`` (17, 3: u, v, confidence), seen through ``intrinsics`` (fx, fy, cx, cy); see
    the module docstring. Where the ray passes further than the bone's length from the parent,
    the joint goes the bone's length towards the ray's nearest point."""
    fx, fy, cx, cy = intrinsics
    placed = joints.copy()
    for parent, child in LIMBS:
        p, c = H36M17.index(parent), H36M17.index(child)
        if pixels[c, 2] < MIN_CONFIDENCE:
            continue
        length = _symmetric_length(joints, parent, child)
        ray = np.array([(pixels[c, 0] - cx) / fx, (pixels[c, 1] - cy) / fy, 1.0])
        ray /= np.linalg.norm(ray)
        origin = placed[p]
        along = ray @ origin  # the ray's point nearest the parent is along · ray
        reach = along**2 - origin @ origin + length**2
        if reach < 0:
            nearest = along * ray
            placed[c] = origin + length * (nearest - origin) / np.linalg.norm(nearest - origin)
            continue
        lifted = origin + joints[c] - joints[p]  # where the lifter put the child, from the placed parent
        candidates = [t * ray for t in (along - np.sqrt(reach), along + np.sqrt(reach)) if t > 0]
        if candidates:
            placed[c] = min(candidates, key=lambda point: np.linalg.norm(point - lifted))
    return placed
