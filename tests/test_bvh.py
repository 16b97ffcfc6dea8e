"""Reading any ordinary BVH, and writing SMPL motion as BVH."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.io.bvh import BvhError, read_bvh, write_bvh
from tests.paths import MOCAP, needs_mocap

TWO_JOINTS = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
  JOINT knee
  {
    OFFSET 0 -40 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 -40 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 90 2 0 0 0 0 0 0
1 90 2 90 0 0 30 0 0
"""


def test_reader_applies_channel_orders_and_offsets(tmp_path):
    path = tmp_path / "two.bvh"
    path.write_text(TWO_JOINTS)
    bvh = read_bvh(path)
    assert bvh.names == ["hips", "knee"] and bvh.parents == [-1, 0] and bvh.fps == pytest.approx(25)
    np.testing.assert_allclose(bvh.end_sites[1], [0, -40, 0])
    world = bvh.world_positions()
    np.testing.assert_allclose(world[0], [[1, 90, 2], [1, 50, 2]], atol=1e-9)
    # Frame 1: hips turned 90° about y; the knee hangs below whatever the yaw.
    np.testing.assert_allclose(world[1, 1], [1, 50, 2], atol=1e-9)
    rot = bvh.local_rotations()[1, 1]
    np.testing.assert_allclose(rot, Rotation.from_euler("X", 30, degrees=True).as_matrix(), atol=1e-12)


def test_gzipped_files_read_like_plain_ones(tmp_path):
    plain, packed = tmp_path / "a.bvh", tmp_path / "a.bvh.gz"
    plain.write_text(TWO_JOINTS)
    with gzip.open(packed, "wt") as f:
        f.write(TWO_JOINTS)
    np.testing.assert_array_equal(read_bvh(plain).motion, read_bvh(packed).motion)


def test_truncated_motion_is_refused_or_kept_on_request(tmp_path):
    path = tmp_path / "cut.bvh"
    path.write_text(TWO_JOINTS[: TWO_JOINTS.rindex("90 0 0")])
    with pytest.raises(BvhError, match=r"cut.bvh: header promises 2 frames of 9 channels, found 12 values \(1 complete"):
        read_bvh(path)
    assert read_bvh(path, keep_truncated=True).num_frames == 1


def test_truncated_hierarchy_is_refused(tmp_path):
    path = tmp_path / "cut.bvh"
    path.write_text(TWO_JOINTS[: TWO_JOINTS.index("End Site")] + "MOTION\nFrames: 0\nFrame Time: 0.04\n")
    with pytest.raises(BvhError, match="cut.bvh: file ends early"):
        read_bvh(path)


def test_nan_names_frame_and_channel(tmp_path):
    path = tmp_path / "nan.bvh"
    path.write_text(TWO_JOINTS.replace("1 90 2 90 0 0 30 0 0", "1 90 2 90 0 0 30 nan 0"))
    with pytest.raises(BvhError, match="nan.bvh: non-finite value at frame 1, joint knee channel Zrotation"):
        read_bvh(path)


def test_bad_offset_and_unknown_channel_are_refused(tmp_path):
    path = tmp_path / "bad.bvh"
    path.write_text(TWO_JOINTS.replace("OFFSET 0 -40 0", "OFFSET 0 x 0", 1))
    with pytest.raises(BvhError, match="expected a number for OFFSET of knee, found 'x'"):
        read_bvh(path)
    path.write_text(TWO_JOINTS.replace("Xrotation Zrotation Yrotation", "Xrotation Zrotation Wrotation"))
    with pytest.raises(BvhError, match="joint knee: unknown channel 'Wrotation'"):
        read_bvh(path)


def test_written_bvh_reads_back_as_our_fk(tmp_path, rest_joints):
    rng = np.random.default_rng(3)
    poses = rng.normal(0, 0.5, (30, 72))
    trans = rng.normal(0, 1, (30, 3))
    write_bvh(tmp_path / "m.bvh", poses, trans, 24.0, rest_joints, units="cm")
    bvh = read_bvh(tmp_path / "m.bvh")
    assert bvh.fps == pytest.approx(24.0) and bvh.num_frames == 30
    expected, _ = forward_kinematics_np(poses.reshape(30, 24, 3), rest_joints, trans)
    order = [bvh.names.index(n) for n in SMPL24.names]
    np.testing.assert_allclose(bvh.world_positions()[:, order] / 100, expected, atol=2e-5)


@needs_mocap
@pytest.mark.parametrize("folder, at_least", [("cmu", 156), ("bandai2", 1400)])
def test_every_mocap_file_parses(folder, at_least):
    files = sorted((MOCAP / folder).glob("*.bvh.gz"))
    failures = {}
    for path in files:
        try:
            bvh = read_bvh(path)
            assert bvh.num_frames > 0 and len(bvh.names) >= 20
        except BvhError as e:
            failures[path.name] = str(e)
    print(f"\n{folder}: {len(files) - len(failures)} of {len(files)} BVH files parse; failures: {failures}")
    assert len(files) >= at_least and not failures
