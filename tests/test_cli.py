"""The `engine` command line: info, export, and the options a user mistypes."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from engine.cli import app
from engine.io.bvh import read_bvh
from engine.lifting.registry import capture_lifters
from engine.motion import Motion
from engine.solving import SOLVERS
from tests.paths import REPO

SAMPLE = REPO / "examples" / "sample_walk.npz"
runner = CliRunner()


def test_info_reports_backends_and_search_paths():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for expected in ("engine", "torch", "mediapipe", "FBX via", "SMPL model", "ENGINE_SMPL_MODEL"):
        assert expected in result.output


def test_info_rejects_a_smpl_path_without_a_model(tmp_path):
    result = runner.invoke(app, ["info", "--smpl", str(tmp_path)])
    assert result.exit_code == 2 and "no SMPL model there" in result.output


def test_export_sample_to_bvh_and_npz(tmp_path):
    result = runner.invoke(app, ["export", str(SAMPLE), "--to", "bvh", "--out", str(tmp_path / "walk.bvh")])
    assert result.exit_code == 0, result.output
    sample = Motion.load(SAMPLE)
    bvh = read_bvh(tmp_path / "walk.bvh")
    assert bvh.num_frames == sample.num_frames and bvh.fps == np.float64(sample.fps)
    # The pelvis in the file (cm) is where the sample's joints put it.
    np.testing.assert_allclose(bvh.world_positions()[:, 0] / 100, sample.joints[:, 0], atol=1e-5)

    result = runner.invoke(app, ["export", str(SAMPLE), "--to", "npz", "--out", str(tmp_path / "walk.npz")])
    assert result.exit_code == 0, result.output
    assert Motion.load(tmp_path / "walk.npz") == sample


def test_export_of_a_bad_file_names_it_and_fails(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, trans=np.zeros((3, 3)), mocap_framerate=30.0)
    result = runner.invoke(app, ["export", str(bad), "--to", "bvh"])
    assert result.exit_code == 2 and "missing key 'poses'" in result.output
    assert not (tmp_path / "bad.bvh").exists()


def test_export_refuses_to_overwrite_its_input(tmp_path):
    result = runner.invoke(app, ["export", str(SAMPLE), "--to", "npz"])
    assert result.exit_code == 2 and "is the input file" in result.output


def test_mocap_help_lists_the_registered_lifters_and_solvers_and_hides_the_old_foot_lock_flag():
    result = runner.invoke(app, ["mocap", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in (*capture_lifters(), "auto", *SOLVERS, "--foot-lock", "--solver"):
        assert name in result.output
    assert "--no-foot-lock" not in result.output and "mean-pose" not in result.output


def test_pipeline_bench_refuses_an_unknown_solver_before_capturing(tmp_path):
    result = runner.invoke(app, ["bench", "pipeline", str(tmp_path / "clip.mp4"), "--solver", "ik", "--solver", "fk"], terminal_width=200)
    assert result.exit_code == 2 and "--solver: choose from ik" in result.output and "'fk'" in result.output
