"""One video's 2D stage on several cores: the frames cut into segments, each tracked by a worker thread.

One mediapipe pose detector keeps about one core busy, so a single capture would leave the
rest of the machine idle. Here the decoded frames (decoding stays one thread, in the caller)
are cut into segments (``segmenting``); segment ``k`` goes to worker ``k % workers``,
which tracks it with its own :class:`~engine.pipeline.person.PersonTracker`, restarted for it.
Because mediapipe tracks from frame to frame, a restarted tracker first looks at the
``WARMUP_FRAMES`` frames before its segment and throws those landmarks away, so it has found
and settled on the person by the segment's first frame. Results come back in frame order.

The workers are threads: mediapipe lets go of the GIL while its graph runs, so two threads
detect about twice as fast as one, with no process to start and no frame to copy (worker
processes were measured too: starting them and pickling every frame cost more than they won
on clips under half a minute). Interleaving frames instead of segments (frame ``i`` to worker
``i % workers``, each tracking its own frames) was measured and rejected: every tracker then
sees the person move twice as far between its frames, which moved the motion by 16 mm.

The segments depend only on frame numbers, never on timing, so a capture gives the same
landmarks on every run and the server streams what ``engine mocap`` writes with the same
number of workers. Frames wait in memory until their worker takes them, so the frames in
flight are bounded: ``workers × segment frames``, within ``FRAME_MEMORY_BUDGET``
(``segmenting``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

import numpy as np

from engine.pipeline.person import PersonTracker, tracking_report
from engine.video import Frame

MIN_SEGMENT_FRAMES = 100  # shorter segments spend too much on warm-ups
WARMUP_FRAMES = 20
FRAME_MEMORY_BUDGET = 1 << 30  # bytes of decoded frames waiting for the workers


def segmenting(requested: int, width: int, height: int, frames_hint: int) -> tuple[int, int]:
    """(detector threads, segment frames) for a ``width`` × ``height`` video of about
    ``frames_hint`` frames (the container's count) when ``requested`` threads: fewer threads when
    the frames in flight (threads × segment) would not fit ``FRAME_MEMORY_BUDGET`` (4K video:
    one); one segment per thread when the clip is that short (so the threads finish together),
    else segments as long as the budget allows (fewer warm-ups). The cut depends only on the
    file, so every run cuts it alike. A clip of one segment or less (a photo) gets one thread:
    a second would only load its models."""
    frame_bytes = width * height * 3
    segments = -(-frames_hint // MIN_SEGMENT_FRAMES) if frames_hint > 0 else requested
    workers = max(1, min(requested, segments, FRAME_MEMORY_BUDGET // (MIN_SEGMENT_FRAMES * frame_bytes)))
    longest = FRAME_MEMORY_BUDGET // (workers * frame_bytes)
    return workers, int(np.clip(-(-frames_hint // workers), MIN_SEGMENT_FRAMES, max(longest, MIN_SEGMENT_FRAMES)))


class SegmentedTracker:
    """:class:`PersonTracker`'s ``track`` and ``report``, on ``workers`` threads (module docstring).

    Use as a context manager: the workers start on entering and stop on leaving.
    """

    def __init__(self, workers: int, segment_frames: int, warmup_frames: int = WARMUP_FRAMES) -> None:
        if workers < 2 or not 0 <= warmup_frames < segment_frames:
            raise ValueError(
                f"a segmented tracker needs 2 workers or more and a warm-up shorter than a segment, got {workers}, {warmup_frames}"
            )
        self.workers, self.segment_frames, self.warmup_frames = workers, segment_frames, warmup_frames
        self.events: list[tuple[int, str]] = []
        self._outbox: queue.Queue = queue.Queue()
        self._inboxes: list[queue.Queue] = [queue.Queue() for _ in range(workers)]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(w,), daemon=True, name=f"detector-{w}") for w in range(workers)]

    def __enter__(self) -> SegmentedTracker:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # frames still queued after a failure are not wanted
        for inbox in self._inboxes:
            inbox.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self, worker: int) -> None:
        """A worker: track the segments sent to it. Messages: ``"restart"``, (index, rgb,
        kept) for a frame (its landmarks are sent back when ``kept``), None to stop."""
        try:
            with PersonTracker() as tracker:
                while (message := self._inboxes[worker].get()) is not None and not self._stop.is_set():
                    if message == "restart":
                        tracker.restart()
                        continue
                    index, rgb, kept = message
                    landmarks = tracker.process(index, rgb)
                    if kept:
                        self._outbox.put((index, (landmarks, tracker.world_landmarks), tracker.events))
                    tracker.events = []
        except Exception as e:  # handed to the capture, which raises it
            self._outbox.put(e)

    def _send(self, frame: Frame) -> None:
        """Frame ``i`` to the worker of its segment, and to the next segment's worker while
        it is in that one's warm-up."""
        segment = frame.index // self.segment_frames
        self._inboxes[segment % self.workers].put((frame.index, frame.rgb, True))
        ahead = (segment + 1) * self.segment_frames - frame.index  # frames until the next segment
        if ahead <= self.warmup_frames:
            inbox = self._inboxes[(segment + 1) % self.workers]
            if ahead == self.warmup_frames:
                inbox.put("restart")
            inbox.put((frame.index, frame.rgb, False))

    def _receive(self) -> tuple[int, tuple[np.ndarray, np.ndarray], list[tuple[int, str]]]:
        """The next result any worker sends: (index, (landmarks, world landmarks), events)."""
        result = self._outbox.get()
        if isinstance(result, Exception):
            raise result
        return result

    def track(self, frames: Iterable[Frame]) -> Iterator[tuple[int, float, np.ndarray, np.ndarray]]:
        """(index, time, landmarks, world landmarks) of each of ``frames``, in order; ``frames`` must be
        numbered from 0 without gaps (as decoded)."""
        times: dict[int, float] = {}
        done: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        source, sent, emitted = iter(frames), 0, 0
        in_flight = self.workers * self.segment_frames
        while True:
            while sent - emitted < in_flight and (frame := next(source, None)) is not None:
                if frame.index != sent:
                    raise ValueError(f"frames must come numbered in order; expected {sent}, got {frame.index}")
                self._send(frame)
                times[frame.index], sent = frame.time, sent + 1
            if emitted == sent:
                return
            index, found, events = self._receive()
            done[index] = found
            self.events += events
            while emitted in done:
                yield emitted, times.pop(emitted), *done.pop(emitted)
                emitted += 1

    def report(self) -> dict:
        return tracking_report(self.events)
