"""A preview video (a photo's: an image): the clip with its 2D skeleton, beside a side view of the 3D motion.

The right panel looks at the world from the person's side: along the horizontal square to
their mean heading (the world turned about the vertical so that they face +z on average, then
seen along +x), the floor a line at y = 0, framed on the whole clip's extent so the motion reads
at a glance. With an SMPL model file it shows the body mesh (betas fitted to the clip's
skeleton, rendered offscreen by pyrender), else the skeleton. Frames missing 2D keypoints
(confidence 0) draw no 2D skeleton; video frames outside the motion (before the person
appears, after they leave) draw neither.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from engine.body.joints import H36M17, SMPL24
from engine.geometry import rotvec_to_matrix, torso_heading
from engine.motion import Motion
from engine.pipeline.world import SMPL_TORSO
from engine.video import read_frames

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = (255, 140, 40), (40, 140, 255), (230, 230, 230)  # BGR


def _colour(name: str) -> tuple[int, int, int]:
    return LEFT_COLOUR if name.startswith("l_") else RIGHT_COLOUR if name.startswith("r_") else CENTRE_COLOUR


def _draw_2d(image: np.ndarray, keypoints: np.ndarray) -> None:
    for j, p in enumerate(H36M17.parents):
        if p >= 0 and min(keypoints[j, 2], keypoints[p, 2]) > 0.2:
            a, b = keypoints[j, :2].round().astype(int), keypoints[p, :2].round().astype(int)
            cv2.line(image, tuple(a), tuple(b), _colour(H36M17.names[j]), 2, cv2.LINE_AA)


def side_view_turn(joints: np.ndarray) -> np.ndarray:
    """The turn (3, 3) about the vertical after which SMPL24 ``joints`` (T, 24, 3) face +z on
    average (the circular mean of their headings), so that a view along +x sees their side."""
    headings = torso_heading(*joints[:, SMPL_TORSO].swapaxes(0, 1))
    mean = np.arctan2(np.sin(headings).mean(), np.cos(headings).mean())
    return rotvec_to_matrix(np.array([0.0, -mean, 0.0]))


def _side_view(joints: np.ndarray | None, bounds: tuple[np.ndarray, np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """Panel (height, width, 3) showing ``joints`` (24, 3) projected on the z-y plane (only
    the floor when None)."""
    width, height = size
    panel = np.full((height, width, 3), 24, np.uint8)
    low, high = bounds
    scale = 0.85 * min(width / max(high[0] - low[0], 1e-3), height / max(high[1] - low[1], 1e-3))
    centre = (low + high) / 2

    def to_pixels(zy: np.ndarray) -> tuple[int, int]:
        return int(width / 2 + (zy[0] - centre[0]) * scale), int(height / 2 - (zy[1] - centre[1]) * scale)

    floor_y = to_pixels(np.array([0.0, 0.0]))[1]
    cv2.line(panel, (0, floor_y), (width, floor_y), (90, 90, 90), 1)
    if joints is None:
        return panel
    zy = joints[:, [2, 1]]
    for j, p in enumerate(SMPL24.parents):
        if p >= 0:
            cv2.line(panel, to_pixels(zy[j]), to_pixels(zy[p]), _colour(SMPL24.names[j]), 2, cv2.LINE_AA)
    return panel


class MeshPanel:
    """The side view as the SMPL body mesh (module docstring); one frame at a time."""

    BATCH = 64  # frames of vertices computed at once

    def __init__(self, smpl: Path, motion: Motion, turn: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], side: int) -> None:
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # offscreen, no display needed
        import pyrender
        import trimesh

        from engine.body.smpl_model import SmplModel

        self.pyrender, self.trimesh, self.motion, self.turn = pyrender, trimesh, motion, turn
        self.model = SmplModel(smpl)
        self.betas = self.model.fit_betas(motion.rest_joints)
        # smplx puts the pelvis at its own rest pelvis + trans; ours is at the clip's.
        self.offset = motion.rest_joints[0] - self.model.rest_joints(self.betas)[0]
        self.renderer = pyrender.OffscreenRenderer(side, side)
        low, high = bounds
        scale = 0.85 * min(side / max(high[0] - low[0], 1e-3), side / max(high[1] - low[1], 1e-3))
        centre = (low + high) / 2  # (z, y)
        self.camera_pose = np.array([[0, 0, -1, -10.0], [0, 1, 0, centre[1]], [1, 0, 0, centre[0]], [0, 0, 0, 1]])
        self.camera = pyrender.OrthographicCamera(xmag=side / 2 / scale, ymag=side / 2 / scale, znear=0.1, zfar=40.0)
        self.floor_row = int(side / 2 + centre[1] * scale)
        self.batch_start, self.vertices = -1, None

    def __call__(self, index: int) -> np.ndarray:
        start = index // self.BATCH * self.BATCH
        if start != self.batch_start:
            part = slice(start, start + self.BATCH)
            self.vertices, _ = self.model.forward(self.motion.poses[part], self.motion.trans[part] + self.offset, self.betas)
            self.batch_start = start
        pyrender, trimesh = self.pyrender, self.trimesh
        body = trimesh.Trimesh(self.vertices[index - start] @ self.turn.T, self.model.faces, process=False)
        scene = pyrender.Scene(bg_color=[24 / 255] * 3 + [1.0], ambient_light=[0.35] * 3)
        scene.add(pyrender.Mesh.from_trimesh(body, material=pyrender.MetallicRoughnessMaterial(baseColorFactor=[0.75, 0.8, 0.9, 1.0])))
        scene.add(self.camera, pose=self.camera_pose)
        scene.add(pyrender.DirectionalLight(intensity=3.0), pose=self.camera_pose)
        colour, _ = self.renderer.render(scene)
        panel = cv2.cvtColor(colour, cv2.COLOR_RGB2BGR)
        cv2.line(panel, (0, self.floor_row), (panel.shape[1], self.floor_row), (90, 90, 90), 1)
        return panel

    def close(self) -> None:
        self.renderer.delete()


def write_preview(video: Path, motion: Motion, path: Path, smpl: Path | None = None) -> list[str]:
    """Write the preview of ``motion``, captured from ``video``, to ``path``: an mp4, or for a
    photo one image (``.png``); the body mesh beside it when ``smpl``, an SMPL model file, is
    given. Returns notes for the report."""
    notes = []
    if smpl is not None and importlib.util.find_spec("pyrender") is None:
        notes.append("preview shows the skeleton: the body mesh needs pyrender (pip install 'mocap-engine[mesh]')")
        smpl = None
    writer = None
    try:
        for canvas in _canvases(video, motion, smpl):
            if path.suffix == ".png":
                if not cv2.imwrite(str(path), canvas):
                    raise OSError(f"{path}: cannot be written as a png image")
                break
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), motion.fps, canvas.shape[1::-1])
                if not writer.isOpened():
                    raise OSError(f"{path}: cannot be written as an mp4 video")
            writer.write(canvas)
    finally:
        if writer is not None:
            writer.release()
    return notes


def _canvases(video: Path, motion: Motion, smpl: Path | None) -> Iterator[np.ndarray]:
    """The preview's frames (BGR): each video frame with its 2D skeleton beside the side view."""
    turn = side_view_turn(motion.joints)
    joints = motion.joints @ turn.T
    zy = joints[..., [2, 1]].reshape(-1, 2)
    bounds = (np.minimum(zy.min(axis=0), [np.inf, 0.0]), zy.max(axis=0))
    mesh = None
    times = motion.first_frame_time + np.arange(motion.num_frames) / motion.fps
    try:
        for frame in read_frames(video):
            image = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
            size = (image.shape[0], image.shape[0])
            if not times[0] - 0.5 / motion.fps <= frame.time < times[-1] + 0.5 / motion.fps:
                yield np.concatenate([image, _side_view(None, bounds, size)], axis=1)  # nobody there: left out of the motion
                continue
            # The motion's frames may be resampled: show the one nearest in time.
            index = min(int(np.searchsorted(times, frame.time - 0.5 / motion.fps)), motion.num_frames - 1)
            _draw_2d(image, motion.keypoints2d[index])
            if smpl is not None and mesh is None:
                mesh = MeshPanel(smpl, motion, turn, bounds, image.shape[0])
            yield np.concatenate([image, mesh(index) if mesh is not None else _side_view(joints[index], bounds, size)], axis=1)
    finally:
        if mesh is not None:
            mesh.close()
