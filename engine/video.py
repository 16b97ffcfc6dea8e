"""Decoding videos and still images into RGB frames with their presentation times.

OpenCV's FFmpeg back-end (bundled with the opencv-python-headless wheel) decodes
mp4/mov/avi/mkv/webm and GIF (each frame at its own delay); animated WebP and PNG are read by
Pillow (FFmpeg cannot read the first nor time the second); still images (photos: jpg, png,
webp, bmp, tiff, and HEIC/HEIF through Pillow's pillow-heif plugin) load as a one-frame clip. Rotation metadata (phones record
sideways and say so) is applied, so frames come out as the clip is meant to be seen; OpenCV
reads the metadata but rotates only when asked. Each frame carries its own timestamp, so a
variable-frame-rate clip keeps its real timing; the number of frames is counted while
decoding, never taken from the container's header.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageOps, ImageSequence

from engine.quiet import native_stderr_silenced

cv2.setLogLevel(2)  # errors only: not OpenCV's "backend can't be used to capture by name" warnings

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".heif"}
# A GIF is a video here: FFmpeg reads its frames at their own delays, as browsers play them.
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif"}
ANIMATION_SUFFIXES = {".webp", ".png"}  # images that may be animations, read by Pillow
# What to do about a file FFmpeg cannot read: most are cut short, or in a codec it lacks.
_REMEDY = "if it was cut short, re-export or re-download it; if it plays elsewhere, convert it: ffmpeg -i IN -c:v libx264 OUT.mp4"


class VideoError(ValueError):
    """A file that cannot be decoded; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: size as displayed (after rotation), the rotation applied
    (degrees clockwise), the nominal frame rate (0 when unknown) and frame count (both only hints)."""

    path: Path
    width: int
    height: int
    rotation: int
    nominal_fps: float
    nominal_frames: int
    is_image: bool


@dataclass(frozen=True)
class Frame:
    index: int
    time: float  # seconds from the first frame
    rgb: np.ndarray  # (height, width, 3) uint8


def _check(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise VideoError(f"{path}: a link to nothing (its target {path.readlink()} is gone)")
    if path.exists() and not path.is_file():
        raise VideoError(f"{path}: not a regular file (a folder, pipe or device cannot be read as a video)")
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise VideoError(f"{path}: not readable (permission denied)")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes): re-export or re-download it")
    if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise VideoError(f"{path}: not a video or image file we read ({known})")


def _capture(path: Path) -> cv2.VideoCapture:
    heard: list[str] = []
    with native_stderr_silenced(heard):  # FFmpeg's own complaint goes into ours, in one line
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        said = [line.split("] ", 1)[-1] for line in heard if not line.startswith("[ WARN")]  # FFmpeg's, not OpenCV's
        because = f" (FFmpeg: {'; '.join(dict.fromkeys(said))})" if said else ""
        raise VideoError(f"{path}: cannot be opened as a video{because}; {_REMEDY}")
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # honours EXIF orientation
    if image is not None:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    # OpenCV has no HEIC/HEIF (phones' photos); Pillow reads them through pillow-heif's plugin.
    pillow_heif.register_heif_opener()
    try:
        with Image.open(path) as opened:
            return np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    except OSError:
        raise VideoError(f"{path}: cannot be decoded as an image; if it was cut short, re-export or re-download it") from None


def _open_animation(path: Path) -> Image.Image | None:
    """``path`` opened by Pillow when it is an animated WebP or PNG, else None."""
    if path.suffix.lower() not in ANIMATION_SUFFIXES:
        return None
    try:
        image = Image.open(path)
    except OSError:  # not an image Pillow knows: reading it as a still says what is wrong
        return None
    if getattr(image, "n_frames", 1) > 1:
        return image
    image.close()
    return None


def _animation_frames(image: Image.Image) -> Iterator[Frame]:
    """The frames of an animated ``image``, each at the sum of the delays before it."""
    time = 0.0
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        rgb = np.asarray(frame.convert("RGB"))  # loads the frame, and with it its delay
        yield Frame(index, time, rgb)
        delay_ms = frame.info.get("duration") or 0
        # Browsers play a delay of 10 ms or less (tools write 0 for "as fast as you can") as
        # 100 ms, and FFmpeg does the same for GIF.
        time += delay_ms / 1000 if delay_ms > 10 else 0.1


def probe(path: str | Path) -> VideoInfo:
    """The container's description of ``path``, without decoding it."""
    path = Path(path)
    _check(path)
    if (animation := _open_animation(path)) is not None:
        with animation:
            return VideoInfo(path, animation.width, animation.height, 0, 0.0, animation.n_frames, False)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        height, width = _read_image(path).shape[:2]
        return VideoInfo(path, width, height, 0, 0.0, 1, True)
    capture = _capture(path)
    try:
        rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        # With auto-rotation on, OpenCV reports the size as displayed.
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return VideoInfo(
            path, width, height, rotation, capture.get(cv2.CAP_PROP_FPS) or 0.0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), False
        )
    finally:
        capture.release()


def read_frames(path: str | Path) -> Iterator[Frame]:
    """Every frame of ``path`` in order, upright, with its time; raises :class:`VideoError`
    when nothing can be decoded. A still image is one frame at time 0."""
    path = Path(path)
    _check(path)
    if (animation := _open_animation(path)) is not None:
        with animation:
            yield from _animation_frames(animation)
        return
    if path.suffix.lower() in IMAGE_SUFFIXES:
        yield Frame(0, 0.0, _read_image(path))
        return
    capture = _capture(path)
    nominal_fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    try:
        index, first_time, last_time = 0, None, -1.0
        while True:
            with native_stderr_silenced():  # FFmpeg's "partial file": the report says how much was decoded
                ok, bgr = capture.read()
            if not ok:
                break
            stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
            first_time = stamp if first_time is None else first_time
            time = stamp - first_time
            if time <= last_time:  # no usable timestamp: fall back on the nominal rate
                time = last_time + 1 / nominal_fps
            yield Frame(index, time, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index, last_time = index + 1, time
        if index == 0:
            raise VideoError(f"{path}: no frame could be decoded; {_REMEDY}")
    finally:
        capture.release()


def read_frames_ahead(path: str | Path, frames: int = 4) -> Iterator[Frame]:
    """:func:`read_frames`, decoded in a thread up to ``frames`` ahead of the caller (OpenCV
    lets go of the GIL while it decodes, so decoding overlaps the caller's work)."""
    ready: queue.Queue = queue.Queue(maxsize=frames)
    stop = threading.Event()

    def decode() -> None:
        try:
            for frame in read_frames(path):
                while not stop.is_set():
                    try:
                        ready.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(None)
        except Exception as e:  # handed to the caller, who raises it
            ready.put(e)

    thread = threading.Thread(target=decode, daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
