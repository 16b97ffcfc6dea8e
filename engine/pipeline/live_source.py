"""Frames as they come, for ``engine live``: a reader thread and the one-frame slot it fills.

The reader decodes a camera (``cv2.VideoCapture(N)``) or a file (:func:`engine.video.read_frames`)
in a thread of its own and hands each frame to a :class:`LatestFrame`, a slot that holds one
frame. A camera does not wait for anyone, so when the worker is still busy with an earlier frame
the one waiting in the slot is replaced by the newer one and counted as dropped: the worker
always gets the newest frame, and nothing queues. A file with ``realtime`` is paced at its own
timestamps, so it behaves like a camera (the tests' and benchmarks' stand-in for one); a file
without it is read as fast as the worker takes its frames, none dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.quiet import native_stderr_silenced
from engine.video import VideoError, probe, read_frames


@dataclass(frozen=True)
class SourceFrame:
    """One frame: the source's frame number (frames dropped later still count), its time in seconds
    from the source's first frame (the file's timestamps, a camera's clock), the picture, and
    when the reader handed it over (``time.perf_counter()``: decoded and, with ``realtime``, due)."""

    index: int
    time: float
    rgb: np.ndarray
    handed_over: float


class LatestFrame:
    """The frame waiting for the worker (module docstring), or any item of a later stage
    waiting for the next; ``read`` items were put in, ``dropped`` of them were replaced before
    they were taken."""

    def __init__(self, keep_all: bool = False) -> None:
        self.keep_all = keep_all  # put() waits for the slot to empty instead of replacing its frame
        self.read = self.dropped = 0
        self.error: Exception | None = None
        self._frame: SourceFrame | Any = None
        self._closed = False
        self._changed = threading.Condition()

    def put(self, frame: SourceFrame | Any, stop: threading.Event) -> None:
        with self._changed:
            while self.keep_all and self._frame is not None and not stop.is_set():
                self._changed.wait(0.1)
            if self.keep_all and stop.is_set():
                return  # stopping: nobody will take it, and it was not dropped for being late
            self.dropped += self._frame is not None
            self._frame = frame
            self.read += 1
            self._changed.notify_all()

    def take(self, timeout_s: float) -> SourceFrame | Any:
        """The waiting frame (the slot is then empty), or None after ``timeout_s`` without one."""
        with self._changed:
            if self._frame is None and not self._closed:
                self._changed.wait(timeout_s)
            frame, self._frame = self._frame, None
            self._changed.notify_all()
            return frame

    def close(self, error: Exception | None = None) -> None:
        """No more frames will come (``error``: why the reader stopped early)."""
        with self._changed:
            self._closed, self.error = True, error
            self._changed.notify_all()

    @property
    def finished(self) -> bool:
        """Closed, and its last frame taken."""
        with self._changed:
            return self._closed and self._frame is None


class FrameReader:
    """Reads ``source`` (a camera's number or a file) into :attr:`slot` in a thread, once
    :meth:`start` is called; ``max_frames`` ends the source early (for tests and benchmarks)."""

    def __init__(self, source: int | Path, realtime: bool = False, max_frames: int | None = None) -> None:
        self.source, self.realtime, self.max_frames = source, realtime, max_frames
        self.camera = isinstance(source, int)
        # A file not paced as a camera is read as fast as the worker goes: dropping its frames would only lose them.
        self.slot = LatestFrame(keep_all=not self.camera and not realtime)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.camera:
            with native_stderr_silenced():  # OpenCV's back-ends each complain of a camera they cannot open: we say it once
                self._capture = cv2.VideoCapture(source)
            if not self._capture.isOpened():
                raise VideoError(f"camera {source}: cannot be opened (is it there, and not in use by another program?)")
            self.name = f"camera {source}"
            self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 30.0
        else:
            info = probe(source)
            self.name, self.width, self.height, self.fps = Path(source).name, info.width, info.height, info.nominal_fps or 30.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if not self.camera:
            for frame in read_frames(self.source):
                yield frame.index, frame.time, frame.rgb
            return
        started, index = time.perf_counter(), 0
        try:
            while not self._stop.is_set():
                ok, bgr = self._capture.read()
                if not ok:
                    break
                yield index, time.perf_counter() - started, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            self._capture.release()

    def _run(self) -> None:
        frames, zero = self._frames(), None  # zero: perf_counter() at the source's time 0, for pacing a file
        try:
            for index, seconds, rgb in frames:
                if self._stop.is_set() or (self.max_frames is not None and index >= self.max_frames):
                    break
                if self.realtime and not self.camera:
                    zero = time.perf_counter() - seconds if zero is None else zero
                    if self._stop.wait(max(zero + seconds - time.perf_counter(), 0.0)):
                        break
                self.slot.put(SourceFrame(index, seconds, rgb, time.perf_counter()), self._stop)
        except Exception as e:  # handed to the worker, which raises it
            self.slot.close(e)
            return
        finally:
            frames.close()  # the decoder or camera released now, not whenever the generator is collected
        self.slot.close()
