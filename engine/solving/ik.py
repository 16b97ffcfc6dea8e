"""The analytic-IK solver: each frame's rotations in closed form (``engine.body.ik``), no look-ahead."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.ik import solve_ik
from engine.body.kinematics import forward_kinematics_np


class IKSolver:
    """Solves every frame as it comes (so each is final at once) on the clip's rest skeleton."""

    samples = False
    provisional = None  # every frame is final at once: it streams itself

    def __init__(self, rest: np.ndarray, fps: float) -> None:
        self.rest = rest
        self.solved = {"poses": np.zeros((0, 72)), "trans": np.zeros((0, 3)), "joints": np.zeros((0, 24, 3))}
        self.settled = 0

    def extend(self, world_joints: np.ndarray, complete: bool = False) -> dict[str, np.ndarray]:
        new = world_joints[self.settled :]
        if len(new):
            local, trans = solve_ik(new, self.rest)
            joints, _ = forward_kinematics_np(local, self.rest, trans, rep="matrix")
            poses = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(local), -1)
            for key, value in (("poses", poses), ("trans", trans), ("joints", joints)):
                self.solved[key] = np.concatenate([self.solved[key], value])
            self.settled = len(world_joints)
        return self.solved
