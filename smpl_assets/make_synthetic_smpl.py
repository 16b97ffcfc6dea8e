"""Write a small synthetic body model in the SMPL file format, for tests and demos.

It is not a human body and not derived from the licensed SMPL model: a jittered
icosahedron (12 vertices) around each joint of the engine's default SMPL24 rest skeleton
(``engine.body.skeleton``), 288 vertices in all, with SMPL's keys, shapes and dtypes:
a joint regressor averaging each joint's own vertices (rows sum to 1), skinning weights
split between a vertex's joint and that joint's parent, 10 shape directions that move
whole blobs (so betas change bone lengths), 207 small pose directions, faces, and the
SMPL24 kinematic tree. Everything follows from the seed.

``.npz`` output is plain numpy. ``.pkl`` output copies the official file's layout, arrays
as chumpy ``Ch`` objects (imitated: chumpy is not needed) and a scipy sparse regressor, so
that the engine's restricted unpickler is tested on what it meets in the wild.

    python smpl_assets/make_synthetic_smpl.py [--out smpl_assets/synthetic_smpl.npz] [--seed 0]

The file name must stay different from the real model's names (SMPL_NEUTRAL.*), so that
``engine.body.smpl_model.find_smpl_model`` never mistakes it for a real body.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import types
from pathlib import Path
from unittest import mock

import numpy as np
import scipy.sparse
from scipy.spatial import ConvexHull

from engine.body.joints import SMPL24
from engine.body.skeleton import default_rest_joints

NUM_BETAS = 10
NUM_POSE_BASIS = (len(SMPL24) - 1) * 9
# The real SMPL template has its pelvis below and in front of the origin; so does this one,
# so that code assuming a pelvis at the origin fails on the synthetic model too.
PELVIS = np.array([0.0, -0.22, 0.03])
UINT32_MINUS_ONE = 2**32 - 1  # how the official kintree_table stores the root's parent


def _icosahedron() -> tuple[np.ndarray, np.ndarray]:
    """Unit icosahedron vertices (12, 3) and outward-facing triangles (20, 3)."""
    phi = (1 + 5**0.5) / 2
    base = [(0, s1, s2 * phi) for s1 in (-1, 1) for s2 in (-1, 1)]
    vertices = np.array([np.roll(v, shift) for shift in range(3) for v in base], dtype=np.float64)
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    faces = ConvexHull(vertices).simplices
    # The hull does not orient its triangles; flip those whose normal points inwards.
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a) < 0
    faces[inward] = faces[inward][:, ::-1]
    return vertices, faces


def synthetic_smpl_data(seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic model's arrays under SMPL's keys, shapes and dtypes."""
    rng = np.random.default_rng(seed)
    num_joints = len(SMPL24)
    parents = np.array(SMPL24.parents)
    ico_vertices, ico_faces = _icosahedron()
    per_joint = len(ico_vertices)
    num_vertices = num_joints * per_joint
    owner = np.repeat(np.arange(num_joints), per_joint)  # the joint each vertex surrounds
    every_vertex = np.arange(num_vertices)

    centres = default_rest_joints() + PELVIS
    radii = rng.uniform(0.04, 0.08, (num_joints, 1, 1))
    jitter = rng.normal(0, 0.005, (num_joints, per_joint, 3))
    blobs = centres[:, None] + radii * ico_vertices + jitter
    v_template = blobs.reshape(num_vertices, 3)
    faces = (ico_faces[None] + per_joint * np.arange(num_joints)[:, None, None]).reshape(-1, 3)

    j_regressor = np.zeros((num_joints, num_vertices))
    j_regressor[owner, every_vertex] = rng.dirichlet(np.ones(per_joint), num_joints).ravel()

    own_share = np.where(owner == 0, 1.0, rng.uniform(0.6, 1.0, num_vertices))
    weights = np.zeros((num_vertices, num_joints))
    weights[every_vertex, owner] = own_share
    weights[every_vertex, np.maximum(parents[owner], 0)] += 1 - own_share  # the root's share is 0

    blob_shift = rng.normal(0, 0.02, (num_joints, 3, NUM_BETAS))
    shape_noise = rng.normal(0, 0.002, (num_vertices, 3, NUM_BETAS))
    shapedirs = np.repeat(blob_shift, per_joint, axis=0) + shape_noise
    posedirs = rng.normal(0, 0.002, (num_vertices, 3, NUM_POSE_BASIS))

    kintree_table = np.array([parents, np.arange(num_joints)])
    kintree_table[0, 0] = UINT32_MINUS_ONE
    return {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree_table.astype(np.uint32),
        "f": faces.astype(np.uint32),
    }


class _FakeCh:
    """Pickles exactly like a plain ``chumpy.ch.Ch`` array: same class path, same state."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self._dirty_vars: set[str] = set()
        self._itr = None
        self._make_dense = False
        self._make_sparse = False


_FakeCh.__module__ = "chumpy.ch"
_FakeCh.__qualname__ = _FakeCh.__name__ = "Ch"


def _write_official_pkl(data: dict[str, np.ndarray], path: Path) -> None:
    """A pickle in the official SMPL file's layout (protocol 2, as the Python-2 original)."""
    content = {key: _FakeCh(data[key]) for key in ("v_template", "shapedirs", "posedirs", "weights")}
    content["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
    content["kintree_table"] = data["kintree_table"]
    content["f"] = data["f"]
    content["J"] = data["J_regressor"] @ data["v_template"]
    content["bs_style"] = "lbs"
    content["bs_type"] = "lrotmin"
    # pickle writes a class by its module path and checks the path leads back to it, so
    # chumpy.ch must resolve to the imitation while dumping (and only then).
    chumpy, chumpy_ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    chumpy_ch.Ch = chumpy.Ch = _FakeCh
    chumpy.ch = chumpy_ch
    with mock.patch.dict(sys.modules, {"chumpy": chumpy, "chumpy.ch": chumpy_ch}):
        with open(path, "wb") as file:
            pickle.dump(content, file, protocol=2)


def make_synthetic_smpl(path: str | Path, seed: int = 0) -> Path:
    """Write the synthetic model to ``path``: plain ``.npz``, or ``.pkl`` in the official layout."""
    path = Path(path)
    data = synthetic_smpl_data(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        np.savez(path, **data)
    elif path.suffix == ".pkl":
        _write_official_pkl(data, path)
    else:
        raise ValueError(f"{path}: the synthetic model is written as .npz or .pkl")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("synthetic_smpl.npz"), help="output file, .npz or .pkl (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_synthetic_smpl(args.out, args.seed))


if __name__ == "__main__":
    main()
