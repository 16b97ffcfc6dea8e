"""A second look at the person: re-detection on a crop when they are small, others in the frame.

mediapipe's pose solution follows one person and sees a small one poorly. After the first
pass, frames where the followed person is under ``SMALL_FRACTION`` of the frame's height are
looked at again on a crop around them, enlarged, and a crop's landmarks replace the first
ones when they are more confident. Every ``every``-th frame is also looked at with the followed
person blacked out: a confident pose there (shoulders and hips, at least 15 % of the frame
tall, away from the followed person) means someone else is in the frame, which the report says (the engine follows the person mediapipe found first). Each look decodes the
video again rather than holding frames in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import median_filter

from engine.keypoints import detect_pose
from engine.video import read_frames

SMALL_FRACTION = 0.35
CROP_SIDE_PX = 512
CROP_MARGIN = 1.6  # crop side over the person's box's longer side
TORSO = [11, 12, 23, 24]  # BlazePose shoulders and hips
OTHER_MIN_HEIGHT = 0.15  # of the frame: smaller "people" are mostly patterns the detector mistakes


def person_boxes(landmarks: np.ndarray, min_confidence: float = 0.5) -> np.ndarray:
    """Boxes (T, 4) x0, y0, x1, y1 around each frame's confident landmarks; NaN when there are none."""
    sure = (landmarks[..., 2] >= min_confidence)[..., None]
    low = np.where(sure, landmarks[..., :2], np.inf).min(axis=1)
    high = np.where(sure, landmarks[..., :2], -np.inf).max(axis=1)
    boxes = np.concatenate([low, high], axis=1)
    boxes[sure[..., 0].sum(axis=1) < 4] = np.nan
    return boxes


def _crop_windows(boxes: np.ndarray, small: np.ndarray) -> dict[int, tuple[float, float, float]]:
    """Square crops (x0, y0, side) around the person on the small frames, steadied over time."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = CROP_MARGIN * np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
    steady = np.column_stack([centre, side])
    filled = np.where(np.isnan(steady), np.nanmedian(steady, axis=0), steady)
    filled = median_filter(filled, size=(9, 1), mode="nearest")
    return {int(i): (filled[i, 0] - filled[i, 2] / 2, filled[i, 1] - filled[i, 2] / 2, filled[i, 2]) for i in np.flatnonzero(small)}


def _crops(path: Path, windows: dict[int, tuple[float, float, float]]) -> Iterator[np.ndarray]:
    for frame in read_frames(path):
        if frame.index in windows:
            x0, y0, side = windows[frame.index]
            scale = CROP_SIDE_PX / side
            transform = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
            yield cv2.warpAffine(frame.rgb, transform, (CROP_SIDE_PX, CROP_SIDE_PX), flags=cv2.INTER_LINEAR)


def _masked(path: Path, boxes: np.ndarray, picks: set[int]) -> Iterator[np.ndarray]:
    for frame in read_frames(path):
        if frame.index in picks:
            image = frame.rgb.copy()
            x0, y0, x1, y1 = boxes[frame.index]
            pad_x, pad_y = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
            height, width = image.shape[:2]
            image[max(int(y0 - pad_y), 0): min(int(y1 + pad_y), height), max(int(x0 - pad_x), 0): min(int(x1 + pad_x), width)] = 0
            yield image


def _someone_else(landmarks: np.ndarray, followed: np.ndarray, height: int) -> bool:
    """Shoulders and hips confident, tall enough to be someone (not a picture's pattern), and
    centred away from the followed person's box (widened by half on each side), since the
    blacked-out box can miss a limb that the detector then finds again."""
    box = person_boxes(landmarks[None])[0]
    if not ((landmarks[TORSO, 2] > 0.5).all() and np.isfinite(box).all() and box[3] - box[1] > OTHER_MIN_HEIGHT * height):
        return False
    centre, size = (box[:2] + box[2:]) / 2, followed[2:] - followed[:2]
    return bool(np.any(centre < followed[:2] - size / 2) or np.any(centre > followed[2:] + size / 2))


def second_look(path: Path, landmarks: np.ndarray, height: int, every: int = 10) -> tuple[np.ndarray, dict]:
    """Landmarks (T, 33, 3) improved on crops where the person is small, and a report:
    ``redetected_frames`` and ``frames_with_others`` (indices of the sampled frames where
    someone else was seen)."""
    landmarks = landmarks.copy()
    boxes = person_boxes(landmarks)
    small = (boxes[:, 3] - boxes[:, 1]) < SMALL_FRACTION * height
    windows = _crop_windows(boxes, small) if small.any() else {}
    replaced = 0
    if windows:
        found, _ = detect_pose(_crops(path, windows))
        for (index, (x0, y0, side)), crop in zip(sorted(windows.items()), found):
            if crop[:, 2].mean() > landmarks[index, :, 2].mean():
                landmarks[index, :, :2] = crop[:, :2] * side / CROP_SIDE_PX + [x0, y0]
                landmarks[index, :, 2] = crop[:, 2]
                replaced += 1
    picks = {i for i in range(0, len(landmarks), every) if np.isfinite(boxes[i]).all()}
    others = []
    if picks:
        found, _ = detect_pose(_masked(path, boxes, picks))
        others = [i for i, seen in zip(sorted(picks), found) if _someone_else(seen, boxes[i], height)]
    return landmarks, {"small_frames": int(small.sum()), "redetected_frames": replaced,
                       "sampled_frames": len(picks), "frames_with_others": others}  # fmt: skip
