"""Write examples/sample_walk.npz: a Motion made from CMU clip 02_01 ("walk"), for first runs.

The clip's rotations are transferred onto the default SMPL24 skeleton
(engine.body.retarget) and its 120 fps are taken down to 30 by keeping every fourth frame.
Run from the repository root:

    python examples/make_sample_motion.py [--bvh ../shared/mocap/cmu/02_01.bvh.gz]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from engine.body.kinematics import forward_kinematics_np
from engine.body.retarget import retarget_bvh
from engine.body.skeleton import default_rest_joints
from engine.io.bvh import read_bvh
from engine.motion import Motion

CMU_UNIT_M = 0.0254 / 0.45
OUT = Path(__file__).with_name("sample_walk.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bvh", type=Path, default=Path("../shared/mocap/cmu/02_01.bvh.gz"))
    parser.add_argument("--stride", type=int, default=4)
    args = parser.parse_args()
    bvh = read_bvh(args.bvh)
    rest = default_rest_joints()
    poses, trans, _ = retarget_bvh(bvh, rest, CMU_UNIT_M)
    poses, trans = poses[:: args.stride], trans[:: args.stride]
    joints, _ = forward_kinematics_np(poses.reshape(len(poses), -1, 3), rest, trans)
    digest = hashlib.sha256(args.bvh.read_bytes()).hexdigest()
    motion = Motion(poses, trans, bvh.fps / args.stride, joints=joints, source=(args.bvh.name, digest))
    motion.save(OUT)
    print(f"{motion.num_frames} frames at {motion.fps:g} fps -> {OUT}")


if __name__ == "__main__":
    main()
