"""`engine eval`: lifters scored on mocap seen by fixed virtual cameras; motions against each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.eval.lift import compare_motions, evaluate_lifter
from engine.lifting import load_lifter
from engine.motion import Motion
from tests.paths import REPO, needs_mocap

SAMPLE = REPO / "examples" / "sample_walk.npz"


def test_a_motion_matches_itself_and_its_resampled_copy():
    walk = Motion.load(SAMPLE)
    same = compare_motions(walk, walk)
    assert same["mpjpe_mm"] == 0 and same["root_trajectory_error_mm"] == 0 and same["frames"] == walk.num_frames
    # Every other frame at half the rate: resampled back onto the truth's frames, linear
    # interpolation errs only between keys.
    half = Motion(walk.poses[::2], walk.trans[::2], walk.fps / 2, joints=walk.joints[::2])
    assert compare_motions(half, walk)["mpjpe_mm"] < 15


def test_motion_errors_are_root_aligned_but_the_trajectory_is_not():
    walk = Motion.load(SAMPLE)
    drift = np.linspace(0, 1, walk.num_frames)[:, None, None] * np.array([0.1, 0.0, 0.0])
    moved = Motion(walk.poses, walk.trans, walk.fps, joints=walk.joints + drift.astype(np.float32))
    result = compare_motions(moved, walk)
    assert result["mpjpe_mm"] < 1e-3 and 45 < result["root_trajectory_error_mm"] < 55


@needs_mocap
def test_lifters_see_the_same_inputs_and_every_frame_counts_once(prepared):
    out, _, _ = prepared
    clips = json.loads((out / "clips.json").read_text())
    a = evaluate_lifter(load_lifter("mean-pose"), "mean-pose", out, frames=81, workers=0)
    b = evaluate_lifter(load_lifter("mean-pose"), "mean-pose", out, frames=81, workers=0)
    assert a == b
    assert a["frames"] == sum(c["frames"] for c in clips if c["split"] == "test")
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "n_mpjpe_mm", "accel_error_mm", "end_joint_mpjpe_mm", "frames", "model"):
        assert key in a
    assert 50 < a["pa_mpjpe_mm"] <= a["mpjpe_mm"] < 400


@needs_mocap
def test_lifter_scores_split_by_source_dataset_add_up_to_the_whole(tmp_path):
    from tests.paths import MOCAP

    for clip in ("cmu/02_01", "bandai2/dataset-2_walk_normal_002"):
        (tmp_path / clip).parent.mkdir(exist_ok=True)
        (tmp_path / f"{clip}.bvh.gz").write_bytes((MOCAP / f"{clip}.bvh.gz").read_bytes())
    result = evaluate_lifter(load_lifter("mean-pose"), "mean-pose", tmp_path, frames=27, workers=0)
    parts = result["by_dataset"]
    assert sorted(parts) == ["Bandai Namco Research Motion Dataset 2", "CMU Graphics Lab Motion Capture Database"]
    assert sum(part["frames"] for part in parts.values()) == result["frames"]
    weighted = sum(part["mpjpe_mm"] * part["frames"] for part in parts.values()) / result["frames"]
    assert abs(weighted - result["mpjpe_mm"]) < 1e-6


@needs_mocap
def test_eval_lift_cli_writes_json_for_a_bvh_folder(tmp_path):
    from tests.paths import MOCAP

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "walk.bvh.gz").write_bytes((MOCAP / "cmu" / "02_01.bvh.gz").read_bytes())
    result = CliRunner().invoke(
        app,
        ["eval", "lift", str(folder), "--lifter", "mean-pose", "--window", "27", "--noise", "clean", "--json", str(tmp_path / "r.json")],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == 86 and report["noise"] == "clean" and report["model"] == "mean-pose"
    assert CliRunner().invoke(app, ["eval", "lift", str(folder), "--lifter", "nope"]).exit_code == 2


@needs_mocap
def test_eval_lift_records_its_scores_in_the_card_it_is_given_and_nowhere_else(tmp_path):
    from engine.lifting.registry import LIFTERS
    from tests.paths import MOCAP

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "walk.bvh.gz").write_bytes((MOCAP / "cmu" / "02_01.bvh.gz").read_bytes())
    shipped = LIFTERS["mean-pose"].card_path
    card, before = tmp_path / shipped.name, shipped.read_bytes()
    card.write_bytes(before)
    args = ["eval", "lift", str(folder), "--lifter", "mean-pose", "--window", "27", "--noise", "clean"]
    result = CliRunner().invoke(app, [*args, "--card", str(card)])
    assert result.exit_code == 0, result.output
    recorded, original = json.loads(card.read_text()), json.loads(before)
    assert recorded["test_metrics"]["clean"]["frames"] == 86 and shipped.read_bytes() == before
    original.setdefault("test_metrics", {})["clean"] = recorded["test_metrics"]["clean"]
    assert recorded == original  # the rest of the card as it was
    missing = CliRunner().invoke(app, [*args, "--card", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json: no such file" in " ".join(missing.output.split())
    other = tmp_path / "hot.json"
    other.write_bytes(LIFTERS["hot"].card_path.read_bytes())
    wrong = CliRunner().invoke(app, [*args, "--card", str(other)])  # another model's card: refused before scoring
    assert wrong.exit_code == 2 and f"is the card of '{LIFTERS['hot'].card['name']}'" in " ".join(wrong.output.split())
    assert json.loads(other.read_text()) == json.loads(LIFTERS["hot"].card_path.read_text())


@needs_mocap
def test_the_mean_pose_tool_writes_a_card_like_the_shipped_one_where_it_is_told(prepared, tmp_path):
    from engine.lifting.registry import LIFTERS
    from tools import fit_mean_pose

    out, _, _ = prepared
    written = fit_mean_pose.main([str(out), "--out", str(tmp_path / "mine" / "mean.json"), "--windows", "20"])
    card = json.loads(written.read_text())
    assert list(card) == list(LIFTERS["mean-pose"].card)  # the shipped file's format, key for key
    assert card["name"] == "mean" and card["architecture"] == "mean-pose" and card["config"] == {"frames": 1, "joints": 17}
    assert card["windows"] == 20 and card["command"].endswith(f"--out {written} --windows 20")
    pose = np.array(card["pose"])
    assert pose.shape == (17, 3) and np.all(pose[0] == 0) and card["licence"].startswith(("non-commercial: ", "commercial use allowed: "))


@needs_mocap
def test_solvers_are_scored_on_rotations_against_the_mocaps_own(prepared, monkeypatch):
    """Exact joints through the analytic IK: positions come back (the spine and head by its own
    rules), the ankles and wrists it leaves unturned cost their true turn, and the IK tells no
    contacts (a capture's are the world stage's); the decoder says where it aimed and which feet
    stand, among those the world stage finds planted."""
    import engine.solving.decoder as decoder_solver
    from engine.data.dataset import MocapWindows
    from engine.eval.solve import ANKLES_WRISTS, evaluate_solver
    from tests.test_decoder import _tiny_decoder

    windows = MocapWindows(prepared[0], "test", frames=27, stride=27, noise="clean", fixed=True, rotations=True)
    samples = [windows[i] for i in range(len(windows))]
    exact = np.stack([s["joints"].numpy() for s in samples])
    truth = {key: np.stack([s[key].numpy() for s in samples]) for key in ("poses", "contacts", "world_root", "camera_rotation")}
    mask = np.stack([s["mask"].numpy() for s in samples])
    ik = evaluate_solver("ik", exact, truth, mask)
    assert ik["mpjpe_mm"] < 25 and ik["fk_consistency_mm"] is None and ik["contact_f1"] is None
    assert 0.5 < ik["capture_contact_f1"] <= 1  # the world stage's planted feet alone, from exact joints
    true_turns = np.degrees(np.linalg.norm(truth["poses"].reshape(*mask.shape, 24, 3)[mask][:, ANKLES_WRISTS], axis=-1)).mean()
    assert ik["rotation_error_deg"]["ankles_wrists"] == pytest.approx(true_turns, rel=1e-4)
    monkeypatch.setattr(decoder_solver, "load_decoder", lambda name: _tiny_decoder(27))
    decoded = evaluate_solver("decoder", exact, truth, mask)
    assert decoded["fk_consistency_mm"] >= 0 and 0 <= decoded["contact_f1"] <= 1
    assert 0 <= decoded["capture_contact_f1"] <= ik["capture_contact_f1"]  # the solver's contacts only take frames away
