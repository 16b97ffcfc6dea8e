"""`--lifter-weights`: HoT weights from a file (an official checkpoint, or ours with its card), loaded strictly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from engine.cli import app
from engine.lifting.hot import HoT, HoTConfig
from engine.lifting.registry import LIFTERS
from engine.lifting.weights import load_weights
from engine.pipeline.settings import Settings
from tests.paths import MOCAP, REPO, needs_mocap

CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"


def _our_weights(folder):
    """A copy of the shipped hot-free weights and card, as a user would keep them."""
    for suffix in (".pt", ".json"):
        shutil.copy(LIFTERS["hot-free"].weights_path.with_suffix(suffix), folder / f"mine{suffix}")
    return folder / "mine.pt"


def test_an_official_checkpoint_saved_from_data_parallel_loads_strictly_and_lifts_the_same(tmp_path):
    torch.manual_seed(0)
    official = HoT(HoTConfig.official()).eval()
    path = tmp_path / "model_42_4512.pth"
    torch.save({"epoch": 42, "model": {f"module.{k}": v for k, v in official.state_dict().items()}}, path)
    loaded = load_weights(path)
    assert loaded.config == HoTConfig.official() and loaded.card["name"] == "model_42_4512"
    keypoints = torch.randn(1, 243, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(keypoints), official(keypoints))


def test_our_weights_take_their_size_from_the_card_beside_them(tmp_path):
    loaded = load_weights(_our_weights(tmp_path))
    card = LIFTERS["hot-free"].card
    assert loaded.config == HoTConfig(**card["config"]) and loaded.card["name"] == card["name"]


def test_weights_that_do_not_fit_are_refused_with_the_file_and_the_entries_named(tmp_path):
    small = tmp_path / "small.pt"  # our size, but no card to say so: read as the official size
    shutil.copy(LIFTERS["hot-free"].weights_path, small)
    with pytest.raises(
        ValueError, match=r"small\.pt: does not fit the official HoT-MixSTE size.*Spatial_pos_embed is \(1, 17, 128\), not \(1, 17, 512\)"
    ):
        load_weights(small)
    text = tmp_path / "notes.pt"
    text.write_text("not weights")
    with pytest.raises(ValueError, match=r"notes\.pt: not a PyTorch checkpoint"):
        load_weights(text)
    with pytest.raises(FileNotFoundError, match="nope.pt: no such weights file"):
        load_weights(tmp_path / "nope.pt")


def test_a_card_whose_detector_shares_are_not_legs_and_arms_from_0_to_1_is_refused_naming_the_key(tmp_path):
    weights = _our_weights(tmp_path)
    card_path = weights.with_suffix(".json")
    card = json.loads(card_path.read_text())
    for shares, said in (
        ({"leg": 0.3}, "unknown key 'leg'"),
        ({"arms": 1.5}, "'arms' must be a number from 0 to 1"),
        ([0.3, 0.5], "must be"),
    ):
        card_path.write_text(json.dumps({**card, "detector_shares": shares}))
        with pytest.raises(ValueError, match=rf"mine\.json: \"detector_shares\" .*{said}"):
            load_weights(weights)
    card_path.write_text(json.dumps({**card, "detector_shares": {"legs": 0.2, "arms": 1}}))
    assert load_weights(weights).card["detector_shares"] == {"legs": 0.2, "arms": 1}


def test_a_client_cannot_make_the_server_load_a_weights_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown options \['lifter_weights'\]"):
        Settings.from_options({"lifter_weights": str(_our_weights(tmp_path))})


@needs_mocap
def test_eval_lift_scores_a_weights_file_and_refuses_a_bad_one(tmp_path):
    folder = tmp_path / "cmu"
    folder.mkdir()
    shutil.copy(MOCAP / "cmu" / "02_01.bvh.gz", folder)
    weights = _our_weights(tmp_path)
    args = ["eval", "lift", str(folder), "--window", "27", "--noise", "clean"]
    result = CliRunner().invoke(app, [*args, "--lifter-weights", str(weights), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["model"] == str(weights) and report["frames"] == 86 and report["mpjpe_mm"] < 150
    (tmp_path / "bad.pt").write_text("not weights")
    refused = CliRunner().invoke(app, [*args, "--lifter-weights", str(tmp_path / "bad.pt")])
    assert refused.exit_code == 2 and "bad.pt: not a PyTorch checkpoint" in " ".join(refused.output.split())
    assert CliRunner().invoke(app, args).exit_code == 2  # neither --lifter nor --lifter-weights


def test_mocap_captures_with_a_weights_file_and_says_so_in_the_report(tmp_path):
    weights = _our_weights(tmp_path)
    result = CliRunner().invoke(
        app, ["mocap", str(CLIP), "--out", str(tmp_path / "out"), "--formats", "npz", "--lifter-weights", str(weights)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / f"{CLIP.stem}.json").read_text())
    assert report["lifter"] == str(weights.resolve()) and report["lifter_card"] == LIFTERS["hot-free"].card["name"]
    assert np.isfinite(np.load(tmp_path / "out" / f"{CLIP.stem}.npz")["poses"]).all()
    (tmp_path / "bad.pt").write_text("not weights")
    refused = CliRunner().invoke(app, ["mocap", str(CLIP), "--out", str(tmp_path / "out2"), "--lifter-weights", str(tmp_path / "bad.pt")])
    assert refused.exit_code == 2 and "bad.pt: not a PyTorch checkpoint" in " ".join(refused.output.split())
    assert not (tmp_path / "out2").exists()


def test_serve_refuses_a_bad_weights_file_before_it_binds(tmp_path):
    (tmp_path / "bad.pt").write_text("not weights")
    # An address ZeroMQ cannot bind: had the file been let through, binding would fail another way.
    refused = CliRunner().invoke(app, ["serve", "--bind", "nowhere", "--lifter-weights", str(tmp_path / "bad.pt")])
    assert refused.exit_code == 2 and "bad.pt: not a PyTorch checkpoint" in " ".join(refused.output.split())
