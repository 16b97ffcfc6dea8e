"""BVH files: a reader for any ordinary BVH and a writer for SMPL motion.

Reading follows the usual interpretation of the format: a joint's local transform is
``translate(t) @ rotate(channels)``, where ``t`` is the joint's OFFSET unless the joint has
position channels, which then replace it (so a root's position channels are absolute);
rotation channels compose in the order listed (intrinsic Euler angles, degrees).

What we write: y up, the body facing +z (SMPL's world frame), centimetres by default,
one JOINT per SMPL24 joint with its offset from the rest skeleton, six channels on the
pelvis (its absolute position, then rotations) and three on every other joint, rotation
order ``Zrotation Yrotation Xrotation``. Blender imports it with its defaults
(forward -Z, up Y) and ``global_scale=0.01``.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.joints import SMPL24, JointSet
from engine.body.kinematics import forward_kinematics_np, positions_from_offsets

_POSITION = ("Xposition", "Yposition", "Zposition")
_ROTATION = ("Xrotation", "Yrotation", "Zrotation")
UNIT_SCALE = {"m": 1.0, "cm": 100.0}


class BvhError(ValueError):
    """A BVH file that cannot be read; the message names the file and the place."""


@dataclass
class Bvh:
    """One BVH file: its joint tree and its motion, in the file's own units.

    ``motion`` is (frames, channels) with the channels of all joints in file order;
    ``channels[j]`` lists joint ``j``'s channel names and ``end_sites[j]`` the offset of
    joint ``j``'s End Site, if it has one.
    """

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    frame_time: float
    motion: np.ndarray
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return self.motion.shape[0]

    def _channel_columns(self) -> list[dict[str, int]]:
        columns, start = [], 0
        for chans in self.channels:
            columns.append({c: start + i for i, c in enumerate(chans)})
            start += len(chans)
        return columns

    def local_rotations(self) -> np.ndarray:
        """Parent-relative rotation matrices (frames, J, 3, 3)."""
        rotmats = np.broadcast_to(np.eye(3), (self.num_frames, len(self.names), 3, 3)).copy()
        for j, (chans, cols) in enumerate(zip(self.channels, self._channel_columns())):
            axes = [c[0] for c in chans if c in _ROTATION]
            if axes:
                angles = self.motion[:, [cols[a + "rotation"] for a in axes]]
                rotmats[:, j] = Rotation.from_euler("".join(axes), angles, degrees=True).as_matrix()
        return rotmats

    def local_offsets(self) -> np.ndarray:
        """Parent-relative joint translations (frames, J, 3): OFFSET, or position channels."""
        offsets = np.broadcast_to(self.offsets, (self.num_frames,) + self.offsets.shape).copy()
        for j, cols in enumerate(self._channel_columns()):
            for axis, name in enumerate(_POSITION):
                if name in cols:
                    offsets[:, j, axis] = self.motion[:, cols[name]]
        return offsets

    def world(self) -> tuple[np.ndarray, np.ndarray]:
        """World joint positions (frames, J, 3), in the file's units, and rotations (frames, J, 3, 3)."""
        rest = positions_from_offsets(self.local_offsets(), self.parents)
        return forward_kinematics_np(self.local_rotations(), rest, parents=self.parents, rep="matrix")

    def world_positions(self) -> np.ndarray:
        """World joint positions (frames, J, 3), in the file's units."""
        return self.world()[0]

    def rest_positions(self) -> np.ndarray:
        """Joint positions (J, 3) of the tree with every rotation zero, from the OFFSETs."""
        return positions_from_offsets(self.offsets, self.parents)


def _open_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            return f.read()
    except (OSError, EOFError) as e:  # EOFError: a gzip stream cut short
        raise BvhError(f"{path}: cannot read: {e}") from e


class _Tokens:
    def __init__(self, text: str, source: str):
        self.items = text.split()
        self.pos = 0
        self.source = source

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise BvhError(f"{self.source}: file ends early (expected {what})")
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, word: str) -> None:
        got = self.next(repr(word))
        if got != word:
            raise BvhError(f"{self.source}: expected {word!r}, found {got!r} (token {self.pos})")

    def number(self, what: str) -> float:
        token = self.next(what)
        try:
            value = float(token)
        except ValueError:
            raise BvhError(f"{self.source}: expected a number for {what}, found {token!r}") from None
        if not math.isfinite(value):
            raise BvhError(f"{self.source}: {what} is {token}")
        return value


def _parse_hierarchy(tok: _Tokens) -> tuple[list[str], list[int], list, list, dict]:
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_sites: dict[int, np.ndarray] = {}
    tok.expect("HIERARCHY")
    tok.expect("ROOT")
    stack: list[int] = []  # open joints; -1 marks an open End Site
    name = tok.next("root name")
    while True:
        # `name` is a new joint whose parent is the innermost open joint.
        tok.expect("{")
        parents.append(stack[-1] if stack else -1)
        names.append(name)
        stack.append(len(names) - 1)
        tok.expect("OFFSET")
        offsets.append([tok.number(f"OFFSET of {name}") for _ in range(3)])
        chans: tuple[str, ...] = ()
        if tok.items[tok.pos : tok.pos + 1] == ["CHANNELS"]:
            tok.pos += 1
            count = int(tok.number(f"channel count of {name}"))
            chans = tuple(tok.next(f"channel of {name}") for _ in range(count))
            unknown = [c for c in chans if c not in _POSITION + _ROTATION]
            if unknown:
                raise BvhError(f"{tok.source}: joint {name}: unknown channel {unknown[0]!r}")
        channels.append(chans)
        # Children, End Sites and closing braces until the next joint or the end of the tree.
        while True:
            word = tok.next("JOINT, End Site or }")
            if word == "JOINT":
                name = tok.next("joint name")
                break
            if word == "End":
                tok.expect("Site")
                tok.expect("{")
                tok.expect("OFFSET")
                end_sites[stack[-1]] = np.array([tok.number(f"End Site of {names[stack[-1]]}") for _ in range(3)])
                tok.expect("}")
            elif word == "}":
                stack.pop()
                if not stack:
                    return names, parents, offsets, channels, end_sites
            else:
                raise BvhError(f"{tok.source}: unexpected {word!r} inside joint {names[stack[-1]]}")


def read_bvh(path: str | Path, keep_truncated: bool = False) -> Bvh:
    """Read a ``.bvh`` or ``.bvh.gz`` file.

    Raises :class:`BvhError` naming the file and the problem: a malformed hierarchy, a
    motion section with fewer values than ``Frames`` promises (unless ``keep_truncated``,
    which keeps the complete frames), or a non-finite value (with its frame and channel).
    """
    path = Path(path)
    text = _open_text(path)
    head, sep, body = text.partition("MOTION")
    if not sep:
        raise BvhError(f"{path}: no MOTION section")
    names, parents, offsets, channels, end_sites = _parse_hierarchy(_Tokens(head, str(path)))

    tok = _Tokens(body, str(path))
    tok.expect("Frames:")
    frames = int(tok.number("Frames"))
    tok.expect("Frame")
    tok.expect("Time:")
    frame_time = tok.number("Frame Time")
    if frame_time <= 0:
        raise BvhError(f"{path}: Frame Time must be positive, found {frame_time}")
    width = sum(len(c) for c in channels)
    try:
        values = np.array(tok.items[tok.pos :], dtype=np.float64)
    except ValueError:
        bad = next(t for t in tok.items[tok.pos :] if not _is_number(t))
        raise BvhError(f"{path}: non-numeric value {bad!r} in the motion section") from None
    complete = len(values) // width if width else frames
    if len(values) != frames * width:
        if not (keep_truncated and complete < frames):
            raise BvhError(
                f"{path}: header promises {frames} frames of {width} channels, found {len(values)} values ({complete} complete frames)"
            )
        frames = complete
    motion = values[: frames * width].reshape(frames, width)
    bad = np.argwhere(~np.isfinite(motion))
    if len(bad):
        frame, col = bad[0]
        joint, channel = [(names[j], c) for j, chans in enumerate(channels) for c in chans][col]
        raise BvhError(f"{path}: non-finite value at frame {frame}, joint {joint} channel {channel}")
    return Bvh(names, parents, np.array(offsets), channels, frame_time, motion, end_sites, str(path))


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def write_bvh(
    path: str | Path,
    poses: np.ndarray,
    trans: np.ndarray,
    fps: float,
    rest_joints: np.ndarray,
    joint_set: JointSet = SMPL24,
    units: str = "cm",
) -> None:
    """Write SMPL-style motion as BVH (see the module docstring for the conventions).

    ``poses`` (T, 3J) axis-angle, ``trans`` (T, 3) root translation in metres,
    ``rest_joints`` (J, 3) rest-pose joint positions in metres (the pelvis sits at
    ``rest_joints[0] + trans``, as in SMPL). Leaf joints get an End Site half as long as
    the bone that leads to them, pointing the same way.
    """
    scale = UNIT_SCALE[units]
    rest = np.asarray(rest_joints, np.float64) * scale
    parents, children = joint_set.parents, joint_set.children
    frames = len(poses)
    rotvecs = np.asarray(poses, np.float64).reshape(frames, len(joint_set), 3)
    euler = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_euler("ZYX", degrees=True)
    euler = euler.reshape(frames, len(joint_set), 3)
    root_pos = np.asarray(trans, np.float64) * scale + rest[0]

    lines = ["HIERARCHY"]
    file_order: list[int] = []  # the motion section lists joints depth first, as the hierarchy does

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        file_order.append(j)
        offset = np.zeros(3) if parents[j] < 0 else rest[j] - rest[parents[j]]
        lines.append(f"{pad}{'ROOT' if parents[j] < 0 else 'JOINT'} {joint_set.names[j]}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        position = "Xposition Yposition Zposition " if parents[j] < 0 else ""
        lines.append(f"{pad}\tCHANNELS {6 if position else 3} {position}Zrotation Yrotation Xrotation")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            tip = 0.5 * (rest[j] - rest[parents[j]])
            end = [f"{pad}\tEnd Site", pad + "\t{", f"{pad}\t\tOFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}", pad + "\t}"]
            lines.extend(end)
        lines.append(pad + "}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / fps:.8f}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
        np.savetxt(f, np.concatenate([root_pos, euler[:, file_order].reshape(frames, -1)], axis=1), fmt="%.6f")
