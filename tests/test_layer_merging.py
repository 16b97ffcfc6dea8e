"""ECLM (issue #20 item 7): adjacent layers merged by FastHMR's rule while the error allows."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from engine.cli import app
from engine.decoding.denoiser import DenoiserConfig, LatentDenoiser
from engine.layer_merging import merged_state
from engine.lifting.hot import HoT, HoTConfig
from engine.lifting.weights import load_weights
from engine.optimize.eclm import merge_layers


def test_merged_weights_are_the_first_plus_each_later_ones_difference():
    layers = [nn.Linear(3, 2) for _ in range(3)]
    state = merged_state(layers)
    for key in ("weight", "bias"):
        first, second, third = (getattr(layer, key).detach() for layer in layers)
        torch.testing.assert_close(state[key], first + (second - first) + (third - first))


def test_hot_merges_its_block_pairs_but_not_across_the_pruning():
    torch.manual_seed(0)
    model = HoT(HoTConfig(frames=27, dim=32, depth=4, heads=4, mlp_dim=64, prune_layer=1, n_tokens=9)).eval()
    keypoints = torch.randn(2, 27, 17, 3)
    torch.testing.assert_close(model.merged([(0, 1), (1, 2), (2, 3), (3, 4)])(keypoints), model(keypoints))
    merged = model.merged([(0, 1), (1, 3), (3, 4)])
    assert merged.config.depth == 3 and merged.config.prune_layer == 1
    torch.testing.assert_close(merged.STEblocks[1].state_dict()["mlp.fc1.weight"], model.STEblocks[2].state_dict()["mlp.fc1.weight"])
    assert merged(keypoints).shape == (2, 27, 17, 3)
    with pytest.raises(ValueError, match="across the pruning"):
        model.merged([(0, 2), (2, 4)])
    with pytest.raises(ValueError, match="adjacent"):
        model.merged([(0, 1), (2, 4)])


def test_the_denoiser_merges_a_level_before_the_middle_with_its_partner_after_it():
    torch.manual_seed(0)
    model = LatentDenoiser(DenoiserConfig(frames=27, patch=9, width=32, heads=4, layers=5, ffn=64)).eval()
    noisy, guess, steps = torch.randn(2, 3, 32), torch.randn(2, 3, 32), torch.tensor([999, 10])
    conditions = torch.randn(2, 27, model.config.conditions)
    torch.testing.assert_close(model.merged([(0, 1), (1, 2)])(noisy, steps, conditions, guess), model(noisy, steps, conditions, guess))
    merged = model.merged([(0, 2)])
    assert merged.config.layers == 3 and len(merged.down) == len(merged.up) == 1
    # The blocks after the middle run in the mirror order: up[0] (partner of down[1]) first.
    expected = merged_state([model.up[0], model.up[1]])
    torch.testing.assert_close(merged.up[0].state_dict()["linear1.weight"], expected["linear1.weight"])
    assert merged(noisy, steps, conditions, guess).shape == (2, 3, 32)


def test_merging_stops_where_the_error_grows_past_tau():
    model = HoT(HoTConfig(frames=27, dim=32, depth=4, heads=4, mlp_dim=64, prune_layer=None))

    def error(merged: HoT) -> float:
        return 10.0 + 0.6 * (4 - merged.layers)  # each merge costs 0.6 mm

    merged, report = merge_layers(model, error, tau_mm=1.0)
    assert merged.layers == 3 and report["layers_after"] == 3 and report["spans"] == [(0, 2), (2, 3), (3, 4)]
    assert [t["accepted"] for t in report["tried"]] == [True, False, False]


def test_eclm_on_the_shipped_lifter_writes_merged_weights_that_load(prepared, tmp_path):
    folder, _, _ = prepared
    out = tmp_path / "eclm"
    result = CliRunner().invoke(
        app, ["optimize", "eclm", "--model", "hot", "--tau", "1000", "--data", str(folder), "--out", str(out), "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "hot-eclm-report.json").read_text())
    assert report["layers_before"] == 4 and report["layers_after"] == 2  # pair 0 stays: the pruning follows it
    assert report["calibration"] == "validation split" and report["speed_up"] > 1.0
    model = load_weights(out / "hot-eclm.pt")
    assert model.config.depth == 2 and model.config.prune_layer == 1 and "test_metrics" not in model.card
