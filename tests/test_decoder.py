"""The decoder's representation, its IK, its training windows and its pose prior (issue #20)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.body.skeleton import default_rest_joints
from engine.data.pose_windows import PoseWindows, mirrored
from engine.data.proportions import random_bone_factors, scale_rest_skeleton
from engine.decoding.decoder import MotionDecoder
from engine.decoding.denoiser import DenoiserConfig, LatentDenoiser
from engine.decoding.features import CONDITIONS, FEATURES, played_back_and_forth, split_features
from engine.decoding.representation import LEAF_JOINTS, NOSE, TWIST_JOINTS, posed_points, solve_representation, to_representation
from engine.decoding.vae import MotionVAE, MotionVAEConfig
from engine.geometry import unit
from engine.solving.decoder import DecoderSolver


def _angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angles (...) between rotation matrices (..., 3, 3)."""
    relative = np.swapaxes(a, -1, -2) @ b
    return np.degrees(np.linalg.norm(Rotation.from_matrix(relative.reshape(-1, 3, 3)).as_rotvec(), axis=-1)).reshape(a.shape[:-2])


def _mocap_rotations(prepared, split: str = "train") -> np.ndarray:
    poses = np.load(prepared[0] / split / "poses.npy")
    local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(len(poses), 24, 3, 3)
    local[:, list(LEAF_JOINTS)] = np.eye(3)  # toes and hands: no joint position shows them
    return local


def test_the_representation_names_every_joint_once():
    assert len(TWIST_JOINTS) == 18 and LEAF_JOINTS == tuple(SMPL24.index(n) for n in ("l_foot", "r_foot", "l_hand", "r_hand"))
    assert SMPL24.index("head") in TWIST_JOINTS and NOSE == 24  # the head turns towards its nose
    assert FEATURES == 24 * 3 + 18 * 2 + 4


def test_representation_ik_and_fk_round_trip_ground_truth_mocap_within_1_mm_and_1_degree(prepared):
    rest = scale_rest_skeleton(default_rest_joints(), random_bone_factors(np.random.default_rng(0)))
    local = _mocap_rotations(prepared)
    points, twists = to_representation(local, rest)
    solved = solve_representation(points, twists, rest)
    assert _angles_deg(solved, local).max() < 1.0
    assert 1000 * np.abs(posed_points(solved, rest) - points).max() < 1.0


def test_twists_turn_bones_about_themselves_and_never_move_a_point(prepared):
    """Wrong twists give other rotations (the limbs' turn about their own bones) with every point
    where it was: the points alone decide the swing, the twists alone the turn."""
    rest = default_rest_joints()
    local = _mocap_rotations(prepared)[::7]
    points, twists = to_representation(local, rest)
    solved = solve_representation(points, np.roll(twists, 1, axis=-1), rest)  # (cos, sin) → (sin, cos)
    assert np.abs(posed_points(solved, rest) - points).max() < 1e-9
    # In the world, only the twisted joints turn (and the leaves, which turn with them).
    changed = _angles_deg(forward_kinematics_np(solved, rest, rep="matrix")[1], forward_kinematics_np(local, rest, rep="matrix")[1])
    changed = changed.max(axis=0) > 1.0
    assert set(np.flatnonzero(changed)) <= set(TWIST_JOINTS) | set(LEAF_JOINTS) and changed[list(TWIST_JOINTS)].sum() >= 10


def test_mirrored_windows_are_the_mirror_image_of_the_motion(prepared):
    rest = default_rest_joints()
    mirror_rest = (rest * [-1.0, 1.0, 1.0])[SMPL24.flip_permutation]
    local, contacts = _mocap_rotations(prepared)[:50], np.tile([1.0, 0.0, 0.0, 1.0], (50, 1))
    flipped, flipped_contacts = mirrored(local, contacts)
    points = posed_points(local, rest)
    mirrored_points = posed_points(flipped, mirror_rest)
    expected = (points * [-1.0, 1.0, 1.0])[:, [*SMPL24.flip_permutation, NOSE]]
    np.testing.assert_allclose(mirrored_points, expected, atol=1e-9)
    assert (flipped_contacts == [0.0, 1.0, 1.0, 0.0]).all()


def test_training_windows_face_plus_z_and_decode_to_their_points(prepared):
    windows = PoseWindows(prepared[0], "train", frames=27, augment=False)
    sample = windows[0]
    assert sample["motion"].shape == (27, FEATURES) and sample["mask"].dtype == torch.bool
    points, twists, contacts = split_features(sample["motion"].numpy().astype(np.float64))
    left = points[0, SMPL24.index("l_hip")] - points[0, SMPL24.index("r_hip")] + points[0, SMPL24.index("l_shoulder")]
    left -= points[0, SMPL24.index("r_shoulder")]
    assert abs(np.arctan2(-left[2], left[0])) < 1e-5  # the first frame's torso faces +z
    solved = solve_representation(points, twists, default_rest_joints())
    assert 1000 * np.abs(posed_points(solved, default_rest_joints()) - points).max() < 0.1
    assert set(np.unique(contacts)) <= {0.0, 1.0}


def test_windows_on_each_clips_own_rig_carry_its_bone_lengths(prepared):
    from engine.data.dataset import split_clips

    def bone_mm(windows: PoseWindows, child: str, parent: str) -> float:
        points = split_features(windows[0]["motion"].numpy().astype(np.float64))[0]
        return 1000 * float(np.linalg.norm(points[:, SMPL24.index(child)] - points[:, SMPL24.index(parent)], axis=-1).mean())

    own, default = (PoseWindows(prepared[0], "train", frames=27, skeleton=kind) for kind in ("own", "default"))
    rest = default_rest_joints()
    clip = split_clips(prepared[0], "train")[0]
    joints = np.load(prepared[0] / "train" / "smpl_joints.npy")[clip["start"] : clip["start"] + 27]
    for child, parent in (("l_wrist", "l_elbow"), ("r_elbow", "r_shoulder"), ("l_ankle", "l_knee")):
        # The default skeleton's bone, whatever the rig; the rig's own on its own skeleton.
        assert bone_mm(default, child, parent) == pytest.approx(
            1000 * np.linalg.norm(rest[SMPL24.index(child)] - rest[SMPL24.index(parent)]), abs=0.01
        )
        rig = np.linalg.norm(joints[:, SMPL24.index(child)] - joints[:, SMPL24.index(parent)], axis=-1).mean()
        assert bone_mm(own, child, parent) == pytest.approx(1000 * rig, abs=2.0)
    assert abs(bone_mm(own, "l_wrist", "l_elbow") - bone_mm(default, "l_wrist", "l_elbow")) > 20
    with pytest.raises(ValueError, match="skeleton must be one of default, own"):
        PoseWindows(prepared[0], "train", skeleton="rig")


def test_augmented_windows_vary_and_keep_the_representation_valid(prepared):
    windows = PoseWindows(prepared[0], "train", frames=27, augment=True)
    torch.manual_seed(0)
    draws = [windows[0]["motion"].numpy() for _ in range(4)]
    assert not np.allclose(draws[0], draws[1])
    for motion in draws:
        _, twists, _ = split_features(motion.astype(np.float64))
        assert np.abs(np.linalg.norm(twists, axis=-1) - 1).max() < 0.05  # interpolated (cos, sin) stay near the circle


def test_the_motion_vae_reconstructs_windows_of_its_size_and_is_deterministic_when_evaluated():
    config = MotionVAEConfig(frames=27, width=32, layers=1, ffn=64, latent=8)
    model = MotionVAE(config).eval()
    motion = torch.randn(2, 27, FEATURES)
    out, mean, log_variance = model(motion)
    assert out.shape == motion.shape and mean.shape == log_variance.shape == (2, 3, 8)
    assert torch.equal(model(motion)[0], out)
    assert MotionVAE.from_card(model.card()).config == config


def test_training_the_pose_prior_checkpoints_resumes_and_writes_a_card(prepared, tmp_path):
    from engine.train.decoder import DecoderTrainConfig, train

    config = DecoderTrainConfig(
        name="tiny_vae",
        data=str(prepared[0]),
        model={"frames": 27, "width": 32, "layers": 1, "ffn": 64, "latent": 8},
        steps=2,
        val_every=1,
        val_windows=4,
        batch=2,
        workers=0,
        device="cpu",
        runs=str(tmp_path / "runs"),
    )
    train(config)
    config.steps = 3
    card = train(config)  # picks up at step 2
    assert [h["step"] for h in card["history"]] == [1, 2, 3] and card["architecture"] == "motion-vae"
    assert card["config"]["frames"] == 27 and card["command"] == "engine train decoder --config configs/tiny_vae.toml"
    assert (tmp_path / "runs" / "tiny_vae" / "tiny_vae.pt").is_file()
    with pytest.raises(ValueError, match="unknown decoder stage"):
        train(DecoderTrainConfig(name="x", stage="nonsense"))


def _tiny_decoder(frames: int = 27) -> MotionDecoder:
    torch.manual_seed(0)
    vae = MotionVAE(MotionVAEConfig(frames=frames, width=32, layers=1, ffn=64, latent=8))
    return MotionDecoder(vae, LatentDenoiser(DenoiserConfig(frames=frames, latent=8, width=32, layers=3, ffn=64))).eval()


def test_the_decoder_solver_streams_the_frames_it_gives_for_the_whole_clip(prepared):
    rest = default_rest_joints()
    world = np.load(prepared[0] / "train" / "h36m.npy")[:100].astype(np.float64)
    model = _tiny_decoder()
    whole = DecoderSolver(rest, 30.0, model).extend(world, complete=True)
    streamed = DecoderSolver(rest, 30.0, model)
    for end in range(7, 100, 7):
        answer = streamed.extend(world[:end])
        assert streamed.settled == len(answer["poses"]) <= end
        assert streamed.settled == (end - 27) // 13 * 13 + 13 if end >= 27 else streamed.settled == 0  # up to the first window not decoded
    answer = streamed.extend(world, complete=True)
    assert streamed.settled == 100
    for key in ("poses", "trans", "joints", "contacts"):
        # The whole clip's windows are decoded in one batch, the stream's as they come: float32
        # sums in another order, 1e-5 apart (radians, metres).
        np.testing.assert_allclose(answer[key], whole[key], atol=1e-4, err_msg=key)
    # The rotations pose the clip's skeleton where the joints say, and the root is the world's.
    local = Rotation.from_rotvec(whole["poses"].reshape(-1, 3)).as_matrix().reshape(100, 24, 3, 3)
    np.testing.assert_allclose(forward_kinematics_np(local, rest, whole["trans"], rep="matrix")[0], whole["joints"], atol=1e-9)
    assert np.abs(whole["joints"][:, 0] - world[:, 0]).max() < 0.15  # the SMPL pelvis sits a little off the hips' middle
    assert ((whole["contacts"] >= 0) & (whole["contacts"] <= 1)).all()


def test_windows_decoded_in_one_batch_are_those_decoded_one_by_one(prepared):
    world = np.load(prepared[0] / "train" / "h36m.npy")[:100].astype(np.float64)
    model, rest = _tiny_decoder(), default_rest_joints()
    batched, single = (DecoderSolver(rest, 30.0, model, batch=n).extend(world, complete=True) for n in (32, 1))
    for key in ("poses", "trans", "joints", "contacts", "targets"):
        np.testing.assert_allclose(batched[key], single[key], atol=1e-4, err_msg=key)


def test_a_clip_shorter_than_a_window_is_decoded_in_one_window_it_fills_back_and_forth(prepared):
    assert played_back_and_forth(3, 8).tolist() == [0, 1, 2, 1, 0, 1, 2, 1]
    assert played_back_and_forth(1, 4).tolist() == [0, 0, 0, 0] and played_back_and_forth(5, 5).tolist() == [0, 1, 2, 3, 4]
    world = np.load(prepared[0] / "train" / "h36m.npy")[:10].astype(np.float64)
    solver = DecoderSolver(default_rest_joints(), 30.0, _tiny_decoder())
    assert solver.extend(world)["poses"].shape == (0, 72) and solver.settled == 0
    assert solver.extend(world, complete=True)["poses"].shape == (10, 72) and solver.settled == 10


def test_more_sampling_steps_change_the_decode_and_stay_deterministic(prepared):
    """``--steps N`` (``Settings.steps``): N DDIM steps from zero noise, the same answer each time."""
    from engine.pipeline.settings import Settings

    world = np.load(prepared[0] / "train" / "h36m.npy")[:40].astype(np.float64)
    model, rest = _tiny_decoder(), default_rest_joints()
    one, three, again = (DecoderSolver(rest, 30.0, model, steps=n).extend(world, complete=True)["poses"] for n in (1, 3, 3))
    np.testing.assert_array_equal(three, again)
    assert np.abs(three - one).max() > 1e-6
    assert Settings(steps=4).steps == 4
    for bad in (0, 51, 1.5, True):
        with pytest.raises(ValueError, match="steps must be a whole number from 1 to 50"):
            Settings(steps=bad)


def test_the_decoder_solver_says_how_to_get_weights_when_none_are_shipped(monkeypatch, tmp_path):
    import engine.solving.decoder as decoder_solver

    monkeypatch.setattr(decoder_solver, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="engine train decoder --config configs/decoder_rendered.toml --ship.*--solver ik"):
        decoder_solver.load_decoder("decoder_rendered")


def test_the_denoiser_trains_on_a_frozen_vae_into_one_decoder_file_that_loads(prepared, tmp_path):
    import json

    from engine.train.decoder import DecoderTrainConfig, train

    common = dict(data=str(prepared[0]), steps=1, val_every=1, val_windows=4, batch=2, workers=0, device="cpu", runs=str(tmp_path))
    train(DecoderTrainConfig(name="v", model={"frames": 27, "width": 32, "layers": 1, "ffn": 64, "latent": 8}, **common))
    vae_before = torch.load(tmp_path / "v" / "v.pt")
    card = train(
        DecoderTrainConfig(
            name="d", stage="denoiser", vae=str(tmp_path / "v" / "v.pt"), model={"width": 32, "layers": 3, "ffn": 64}, **common
        )
    )
    assert card["architecture"] == "motion-decoder" and card["latent_scale"] > 0 and card["config"]["denoiser"]["patch"] == 9
    model = MotionDecoder.from_card(json.loads((tmp_path / "d" / "d.json").read_text()))
    state = torch.load(tmp_path / "d" / "d.pt")
    model.load_state_dict(state)
    assert float(model.latent_scale) == pytest.approx(card["latent_scale"])
    assert model.points_from_joints.abs().sum() > 0  # the guess's map was fitted
    assert all(torch.equal(state[f"vae.{k}"], v) for k, v in vae_before.items())  # the VAE stayed frozen
    conditions = torch.randn(1, 27, CONDITIONS)
    assert torch.equal(model.eval()(conditions), model(conditions))  # one step from zero noise: deterministic
    with pytest.raises(ValueError, match="needs `vae`"):
        train(DecoderTrainConfig(name="e", stage="denoiser", **common))
    # ECLM reads the file (a U of 3 blocks has one level: nothing to merge) and keeps its guess.
    from typer.testing import CliRunner

    from engine.cli import app

    out = tmp_path / "eclm"
    args = ["optimize", "eclm", "--model", str(tmp_path / "d" / "d.pt"), "--tau", "5", "--data", str(prepared[0]), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "d-eclm-report.json").read_text())
    assert report["layers_before"] == report["layers_after"] == 1 and report["error_after_mm"] == report["error_before_mm"]
    assert torch.equal(torch.load(out / "d-eclm.pt")["points_from_joints"], state["points_from_joints"])


def test_conditions_face_plus_z_are_pelvis_relative_and_are_zero_where_missing(prepared):
    from engine.decoding.features import window_conditions

    joints = np.load(prepared[0] / "train" / "h36m.npy")[:20].astype(np.float64)
    present = np.arange(20) >= 3
    conditions, turn = window_conditions(joints, present)
    assert conditions.shape == (20, CONDITIONS) and (conditions[:3] == 0).all() and (conditions[3:, -1] == 1).all()
    first = conditions[3, :51].reshape(17, 3)
    left = first[4] - first[1] + first[11] - first[14]  # H36M17: l_hip 4, r_hip 1, l_shoulder 11, r_shoulder 14
    assert abs(np.arctan2(-left[2], left[0])) < 1e-6
    assert (first[0] == 0).all()  # where the root is, and how it moves, a capture gets wrong under a moving camera
    np.testing.assert_allclose(
        np.linalg.norm(conditions[3:, :51].reshape(-1, 17, 3), axis=-1), np.linalg.norm(joints[3:] - joints[3:, :1], axis=-1), atol=1e-9
    )
    assert np.allclose(turn @ turn.T, np.eye(3)) and np.isclose(turn[1, 1], 1.0)


def test_lifted_like_errors_grow_with_their_size_and_vanish_at_zero(prepared):
    from engine.data.pose_windows import lifted_like

    joints = np.load(prepared[0] / "train" / "h36m.npy")[:81].astype(np.float64)
    relative = joints - joints[:, :1]
    errors = {}
    for noise in (0.0, 0.5, 1.0):
        rng = np.random.default_rng(3)  # the same draws: only their size differs
        lifted, present = lifted_like(joints, rng, noise)
        errors[noise] = np.linalg.norm(lifted - relative, axis=-1)[present].mean()
    assert errors[0.0] < 1e-9 and 0 < errors[0.5] < errors[1.0]


def test_a_capture_with_the_decoder_solver_locks_feet_by_the_decoders_heel_and_toe_contacts_where_the_world_finds_them_planted(monkeypatch):
    import engine.solving.decoder as decoder_solver
    from engine.pipeline.capture import capture
    from engine.pipeline.settings import Settings
    from tests.paths import EXAMPLE_CLIP

    monkeypatch.setattr(decoder_solver, "load_decoder", lambda name: _tiny_decoder(81))
    motion, report = capture(EXAMPLE_CLIP, Settings(solver="decoder"))
    assert motion.num_frames == 217 and report["frames"] == 217
    # The untrained decoder's contacts are its own, heel and toe apart (the IK solver's repeat the ankle's).
    assert not np.array_equal(motion.contacts[:, 0], motion.contacts[:, 1])
    local = Rotation.from_rotvec(motion.poses.reshape(-1, 3)).as_matrix().reshape(-1, 24, 3, 3)
    np.testing.assert_allclose(forward_kinematics_np(local, motion.rest_joints, motion.trans, rep="matrix")[0], motion.joints, atol=1e-4)


def test_the_shipped_decoders_load_and_decode_a_window_in_one_step():
    import engine.solving.decoder as decoder_solver

    for name in decoder_solver.DECODER_WEIGHTS.values():
        model = decoder_solver.load_decoder(name)
        assert model.window == 81
        with torch.no_grad():
            features = model(torch.zeros(1, 81, CONDITIONS))
        assert features.shape == (1, 81, FEATURES) and torch.isfinite(features).all()


def test_the_default_solver_is_the_decoder_trained_under_the_lifters_licence():
    from engine.pipeline.settings import Settings
    from engine.solving import paired_solver

    # A lifter cleared for commercial use never gets the non-commercial decoder by default.
    assert [Settings(lifter=name).solver for name in ("hot", "hot-free", "htnet", "htnet-free")] == [
        "decoder",
        "decoder-free",
        "decoder",
        "decoder-free",
    ]
    assert Settings(lifter="hot-free", solver="ik").solver == "ik" and Settings(solver="auto") == Settings()
    with pytest.raises(ValueError, match="no solver pairs with a lifter licensed 'ours'"):
        paired_solver("ours")


def test_a_stream_shows_the_iks_frames_until_the_decoders_final_motion():
    from engine.solving import provisional_solver

    # The decoder's windows would hold a stream's first frames back up to 81 frames (issue #20
    # item 4: they must come before half the clip is detected); tests/test_server.py times them.
    assert [provisional_solver(name) for name in ("decoder", "decoder-free", "ik")] == ["ik", "ik", "ik"]


def test_the_rest_skeleton_that_posed_joints_is_found_from_them(prepared):
    from engine.body.kinematics import posing_rest

    poses = np.load(prepared[0] / "train" / "poses.npy", mmap_mode="r")[:50]
    local = Rotation.from_rotvec(np.asarray(poses, np.float64).reshape(-1, 3)).as_matrix().reshape(-1, 24, 3, 3)
    rest = scale_rest_skeleton(default_rest_joints(), random_bone_factors(np.random.default_rng(0)))
    joints, _ = forward_kinematics_np(local, rest, np.array([0.3, 0.9, -1.0]), rep="matrix")
    np.testing.assert_allclose(posing_rest(local, joints), rest - rest[0], atol=1e-9)


def test_pulling_to_the_lifter_moves_the_limbs_and_keeps_the_ankles_and_wrists_bend():
    from engine.body.ik import h36m_from_smpl
    from engine.body.joints import H36M17
    from engine.decoding.representation import rest_points
    from engine.solving.decoder import pulled_to_lifter

    rng = np.random.default_rng(0)
    rest = default_rest_joints()
    local = Rotation.from_rotvec(rng.normal(0, 0.3, (10 * 24, 3))).as_matrix().reshape(10, 24, 3, 3)
    points = posed_points(local, rest)
    other = Rotation.from_rotvec(rng.normal(0, 0.3, (10 * 24, 3))).as_matrix().reshape(10, 24, 3, 3)
    joints, world = forward_kinematics_np(other, rest, rep="matrix")
    lifted = h36m_from_smpl(joints, world, rest)
    np.testing.assert_allclose(pulled_to_lifter(points, lifted, share=0.0), points)
    pulled = pulled_to_lifter(points, lifted, share=1.0, sigma=0.0)
    for name in ("l_knee", "r_ankle", "l_elbow", "r_wrist", "l_shoulder"):
        mid = pulled[:, [SMPL24.index("l_hip"), SMPL24.index("r_hip")]].mean(1)
        lifted_mid = lifted[:, [H36M17.index("l_hip"), H36M17.index("r_hip")]].mean(1)
        np.testing.assert_allclose(pulled[:, SMPL24.index(name)] - mid, lifted[:, H36M17.index(name)] - lifted_mid, atol=1e-9)
    for end, joint, child in (("l_foot", "l_knee", "l_ankle"), ("r_hand", "r_elbow", "r_wrist")):
        e, j, c = SMPL24.index(end), SMPL24.index(joint), SMPL24.index(child)
        angle = lambda p: np.einsum("ti,ti->t", unit(p[:, c] - p[:, j]), unit(p[:, e] - p[:, c]))  # noqa: E731
        np.testing.assert_allclose(angle(pulled), angle(points), atol=1e-9)  # the bend at the ankle or wrist stays
        np.testing.assert_allclose(np.linalg.norm(pulled[:, e] - pulled[:, c], axis=-1), np.linalg.norm(rest_points(rest)[e] - rest[c]))
    # half way, smoothed: between the two, and as smooth over time as the difference allows
    half = pulled_to_lifter(points, lifted)
    assert np.abs(half - points).max() < np.abs(pulled - points).max()
