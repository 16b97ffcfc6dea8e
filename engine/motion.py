"""The Motion record: the currency of the whole system, stored as an AMASS-compatible ``.npz``.

The AMASS keys (``poses`` (T, 72) axis-angle, ``trans`` (T, 3), ``betas`` (10,),
``mocap_framerate``, ``gender``) let other SMPL tools load our files. The rest are ours and
optional: ``joints`` (T, 24, 3) world joint positions, ``keypoints2d`` (T, K, 3) pixels and
confidence, ``contacts`` (T, 4) foot contacts (left heel, left toe, right heel,
right toe; a capture knows each ankle's 0/1 contact only and gives it to heel and toe alike), ``camera`` (fx, fy, cx, cy), ``source`` (file name, sha256), ``engine_version``,
``rest_joints`` (24, 3) the rest skeleton the poses are meant for (bone lengths fitted to the
clip; without it, the SMPL model's or the default skeleton), ``held`` (T,) booleans: frames
where the person was not seen, which hold the last seen pose (files from before it have none),
``first_frame_time`` the first frame's time in the source video, seconds (0 when absent),
``camera_to_world`` (T, 4, 4) the video camera's pose per frame (world ← camera, the camera's
axes OpenCV's: x right, y down, z forward; with ``camera``'s intrinsics a world point ``p``
is seen at pixel ``K (R^T (p - t))`` of that frame).

World frame is SMPL's: y up, ground at y = 0, metres. AMASS's own releases are z up; load
them with ``Motion.load`` and they keep their frame.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from engine import __version__
from engine.body.joints import SMPL24

NUM_BETAS = 10
_POSE_DIM = 3 * len(SMPL24)
# AMASS SMPL+H (52 joints) and SMPL-X (55 joints) files share SMPL's first 22 body joints.
_BODY_POSE_DIM = 3 * 22
_GENDERS = ("neutral", "male", "female")
# Expected shapes: "T" is the number of frames, None any size.
_SHAPES: dict[str, tuple[int | str | None, ...]] = {
    "poses": ("T", _POSE_DIM),
    "trans": ("T", 3),
    "betas": (NUM_BETAS,),
    "joints": ("T", len(SMPL24), 3),
    "keypoints2d": ("T", None, 3),
    "contacts": ("T", 4),
    "camera": (4,),
    "rest_joints": (len(SMPL24), 3),
    "camera_to_world": ("T", 4, 4),
}


class MotionFileError(ValueError):
    """A motion file or array that is not a valid Motion; the message names the key (and file)."""


@dataclass
class Motion:
    """SMPL motion of one person. Arrays are float32; ``T`` is the number of frames."""

    poses: np.ndarray
    trans: np.ndarray
    fps: float
    betas: np.ndarray | None = None
    gender: str = "neutral"
    joints: np.ndarray | None = None
    keypoints2d: np.ndarray | None = None
    contacts: np.ndarray | None = None
    camera: np.ndarray | None = None
    source: tuple[str, str] | None = None
    engine_version: str = __version__
    rest_joints: np.ndarray | None = None
    held: np.ndarray | None = None
    first_frame_time: float = 0.0
    camera_to_world: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.validate()

    @property
    def num_frames(self) -> int:
        return len(self.poses)

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """Where world ``points`` (T, N, 3) are seen in the source video, pixels (T, N, 2):
        through each frame's ``camera_to_world`` and the ``camera`` intrinsics."""
        if self.camera is None or self.camera_to_world is None:
            raise MotionFileError("keys 'camera' and 'camera_to_world' are needed to see points in the video")
        rotation, position = self.camera_to_world[:, None, :3, :3], self.camera_to_world[:, None, :3, 3]
        seen = np.einsum("tnji,tnj->tni", rotation, points - position)  # Rᵀ (p - t)
        return seen[..., :2] / seen[..., 2:] * self.camera[:2] + self.camera[2:]

    def validate(self) -> None:
        """Coerce arrays to float32 and check shapes, finiteness and values.

        Raises :class:`MotionFileError` naming the offending key.
        """
        if self.betas is None:
            self.betas = np.zeros(NUM_BETAS, np.float32)
        frames = np.shape(self.poses)[0] if np.ndim(self.poses) else None
        for key, shape in _SHAPES.items():
            value = getattr(self, key)
            if value is None:
                continue
            array = np.asarray(value)
            if array.dtype.kind not in "fiu":
                raise MotionFileError(f"key {key!r}: expected numbers, found dtype {array.dtype}")
            wanted = tuple(frames if d == "T" else d for d in shape)
            if array.ndim != len(shape) or any(w is not None and w != a for w, a in zip(wanted, array.shape)):
                described = "(" + ", ".join("K" if d is None else str(d) for d in shape) + ")"
                raise MotionFileError(f"key {key!r}: expected shape {described} with T={frames}, found {array.shape}")
            bad = np.argwhere(~np.isfinite(array))
            if len(bad):
                raise MotionFileError(f"key {key!r}: non-finite value at index {tuple(int(i) for i in bad[0])}")
            setattr(self, key, array.astype(np.float32))
        if frames == 0:
            raise MotionFileError("key 'poses': no frames")
        if self.held is not None:
            held = np.asarray(self.held)
            if held.dtype != bool or held.shape != (frames,):
                raise MotionFileError(f"key 'held': expected booleans of shape (T,) with T={frames}, found {held.dtype} {held.shape}")
            self.held = held
        if not np.isfinite(self.first_frame_time):
            raise MotionFileError(f"key 'first_frame_time': must be a number of seconds, found {self.first_frame_time}")
        self.first_frame_time = float(self.first_frame_time)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise MotionFileError(f"key 'mocap_framerate': must be a positive number, found {self.fps}")
        self.fps = float(self.fps)
        if self.gender not in _GENDERS:
            raise MotionFileError(f"key 'gender': expected one of {_GENDERS}, found {self.gender!r}")

    def save(self, path: str | Path) -> None:
        """Write the AMASS-compatible ``.npz`` (no pickled objects, so ``allow_pickle=False`` reads it)."""
        arrays: dict[str, np.ndarray] = {
            "poses": self.poses,
            "trans": self.trans,
            "betas": self.betas,
            "mocap_framerate": np.array(self.fps, np.float64),
            "gender": np.array(self.gender),
            "engine_version": np.array(self.engine_version),
            "first_frame_time": np.array(self.first_frame_time, np.float64),
        }
        for key in ("joints", "keypoints2d", "contacts", "camera", "rest_joints", "held", "camera_to_world"):
            if getattr(self, key) is not None:
                arrays[key] = getattr(self, key)
        if self.source is not None:
            arrays["source"] = np.array(self.source)
        with open(path, "wb") as f:  # an open file keeps numpy from appending ".npz"
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Motion:
        """Read a Motion from our ``.npz`` or any AMASS-style one (SMPL, SMPL+H or SMPL-X poses).

        SMPL+H/SMPL-X files keep their 22 body joints (hands set to zero) and first 10 betas.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise MotionFileError(f"{path}: no such file") from None
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            raise MotionFileError(f"{path}: not a readable .npz motion file ({e})") from None

        # AMASS's SMPL-X release spells the frame rate differently.
        if "mocap_frame_rate" in arrays and "mocap_framerate" not in arrays:
            arrays["mocap_framerate"] = arrays.pop("mocap_frame_rate")
        for key in ("poses", "trans", "mocap_framerate"):
            if key not in arrays:
                raise MotionFileError(f"{path}: missing key {key!r} (found {sorted(arrays)})")
        poses = arrays["poses"]
        if poses.ndim == 2 and poses.shape[1] > _POSE_DIM and poses.shape[1] % 3 == 0:
            hands = np.zeros((len(poses), _POSE_DIM - _BODY_POSE_DIM), poses.dtype)
            poses = np.concatenate([poses[:, :_BODY_POSE_DIM], hands], axis=1)
        betas = arrays.get("betas")
        if betas is not None and betas.ndim == 1 and len(betas) > NUM_BETAS:
            betas = betas[:NUM_BETAS]
        source = arrays.get("source")
        fps, first_frame_time = arrays["mocap_framerate"], arrays.get("first_frame_time", np.array(0.0))
        for key, value in (("mocap_framerate", fps), ("first_frame_time", first_frame_time)):
            if value.shape != () or value.dtype.kind not in "fiu":
                raise MotionFileError(f"{path}: key {key!r}: expected a number, found {value!r}")
        try:
            return cls(
                poses=poses,
                trans=arrays["trans"],
                fps=float(fps),
                betas=betas,
                gender=str(arrays.get("gender", "neutral")),
                joints=arrays.get("joints"),
                keypoints2d=arrays.get("keypoints2d"),
                contacts=arrays.get("contacts"),
                camera=arrays.get("camera"),
                source=None if source is None else (str(source[0]), str(source[1])),
                engine_version=str(arrays.get("engine_version", "unknown")),
                rest_joints=arrays.get("rest_joints"),
                held=arrays.get("held"),
                first_frame_time=float(first_frame_time),
                camera_to_world=arrays.get("camera_to_world"),
            )
        except MotionFileError as e:
            raise MotionFileError(f"{path}: {e}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Motion):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True
