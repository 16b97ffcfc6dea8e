"""World trajectory: root depth from reprojection, the floor and gravity from planted feet, foot locking, the origin."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.body.joints import H36M17
from engine.body.kinematics import forward_kinematics_np
from engine.data.cameras import Camera, look_at
from engine.geometry import torso_heading
from engine.pipeline.world import (
    FEET,
    FOOT_ABOVE_FLOOR,
    SMPL_TORSO,
    FootPins,
    foot_lock_correction,
    origin_at,
    relocated,
    root_translation,
    to_world,
)
from tests.paths import needs_mocap


def _walk(prepared) -> np.ndarray:
    out, _, _ = prepared
    clips = json.loads((out / "clips.json").read_text())
    walk = next(c for c in clips if c["name"] == "02_01")
    return np.load(out / walk["split"] / "h36m.npy")[walk["start"] : walk["start"] + walk["frames"]].astype(np.float64)


def test_root_translation_reprojects_exactly():
    rng = np.random.default_rng(0)
    joints = rng.normal(0, 0.4, (20, 17, 3))
    truth = np.stack([rng.uniform(-1, 1, 20), rng.uniform(-0.5, 0.5, 20), rng.uniform(3, 8, 20)], -1)
    intrinsics = np.array([1000.0, 1000.0, 640.0, 360.0])
    cam = joints + truth[:, None]
    pixels = np.concatenate([intrinsics[:2] * cam[..., :2] / cam[..., 2:] + intrinsics[2:], np.ones((20, 17, 1))], -1)
    np.testing.assert_allclose(root_translation(joints, pixels, intrinsics), truth, atol=1e-6)


@needs_mocap
def test_floor_and_gravity_come_back_from_a_pitched_camera(prepared):
    world = _walk(prepared)
    eye = np.array([0.5, 2.2, -4.0])
    R = look_at(eye, world[:, 0].mean(0))  # looking down at the walker
    camera = Camera(R, -R @ eye, 1000, 1000, 640, 360, 1280, 720)
    seen = camera.to_camera(world)
    trajectory = to_world(seen, fps=30)
    # The recovered world differs from the true one by a turn about the vertical only.
    up = trajectory.rotation @ R @ np.array([0.0, 1.0, 0.0])
    assert np.degrees(np.arccos(up[1])) < 2.0
    lowest = trajectory.joints[:, FEET, 1].min(axis=1)
    truth_lowest = world[:, FEET, 1].min(axis=1)
    assert abs(np.median(lowest - truth_lowest) - (FOOT_ABOVE_FLOOR - np.percentile(truth_lowest, 5))) < 0.03
    assert 0.3 < trajectory.contacts.mean() < 0.9


def test_locked_feet_stop_sliding_without_jumps():
    frames = 60
    joints = np.zeros((frames, 17, 3))
    joints[..., 1] = 0.9
    joints[:, FEET, 1] = FOOT_ABOVE_FLOOR + 0.02  # hovering 2 cm
    joints[:, :, 0] += np.linspace(0, 0.6, frames)[:, None]  # the whole body drifts while planted
    contacts = np.zeros((frames, 2), np.float32)
    contacts[10:50, 0] = 1
    locked = joints + foot_lock_correction(joints[:, FEET], contacts > 0.5, lock=1.0)[:, None]
    left = locked[:, H36M17.index("l_ankle")]
    assert np.abs(np.diff(left[10:50, 0])).max() < 1e-9  # no slide while planted, from landing to lift
    assert np.abs(left[15:45, 1] - FOOT_ABOVE_FLOOR).max() < 2e-3  # on the floor
    assert np.abs(np.diff(locked[:, 0], axis=0)).max() < 0.05  # and the root never jumps


def test_a_pinned_foot_stays_on_its_spot_and_lets_go_smoothly():
    frames = 20
    feet = np.zeros((frames, 2, 3))
    feet[:, 0, 0] = np.linspace(0, 0.2, frames)  # the left foot creeps forward
    planted = np.zeros((frames, 2), bool)
    planted[5:12, 0] = True
    turns = Rotation.from_rotvec(np.linspace(0, 0.5, frames)[:, None, None] * [1.0, 0.0, 0.0]).as_matrix()  # (T, 1, 3, 3)
    turns = np.repeat(turns, 2, axis=1)  # both feet tip forward as the shins turn
    pins, reach, held = FootPins(lock=1.0), [], []
    for start in range(0, frames, 7):  # frames arrive in calls of any size
        moves, turned = pins.pins(feet[start : start + 7], turns[start : start + 7], planted[start : start + 7])
        reach.append(moves)
        held.append(turned)
    where, held = feet + np.concatenate(reach), np.concatenate(held)
    np.testing.assert_allclose(held[5:12, 0], np.repeat(turns[5:6, 0], 7, axis=0), atol=1e-12)  # turned as it landed
    np.testing.assert_allclose(held[17:, 0], turns[17:, 0], atol=1e-12)  # then its own turn again
    np.testing.assert_allclose(where[5:12, 0], np.tile([feet[5, 0, 0], FOOT_ABOVE_FLOOR, 0.0], (7, 1)))
    held = feet[11, 0, 0] - feet[5, 0, 0]  # how far behind its creep the pin held the foot
    assert np.abs(np.diff(where[:, 0, 0])).max() < 0.4 * held  # no jump when it lifts: the offset fades
    np.testing.assert_allclose(where[17:, 0], feet[17:, 0])  # and is gone after FADE_FRAMES


def test_a_new_origin_turns_and_moves_the_whole_body_as_its_rotations_say(rest_joints):
    rest = rest_joints + [0.1, 0.9, -0.2]  # a rest pelvis away from the origin too
    rng = np.random.default_rng(0)
    poses, trans = rng.normal(0, 0.4, (6, 72)), rng.normal(0, 1, (6, 3))
    joints = forward_kinematics_np(Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(6, 24, 3, 3), rest, trans, rep="matrix")[
        0
    ]
    turn, move = origin_at(joints[2])
    poses, trans, joints = relocated(poses, trans, joints, turn, move, rest[0])
    np.testing.assert_allclose(joints[2, 0, [0, 2]], 0.0, atol=1e-12)  # frame 2's pelvis at x = z = 0,
    assert abs(torso_heading(*joints[2, SMPL_TORSO])) < 1e-9  # facing +z
    local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(6, 24, 3, 3)
    np.testing.assert_allclose(forward_kinematics_np(local, rest, trans, rep="matrix")[0], joints, atol=1e-9)


def test_a_camera_found_rolled_or_pitched_past_the_level_prior_is_held_to_it_and_a_level_one_is_kept():
    from engine.pipeline.world import MAX_CAMERA_ROLL_DEG, roughly_level

    level = np.array([0.05, -0.99, -0.12])
    level /= np.linalg.norm(level)
    kept, note = roughly_level(level)
    assert kept is level and note == ""
    rolled = np.array([np.sin(np.radians(40)), -np.cos(np.radians(40)), 0.0])  # a 40° roll: the body leaned
    held, note = roughly_level(rolled)
    assert np.degrees(np.arctan2(held[0], -held[1])) == pytest.approx(MAX_CAMERA_ROLL_DEG) and "held to" in note
    assert np.linalg.norm(held) == pytest.approx(1.0)


def test_gravity_and_the_floor_come_from_the_frames_where_the_person_stands(rest_joints):
    """A person who stands for 8 frames of 60 and is down on the floor, knees bent, for the rest
    (a floor move): the standing frames alone decide the vertical and the floor, even with no
    foot slow enough to count as planted (the standing body glides along, as a lifted one may)."""
    from engine.body.ik import h36m_of_rest
    from engine.pipeline.world import body_up, fit_floor

    pose = h36m_of_rest(rest_joints)
    pose = pose - pose[:, 1].min() * np.array([0.0, 1.0, 0.0])  # the ankles on y = 0
    folded = pose.copy()
    for knee, ankle in ((H36M17.index("l_knee"), H36M17.index("l_ankle")), (H36M17.index("r_knee"), H36M17.index("r_ankle"))):
        folded[ankle] = folded[knee] + np.linalg.norm(pose[ankle] - pose[knee]) * np.array([0.0, 0.0, -1.0])  # shins back
    lying = folded @ Rotation.from_rotvec([np.pi / 2 - 0.2, 0.0, 0.0]).as_matrix().T + [0.0, 0.3, 0.0]
    frames = np.concatenate([np.repeat(lying[None], 52, 0), np.repeat(pose[None], 8, 0)])
    frames = frames + np.arange(60)[:, None, None] * np.array([0.03, 0.0, 0.0])  # 0.9 m/s: nothing is slow
    camera = Rotation.from_rotvec([0.3, 0.0, 0.1]).as_matrix()  # pitched and rolled
    seen = frames @ camera.T + [0.0, 0.0, 4.0]
    up, upright = body_up(seen)
    assert upright[52:].all() and not upright[:52].any()
    true_up = camera @ [0.0, 1.0, 0.0]
    assert np.degrees(np.arccos(np.clip(up @ true_up, -1, 1))) < 7.0  # the rest pose's own lean, and the prior's
    floor = fit_floor(seen, fps=30.0)
    world = seen[52:] @ floor.rotation.T + floor.translation
    assert abs(world[:, FEET, 1].min(axis=1).mean() - FOOT_ABOVE_FLOOR) < 0.05


def test_on_a_drifting_floor_feet_standing_above_the_clips_floor_are_planted(rest_joints):
    """A hand-held camera that moves (parallax, zoom) leaves one fixed floor wrong by some
    centimetres from one part of the clip to another: a person standing still for 4 s while the
    camera's fixed frame sees them sink 12 cm. On a fixed floor the early stance is not planted;
    on a floor that drifts it is, against the slow feet around it, and foot locking can set it
    down.
    A foot's speed is read over ``SPEED_WINDOW_S``, so a standing foot's 1 cm detector jitter
    does not read as a step."""
    from engine.body.ik import h36m_of_rest
    from engine.pipeline.world import Floor, contacts_reach, planted_feet

    pose = h36m_of_rest(rest_joints)
    pose = pose - (pose[FEET, 1].min() - FOOT_ABOVE_FLOOR) * np.array([0.0, 1.0, 0.0])
    jitter = np.random.default_rng(0).normal(0.0, 0.01, (120, 17, 3))
    frames = np.repeat(pose[None], 120, 0) + jitter
    frames[..., 1] += np.linspace(0.12, 0.0, 120)[:, None]
    fixed = Floor(np.eye(3), np.zeros(3), np.full(2, FOOT_ABOVE_FLOOR + 0.06), [])
    drifting = Floor(np.eye(3), np.zeros(3), fixed.contact_height, [], drifts=True)
    assert not planted_feet(frames[:, FEET], fixed, 30.0)[:30].any()
    assert planted_feet(frames[:, FEET], fixed, 30.0)[90:].all()
    assert planted_feet(frames[:, FEET], drifting, 30.0).mean() > 0.97  # a jitter's 3-sigma heights may not be
    assert contacts_reach(30.0, drifting) > contacts_reach(30.0, fixed) > 1


def test_feet_are_planted_through_the_lifters_depth_shake_not_through_what_the_picture_shows():
    """Lifted feet shake in depth, and a planted foot reads as moving: a foot the detector sees
    counts as planted up to ``PLANTED_SPEED`` along the camera's line of sight, but only under
    ``SIDEWAYS_SPEED`` across it (the picture shows that motion); a foot it does not see (the
    lifter's guess) only under ``FLOOR_SPEED``."""
    from engine.pipeline.world import FLOOR_SPEED, PLANTED_HEIGHT, PLANTED_SPEED, SIDEWAYS_SPEED, Floor, planted_feet

    def sliding(left: list[float], right: list[float]) -> np.ndarray:  # velocities (m/s), 30 frames a second
        feet = np.zeros((60, 2, 3))
        feet[..., 0] = [-0.1, 0.1]
        feet += np.arange(60)[:, None, None] / 30.0 * np.array([left, right])
        feet[..., 1] = FOOT_ABOVE_FLOOR
        return feet

    camera_5m_back = np.array([0.0, 0.0, -5.0])  # looking along +z
    floor = Floor(np.eye(3), camera_5m_back, np.full(2, FOOT_ABOVE_FLOOR + PLANTED_HEIGHT), [])
    shaking = (FLOOR_SPEED + PLANTED_SPEED) / 2
    assert SIDEWAYS_SPEED < shaking < PLANTED_SPEED
    depth, across = [0.0, 0.0, shaking], [shaking, 0.0, 0.0]
    assert planted_feet(sliding(depth, [0.0, 0.0, 1.5 * PLANTED_SPEED]), floor, 30.0).all(axis=0).tolist() == [True, False]
    assert planted_feet(sliding(depth, across), floor, 30.0).all(axis=0).tolist() == [True, False]
    left_unseen = np.broadcast_to([False, True], (60, 2))
    assert planted_feet(sliding(depth, depth), floor, 30.0, left_unseen).all(axis=0).tolist() == [False, True]
    slow = [FLOOR_SPEED / 2, 0.0, 0.0]
    assert planted_feet(sliding(slow, slow), floor, 30.0, left_unseen).all()
    lifted = sliding(depth, depth)
    lifted[..., 1] += PLANTED_HEIGHT + 0.01
    assert not planted_feet(lifted, floor, 30.0).any()


def test_frames_upside_down_in_the_picture_do_not_vote_for_gravity(rest_joints):
    """A lifter may answer a freeze or a handstand with a standing pose; the 2D keypoints show
    the body upside down, so those frames do not count as standing (``body_up``'s ``pixels``)."""
    from engine.body.ik import h36m_of_rest
    from engine.pipeline.world import body_up, upright_in_picture

    pose = h36m_of_rest(rest_joints)
    leaning = pose @ Rotation.from_rotvec([0.0, 0.0, 0.35]).as_matrix().T  # lifted as standing, 20° off
    frames = np.concatenate([np.repeat(pose[None], 10, 0), np.repeat(leaning[None], 20, 0)])
    seen = frames @ Rotation.from_rotvec([np.pi, 0.0, 0.0]).as_matrix().T + [0.0, 0.0, 4.0]  # camera frame: y down
    pixels = 1000 * seen[..., :2] / seen[..., 2:] + [640.0, 360.0]
    pixels[10:] = 2 * pixels[10:].mean(axis=1, keepdims=True) - pixels[10:]  # the picture: upside down
    assert upright_in_picture(pixels).tolist() == [True] * 10 + [False] * 20
    up_all, standing_all = body_up(seen)
    up, standing_frames = body_up(seen, pixels)
    assert standing_all.all() and standing_frames.tolist() == [True] * 10 + [False] * 20
    assert np.degrees(np.arccos(np.clip(up @ [0.0, -1.0, 0.0], -1, 1))) < 7.0  # the rest pose's own lean
    assert np.degrees(np.arccos(np.clip(up_all @ [0.0, -1.0, 0.0], -1, 1))) > 10.0


def test_the_picture_not_the_lifter_says_whether_a_standing_foot_moves_across_it():
    """The lifter moves a standing foot across the picture while the detector's ankle stays put:
    read off the detected ankle (``pictured``), the foot is planted; read off the lifted one, not."""
    from engine.pipeline.world import PLANTED_HEIGHT, PLANTED_SPEED, SIDEWAYS_SPEED, Floor, planted_feet

    lifted = np.zeros((60, 2, 3))
    lifted[..., 0] = [-0.1, 0.1]
    lifted[..., 1] = FOOT_ABOVE_FLOOR
    pictured = lifted.copy()
    lifted[:, 0, 0] += 0.1 * np.sin(np.arange(60) / 30.0 * 2 * np.pi)  # a 10 cm sway, once a second: up to 0.63 m/s
    assert SIDEWAYS_SPEED < 0.2 * np.pi < PLANTED_SPEED
    floor = Floor(np.eye(3), np.array([0.0, 0.0, -5.0]), np.full(2, FOOT_ABOVE_FLOOR + PLANTED_HEIGHT), [])
    assert not planted_feet(lifted, floor, 30.0).all(axis=0)[0]
    assert planted_feet(lifted, floor, 30.0, pictured=pictured).all()


def test_pictured_feet_lie_on_the_detected_ankles_rays_at_the_lifted_depth():
    """Where the detector saw an ankle, the pictured foot is on its ray at the lifted ankle's
    depth, in the first frame's camera when a pan is undone; where it is unsure, the lifted ankle."""
    from engine.pipeline.world import FEET, pictured_feet

    intrinsics = np.array([800.0, 800.0, 320.0, 240.0])
    seen_at = np.array([[[0.3, 1.0, 4.0], [-0.2, 0.9, 5.0]]])  # (1 frame, 2 ankles, 3) in that frame's camera
    pan = Rotation.from_euler("y", 20, degrees=True).as_matrix()[None]  # x_t = R_t x_0
    joints = np.zeros((1, 17, 3))
    joints[:, FEET] = seen_at + [[[0.15, 0.0, 0.0], [0.0, 0.05, 0.0]]]  # the lifter put them elsewhere
    pixels = np.zeros((1, 17, 3))
    pixels[:, FEET, :2] = seen_at[..., :2] / seen_at[..., 2:] * 800.0 + [320.0, 240.0]
    pixels[:, FEET, 2] = [0.9, 0.9]
    np.testing.assert_allclose(pictured_feet(joints, pixels, intrinsics), seen_at, atol=1e-9)
    first_frame = joints.copy()
    first_frame[:, FEET] = joints[:, FEET] @ pan[0]  # x_0 = x_t R_t (rows)
    np.testing.assert_allclose(pictured_feet(first_frame, pixels, intrinsics, pan), seen_at @ pan[0], atol=1e-9)
    pixels[:, FEET[1], 2] = 0.1
    np.testing.assert_allclose(pictured_feet(joints, pixels, intrinsics)[0, 1], joints[0, FEET[1]])
