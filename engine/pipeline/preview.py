"""A preview video: the clip with its 2D skeleton, beside a side view of the 3D motion.

The right panel looks at the world from the person's side (+x, SMPL's left), the floor a line
at y = 0, framed on the whole clip's extent so the motion reads at a glance. Frames missing
2D keypoints (confidence 0) draw no 2D skeleton.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.body.joints import H36M17, SMPL24
from engine.motion import Motion
from engine.video import read_frames

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = (255, 140, 40), (40, 140, 255), (230, 230, 230)  # BGR


def _colour(name: str) -> tuple[int, int, int]:
    return LEFT_COLOUR if name.startswith("l_") else RIGHT_COLOUR if name.startswith("r_") else CENTRE_COLOUR


def _draw_2d(image: np.ndarray, keypoints: np.ndarray) -> None:
    for j, p in enumerate(H36M17.parents):
        if p >= 0 and min(keypoints[j, 2], keypoints[p, 2]) > 0.2:
            a, b = keypoints[j, :2].round().astype(int), keypoints[p, :2].round().astype(int)
            cv2.line(image, tuple(a), tuple(b), _colour(H36M17.names[j]), 2, cv2.LINE_AA)


def _side_view(joints: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """Panel (height, width, 3) showing ``joints`` (24, 3) projected on the z-y plane."""
    width, height = size
    panel = np.full((height, width, 3), 24, np.uint8)
    low, high = bounds
    scale = 0.85 * min(width / max(high[0] - low[0], 1e-3), height / max(high[1] - low[1], 1e-3))
    centre = (low + high) / 2

    def to_pixels(zy: np.ndarray) -> tuple[int, int]:
        return int(width / 2 + (zy[0] - centre[0]) * scale), int(height / 2 - (zy[1] - centre[1]) * scale)

    floor_y = to_pixels(np.array([0.0, 0.0]))[1]
    cv2.line(panel, (0, floor_y), (width, floor_y), (90, 90, 90), 1)
    zy = joints[:, [2, 1]]
    for j, p in enumerate(SMPL24.parents):
        if p >= 0:
            cv2.line(panel, to_pixels(zy[j]), to_pixels(zy[p]), _colour(SMPL24.names[j]), 2, cv2.LINE_AA)
    return panel


def write_preview(video: Path, motion: Motion, path: Path) -> None:
    """Write the preview mp4 of ``motion``, captured from ``video``, to ``path``."""
    zy = motion.joints[..., [2, 1]].reshape(-1, 2)
    bounds = (np.minimum(zy.min(axis=0), [np.inf, 0.0]), zy.max(axis=0))
    writer = None
    times = np.arange(motion.num_frames) / motion.fps
    try:
        for frame in read_frames(video):
            # The motion's frames may be resampled: show the one nearest in time.
            index = min(int(np.searchsorted(times, frame.time - 0.5 / motion.fps)), motion.num_frames - 1)
            image = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
            _draw_2d(image, motion.keypoints2d[index])
            side = _side_view(motion.joints[index], bounds, (image.shape[0], image.shape[0]))
            canvas = np.concatenate([image, side], axis=1)
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), motion.fps, canvas.shape[1::-1])
                if not writer.isOpened():
                    raise OSError(f"{path}: cannot be written as an mp4 video")
            writer.write(canvas)
    finally:
        if writer is not None:
            writer.release()
