"""FBX files: SMPL motion written through Blender's own FBX exporter.

FBX has no free writer worth trusting, so Blender writes it. Blender always runs in a child
process: the ``bpy`` module changes process-wide state (signal handlers, allocators, its own
copies of native libraries) that must not share a process with torch. The child is either
this interpreter running ``fbx_blender.py`` (when the ``bpy`` module is installed, the
``fbx`` extra) or a ``blender`` binary running the same script in background mode.

This side does all the maths with scipy and hands the child an ``.npz`` in Blender's terms:
one bone per joint, each with its rest matrix in armature space (Blender is z up), and per
frame the bones' local rotations already expressed in those rest frames. The child only
creates the bones with exactly these matrices, keys them and exports.

Bone rest frames: the head sits on the joint, the Y axis points at the joint's child (the
child on the body's centre line where there are several, so the pelvis and the chest point
up the spine), leaves continue their parent bone's direction at half its length, and the
X axis is Blender's roll-0 choice, the shortest rotation taking +Y onto the bone.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.joints import SMPL24, JointSet
from engine.geometry import continuous_quaternions

_CHILD_SCRIPT = Path(__file__).with_name("fbx_blender.py")

# SMPL's world (y up, body facing +z) to Blender's (z up, body facing -y): (x, y, z) -> (x, -z, y).
_SMPL_TO_BLENDER = Rotation.from_euler("x", 90, degrees=True)

# Shorter bones than this have no direction; Blender would also delete them.
_MIN_BONE = 1e-4


class FbxUnavailableError(RuntimeError):
    """Neither the ``bpy`` module nor a Blender binary is available to write FBX."""


def _find_backend() -> tuple[str, str] | None:
    """("blender", path) or ("bpy", version), or None; ENGINE_BLENDER, when set, is the only choice."""
    configured = os.environ.get("ENGINE_BLENDER")
    if configured:
        binary = shutil.which(configured)
        return ("blender", binary) if binary else None
    if importlib.util.find_spec("bpy") is not None:
        try:
            return "bpy", importlib.metadata.version("bpy")
        except importlib.metadata.PackageNotFoundError:  # a bpy built from source, without metadata
            return "bpy", "(unknown version)"
    binary = shutil.which("blender")
    return ("blender", binary) if binary else None


def blender_backend() -> str | None:
    """What :func:`write_fbx` will run: ``"bpy <version> (module)"``, ``"blender <path>"`` or None.

    A Blender binary named by the ``ENGINE_BLENDER`` environment variable comes first (an
    explicit choice: None if it names no executable), then the ``bpy`` module, then
    ``blender`` on PATH. ``bpy`` is looked up, never imported, in this process.
    """
    backend = _find_backend()
    if backend is None:
        return None
    kind, where = backend
    return f"bpy {where} (module)" if kind == "bpy" else f"blender {where}"


def _child_command(args: list[str]) -> list[str]:
    backend = _find_backend()
    configured = os.environ.get("ENGINE_BLENDER")
    if backend is None and configured:
        raise FbxUnavailableError(f"ENGINE_BLENDER={configured!r} names no executable Blender binary")
    if backend is None:
        raise FbxUnavailableError(
            "Writing FBX needs Blender: install the bpy module with "
            '`pip install "mocap-engine[fbx]"`, or put a `blender` binary on PATH '
            "or name it in the ENGINE_BLENDER environment variable."
        )
    kind, where = backend
    if kind == "bpy":
        # -P keeps this package's directory off the child's sys.path, where our module
        # names (fbx, bvh) could shadow what Blender's add-ons import.
        return [sys.executable, "-P", str(_CHILD_SCRIPT), *args]
    # Without --python-exit-code Blender exits 0 even when the script raises.
    return [where, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(_CHILD_SCRIPT), "--", *args]


def _to_blender(rotations: Rotation) -> Rotation:
    """The same rotations seen in Blender's frame: C·R·Cᵀ."""
    return _SMPL_TO_BLENDER * rotations * _SMPL_TO_BLENDER.inv()


def _bone_vectors(rest: np.ndarray, joint_set: JointSet) -> tuple[np.ndarray, np.ndarray]:
    """Each bone's direction (J, 3) and length (J,), in the frame of ``rest``."""
    parents, children = joint_set.parents, joint_set.children
    for j in range(1, len(joint_set)):
        if np.linalg.norm(rest[j] - rest[parents[j]]) < _MIN_BONE:
            raise ValueError(f"rest joint {joint_set.names[j]} coincides with its parent")
    paired = {i for pair in joint_set.flip_pairs for i in pair}
    directions, lengths = [], []
    for j, kids in enumerate(children):
        if kids:
            target = next((k for k in kids if k not in paired), kids[0])
            vector, scale = rest[target] - rest[j], 1.0
        else:
            vector, scale = rest[j] - rest[parents[j]], 0.5
        norm = np.linalg.norm(vector)
        directions.append(vector / norm)
        lengths.append(scale * norm)
    return np.array(directions), np.array(lengths)


def _blender_arrays(
    poses: np.ndarray, trans: np.ndarray, fps: float, rest_joints: np.ndarray, joint_set: JointSet = SMPL24
) -> dict[str, np.ndarray]:
    """The arrays ``fbx_blender.py`` reads, in Blender's frame (see the module docstring).

    ``rest_matrices`` (J, 4, 4) are the bones' rest matrices in armature space, ``lengths``
    (J,) their lengths, ``quaternions`` (T, J, 4) (w, x, y, z) the pose-bone rotations in
    their rest frames, ``root_location`` (T, 3) the root bone's location key (in its rest
    frame), ``fps`` the frame rate; ``names``, ``parents`` and ``armature`` name the tree.
    """
    joints = len(joint_set)
    frames = len(poses)
    poses = np.asarray(poses, np.float64)
    trans = np.asarray(trans, np.float64)
    rest = np.asarray(rest_joints, np.float64)
    if frames == 0 or poses.size != frames * joints * 3:
        raise ValueError(f"poses: expected shape (T, {3 * joints}) with T > 0, got {poses.shape}")
    if trans.shape != (frames, 3):
        raise ValueError(f"trans: expected shape ({frames}, 3), got {trans.shape}")
    if rest.shape != (joints, 3):
        raise ValueError(f"rest_joints: expected shape ({joints}, 3), got {rest.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all() and np.isfinite(rest).all()):
        raise ValueError("poses, trans and rest_joints must be finite")

    heads = _SMPL_TO_BLENDER.apply(rest)
    directions, lengths = _bone_vectors(heads, joint_set)
    # Blender's roll-0 frame: the shortest rotation from +Y onto the bone.
    rest_rot = [Rotation.align_vectors(d[None], [[0.0, 1.0, 0.0]])[0] for d in directions]
    rest_matrices = np.tile(np.eye(4), (joints, 1, 1))
    rest_matrices[:, :3, :3] = np.array([r.as_matrix() for r in rest_rot])
    rest_matrices[:, :3, 3] = heads

    rotvecs = poses.reshape(frames, joints, 3)
    quats = np.empty((frames, joints, 4))
    for j, m in enumerate(rest_rot):
        local = _to_blender(Rotation.from_rotvec(rotvecs[:, j]))
        quats[:, j] = (m.inv() * local * m).as_quat(scalar_first=True)
    root_location = rest_rot[0].inv().apply(_SMPL_TO_BLENDER.apply(trans))

    return {
        "armature": np.array(joint_set.name),
        "names": np.array(joint_set.names),
        "parents": np.array(joint_set.parents),
        "rest_matrices": rest_matrices,
        "lengths": lengths,
        "quaternions": continuous_quaternions(quats),
        "root_location": root_location,
        "fps": np.array(float(fps)),
    }


def write_fbx(
    path: str | Path,
    poses: np.ndarray,
    trans: np.ndarray,
    fps: float,
    rest_joints: np.ndarray,
    joint_set: JointSet = SMPL24,
) -> None:
    """Write SMPL-style motion as an FBX armature animation, through Blender.

    Arguments as for :func:`engine.io.bvh.write_bvh`: ``poses`` (T, 3J) axis-angle,
    parent-relative; ``trans`` (T, 3) root translation in metres; ``rest_joints`` (J, 3)
    rest-pose joint positions in metres (the pelvis sits at ``rest_joints[0] + trans``).
    The file holds only the armature, one key per frame from frame 1, y up and -z forward
    (Blender's FBX defaults), no leaf bones. Raises :class:`FbxUnavailableError` without
    Blender, and RuntimeError with the end of Blender's error output if it fails.
    """
    arrays = _blender_arrays(poses, trans, fps, rest_joints, joint_set)
    out = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="engine-fbx-") as tmp:
        data = Path(tmp) / "motion.npz"
        np.savez(data, **arrays)
        command = _child_command([str(data), str(out)])
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"Blender failed to write {out} (exit code {result.returncode}); the end of its error output:\n{result.stderr[-3000:]}"
        )
