"""The followed person's 2D landmarks, frame by frame, with a second look where it helps.

mediapipe's pose solution follows one person and sees a small one poorly, or not at all. A
frame where the followed person is under ``SMALL_FRACTION`` of the frame's height, or where
the whole-frame detector lost a person seen in the last frames, is looked at again on a crop
around them (steadied by the median of the last boxes), enlarged, and the crop's landmarks
replace the first ones when they are more confident. While nobody is followed, every
``search_every``-th frame is searched on enlarged overlapping tiles (``TILE_FRACTION`` of the
frame's shorter side), which finds a person down to about an eighth of a 1080p frame's height. Every ``every``-th frame is also
looked at with the followed person blacked out: a confident pose there (shoulders and hips, at
least 15 % of the frame tall, away from the followed person) means someone else is in the
frame, which the report says. When a person is first found (and again whenever the one
followed was lost), someone taller in the same frame is preferred: the detector is shown the
frame with the first person blacked out and tracks the taller one from there. Every
look uses only the frames seen so far, so landmarks are final as soon as a frame is decoded.
Each look has its own detector, since mediapipe tracks from one image to the next.
After each frame, :attr:`PersonTracker.world_landmarks` holds mediapipe's 3D world landmarks
of the same look whose 2D landmarks were returned (metres, hip-centred, so a crop's are as
good as the whole frame's).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from engine.keypoints import PoseDetector
from engine.video import Frame

SMALL_FRACTION = 0.35
CROP_SIDE_PX = 512
CROP_MARGIN = 1.6  # crop side over the person's box's longer side
TORSO = [11, 12, 23, 24]  # BlazePose shoulders and hips
TILE_FRACTION = 0.6  # of the frame's shorter side: the windows a lost person is looked for in
OTHER_MIN_HEIGHT = 0.15  # of the frame: smaller "people" are mostly patterns the detector mistakes
# Of the person's recent size (the longer side of their box): on the six real clips the
# followed person never measured under 0.44 of the median of their last 60 frames (a break
# dancer curled on the floor); the table base the detector took for a person, 0.15-0.23.
COLLAPSED_FRACTION = 0.3
MIN_SIZES = 10  # recent frames with the person in them before a pose can be judged too small
# What the tracker did on a frame, for the report: the person was small (looked at again on a
# crop), lost (looked for on a crop), redetected (the crop's landmarks kept), found by the tile
# search, sampled for others in view, others found, a taller person chosen, a pose too small to
# be the person dropped.
EVENTS = ("small", "lost", "redetected", "found_by_search", "sampled", "others", "chose_larger", "collapsed")


def person_boxes(landmarks: np.ndarray, min_confidence: float = 0.5) -> np.ndarray:
    """Boxes (T, 4) x0, y0, x1, y1 around each frame's confident landmarks; NaN when there are none."""
    sure = (landmarks[..., 2] >= min_confidence)[..., None]
    low = np.where(sure, landmarks[..., :2], np.inf).min(axis=1)
    high = np.where(sure, landmarks[..., :2], -np.inf).max(axis=1)
    boxes = np.concatenate([low, high], axis=1)
    boxes[sure[..., 0].sum(axis=1) < 4] = np.nan
    return boxes


def _steady_crop(boxes: deque[np.ndarray]) -> tuple[float, float, float]:
    """A square crop (x0, y0, side) around the person, the median of the recent boxes (some may be NaN)."""
    recent = np.array(boxes)
    centre = np.nanmedian((recent[:, :2] + recent[:, 2:]) / 2, axis=0)
    side = CROP_MARGIN * np.nanmedian(np.max(recent[:, 2:] - recent[:, :2], axis=1))
    return centre[0] - side / 2, centre[1] - side / 2, side


def _crop(image: np.ndarray, window: tuple[float, float, float]) -> np.ndarray:
    x0, y0, side = window
    scale = CROP_SIDE_PX / side
    transform = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    return cv2.warpAffine(image, transform, (CROP_SIDE_PX, CROP_SIDE_PX), flags=cv2.INTER_LINEAR)


def _masked(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    image = image.copy()
    x0, y0, x1, y1 = box
    pad_x, pad_y = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
    height, width = image.shape[:2]
    image[max(int(y0 - pad_y), 0) : min(int(y1 + pad_y), height), max(int(x0 - pad_x), 0) : min(int(x1 + pad_x), width)] = 0
    return image


def _someone_else(landmarks: np.ndarray, followed: np.ndarray, height: int) -> bool:
    """Shoulders and hips confident, tall enough to be someone (not a picture's pattern), and
    centred away from the followed person's box (widened by half on each side), since the
    blacked-out box can miss a limb that the detector then finds again."""
    box = person_boxes(landmarks[None])[0]
    if not ((landmarks[TORSO, 2] > 0.5).all() and np.isfinite(box).all() and box[3] - box[1] > OTHER_MIN_HEIGHT * height):
        return False
    centre, size = (box[:2] + box[2:]) / 2, followed[2:] - followed[:2]
    return bool(np.any(centre < followed[:2] - size / 2) or np.any(centre > followed[2:] + size / 2))


def _tiles(width: int, height: int, fraction: float = TILE_FRACTION) -> list[tuple[float, float, float]]:
    """Overlapping square windows (x0, y0, side) of ``fraction`` of the frame's shorter side
    covering the frame, for looking for a person too small for the whole-frame detector."""
    side = fraction * min(width, height)
    across, down = (int(np.ceil((n - side) / (0.75 * side))) + 1 for n in (width, height))
    return [(x, y, side) for y in np.linspace(0, height - side, down) for x in np.linspace(0, width - side, across)]


def _from_window(crop: np.ndarray, window: tuple[float, float, float]) -> np.ndarray:
    """Landmarks found on a :func:`_crop` of ``window``, in the frame's pixels."""
    x0, y0, side = window
    return np.column_stack([crop[:, :2] * side / CROP_SIDE_PX + [x0, y0], crop[:, 2]]).astype(np.float32)


class PersonTracker:
    """BlazePose landmarks (33, 3) of the followed person in each frame, in order (module docstring)."""

    def __init__(self, every: int = 10, steady_frames: int = 9, search_every: int = 10, size_frames: int = 90) -> None:
        self.every, self.search_every = every, search_every
        self._main, self._crops, self._others, self._search = PoseDetector(), None, None, None
        self._boxes: deque[np.ndarray] = deque(maxlen=steady_frames)
        self._sizes: deque[float] = deque(maxlen=size_frames)  # the person's box's longer side per frame (NaN: nobody)
        self.events: list[tuple[int, str]] = []  # (frame, one of EVENTS), for the report
        # The last frame's world landmarks (33, 4: x, y, z metres, visibility; NaN where nobody
        # was found), from the look whose 2D landmarks ``process`` returned. An attribute, so
        # that what ``process`` and ``track`` return stays as it was.
        self.world_landmarks = np.full((33, 4), np.nan, np.float32)

    def __enter__(self) -> PersonTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        for detector in self._detectors():
            detector.close()

    def _detectors(self) -> list[PoseDetector]:
        return [d for d in (self._main, self._crops, self._others, self._search) if d is not None]

    def restart(self) -> None:
        """Forget the person followed, as a fresh tracker would (keeping the loaded models)."""
        for detector in self._detectors():
            detector.reset()
        self._boxes.clear()
        self._sizes.clear()

    def track(self, frames: Iterable[Frame]) -> Iterator[tuple[int, float, np.ndarray, np.ndarray]]:
        """(index, time, landmarks, world landmarks) of each of ``frames``, in order."""
        for frame in frames:
            landmarks = self.process(frame.index, frame.rgb)
            yield frame.index, frame.time, landmarks, self.world_landmarks

    def process(self, index: int, image: np.ndarray) -> np.ndarray:
        """The followed person's landmarks (33, 3) on frame ``index``; their world landmarks
        go to :attr:`world_landmarks`."""
        landmarks, world = self._main.process(image)
        box = person_boxes(landmarks[None])[0]
        followed = bool(self._boxes) and bool(np.isfinite(np.array(self._boxes)).all(axis=1).any())
        if not followed and np.isfinite(box).all():
            landmarks, world, box = self._largest(index, image, landmarks, world, box)
        if not np.isfinite(box).all() and not followed and index % self.search_every == 0:
            found, world = self._look_around(image, landmarks, world)
            self.events += [(index, "found_by_search")] * (found is not landmarks)
            landmarks = found
            box = person_boxes(landmarks[None])[0]
        small = bool(np.isfinite(box).all() and box[3] - box[1] < SMALL_FRACTION * image.shape[0])
        lost = bool(not np.isfinite(box).all() and followed)
        recent = np.array([*self._boxes, box][-self._boxes.maxlen :])  # the boxes once this frame's joins them
        # Look again, closer, around where the person was lately (while any recent box says where).
        if (small or lost) and np.isfinite(recent).all(axis=1).any():
            self.events += [(index, "small")] * small + [(index, "lost")] * lost
            self._boxes.append(box)
            self._crops = self._crops or PoseDetector()
            window = _steady_crop(self._boxes)
            crop, crop_world = self._crops.process(_crop(image, window))
            if crop[:, 2].mean() > landmarks[:, 2].mean():
                landmarks, world = _from_window(crop, window), crop_world
                self.events.append((index, "redetected"))
            self._boxes[-1] = person_boxes(landmarks[None])[0]
        else:
            self._boxes.append(box)
        box = self._boxes[-1]
        if self._collapsed(box):
            self.events.append((index, "collapsed"))
            landmarks, world = np.zeros_like(landmarks), np.full_like(world, np.nan)
            box = self._boxes[-1] = np.full(4, np.nan)
        self._sizes.append(float(np.max(box[2:] - box[:2])))
        if index % self.every == 0 and np.isfinite(box).all():
            self.events.append((index, "sampled"))
            self._others = self._others or PoseDetector()
            seen, _ = self._others.process(_masked(image, box))
            if _someone_else(seen, box, image.shape[0]):
                self.events.append((index, "others"))
        self.world_landmarks = world
        return landmarks

    def _collapsed(self, box: np.ndarray) -> bool:
        """Whether a found pose's ``box`` is far smaller than the person has lately been (module docstring)."""
        sizes = np.array(self._sizes)
        sizes = sizes[np.isfinite(sizes)]
        return bool(
            np.isfinite(box).all() and len(sizes) >= MIN_SIZES and np.max(box[2:] - box[:2]) < COLLAPSED_FRACTION * np.median(sizes)
        )

    def _largest(
        self, index: int, image: np.ndarray, landmarks: np.ndarray, world: np.ndarray, box: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """When a person is first found: if someone else in the frame is taller, follow them
        instead (a fresh detector is shown the frame with the first one blacked out, and tracks
        from there); the landmarks, world landmarks and box of the one followed."""
        self._others = self._others or PoseDetector()
        other, _ = self._others.process(_masked(image, box))
        other_box = person_boxes(other[None])[0]
        if _someone_else(other, box, image.shape[0]) and other_box[3] - other_box[1] > box[3] - box[1]:
            self._main.close()  # a fresh detector: a tracking one would keep to the first person's place
            self._main = PoseDetector()
            landmarks, world = self._main.process(_masked(image, box))
            self.events.append((index, "chose_larger"))
            return landmarks, world, person_boxes(landmarks[None])[0]
        return landmarks, world, box

    def _look_around(self, image: np.ndarray, landmarks: np.ndarray, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The most confident person found on enlarged tiles of the frame (shoulders and hips
        sure) and their world landmarks, or ``landmarks`` and ``world`` unchanged."""
        self._search = self._search or PoseDetector(static_image_mode=True)
        best, best_world, best_confidence = landmarks, world, landmarks[:, 2].mean()
        for window in _tiles(image.shape[1], image.shape[0]):
            found, found_world = self._search.process(_crop(image, window))
            if (found[TORSO, 2] > 0.5).all() and found[:, 2].mean() > best_confidence:
                best, best_world, best_confidence = _from_window(found, window), found_world, found[:, 2].mean()
        return best, best_world

    def report(self) -> dict:
        return tracking_report(self.events)


def tracking_report(events: list[tuple[int, str]]) -> dict:
    """The report's ``person`` counts from a tracker's (frame, event) list."""
    frames = {name: sorted(index for index, event in events if event == name) for name in EVENTS}
    return {
        "small_frames": len(frames["small"]),
        "lost_frames": len(frames["lost"]),
        "redetected_frames": len(frames["redetected"]),
        "found_by_search": len(frames["found_by_search"]),
        "sampled_frames": len(frames["sampled"]),
        "frames_with_others": frames["others"],
        "chose_larger": frames["chose_larger"],
        "collapsed_frames": frames["collapsed"],
    }
