"""SMPL model files: find them, read them without chumpy, and run the body model through smplx.

The official SMPL model (``SMPL_NEUTRAL.pkl``, licensed, never shipped) is a Python-2 pickle
whose arrays are chumpy ``Ch`` objects and a scipy sparse joint regressor. chumpy does not
install on current Python, and a pickle can run any code it names, so :func:`load_smpl_data`
unpickles through an allow-list: numpy's array reconstruction, and stand-ins that merely
record the state of chumpy arrays and scipy sparse matrices. Anything else is refused by name.
Plain ``.npz`` files with the same keys load too.

Without a model file the engine still works on joints and rotations (``engine.body.skeleton``);
with one, :class:`SmplModel` adds shaped rest joints and meshes.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.sparse
import smplx
import torch

from engine.body.joints import SMPL24

SMPL_ENV_VAR = "ENGINE_SMPL_MODEL"
# File names looked for inside a folder, in this order. The synthetic test model
# (synthetic_smpl.npz) is deliberately absent: it must never pass for a real body.
SMPL_FILE_NAMES = (
    "SMPL_NEUTRAL.pkl",
    "SMPL_NEUTRAL.npz",
    "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
    "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
    "smpl_neutral.npz",
)
USER_SMPL_FOLDER = Path("~/.local/share/mocap-engine/smpl")
REPO_SMPL_FOLDER = Path(__file__).resolve().parents[2] / "smpl_assets"

NUM_JOINTS = len(SMPL24)
NUM_POSE_BASIS = (NUM_JOINTS - 1) * 9  # one 3x3 rotation minus identity per non-root joint
MAX_BETAS = 10
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
FORWARD_BATCH = 256  # frames per smplx call: bounds memory at ~20 MB of vertices for SMPL


class SmplModelError(ValueError):
    """A model file that is missing, unreadable, refused or not in the SMPL layout."""


# ---------------------------------------------------------------------------- reading


class _ChumpyArray:
    """Stands in for ``chumpy.Ch`` while unpickling: keeps the pickled attributes, where
    the array lives under ``x``, and runs none of chumpy's code."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class _SparseState:
    """Stands in for a pickled scipy sparse matrix; rebuilt through scipy's public
    constructor, so old pickles (scipy 0.x attribute layout) and new ones both load."""

    matrix_class: type

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class _CscState(_SparseState):
    matrix_class = scipy.sparse.csc_matrix


class _CsrState(_SparseState):
    matrix_class = scipy.sparse.csr_matrix


# Globals a SMPL pickle may name that are loaded as themselves: numpy's array and scalar
# reconstruction (numpy 1 and 2 spell the module differently), sets (chumpy keeps one in
# every Ch), and _codecs.encode, which Python 3 uses to write bytes under protocol 2.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("__builtin__", "set"),
    ("builtins", "set"),
    ("_codecs", "encode"),
}
_STAND_INS: dict[tuple[str, str], type] = {
    ("chumpy.ch", "Ch"): _ChumpyArray,
    ("chumpy", "Ch"): _ChumpyArray,
    ("scipy.sparse.csc", "csc_matrix"): _CscState,
    ("scipy.sparse._csc", "csc_matrix"): _CscState,
    ("scipy.sparse.csr", "csr_matrix"): _CsrState,
    ("scipy.sparse._csr", "csr_matrix"): _CsrState,
}


class _SmplUnpickler(pickle.Unpickler):
    """Unpickles only what an SMPL model file is made of; see the module docstring."""

    def __init__(self, file: io.BufferedReader, path: Path) -> None:
        super().__init__(file, encoding="latin1")  # Python-2 str holding numpy bytes
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _STAND_INS:
            return _STAND_INS[module, name]
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise SmplModelError(
            f"{self.path}: refusing to unpickle {module}.{name}: an SMPL model file holds only "
            "numpy arrays, chumpy arrays and scipy sparse matrices"
        )


def _plain(value: Any, path: Path, key: str) -> Any:
    """numpy for the stand-ins, unchanged for everything else."""
    if isinstance(value, _ChumpyArray):
        if "x" not in value.state:
            raise SmplModelError(f"{path}: key {key!r} is a chumpy object without an array 'x'")
        return value.state["x"]
    if isinstance(value, _SparseState):
        s = value.state
        shape = s.get("_shape", s.get("shape"))
        try:
            matrix = value.matrix_class((s["data"], s["indices"], s["indptr"]), shape=shape)
        except (KeyError, ValueError, TypeError) as error:
            message = f"{path}: key {key!r} is a broken sparse matrix: {error}"
            raise SmplModelError(message) from error
        return matrix.toarray()
    return value


def _read_pkl(path: Path) -> dict[str, Any]:
    with open(path, "rb") as file:
        try:
            content = _SmplUnpickler(file, path).load()
        except SmplModelError:
            raise
        except Exception as error:  # a truncated or foreign pickle fails in many ways
            raise SmplModelError(f"{path}: not a readable SMPL pickle: {error}") from error
    if not isinstance(content, dict):
        raise SmplModelError(f"{path}: holds a {type(content).__name__}, not a dict of arrays")
    return {key: _plain(content[key], path, key) for key in REQUIRED_KEYS if key in content}


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise SmplModelError(f"{path}: not a readable .npz file: {error}") from error
    raw = {}
    with archive:
        for key in set(REQUIRED_KEYS) & set(archive.files):
            try:
                raw[key] = archive[key]
            except ValueError as error:  # an object array, which would need pickle
                raise SmplModelError(f"{path}: key {key!r} cannot be read: {error}") from error
    return raw


def _array(raw: dict[str, Any], key: str, path: Path, dtype: type) -> np.ndarray:
    if key not in raw:
        raise SmplModelError(f"{path}: missing key {key!r}")
    try:
        return np.asarray(raw[key], dtype=dtype)
    except (TypeError, ValueError) as error:
        raise SmplModelError(f"{path}: key {key!r} is not a numeric array: {error}") from error


def _check_shape(array: np.ndarray, expected: tuple[int | None, ...], path: Path, key: str) -> None:
    mismatch = any(e is not None and e != n for e, n in zip(expected, array.shape))
    if array.ndim != len(expected) or mismatch:
        wanted = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise SmplModelError(f"{path}: key {key!r} has shape {array.shape}, expected {wanted}")


def load_smpl_data(path: str | Path) -> dict[str, np.ndarray]:
    """The SMPL model in ``path`` (official ``.pkl`` or ``.npz``) as plain numpy arrays.

    Returns ``v_template`` (V, 3), ``shapedirs`` (V, 3, B), ``posedirs`` (V, 3, 207),
    ``J_regressor`` (24, V) dense, ``weights`` (V, 24), all float64, and ``kintree_table``
    (2, 24) with the root's parent as -1 and ``f`` (F, 3), both int64. Other keys are
    dropped. Raises :class:`SmplModelError` naming the file and the key at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise SmplModelError(f"{path}: no such file")
    if path.suffix == ".npz":
        raw = _read_npz(path)
    elif path.suffix == ".pkl":
        raw = _read_pkl(path)
    else:
        raise SmplModelError(f"{path}: expected a .pkl or .npz SMPL model file")

    data = {key: _array(raw, key, path, np.float64) for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")}
    data["kintree_table"] = _array(raw, "kintree_table", path, np.int64)
    data["f"] = _array(raw, "f", path, np.int64)

    _check_shape(data["v_template"], (None, 3), path, "v_template")
    num_vertices = data["v_template"].shape[0]
    _check_shape(data["shapedirs"], (num_vertices, 3, None), path, "shapedirs")
    _check_shape(data["posedirs"], (num_vertices, 3, NUM_POSE_BASIS), path, "posedirs")
    _check_shape(data["J_regressor"], (NUM_JOINTS, num_vertices), path, "J_regressor")
    _check_shape(data["weights"], (num_vertices, NUM_JOINTS), path, "weights")
    _check_shape(data["kintree_table"], (2, NUM_JOINTS), path, "kintree_table")
    _check_shape(data["f"], (None, 3), path, "f")

    # The official file stores the root's parent as 2**32 - 1 (uint32 -1).
    data["kintree_table"][0, 0] = -1
    if tuple(data["kintree_table"][0]) != SMPL24.parents:
        raise SmplModelError(f"{path}: key 'kintree_table' is not the SMPL24 joint tree")
    if data["f"].size and (data["f"].min() < 0 or data["f"].max() >= num_vertices):
        raise SmplModelError(f"{path}: key 'f' indexes vertices outside 0..{num_vertices - 1}")
    for key, array in data.items():
        if not np.all(np.isfinite(array)):
            raise SmplModelError(f"{path}: key {key!r} holds non-finite values")
    return data


# ---------------------------------------------------------------------------- the model


class SmplModel:
    """A SMPL body model file, run through ``smplx.SMPL`` (float32, CPU, no gradients).

    ``num_betas`` is the file's number of shape components, at most 10.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.data = load_smpl_data(self.path)
        self.num_betas = min(self.data["shapedirs"].shape[2], MAX_BETAS)
        self.faces = self.data["f"]
        # smplx always appends joints picked from mesh vertices at SMPL-topology indices
        # (nose, eyes, ears; toes and fingertips unless switched off). We keep only the 24
        # regressed joints, so the picks point at vertex 0, which any mesh has. smplx also
        # prints a warning to stdout for every model with fewer than 300 betas.
        with contextlib.redirect_stdout(io.StringIO()):
            self.body = smplx.SMPL(
                model_path=str(self.path),
                data_struct=SimpleNamespace(**self.data),
                num_betas=self.num_betas,
                gender="neutral",
                create_betas=False,
                create_global_orient=False,
                create_body_pose=False,
                create_transl=False,
                vertex_ids=dict.fromkeys(("nose", "reye", "leye", "rear", "lear"), 0),
                use_hands=False,
                use_feet_keypoints=False,
            )
        self.body.eval()

    def _betas(self, betas: np.ndarray) -> np.ndarray:
        betas = np.asarray(betas, dtype=np.float64)
        if betas.shape != (self.num_betas,):
            raise ValueError(f"betas have shape {betas.shape}, the model takes ({self.num_betas},)")
        return betas

    def rest_joints(self, betas: np.ndarray) -> np.ndarray:
        """Rest-pose joint positions (24, 3) in metres of the body shaped by ``betas``."""
        shapedirs = self.data["shapedirs"][:, :, : self.num_betas]
        shaped = self.data["v_template"] + shapedirs @ self._betas(betas)
        return self.data["J_regressor"] @ shaped

    def fit_betas(self, rest_joints: np.ndarray) -> np.ndarray:
        """The betas (num_betas,) whose rest joints best match ``rest_joints`` (24, 3), each
        relative to its pelvis (least squares: the joints are linear in the betas)."""
        regressed = self.data["J_regressor"] @ np.moveaxis(self.data["shapedirs"][:, :, : self.num_betas], 2, 0)  # (B, 24, 3)
        regressed = regressed - regressed[:, :1]
        template = self.rest_joints(np.zeros(self.num_betas))
        target = (rest_joints - rest_joints[0]) - (template - template[0])
        betas, *_ = np.linalg.lstsq(regressed.reshape(self.num_betas, -1).T, target.ravel(), rcond=None)
        return betas

    def forward(self, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posed vertices (T, V, 3) and SMPL24 joints (T, 24, 3), float32, in metres.

        ``poses`` (T, 72) axis-angle (global orientation first), ``trans`` (T, 3),
        ``betas`` (num_betas,) shared by every frame.
        """
        poses = np.asarray(poses, dtype=np.float32)
        trans = np.asarray(trans, dtype=np.float32)
        if poses.ndim != 2 or poses.shape[1] != NUM_JOINTS * 3 or trans.shape != (len(poses), 3):
            raise ValueError(f"poses {poses.shape} and trans {trans.shape}: expected (T, 72) and (T, 3)")
        betas_row = torch.as_tensor(self._betas(betas), dtype=torch.float32)[None]
        vertices, joints = [], []
        with torch.no_grad():
            for start in range(0, len(poses), FORWARD_BATCH):
                pose = torch.from_numpy(poses[start : start + FORWARD_BATCH])
                out = self.body(
                    betas=betas_row.expand(len(pose), -1),
                    global_orient=pose[:, :3],
                    body_pose=pose[:, 3:],
                    transl=torch.from_numpy(trans[start : start + FORWARD_BATCH]),
                )
                vertices.append(out.vertices.numpy())
                joints.append(out.joints[:, :NUM_JOINTS].numpy())
        if not vertices:  # no frames
            empty = np.zeros((0, len(self.data["v_template"]), 3), np.float32)
            return empty, np.zeros((0, NUM_JOINTS, 3), np.float32)
        return np.concatenate(vertices), np.concatenate(joints)


# ---------------------------------------------------------------------------- finding


def _model_in(location: Path) -> Path | None:
    """``location`` itself if it is a file, else the first SMPL file name found in it."""
    if location.is_file():
        return location
    if location.is_dir():
        for name in SMPL_FILE_NAMES:
            if (location / name).is_file():
                return location / name
    return None


def _given_model(location: Path, origin: str) -> Path:
    found = _model_in(location.expanduser())
    if found is None:
        raise SmplModelError(f"{location} (from {origin}): no SMPL model there; a folder must hold one of " + ", ".join(SMPL_FILE_NAMES))
    return found


def find_smpl_model(explicit: str | Path | None = None) -> Path | None:
    """The SMPL model file to use, or None when there is none.

    Looks, in order, at ``explicit`` (``--smpl PATH``), the ``ENGINE_SMPL_MODEL``
    environment variable, then the folders :data:`USER_SMPL_FOLDER` and
    :data:`REPO_SMPL_FOLDER`; each may be a file or a folder holding one of
    :data:`SMPL_FILE_NAMES`. A path the user gave (argument or variable) that holds no
    model raises :class:`SmplModelError` rather than being skipped silently.
    """
    if explicit is not None:
        return _given_model(Path(explicit), "--smpl")
    if os.environ.get(SMPL_ENV_VAR):
        return _given_model(Path(os.environ[SMPL_ENV_VAR]), SMPL_ENV_VAR)
    for folder in (USER_SMPL_FOLDER.expanduser(), REPO_SMPL_FOLDER):
        found = _model_in(folder)
        if found is not None:
            return found
    return None


def smpl_search_locations() -> list[str]:
    """Where :func:`find_smpl_model` looks, in order, one line each (for ``engine info``)."""
    env_value = os.environ.get(SMPL_ENV_VAR)
    return [
        "--smpl PATH (a model file or a folder holding one)",
        f"${SMPL_ENV_VAR} = {env_value}" if env_value else f"${SMPL_ENV_VAR} (not set)",
        str(USER_SMPL_FOLDER.expanduser()),
        str(REPO_SMPL_FOLDER),
        "file names looked for in a folder: " + ", ".join(SMPL_FILE_NAMES),
    ]
