"""SMPL model files without chumpy, checked against the real smplx on a synthetic model."""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from engine.body import smpl_model
from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics, forward_kinematics_np
from engine.body.smpl_model import SmplModel, SmplModelError, find_smpl_model, load_smpl_data
from tests.paths import REPO


def _load_generator():
    script = REPO / "smpl_assets" / "make_synthetic_smpl.py"
    spec = importlib.util.spec_from_file_location("make_synthetic_smpl", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_synthetic_smpl = _load_generator().make_synthetic_smpl


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("smpl")
    return {s: make_synthetic_smpl(folder / f"synthetic_smpl.{s}") for s in ("npz", "pkl")}


@pytest.fixture(scope="module")
def model(model_files: dict[str, Path]) -> SmplModel:
    return SmplModel(model_files["npz"])


def random_motion(seed: int, frames: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses (T, 24, 3) with rotation angles up to 1 rad, trans (T, 3), betas (10,)."""
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(frames, 24, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    poses = axes * rng.uniform(0, 1, (frames, 24, 1))
    return poses, rng.normal(0, 0.5, (frames, 3)), rng.normal(0, 1, 10)


def test_fk_matches_smplx(model: SmplModel) -> None:
    poses, trans, betas = random_motion(seed=1)
    _, smplx_joints = model.forward(poses.reshape(len(poses), 72), trans, betas)
    rest = model.rest_joints(betas)

    numpy_joints, _ = forward_kinematics_np(poses, rest, trans)
    torch_joints, _ = forward_kinematics(torch.from_numpy(poses), torch.from_numpy(rest), torch.from_numpy(trans))

    assert np.abs(numpy_joints - smplx_joints).max() < 1e-5
    assert np.abs(torch_joints.numpy() - smplx_joints).max() < 1e-5


def test_fk_rotation_formats_agree(model: SmplModel) -> None:
    poses, trans, betas = random_motion(seed=2)
    rest, trans = torch.from_numpy(model.rest_joints(betas)), torch.from_numpy(trans)
    rotvecs = torch.from_numpy(poses)
    matrices = roma.rotvec_to_rotmat(rotvecs)
    six_d = matrices[..., :, :2].flatten(-2)

    expected, _ = forward_kinematics(rotvecs, rest, trans)
    for rotations, rep in ((matrices, "matrix"), (six_d, "6d")):
        joints, _ = forward_kinematics(rotations, rest, trans, rep=rep)
        torch.testing.assert_close(joints, expected, rtol=0, atol=1e-12)


def test_rest_pose_vertices_are_the_shaped_template(model: SmplModel) -> None:
    betas = np.random.default_rng(3).normal(size=10)
    trans = np.array([[0.1, 0.2, 0.3]])
    vertices, joints = model.forward(np.zeros((1, 72)), trans, betas)
    shaped = model.data["v_template"] + model.data["shapedirs"] @ betas
    np.testing.assert_allclose(vertices[0], shaped + trans, atol=1e-5)
    np.testing.assert_allclose(joints[0], model.rest_joints(betas) + trans, atol=1e-5)


def test_forward_batches_long_sequences(model: SmplModel) -> None:
    poses, trans, betas = random_motion(seed=4, frames=smpl_model.FORWARD_BATCH + 3)
    vertices, joints = model.forward(poses.reshape(len(poses), 72), trans, betas)
    assert vertices.shape == (len(poses), len(model.data["v_template"]), 3)
    assert joints.shape == (len(poses), 24, 3)
    _, last = model.forward(poses[-1:].reshape(1, 72), trans[-1:], betas)
    np.testing.assert_allclose(joints[-1], last[0], atol=1e-6)


def test_synthetic_model_is_smpl_shaped(model_files: dict[str, Path]) -> None:
    data = load_smpl_data(model_files["npz"])
    np.testing.assert_allclose(data["J_regressor"].sum(axis=1), 1.0)
    np.testing.assert_allclose(data["weights"].sum(axis=1), 1.0)
    assert tuple(data["kintree_table"][0]) == SMPL24.parents
    assert data["shapedirs"].shape[2] == 10 and data["posedirs"].shape[2] == 207
    again = make_synthetic_smpl(model_files["npz"].with_name("again.npz"), seed=0)
    for key, array in load_smpl_data(again).items():
        np.testing.assert_array_equal(array, data[key])


def test_pkl_with_chumpy_objects_loads_without_chumpy(model_files: dict[str, Path]) -> None:
    assert importlib.util.find_spec("chumpy") is None
    assert b"chumpy.ch" in model_files["pkl"].read_bytes()
    from_pkl, from_npz = load_smpl_data(model_files["pkl"]), load_smpl_data(model_files["npz"])
    assert from_pkl.keys() == from_npz.keys()
    for key in from_npz:
        assert from_pkl[key].dtype == from_npz[key].dtype
        np.testing.assert_array_equal(from_pkl[key], from_npz[key], err_msg=key)


class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_pickle_naming_other_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    evil = tmp_path / "SMPL_NEUTRAL.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _RunsCommand(f"touch {marker}")}, protocol=2))
    refused = r"SMPL_NEUTRAL\.pkl: refusing to unpickle (posix|os)\.system"
    with pytest.raises(SmplModelError, match=refused):
        load_smpl_data(evil)
    assert not marker.exists()


def test_missing_key_names_file_and_key(tmp_path: Path, model_files: dict[str, Path]) -> None:
    data = dict(np.load(model_files["npz"]))
    del data["weights"]
    broken = tmp_path / "broken.npz"
    np.savez(broken, **data)
    with pytest.raises(SmplModelError, match=r"broken\.npz: missing key 'weights'"):
        load_smpl_data(broken)


def test_bad_shape_names_file_and_key(tmp_path: Path, model_files: dict[str, Path]) -> None:
    data = dict(np.load(model_files["npz"]))
    data["J_regressor"] = data["J_regressor"][:23]
    broken = tmp_path / "broken.npz"
    np.savez(broken, **data)
    wrong_shape = r"broken\.npz: key 'J_regressor' has shape \(23, 288\)"
    with pytest.raises(SmplModelError, match=wrong_shape):
        load_smpl_data(broken)


@pytest.fixture
def no_default_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty default folders and no environment variable; returns the stand-in repo folder."""
    monkeypatch.delenv(smpl_model.SMPL_ENV_VAR, raising=False)
    monkeypatch.setattr(smpl_model, "USER_SMPL_FOLDER", tmp_path / "user")
    repo_folder = tmp_path / "repo_assets"
    repo_folder.mkdir()
    monkeypatch.setattr(smpl_model, "REPO_SMPL_FOLDER", repo_folder)
    return repo_folder


def test_find_ignores_the_synthetic_model(no_default_models: Path) -> None:
    make_synthetic_smpl(no_default_models / "synthetic_smpl.npz")
    assert find_smpl_model() is None


def test_find_explicit_then_env_then_folders(no_default_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_repo = make_synthetic_smpl(no_default_models / "SMPL_NEUTRAL.npz")
    assert find_smpl_model() == in_repo

    user = make_synthetic_smpl(tmp_path / "user" / "SMPL_NEUTRAL.pkl")
    assert find_smpl_model() == user

    env_folder = tmp_path / "env"
    env_model = make_synthetic_smpl(env_folder / "smpl_neutral.npz")
    monkeypatch.setenv(smpl_model.SMPL_ENV_VAR, str(env_folder))
    assert find_smpl_model() == env_model
    monkeypatch.setenv(smpl_model.SMPL_ENV_VAR, str(user))
    assert find_smpl_model() == user

    explicit = make_synthetic_smpl(tmp_path / "mine.npz")
    assert find_smpl_model(explicit) == explicit
    assert find_smpl_model(str(tmp_path / "user")) == user


def test_find_complains_about_a_given_path_without_model(no_default_models: Path, tmp_path: Path) -> None:
    make_synthetic_smpl(tmp_path / "synthetic_smpl.npz")
    with pytest.raises(SmplModelError, match="no SMPL model there"):
        find_smpl_model(tmp_path)


def test_betas_fitted_to_a_shaped_skeleton_recover_it(model_files):
    model = SmplModel(model_files["npz"])
    betas = np.linspace(-1.0, 1.0, model.num_betas)
    fitted = model.fit_betas(model.rest_joints(betas) + [0.3, 0.0, -0.2])  # placed anywhere
    np.testing.assert_allclose(
        model.rest_joints(fitted) - model.rest_joints(fitted)[0], model.rest_joints(betas) - model.rest_joints(betas)[0], atol=1e-6
    )
