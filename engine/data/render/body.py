"""The Anny body (PyPI ``anny``: Apache-2.0 code, CC0 assets): a random person and its skinning.

Anny builds about 800 MB of model data on first use (about 2 minutes) and caches it in
``ANNY_CACHE_DIR``; :func:`anny_cache_dir` keeps that out of the repository and the package.
Anny's frame is z up, facing -y; everything here is converted to SMPL's world frame (y up,
facing +z) at once, by :data:`ANNY_TO_SMPL`, so the rest of the renderer never sees Anny's.

A body is Anny's six phenotypes (gender, age, muscle, weight, height, proportions; 0-1) plus
its looks, painted as vertex colours: skin tone, hair, a top with sleeves of some length, a
bottom (trousers, three-quarters or shorts) and shoes, each with an optional stripe pattern.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ANNY_VERSION = "0.6.2"
# p_smpl = ANNY_TO_SMPL @ p_anny: Anny's z (up) is SMPL's y, Anny's -y (forward) SMPL's z.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# Anny's age runs newborn (-1/3), baby (0), child (1/3), young (2/3), old (1): adults and older
# teenagers, as in the mocap.
AGE_RANGE = (0.55, 1.0)
# Skin tones (sRGB 0-1) from very light to very dark; a body's is drawn between two neighbours.
SKIN_TONES = np.array(
    [
        [0.98, 0.85, 0.76],
        [0.94, 0.76, 0.64],
        [0.84, 0.64, 0.49],
        [0.70, 0.50, 0.36],
        [0.52, 0.35, 0.24],
        [0.36, 0.23, 0.15],
        [0.24, 0.15, 0.10],
    ]
)
HAIR_COLOURS = np.array(
    [[0.05, 0.04, 0.03], [0.20, 0.12, 0.06], [0.45, 0.30, 0.15], [0.75, 0.62, 0.38], [0.55, 0.55, 0.55], [0.45, 0.18, 0.08]]
)


def anny_cache_dir() -> Path:
    """Where Anny's model data is cached: ``$ANNY_CACHE_DIR``, else the user's cache folder
    (``$XDG_CACHE_HOME`` or ``~/.cache``) under ``mocap-engine/anny``; never the package tree."""
    if os.environ.get("ANNY_CACHE_DIR"):
        return Path(os.environ["ANNY_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mocap-engine" / "anny"


def load_anny(cache_dir: Path | None = None):  # -> anny.Anny (imported lazily: an optional extra)
    """Anny's full-body model (its default rig and topology), skinned in plain torch (no Warp
    kernels to compile), loaded once per cache folder (default :func:`anny_cache_dir`);
    builds the cache on first use."""
    return _load_anny(Path(cache_dir or anny_cache_dir()).resolve())


@lru_cache(maxsize=2)
def _load_anny(cache: Path):
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["ANNY_CACHE_DIR"] = str(cache)  # anny reads it when first imported
    try:
        import anny
        import anny.paths
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(f"{e}: rendering needs the render extra: pip install -e '.[render]' (anny=={ANNY_VERSION})") from e
    anny.paths.set_anny_cache_path(cache)
    return anny.Anny(skinning_method="lbs")


@dataclass
class BodyParams:
    """One person: Anny phenotypes and looks (module docstring). Colours are sRGB 0-1."""

    phenotypes: dict[str, float]
    skin: list[float]
    hair: list[float] | None  # None: bald
    top: list[float]
    bottom: list[float]
    shoes: list[float] | None  # None: barefoot
    sleeve: float  # how far the top reaches down the arm, shoulder (0) to wrist (1)
    leg: float  # how far the bottom reaches down the leg, hip (0) to ankle (1)
    stripes: list[float]  # stripe frequency (per metre) of top and bottom; 0: plain

    def to_json(self) -> dict:
        return asdict(self)


def random_body(rng: np.random.Generator) -> BodyParams:
    """A random adult: any gender, age, build and height; Anny's range of proportions."""
    phenotypes = {name: float(rng.uniform(0, 1)) for name in PHENOTYPES}
    phenotypes["age"] = float(rng.uniform(*AGE_RANGE))
    i = rng.integers(len(SKIN_TONES) - 1)
    skin = SKIN_TONES[i] + rng.uniform() * (SKIN_TONES[i + 1] - SKIN_TONES[i])

    def cloth() -> list[float]:
        # Muted and saturated colours alike, dark to light: HSV drawn, converted by hand.
        hue, saturation, value = rng.uniform(), rng.uniform(0, 0.9) ** 1.5, rng.uniform(0.08, 0.95)
        return _hsv_to_rgb(hue, saturation, value)

    return BodyParams(
        phenotypes=phenotypes,
        skin=[round(float(c), 3) for c in skin],
        hair=None if rng.uniform() < 0.15 else [float(c) for c in HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]],
        top=cloth(),
        bottom=cloth(),
        shoes=None if rng.uniform() < 0.1 else cloth(),
        sleeve=float(rng.choice([0.25, 0.5, 1.0], p=[0.35, 0.15, 0.5])),
        leg=float(rng.choice([0.45, 0.8, 1.0], p=[0.2, 0.1, 0.7])),
        stripes=[float(rng.choice([0.0, rng.uniform(4, 20)], p=[0.75, 0.25])) for _ in range(2)],
    )


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> list[float]:
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    rgb = value - value * saturation * np.clip(np.minimum(k, 4 - k), 0, 1)
    return [round(float(c), 3) for c in rgb]


class Body:
    """One person's rest shape from Anny, in SMPL's world frame, and its skinning.

    ``rest_heads`` (B, 3) and ``rest_rotations`` (B, 3, 3) are the bones' heads and
    orientations at rest (Anny's A-pose), ``bone_names`` and ``bone_parents`` Anny's rig,
    ``faces`` (F, 3) triangles, ``colours`` (V, 3) the painted looks.
    """

    def __init__(self, params: BodyParams, model=None) -> None:
        import torch

        self.params, self.model = params, model or load_anny()
        self._torch = torch
        with torch.no_grad():  # the rest model only: the pose is ours (``pose``)
            rest = self.model(phenotype_kwargs=params.phenotypes)
        self._rest_anny = rest  # Anny's frame, for its skinning
        poses = rest["rest_bone_poses"][0].double().numpy()
        self.rest_heads = poses[:, :3, 3] @ ANNY_TO_SMPL.T
        self.rest_rotations = ANNY_TO_SMPL @ poses[:, :3, :3]
        self.rest_vertices = rest["rest_vertices"][0].double().numpy() @ ANNY_TO_SMPL.T
        self.bone_names: list[str] = list(self.model.bone_labels)
        self.bone_parents: list[int] = [int(p) for p in self.model.bone_parents]
        self.faces = self.model.faces.numpy()
        self.colours = paint(self)

    def bone(self, name: str) -> int:
        return self.bone_names.index(name)

    def face_points(self) -> list[np.ndarray]:
        """Vertex indices of the nose tip (one) and of the left and right ears (several, to be
        averaged): the points mediapipe's nose and ear landmarks mark, found on the rest mesh.
        The nose tip is the foremost vertex on the face's midline below the eyes; an ear is the
        part of the head standing out sideways between just above and 6.5 cm below the eyes."""
        v = self.rest_vertices
        weights, indices = self.model.vertex_bone_weights.numpy(), self.model.vertex_bone_indices.numpy()
        head = indices[np.arange(len(v)), weights.argmax(axis=1)] == self.bone("head")
        eyes = (self.rest_heads[self.bone("eye.L")] + self.rest_heads[self.bone("eye.R")]) / 2
        midline = np.flatnonzero(head & (np.abs(v[:, 0] - eyes[0]) < 0.01) & (v[:, 1] < eyes[1]))
        points = [midline[[np.argmax(v[midline, 2])]]]
        band = head & (v[:, 1] > eyes[1] - 0.065) & (v[:, 1] < eyes[1] + 0.015)
        for side in (1.0, -1.0):  # the person's left is +x
            out = side * (v[:, 0] - eyes[0])
            points.append(np.flatnonzero(band & (out >= 0.9 * out[band].max())))
        return points

    def pose(self, rotations: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posed vertices (T, V, 3) and bone heads (T, B, 3) for world bone orientations
        ``rotations`` (T, B, 3, 3) (each bone's rest orientation turned by its own world
        rotation; a bone's head follows its parent) and the root bone's head ``root`` (T, 3)."""
        torch, C = self._torch, ANNY_TO_SMPL
        deltas = np.zeros(rotations.shape[:2] + (4, 4))
        deltas[..., :3, :3] = C.T @ rotations @ self.rest_rotations  # posed orientations, in Anny's frame
        deltas[:, 0, :3, 3] = root @ C  # C.T @ root, row-wise
        deltas[..., 3, 3] = 1.0
        with torch.no_grad():
            delta = torch.from_numpy(deltas).to(self.model.dtype)
            rest = self._rest_anny
            transforms, poses = self.model.get_bone_transforms(delta, rest["rest_bone_poses"], pose_parameterization="world-orient")
            vertices = self.model.get_skinned_vertices(rest["rest_vertices"].expand(len(delta), -1, -1), transforms)
        return vertices.double().numpy() @ C.T, poses[..., :3, 3].double().numpy() @ C.T


def paint(body: Body) -> np.ndarray:
    """Vertex colours (V, 3) of a body's looks (:class:`BodyParams`), decided on the rest mesh
    by each vertex's most weighted bone and where it lies along its limb."""
    p, v = body.params, body.rest_vertices
    weights, indices = body.model.vertex_bone_weights.numpy(), body.model.vertex_bone_indices.numpy()
    dominant = indices[np.arange(len(v)), weights.argmax(axis=1)]

    def bones(prefixes: tuple[str, ...], side: str = "") -> np.ndarray:
        """Vertices whose most weighted bone's name starts with one of ``prefixes`` (and ends with ``side``)."""
        return np.array([n.startswith(prefixes) and n.endswith(side) for n in body.bone_names])[dominant]

    def along(start: str, end: str) -> np.ndarray:
        """Where vertices lie from bone ``start``'s head (0) to bone ``end``'s (1)."""
        a, b = body.rest_heads[body.bone(start)], body.rest_heads[body.bone(end)]
        return (v - a) @ (b - a) / ((b - a) @ (b - a))

    def striped(colour: list[float], frequency: float) -> np.ndarray:
        shade = 0.75 + 0.25 * (np.sin(v[:, 1] * frequency * 2 * np.pi) > 0) if frequency else np.ones(len(v))
        return np.clip(np.asarray(colour) * shade[:, None], 0, 1)

    colours = np.tile(np.asarray(p.skin, float), (len(v), 1))
    is_top, is_bottom = bones(("spine", "clavicle", "shoulder")), bones(("root", "pelvis"))
    for side in "LR":
        is_top |= bones(("upperarm", "lowerarm"), side) & (along(f"upperarm01.{side}", f"wrist.{side}") < p.sleeve)
        is_bottom |= bones(("upperleg", "lowerleg"), side) & (along(f"upperleg01.{side}", f"foot.{side}") < p.leg)
    if p.shoes is not None:
        colours[bones(("foot", "toe"))] = p.shoes
    is_bottom &= ~is_top
    colours[is_top] = striped(p.top, p.stripes[0])[is_top]
    colours[is_bottom] = striped(p.bottom, p.stripes[1])[is_bottom]
    if p.hair is not None:  # the scalp: above the eyes, and back from the forehead
        eyes = (body.rest_heads[body.bone("eye.L")] + body.rest_heads[body.bone("eye.R")]) / 2
        scalp = (v[:, 1] > eyes[1] + 0.03) | ((v[:, 2] < eyes[2] - 0.08) & (v[:, 1] > eyes[1] - 0.06))
        colours[bones(("head",)) & scalp] = p.hair
    colours[bones(("eye",))] = [0.9, 0.9, 0.88]
    return colours
