"""The joint sets every module speaks: names, parents and left/right flip pairs, defined once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JointSet:
    """An ordered set of joints forming a tree.

    ``parents[i]`` is the index of joint ``i``'s parent (-1 for the root); every parent comes
    before its children, so a single pass in index order visits parents first.
    ``flip_pairs`` are the (left, right) index pairs swapped by a mirror image.
    """

    name: str
    names: tuple[str, ...]
    parents: tuple[int, ...]
    flip_pairs: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.parents):
            raise ValueError(f"{self.name}: {len(self.names)} names but {len(self.parents)} parents")
        for i, p in enumerate(self.parents):
            if not (p == -1 if i == 0 else 0 <= p < i):
                raise ValueError(f"{self.name}: joint {i} ({self.names[i]}) has parent {p}")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def flip_permutation(self) -> list[int]:
        """Index permutation that swaps every left joint with its right twin."""
        perm = list(range(len(self)))
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm

    @property
    def children(self) -> list[list[int]]:
        kids: list[list[int]] = [[] for _ in self.names]
        for i, p in enumerate(self.parents):
            if p >= 0:
                kids[p].append(i)
        return kids


def _pairs(names: tuple[str, ...], left_prefix: str, right_prefix: str) -> tuple[tuple[int, int], ...]:
    return tuple((i, names.index(right_prefix + n[len(left_prefix) :])) for i, n in enumerate(names) if n.startswith(left_prefix))


_H36M17_NAMES = (
    "pelvis",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "spine",
    "thorax",
    "neck",
    "head",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
)

H36M17 = JointSet(
    name="H36M17",
    names=_H36M17_NAMES,
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    flip_pairs=_pairs(_H36M17_NAMES, "l_", "r_"),
)

_SMPL24_NAMES = (
    "pelvis",
    "l_hip",
    "r_hip",
    "spine1",
    "l_knee",
    "r_knee",
    "spine2",
    "l_ankle",
    "r_ankle",
    "spine3",
    "l_foot",
    "r_foot",
    "neck",
    "l_collar",
    "r_collar",
    "head",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hand",
    "r_hand",
)

SMPL24 = JointSet(
    name="SMPL24",
    names=_SMPL24_NAMES,
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21),
    flip_pairs=_pairs(_SMPL24_NAMES, "l_", "r_"),
)
