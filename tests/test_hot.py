"""HoT: the official layout, Token Pruning Cluster, Token Recovering Attention, and inference on any length."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.body.joints import H36M17
from engine.lifting.hot import HoT, HoTConfig, dpc_knn_centres, tra_time_bias
from engine.lifting.inference import fill_unsure_joints, lift_sequence
from tests.paths import official_state_dict

FLIP = H36M17.flip_permutation
SMALL = HoTConfig(frames=27, dim=32, depth=3, heads=4, mlp_dim=64, prune_layer=1, n_tokens=9)


def test_official_size_has_exactly_the_official_parameter_names_and_shapes():
    model = HoT(HoTConfig.official())
    ours = [(name, str(tuple(p.shape))) for name, p in model.state_dict().items()]
    assert ours == official_state_dict("hot_mixste_state_dict.txt") and len(ours) == 214
    checkpoint = {name: torch.randn_like(p) for name, p in model.state_dict().items()}
    HoT(HoTConfig.official()).load_state_dict(checkpoint, strict=True)


def test_tpc_keeps_the_centres_of_obvious_clusters_in_time_order():
    # Three tight clusters of frames around 0, 10 and 20 (shuffled in time); the densest
    # frame of each is its exact centre.
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0], [10, 0], [20, 0]])
    labels = rng.permutation(np.repeat([0, 1, 2], 9))
    tokens = centres[labels] + rng.normal(0, 0.3, (27, 2))
    exact = [np.flatnonzero(labels == c)[4] for c in range(3)]
    tokens[exact] = centres
    kept = dpc_knn_centres(torch.tensor(tokens[None]), n_centres=3, k=4)[0].tolist()
    assert kept == sorted(kept) and len(kept) == 3
    assert sorted(labels[kept].tolist()) == [0, 1, 2]  # one centre per cluster
    assert np.linalg.norm(tokens[kept] - centres[labels[kept]], axis=1).max() < 0.6


def test_tpc_keeps_exactly_n_tokens_increasing():
    kept = dpc_knn_centres(torch.randn(4, 81, 16), n_centres=27, k=2)
    assert kept.shape == (4, 27) and torch.all(kept[:, 1:] > kept[:, :-1])


def test_tra_restores_every_frame_and_pruning_off_is_mixste():
    x = torch.randn(2, SMALL.frames, 17, 3)
    assert HoT(SMALL)(x).shape == (2, SMALL.frames, 17, 3)
    plain = HoT(SMALL.unpruned())
    assert plain(x).shape == (2, SMALL.frames, 17, 3)
    assert not any("x_token" in n or "cross_attention" in n or "pos_embed_token" in n for n, _ in plain.named_parameters())


def test_tra_time_bias_makes_each_frame_read_its_nearest_kept_tokens():
    kept = torch.tensor([[0, 10, 20, 26]])
    weights = tra_time_bias(kept, frames=27, heads=4).softmax(-1)  # (1, 1, heads, frames, kept)
    assert weights.shape == (1, 1, 4, 27, 4)
    sharpest = weights[0, 0, 0]
    assert sharpest.argmax(-1).tolist() == [int((kept[0] - t).abs().argmin()) for t in range(27)]
    assert sharpest[10, 1] > 0.9 and weights[0, 0, -1].max() < 0.5  # the last head sees the whole window


def test_tra_time_bias_adds_no_parameters_and_is_off_in_the_official_model():
    biased = HoT(HoTConfig(**{**SMALL.to_dict(), "tra_time_bias": True}))
    plain = HoT(SMALL)
    plain.load_state_dict(biased.state_dict(), strict=True)
    x = torch.randn(2, SMALL.frames, 17, 3)
    assert not torch.allclose(biased(x), plain(x))
    assert not HoTConfig.official().tra_time_bias


def test_wrong_window_length_is_refused():
    with pytest.raises(ValueError, match=r"expected \(B, 27, 17, 3\)"):
        HoT(SMALL)(torch.randn(1, 30, 17, 3))


def _smooth_keypoints(frames: int) -> np.ndarray:
    t = np.linspace(0, 4 * np.pi, frames)[:, None]
    rng = np.random.default_rng(1)
    base = rng.uniform(-0.5, 0.5, (1, 17, 2))
    xy = base + 0.1 * np.sin(t + np.arange(17))[..., None]
    return np.concatenate([xy, np.ones((frames, 17, 1))], axis=-1)


def test_any_length_lifts_without_seams():
    torch.manual_seed(0)
    model = HoT(SMALL).eval()
    for frames in (5, 27, 100, 301):
        out = lift_sequence(model, _smooth_keypoints(frames))
        assert out.shape == (frames, 17, 3) and np.isfinite(out).all()
    out = lift_sequence(model, _smooth_keypoints(301), flip_test=False)
    step = np.linalg.norm(np.diff(out, axis=0), axis=-1).max(axis=1)
    hard_cut = np.concatenate(
        [model(torch.tensor(_smooth_keypoints(301)[s : s + 27][None]).float())[0].detach().numpy() for s in range(0, 297, 27)]
    )[:297]
    hard_step = np.linalg.norm(np.diff(hard_cut, axis=0), axis=-1).max(axis=1)
    assert step.max() < 0.5 * hard_step.max()  # the cross-fade removes the jumps of cut windows


def test_flip_test_averages_the_mirrored_answer():
    torch.manual_seed(0)
    model = HoT(SMALL).eval()
    keypoints = _smooth_keypoints(27)
    plain = lift_sequence(model, keypoints, flip_test=False)
    mirrored = keypoints[:, FLIP].copy()
    mirrored[..., 0] *= -1
    back = lift_sequence(model, mirrored, flip_test=False)[:, FLIP]
    back[..., 0] *= -1
    np.testing.assert_allclose(lift_sequence(model, keypoints), (plain + back) / 2, atol=1e-5)


def test_unsure_joints_are_filled_from_sure_frames():
    keypoints = _smooth_keypoints(10)
    keypoints[3:6, 13] = [0.0, 0.0, 0.05]  # a dropped wrist at zero with low confidence
    filled = fill_unsure_joints(keypoints)
    expected = np.interp([3, 4, 5], [2, 6], [keypoints[2, 13, 0], keypoints[6, 13, 0]])
    np.testing.assert_allclose(filled[3:6, 13, 0], expected)
    assert (filled[3:6, 13, 2] == 0.05).all()


def _tiny_run(prepared, tmp_path, monkeypatch, **options):
    """A two-step training config on the test's prepared data, its runs (and, with ``ship``, its
    package weights folder) in ``tmp_path``."""
    import engine.train.lifter as lifter

    monkeypatch.setattr(lifter, "WEIGHTS_DIR", tmp_path / "weights")
    return lifter.TrainConfig(
        name="tiny",
        data=str(prepared[0]),
        model=SMALL.to_dict(),
        steps=2,
        val_every=1,
        val_windows=4,
        batch=2,
        workers=0,
        runs=str(tmp_path / "runs"),
        **options,
    )


def test_training_checkpoints_resumes_and_exports_a_card(prepared, tmp_path, monkeypatch):
    from engine.train.lifter import train

    config = _tiny_run(prepared, tmp_path, monkeypatch)
    train(config)
    config.steps = 4
    card = train(config)  # picks up at step 2
    assert [h["step"] for h in card["history"]] == [1, 2, 3, 4]
    run = tmp_path / "runs" / "tiny"
    assert (run / "tiny.pt").is_file() and card["data"]["licences"]
    assert json.loads((run / "tiny.json").read_text()) == card and list(card)[:2] == ["name", "architecture"]
    assert card["architecture"] == "hot" and not (tmp_path / "weights").exists()  # the package only with ship
    assert card["config"] == SMALL.to_dict() and card["command"].endswith("configs/tiny.toml")
    non_commercial = any("non-commercial" in licence for licence in card["data"]["licences"])
    assert card["licence"].startswith("non-commercial" if non_commercial else "commercial use allowed")
    assert ("CPU threads" in card["machine"]) != torch.cuda.is_available()  # "auto" took the GPU where there is one
    shipped = train(config, ship=True)  # nothing left to train: exports again, into the package too
    assert shipped["steps"] == 4 and shipped["command"].endswith("--ship")
    assert (tmp_path / "weights" / "tiny.pt").read_bytes() == (run / "tiny.pt").read_bytes()
    assert json.loads((tmp_path / "weights" / "tiny.json").read_text()) == json.loads((run / "tiny.json").read_text()) == shipped


def test_training_device_auto_is_cuda_only_where_there_is_one():
    from engine.train.loop import training_device

    assert training_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert training_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_trained_on_the_gpu_resumes_on_the_cpu_and_its_weights_are_cpu_tensors(prepared, tmp_path, monkeypatch):
    from engine.train.lifter import train

    config = _tiny_run(prepared, tmp_path, monkeypatch, device="cuda")
    assert "CPU threads" not in train(config)["machine"]
    config.steps, config.device = 4, "cpu"
    card = train(config)
    assert [h["step"] for h in card["history"]] == [1, 2, 3, 4] and "CPU threads" in card["machine"]
    assert all(v.device.type == "cpu" for v in torch.load(tmp_path / "runs" / "tiny" / "tiny.pt").values())


def test_test_scores_are_recorded_in_the_model_card_per_kind_of_noise(tmp_path):
    from engine.eval.lift import record_test_metrics

    card_path = tmp_path / "tiny.json"
    card_path.write_text(json.dumps({"name": "tiny", "steps": 4}))
    assert record_test_metrics(card_path, {"noise": "realistic", "mpjpe_mm": 60.0}) == card_path
    record_test_metrics(card_path, {"noise": "clean", "mpjpe_mm": 55.0})
    card = json.loads(card_path.read_text())
    assert card["steps"] == 4 and {k: v["mpjpe_mm"] for k, v in card["test_metrics"].items()} == {"realistic": 60.0, "clean": 55.0}


def test_mirroring_swaps_sides_and_negates_every_x_once():
    from engine.lifting import mirrored

    keypoints, joints = torch.randn(2, 5, 17, 7), torch.randn(2, 5, 17, 3)
    assert torch.equal(mirrored(mirrored(keypoints)), keypoints) and torch.equal(mirrored(mirrored(joints)), joints)
    k1, j1 = mirrored(keypoints), mirrored(joints)
    # the image's x and the world landmark's x turn; y, confidence, z and presence do not
    assert torch.equal(k1[..., 13, :], keypoints[..., 16, :] * torch.tensor([-1, 1, 1, -1, 1, 1, 1]))
    assert torch.equal(j1[..., 13, :], joints[..., 16, :] * torch.tensor([-1, 1, 1]))


def test_world_landmarks_become_channels_that_say_whether_they_are_there():
    from engine.lifting import INPUT_CHANNELS, WORLD, world_channels

    world = np.random.default_rng(0).normal(0, 0.3, (3, 33, 3))
    world[1] = np.nan  # the detector found nobody in frame 1
    channels = world_channels(world)
    assert channels.shape == (3, 17, 4) and INPUT_CHANNELS == 3 + channels.shape[-1] == WORLD.stop
    assert (channels[[0, 2], :, 3] == 1).all() and not channels[1].any()
    # a joint made of one landmark keeps it (the left wrist is BlazePose's 15)
    np.testing.assert_allclose(channels[0, H36M17.index("l_wrist"), :3], world[0, 15])


def test_the_answers_outer_limb_joints_move_their_limbs_share_of_the_way_to_the_detectors_3d_of_the_same_shape_only():
    from scipy.spatial.transform import Rotation

    from engine.lifting import LIMBS, OUTER, WORLD, averaged_with_detector

    rng = np.random.default_rng(0)
    answer, keypoints = rng.normal(0, 0.3, (2, 6, 17, 3)), np.zeros((2, 6, 17, 7))
    # the detector's 3D: the same pose turned, scaled and moved, in every frame but one
    turned = 1.3 * answer @ Rotation.random(random_state=1).as_matrix().T + 0.5
    keypoints[..., WORLD.start : WORLD.stop - 1], keypoints[..., WORLD.stop - 1] = turned, 1.0
    keypoints[1, 2] = 0.0  # nobody found by the detector's 3D in this frame
    np.testing.assert_allclose(averaged_with_detector(answer, keypoints), answer, atol=1e-12)  # same shape: nothing moves
    keypoints[..., WORLD.start : WORLD.stop - 1] += rng.normal(0, 0.05, (2, 6, 17, 3))  # another shape
    averaged = averaged_with_detector(answer, keypoints, legs=0.3, arms=0.6, sigma=0)
    outer = [LIMBS[i] for i in OUTER]  # knees, ankles, elbows, wrists
    trunk = [j for j in range(17) if j not in outer]
    np.testing.assert_array_equal(averaged[..., trunk, :], answer[..., trunk, :])  # the trunk, hips and shoulders stay the lifter's
    np.testing.assert_array_equal(averaged[1, 2], answer[1, 2])  # as does a frame without the detector's 3D
    full = averaged_with_detector(answer, keypoints, legs=1.0, arms=1.0, sigma=0)
    for names, share in ((("knee", "ankle"), 0.3), (("elbow", "wrist"), 0.6)):
        joints = [j for j in outer if H36M17.names[j].endswith(names)]
        moved = np.linalg.norm(averaged[0, 0, joints] - answer[0, 0, joints], axis=-1)
        np.testing.assert_allclose(
            moved, share * np.linalg.norm(full[0, 0, joints] - answer[0, 0, joints], axis=-1)
        )  # the share of the way
        assert moved.mean() > 0.01
    # smoothed over time (the detector's 3D shakes from frame to frame), the move changes less between frames
    smoothed = averaged_with_detector(answer, keypoints, legs=0.3, arms=0.6) - answer
    assert np.abs(np.diff(smoothed, axis=1)).mean() < 0.5 * np.abs(np.diff(averaged - answer, axis=1)).mean()
    np.testing.assert_array_equal(averaged_with_detector(answer, keypoints[..., :3]), answer)  # no world channels: unchanged


def test_a_lifters_card_says_how_far_its_knees_and_elbows_move_to_the_detectors_3d():
    from engine.lifting import ARM_SHARE, LEG_SHARE, LIMBS, OUTER, averaged_with_detector
    from engine.lifting.streaming import run_model

    torch.manual_seed(0)
    model = HoT(replace(SMALL, in_chans=7)).eval()
    x = torch.randn(2, SMALL.frames, 17, 7)
    x[..., 6] = 1.0  # world landmarks present
    answers = {}
    for name, card in (
        ("none", {"detector_shares": {"legs": 0.0, "arms": 0.0}}),
        ("default", {}),
        ("arms", {"detector_shares": {"legs": 0.0, "arms": 1.0}}),
    ):
        model.card = card
        answers[name] = run_model(model, x, flip_test=False)
    legs = [LIMBS[i] for i in OUTER if H36M17.names[LIMBS[i]].endswith(("knee", "ankle"))]
    arms = [LIMBS[i] for i in OUTER if H36M17.names[LIMBS[i]].endswith(("elbow", "wrist"))]
    np.testing.assert_array_equal(answers["arms"][..., legs, :], answers["none"][..., legs, :])  # legs 0: where the lifter put them
    assert np.abs(answers["arms"][..., arms, :] - answers["none"][..., arms, :]).mean() > 0.01
    # a card without shares (an official checkpoint's, htnet's) takes the defaults
    np.testing.assert_allclose(answers["default"], averaged_with_detector(answers["none"], x.numpy(), LEG_SHARE, ARM_SHARE))


def test_a_lifter_reads_the_channels_it_was_made_for_and_no_more():
    from engine.lifting import fit_channels

    keypoints = torch.randn(1, 27, 17, 7)
    plain, wide = HoT(SMALL).eval(), HoT(replace(SMALL, in_chans=7)).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(keypoints), plain(keypoints[..., :3]))  # world channels ignored
        torch.testing.assert_close(wide(keypoints[..., :3]), wide(fit_channels(keypoints[..., :3], 7)))  # missing: zeros
    assert fit_channels(np.ones((2, 17, 3)), 7)[..., 3:].sum() == 0


def test_a_run_started_from_a_lifter_that_reads_fewer_channels_answers_as_it_did(tmp_path):
    from engine.train.lifter import start_from

    source = HoT(SMALL).eval()
    torch.save(source.state_dict(), tmp_path / "small.pt")
    (tmp_path / "small.json").write_text(json.dumps({"name": "small", "architecture": "hot", "config": SMALL.to_dict()}))
    wide = HoT(replace(SMALL, in_chans=7)).eval()
    start_from(wide, str(tmp_path / "small.pt"))
    keypoints = torch.randn(2, 27, 17, 7)
    with torch.no_grad():
        torch.testing.assert_close(wide(keypoints), source(keypoints))
