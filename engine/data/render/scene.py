"""Where a rendered person stands, and the offscreen renderer.

A scene is a room (a textured floor and four walls far enough to hold the camera), a few
boxes and pillars standing clear of the person's path and of the camera's line of sight, a sun
(a directional light) and an ambient fill. Textures are drawn procedurally (tiles, planks,
noise, stripes, bricks, plain), so no image files travel with the code. Rendering is
pyrender's, offscreen through EGL (``PYOPENGL_PLATFORM=egl``; no display needed), with a
little sensor noise on every frame. Shadows on the floor are the body and the props flattened
onto it along the sun's rays, drawn half dark: pyrender's shadow maps filter every pixel of
the frame, which on a CPU (Mesa's llvmpipe) halves the frame rate.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.sparse import csr_matrix

TEXTURES = ("tiles", "planks", "noise", "stripes", "bricks", "plain")


@dataclass
class SceneParams:
    """A room and its light (module docstring), recorded with each clip."""

    room: list[float]  # x, z half-extents and height of the walls, metres, around ``centre``
    centre: list[float]
    floor: dict
    walls: dict
    props: list[dict]
    sun_direction: list[float]  # towards which the light travels
    sun_colour: list[float]
    sun_intensity: float
    ambient: float

    def to_json(self) -> dict:
        return asdict(self)


def _random_texture_params(rng: np.random.Generator) -> dict:
    def colour() -> list[float]:
        return [round(float(c), 3) for c in rng.uniform(0.08, 0.9) * (1 + rng.uniform(-0.25, 0.25, 3))]

    return {
        "kind": str(rng.choice(TEXTURES)),
        "colours": [colour(), colour()],
        "scale_m": round(float(rng.uniform(0.4, 2.5)), 3),  # one texture repeat covers this square
        "seed": int(rng.integers(2**31)),
    }


def random_scene(rng: np.random.Generator, path: np.ndarray, cameras: np.ndarray) -> SceneParams:
    """A room around the person's ``path`` (T, 3) that holds the ``cameras``' positions (T, 3),
    with props off the path and out of every camera's line of sight."""
    everything = np.concatenate([path, cameras])
    centre = (everything.min(axis=0) + everything.max(axis=0)) / 2
    half = (everything.max(axis=0) - everything.min(axis=0)) / 2 + rng.uniform(2.0, 8.0, 3)
    props = []
    for _ in range(rng.integers(0, 7)):
        spot = centre + rng.uniform(-1, 1, 3) * half
        size = rng.uniform([0.2, 0.3, 0.2], [1.5, 2.2, 1.5])
        clear = np.linalg.norm(path[:, [0, 2]] - spot[[0, 2]], axis=1).min() > 1.0 + size[[0, 2]].max()
        # Out of the sight lines: far from every segment camera → person (sampled).
        seen = _segment_distance(spot[[0, 2]], cameras[::10, [0, 2]], path[::10, [0, 2]]).min() < 0.6 + size[[0, 2]].max()
        if clear and not seen:
            props.append(
                {"shape": str(rng.choice(["box", "pillar"])), "centre": [float(spot[0]), float(spot[2])], "size": size.round(3).tolist()}
            )
            props[-1] |= {"texture": _random_texture_params(rng)}
    elevation, heading = np.radians(rng.uniform(25, 80)), rng.uniform(0, 2 * np.pi)
    sun = -np.array([np.cos(elevation) * np.sin(heading), np.sin(elevation), np.cos(elevation) * np.cos(heading)])
    warmth = rng.uniform(-0.15, 0.15)
    return SceneParams(
        room=[float(half[0]), float(half[2]), float(rng.uniform(3.0, 8.0))],
        centre=[float(centre[0]), 0.0, float(centre[2])],
        floor=_random_texture_params(rng),
        walls=_random_texture_params(rng),
        props=props,
        sun_direction=sun.round(4).tolist(),
        sun_colour=[round(1 + warmth, 3), 1.0, round(1 - warmth, 3)],
        sun_intensity=round(float(rng.uniform(2.0, 6.0)), 3),
        ambient=round(float(rng.uniform(0.15, 0.5)), 3),
    )


def _segment_distance(point: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distances (N,) from a 2D ``point`` to the segments ``starts`` → ``ends`` (N, 2)."""
    d = ends - starts
    s = np.clip(np.sum((point - starts) * d, -1) / np.maximum(np.sum(d * d, -1), 1e-9), 0, 1)
    return np.linalg.norm(starts + s[:, None] * d - point, axis=-1)


def texture_image(params: dict, side: int = 256) -> np.ndarray:
    """A tileable RGB uint8 texture (side, side, 3) of a kind in :data:`TEXTURES`."""
    rng = np.random.default_rng(params["seed"])
    a, b = (np.asarray(c, float) for c in params["colours"])
    y, x = np.mgrid[0:side, 0:side] / side
    kind = params["kind"]
    if kind == "tiles":
        n = rng.integers(1, 4)
        mix = ((np.floor(x * n) + np.floor(y * n)) % 2)[..., None]
        grout = ((x * n % 1 < 0.04) | (y * n % 1 < 0.04))[..., None]
        image = np.where(grout, 0.8 * a + 0.2, mix * a + (1 - mix) * b)
    elif kind == "planks":
        n = rng.integers(2, 6)
        board = np.floor(y * n)
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (x * rng.integers(2, 6) + board * 0.37 + 0.1 * np.sin(2 * np.pi * y * 7)))
        gaps = np.where(y * n % 1 < 0.03, 0.6, 1.0)[..., None]  # dark seams between the boards
        image = (a * (1 - 0.3 * grain[..., None]) + 0.15 * (board % 2)[..., None] * (b - a)) * gaps
    elif kind == "bricks":
        rows = rng.integers(3, 7)
        row = np.floor(y * rows)
        shifted = x * rows / 2 + 0.5 * (row % 2)
        mortar = (y * rows % 1 < 0.08) | (shifted % 1 < 0.05)
        image = np.where(mortar[..., None], 0.85 * b + 0.1, a * (0.85 + 0.3 * rng.uniform(size=(side, side, 1)) ** 4))
    elif kind == "stripes":
        n = rng.integers(1, 5)
        image = np.where(((x + 0.3 * y) * n % 1 < 0.5)[..., None], a, b)
    else:  # noise and plain: smooth wrapped noise, stronger for "noise"
        noise = gaussian_filter(rng.normal(size=(side, side)), side / rng.integers(8, 40), mode="wrap")
        noise = (noise - noise.mean()) / max(noise.std(), 1e-9)
        strength = 0.25 if kind == "noise" else 0.04
        image = (a + (b - a) * 0.5)[None, None] * (1 + strength * noise[..., None])
    speckle = rng.normal(0, 0.03, (side, side, 1))  # fine grain, so no surface is perfectly flat
    return (np.clip(image * (1 + speckle), 0, 1) * 255).astype(np.uint8)


class Renderer:
    """Frames of a body in a scene, seen by a :class:`~engine.data.render.camera.CameraTrack`:
    ``set_scene`` once per clip, then ``render`` per frame."""

    def __init__(self, width: int, height: int) -> None:
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # offscreen, no display needed
        import pyrender

        self.pr, self.width, self.height = pyrender, width, height
        self.renderer = pyrender.OffscreenRenderer(width, height)
        self.scene = self.body_node = self.camera_node = None

    def close(self) -> None:
        self.renderer.delete()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _textured(self, positions: np.ndarray, uv: np.ndarray, faces: np.ndarray, texture: dict, rough: float = 0.9):
        pr = self.pr
        material = pr.MetallicRoughnessMaterial(
            baseColorTexture=pr.Texture(source=texture_image(texture), source_channels="RGB"), metallicFactor=0.0, roughnessFactor=rough
        )
        normals = np.cross(positions[faces[:, 1]] - positions[faces[:, 0]], positions[faces[:, 2]] - positions[faces[:, 0]])
        normals = np.repeat(normals[:1] / np.linalg.norm(normals[0]), len(positions), axis=0)  # flat quads
        primitive = pr.Primitive(positions=positions, normals=normals, texcoord_0=uv, indices=faces, material=material)
        return pr.Mesh([primitive])

    def set_scene(self, params: SceneParams, faces: np.ndarray, colours: np.ndarray, seed: int) -> None:
        """Build the room of ``params``; the body will have ``faces`` (F, 3) and vertex ``colours`` (V, 3)."""
        import trimesh

        pr = self.pr
        scene = pr.Scene(ambient_light=[params.ambient] * 3, bg_color=[0.6, 0.65, 0.7, 1.0])
        self.sun = np.asarray(params.sun_direction, float)
        darkness = float(np.clip(0.2 + 0.1 * params.sun_intensity - 0.5 * params.ambient, 0.15, 0.7))
        self.shadow_material = pr.MetallicRoughnessMaterial(
            baseColorFactor=[0.0, 0.0, 0.0, darkness], alphaMode="BLEND", metallicFactor=0.0
        )
        (hx, hz, wall_height), (cx, _, cz) = params.room, params.centre
        scale = params.floor["scale_m"]
        corners = np.array([[cx - hx, 0, cz - hz], [cx - hx, 0, cz + hz], [cx + hx, 0, cz + hz], [cx + hx, 0, cz - hz]])
        quad = np.array([[0, 1, 2], [0, 2, 3]])
        scene.add(self._textured(corners, corners[:, [0, 2]] / scale, quad, params.floor))
        for a, b in ((0, 1), (1, 2), (2, 3), (3, 0)):  # walls, facing in
            wall = np.array([corners[a], corners[a] + [0, wall_height, 0], corners[b] + [0, wall_height, 0], corners[b]])
            uv = np.stack([np.where(np.arange(4) >= 2, np.linalg.norm(corners[b] - corners[a]), 0.0), wall[:, 1]], -1)
            scene.add(self._textured(wall, uv / params.walls["scale_m"], quad, params.walls, rough=0.95))
        for prop in params.props:
            x, z = prop["centre"]
            sx, sy, sz = prop["size"]
            shape = trimesh.creation.box([sx, sy, sz]) if prop["shape"] == "box" else trimesh.creation.cylinder(sx / 2, sy, sections=24)
            if prop["shape"] != "box":
                shape.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
            shape.apply_translation([x, sy / 2, z])
            colour = list(prop["texture"]["colours"][0]) + [1.0]  # plain: trimesh gives boxes and cylinders no texture coordinates
            scene.add(pr.Mesh.from_trimesh(shape, material=pr.MetallicRoughnessMaterial(baseColorFactor=colour, roughnessFactor=0.8)))
            scene.add(self._shadow(np.asarray(shape.vertices), np.asarray(shape.faces)))
        sun = np.eye(4)
        sun[:3, :3] = _frame_with_z(-np.asarray(params.sun_direction))
        scene.add(pr.DirectionalLight(color=params.sun_colour, intensity=params.sun_intensity), pose=sun)
        self.body_material = pr.MetallicRoughnessMaterial(metallicFactor=0.0, roughnessFactor=0.75, baseColorFactor=[1.0, 1.0, 1.0, 1.0])
        self.faces, self.colours = faces, np.asarray(colours, np.float32)
        # Vertex normals as sums of the adjacent faces' (area-weighted) normals: one sparse product per frame.
        rows, cols = faces.reshape(-1), np.repeat(np.arange(len(faces)), 3)
        self.incidence = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(colours), len(faces)))
        self.scene, self.body_node, self.shadow_node, self.camera_node = scene, None, None, None
        self.noise = np.random.default_rng(seed)
        # Sensor noise: a few frames of it, drawn once and taken in turn (drawing every frame's costs a fifth of a frame).
        level = self.noise.uniform(0.5, 4.0)  # grey levels
        self.noise_bank = self.noise.normal(0, level, (6, self.height, self.width, 3)).round().astype(np.int16)

    def _shadow(self, vertices: np.ndarray, faces: np.ndarray):
        """The shadow of a mesh on the floor: its vertices moved along the sun's rays onto the
        floor (a hair above it), drawn dark and half transparent. ``faces`` are those lit by the
        sun, which face up once flattened: each point of the shadow is drawn once (where two
        limbs overlap, twice)."""
        d = self.sun
        flat = vertices - d * ((vertices[:, 1] - 0.002) / d[1])[:, None]
        normals = np.tile(np.float32([0.0, 1.0, 0.0]), (len(flat), 1))
        primitive = self.pr.Primitive(positions=flat.astype(np.float32), normals=normals, indices=faces, material=self.shadow_material)
        return self.pr.Mesh([primitive])

    def _pose_body(self, vertices: np.ndarray, eye: np.ndarray) -> None:
        """The body (and its shadow) posed as ``vertices``, seen from ``eye``. Only the triangles
        facing the camera (the shadow: the sun) go to OpenGL: culling would drop the others
        anyway, and Mesa's software renderer spends most of a frame on triangles."""
        pr, f = self.pr, self.faces
        face_normals = np.cross(vertices[f[:, 1]] - vertices[f[:, 0]], vertices[f[:, 2]] - vertices[f[:, 0]])
        normals = self.incidence @ face_normals
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        seen = np.sum(face_normals * (eye - vertices[f[:, 0]]), axis=1) > 0
        lit = face_normals @ self.sun < 0
        primitive = pr.Primitive(
            positions=vertices.astype(np.float32),
            normals=normals.astype(np.float32),
            color_0=self.colours,
            indices=f[seen],
            material=self.body_material,
        )
        if self.body_node is not None:
            self.scene.remove_node(self.body_node)
            self.scene.remove_node(self.shadow_node)
        self.body_node = self.scene.add(pr.Mesh([primitive]))
        self.shadow_node = self.scene.add(self._shadow(vertices, f[lit]))

    def _place_camera(self, R: np.ndarray, t: np.ndarray, intrinsics: tuple[float, float, float, float]) -> None:
        pose = np.eye(4)
        pose[:3, :3] = R.T @ np.diag([1.0, -1.0, -1.0])  # OpenCV's camera axes to OpenGL's (y up, looking down -z)
        pose[:3, 3] = -R.T @ t
        if self.camera_node is None:
            fx, fy, cx, cy = intrinsics
            self.camera_node = self.scene.add(self.pr.IntrinsicsCamera(fx, fy, cx, cy, znear=0.05, zfar=200.0), pose=pose)
        else:
            self.scene.set_pose(self.camera_node, pose)

    def render(self, vertices: np.ndarray, R: np.ndarray, t: np.ndarray, intrinsics: tuple[float, float, float, float]) -> np.ndarray:
        """One RGB uint8 frame (H, W, 3) of the body posed as ``vertices`` (V, 3), seen by a
        camera with world-to-camera ``R``, ``t`` (OpenCV) and ``intrinsics`` (fx, fy, cx, cy)."""
        self._pose_body(vertices, -R.T @ t)
        self._place_camera(R, t, intrinsics)
        colour, _ = self.renderer.render(self.scene)
        noisy = colour + self.noise_bank[self.noise.integers(len(self.noise_bank))]
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def body_mask(self, vertices: np.ndarray, R: np.ndarray, t: np.ndarray, intrinsics: tuple[float, float, float, float]) -> np.ndarray:
        """Where the body is seen (H, W) bool, hidden parts excluded: for checking projections."""
        self._pose_body(vertices, -R.T @ t)
        self._place_camera(R, t, intrinsics)
        seg, _ = self.renderer.render(self.scene, flags=self.pr.RenderFlags.SEG, seg_node_map={self.body_node: (255, 255, 255)})
        return seg[..., 0] > 127


def _frame_with_z(z: np.ndarray) -> np.ndarray:
    """A rotation whose third column is the unit vector along ``z``."""
    z = z / np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z) if abs(z[1]) < 0.99 else np.array([1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)
