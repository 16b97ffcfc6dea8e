"""Live capture, one frame at a time: each frame's SMPL pose the moment the frame is seen.

Per frame (:class:`LiveProcessor`), in two stages: the person's 2D landmarks
(:class:`PersonTracker`, as a capture's: :meth:`~LiveProcessor.detect`, run by
:class:`Detection` in a thread of its own), then (:meth:`~LiveProcessor.pose`) unsure joints
holding their last sure place, lifting by a single-frame lifter (HTNet), the root placed by
reprojection (:func:`root_translation`), the camera-frame joints smoothed by a causal One-Euro
filter (:class:`~engine.timeseries.OneEuroFilter`, timed by the frames' own timestamps), the
world frame, then IK. Nothing waits for a later frame: a windowed lifter (HoT) needs the frames
after each one and is refused; there is no foot locking (it looks half a second ahead) and no
trajectory smoothing beyond the filter.

The world frame: a live stream has no whole clip to fit a floor on, and a frame once sent is
never changed. So the first ``calibration_s`` seconds (two frames at least) in which the person
is seen calibrate it (the person should stand in view): gravity and the floor
(:func:`fit_floor`, as a capture fits them, on those frames), the bone lengths
(:func:`fit_rest_skeleton`) and the frame rate; then all three stay fixed for the stream. The
calibration's frames are not sent; the frame that ends it is the first one out, with the origin
on it (its root at x = z = 0, facing +z).

:class:`LiveStats` counts what happened to the frames and times each from its hand-over by the
reader to its message leaving the engine; :class:`LiveRecording` keeps the frames sent and
turns them into a :class:`~engine.motion.Motion` when the stream stops.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pkgutil import resolve_name

import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp

from engine.body.ik import fit_rest_skeleton
from engine.body.skeleton import default_rest_joints
from engine.keypoints import detected_keypoints
from engine.lifting import normalise_screen
from engine.lifting.registry import ARCHITECTURES
from engine.lifting.streaming import PerFrameLifting, run_model
from engine.motion import Motion
from engine.pipeline.live_source import FrameReader, LatestFrame, SourceFrame
from engine.pipeline.person import PersonTracker
from engine.pipeline.settings import DEFAULT_FOV_DEG, LIVE_BETA, LIVE_CALIBRATION_S, LIVE_MIN_CUTOFF_HZ
from engine.pipeline.track import MAX_BRIDGED_GAP_S
from engine.pipeline.world import Floor, fit_floor, origin_at, relocated, root_translation, to_world
from engine.solving import make_solver
from engine.timeseries import OneEuroFilter, interpolate

# The One-Euro defaults (settings.py) were chosen on CMU mocap (walk, run, jump, dance) with white
# jitter of 1.5 cm across and 4 cm in depth (docs/live.md): the mean joint error stays under the
# raw jitter's while the frame-to-frame jitter (acceleration) halves.
MIN_CONFIDENCE = 0.2  # a joint less sure than this holds its last sure place (as fill_unsure_joints)
NEVER = 1 << 30  # PersonTracker's look for other people is for a capture's report: not worth a detector pass per frame here


def streams_per_frame(architecture: str) -> bool:
    """Whether lifters of ``architecture`` lift each frame on its own, with no later frame."""
    return issubclass(resolve_name(ARCHITECTURES[architecture].streaming), PerFrameLifting)


@dataclass
class LiveFrame:
    """One frame made: the source's frame number and time, when the reader handed it over, and
    its SMPL ``poses`` (72,), ``trans`` (3,), world ``joints`` (24, 3), ``contacts`` (4,) and
    ``keypoints2d`` (17, 3: pixels and confidence)."""

    index: int
    time: float
    handed_over: float
    poses: np.ndarray
    trans: np.ndarray
    joints: np.ndarray
    contacts: np.ndarray
    keypoints2d: np.ndarray


class LiveProcessor:
    """The per-frame pipeline (module docstring) for frames of ``width`` × ``height`` pixels."""

    def __init__(
        self,
        model: torch.nn.Module,
        width: int,
        height: int,
        fov_deg: float = DEFAULT_FOV_DEG,
        min_cutoff: float = LIVE_MIN_CUTOFF_HZ,
        beta: float = LIVE_BETA,
        calibration_s: float = LIVE_CALIBRATION_S,
    ) -> None:
        architecture = model.card["architecture"]
        if not streams_per_frame(architecture):
            raise ValueError(
                f"lifter {model.card.get('name', '?')} ({architecture}) lifts windows of frames and needs the frames after each one: "
                "live capture needs a single-frame lifter (htnet)"
            )
        self.model, self.width, self.height = model, width, height
        focal = max(width, height) / 2 / np.tan(np.radians(fov_deg) / 2)
        self.camera = np.array([focal, focal, width / 2, height / 2])  # fx, fy, cx, cy: a centred pinhole
        self.filter = OneEuroFilter(min_cutoff, beta)
        self.calibration_s = calibration_s
        self.tracker = PersonTracker(every=NEVER)
        self.sure_pixels: np.ndarray | None = None  # each joint's last sure place
        self.seen_at: float | None = None  # the time of the last frame with the person
        self.previous: np.ndarray | None = None  # the last sent frame's camera-frame joints, for the feet's speed
        self.previous_pixels: np.ndarray | None = None  # and its keypoints (where the picture put its feet)
        self.previous_time = 0.0
        self.calibrating: list[tuple[int, float, np.ndarray, np.ndarray]] = []  # (index, time, camera joints, pixels) until calibrated
        self.fps: float | None = None
        self.floor: Floor | None = None
        self.rest: np.ndarray | None = None
        self.origin: tuple[np.ndarray, np.ndarray] | None = None
        self.calibration_frames = self.unseen_frames = 0
        self._warm_up()

    def _warm_up(self) -> None:
        """Load every model now (the detectors' first frames take most of a second), so the first
        frames of the stream are not dropped waiting for it."""
        blank = np.zeros((self.height, self.width, 3), np.uint8)
        self.tracker.process(0, blank)  # nobody there: the tile search's detector loads too
        self.tracker.restart()
        self.tracker.events.clear()
        self.lift(np.zeros((17, 3)))

    def close(self) -> None:
        self.tracker.__exit__()

    def lift(self, keypoints: np.ndarray) -> np.ndarray:
        """One frame's root-relative joints (17, 3) from its normalised keypoints (17, 3), with the
        flip test as captures lift (not through PerFrameLifting, which keeps every frame it lifted)."""
        return run_model(self.model, torch.from_numpy(keypoints[None, None]).float(), flip_test=True)[0, 0]

    def process(self, frame: SourceFrame) -> LiveFrame | None:
        """The frame's pose, or None when it is not sent (the person unseen, or calibrating)."""
        return self.pose(frame, self.detect(frame))

    def detect(self, frame: SourceFrame) -> np.ndarray:
        """The first stage: the person's H36M17 pixels and confidences (17, 3), zero confidence
        when nobody is seen. Frames must come in order (the tracker follows the person)."""
        return detected_keypoints(self.tracker.process(frame.index, frame.rgb)[None])[0].astype(np.float64)

    def pose(self, frame: SourceFrame, pixels: np.ndarray) -> LiveFrame | None:
        """The second stage: :meth:`process` given the frame's :meth:`detect`-ed ``pixels``."""
        if pixels[:, 2].max() <= 0:
            self.unseen_frames += 1
            return None
        if self.seen_at is not None and frame.time - self.seen_at > MAX_BRIDGED_GAP_S:
            # Back after a long gap, perhaps elsewhere: nothing held or glides from where they were.
            self.filter.reset()
            self.sure_pixels = None
        self.seen_at = frame.time
        sure = pixels[:, 2] >= MIN_CONFIDENCE
        self.sure_pixels = pixels[:, :2].copy() if self.sure_pixels is None else self.sure_pixels
        self.sure_pixels[sure] = pixels[sure, :2]
        filled = np.concatenate([normalise_screen(self.sure_pixels, self.width, self.height), pixels[:, 2:]], axis=-1)
        lifted = self.lift(filled)
        translation = root_translation(lifted[None], pixels[None], self.camera)[0]
        joints = self.filter(lifted + translation, frame.time)
        if self.floor is None:
            self.calibrating.append((frame.index, frame.time, joints, pixels))
            if len(self.calibrating) < 2 or frame.time - self.calibrating[0][1] < self.calibration_s:
                self.calibration_frames += 1
                return None
            self._calibrate()
        # Planted feet: low, and slow since the last frame with the person (its own time: frames drop).
        rate = 1 / max(frame.time - self.previous_time, 1e-3)
        two_frames, two_pixels = np.stack([self.previous, joints]), np.stack([self.previous_pixels, pixels])
        contacts = to_world(two_frames, rate, self.floor, two_pixels, self.camera).contacts[-1]
        self.previous, self.previous_pixels, self.previous_time = joints, pixels, frame.time
        world = joints @ self.floor.rotation.T + self.floor.translation
        # A solver over a one-frame clip, for the same reason as the lifter: IK keeps no state between frames.
        solved = make_solver("ik", self.rest, self.fps).extend(world[None], complete=True)
        if self.origin is None:
            self.origin = origin_at(solved["joints"][0])
        poses, trans, smpl_joints = relocated(solved["poses"], solved["trans"], solved["joints"], *self.origin, self.rest[0])
        heel_and_toe = contacts[[0, 0, 1, 1]]  # the Motion's four columns; we know the ankles' only
        return LiveFrame(frame.index, frame.time, frame.handed_over, poses[0], trans[0], smpl_joints[0], heel_and_toe, pixels)

    def _calibrate(self) -> None:
        """The world frame, bone lengths and frame rate from the calibration's frames (module docstring)."""
        indices, times, joints, pixels = (np.array(column) for column in zip(*self.calibrating))
        # The source's rate from its frame numbers, which count the frames dropped too (two frames at least).
        self.fps = float((indices[-1] - indices[0]) / max(times[-1] - times[0], 1e-3))
        self.floor = fit_floor(joints, (len(times) - 1) / max(times[-1] - times[0], 1e-3))  # the rate of the frames it sees
        world = joints @ self.floor.rotation.T + self.floor.translation
        self.rest = fit_rest_skeleton(world, default_rest_joints())
        # The frame that ends the calibration is the first sent; the one before it gives its feet's speed.
        self.previous, self.previous_pixels, self.previous_time = joints[-2], pixels[-2], times[-2]
        self.calibrating = []


class Detection:
    """The processor's first stage (:meth:`LiveProcessor.detect`) in a thread of its own,
    between the reader's slot and :attr:`slot`, which holds the newest ``(frame, pixels)`` for
    the second stage: while one frame is lifted, solved and sent, the next is being detected, so
    a frame's cost is the longer stage's, not both (the detector and torch let go of the GIL).
    Like the reader's slot, :attr:`slot` drops what the second stage had no time to take."""

    def __init__(self, reader: FrameReader, processor: LiveProcessor) -> None:
        self.reader, self.processor = reader, processor
        self.slot: LatestFrame = LatestFrame()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live 2D", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.reader.slot.take(0.05)
                if frame is None:
                    if self.reader.slot.finished:
                        if self.reader.slot.error is not None:
                            raise self.reader.slot.error
                        break
                    continue
                self.slot.put((frame, self.processor.detect(frame)), self._stop)
        except Exception as e:  # handed to the second stage, which raises it
            self.slot.close(e)
            return
        self.slot.close()


@dataclass
class LiveStats:
    """What happened to the frames of one stream, and each sent frame's delay (seconds from its
    hand-over by the reader to its message leaving the engine)."""

    read: int = 0
    dropped: int = 0
    processed: int = 0
    calibration: int = 0
    unseen: int = 0
    delays: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    cpu_started: float = field(default_factory=time.process_time)  # the process's, every thread's (mediapipe's own too)
    cpu_ended: float | None = None

    def sent(self, handed_over: float, left: float) -> None:
        self.delays.append(left - handed_over)

    def summary(self) -> dict:
        """Counts, the drop rate (dropped over read), the delay's median, 95th percentile and
        maximum (ms), the frame rates achieved (per second of the stream's wall time), and the
        engine's CPU time per frame processed (all its threads: decoding every frame read, 2D,
        lifting, solving, sending), which says what the stream needs of an idle machine."""
        seconds = (self.ended or time.perf_counter()) - self.started
        cpu = (self.cpu_ended or time.process_time()) - self.cpu_started
        delays = 1000 * np.array(self.delays)
        return {
            "frames_read": self.read,
            "frames_dropped": self.dropped,
            "drop_rate": self.dropped / self.read if self.read else 0.0,
            "frames_processed": self.processed,
            "calibration_frames": self.calibration,
            "unseen_frames": self.unseen,
            "frames_sent": len(self.delays),
            # None (JSON null) when nothing was sent
            "delay_ms_median": float(np.median(delays)) if len(delays) else None,
            "delay_ms_p95": float(np.percentile(delays, 95)) if len(delays) else None,
            "delay_ms_max": float(delays.max()) if len(delays) else None,
            "processed_fps": self.processed / seconds if seconds > 0 else 0.0,
            "sent_fps": len(self.delays) / seconds if seconds > 0 else 0.0,
            "cpu_ms_per_frame": 1000 * cpu / self.processed if self.processed else None,
            "seconds": seconds,
        }


class LiveRecording:
    """The frames sent, kept to be saved as a Motion when the stream stops."""

    def __init__(self) -> None:
        self.frames: list[LiveFrame] = []

    def add(self, frame: LiveFrame) -> None:
        self.frames.append(frame)

    def motion(self, fps: float, rest: np.ndarray, camera: np.ndarray, source: str) -> Motion:
        """One Motion frame per source frame from the first sent to the last: a frame not sent
        (dropped, or the person unseen) is interpolated between its neighbours when the gap is
        short (up to 0.5 s, as a capture bridges missed detections; rotations by slerp) and holds
        the last frame sent when longer (``held``, as a capture holds long gaps)."""
        if not self.frames:
            raise ValueError("no frames were sent, so there is nothing to record")
        sent = np.array([f.index for f in self.frames]) - self.frames[0].index
        grid = np.arange(sent[-1] + 1)
        arrays = {
            key: interpolate(np.array([getattr(f, key) for f in self.frames], np.float64), sent, grid)
            for key in ("trans", "joints", "contacts", "keypoints2d")
        }
        poses = np.array([f.poses for f in self.frames]).reshape(len(sent), 24, 3)
        if len(sent) > 1:
            poses = np.stack([Slerp(sent, Rotation.from_rotvec(poses[:, j]))(grid).as_rotvec() for j in range(24)], axis=1)
        arrays["poses"] = poses.reshape(len(grid), 72)
        arrays["contacts"] = np.round(arrays["contacts"])  # 0/1, as sent
        held = np.zeros(len(grid), bool)
        before = np.searchsorted(sent, grid, side="right") - 1  # the last frame sent at or before each
        long_gap = np.r_[np.diff(sent) / fps > MAX_BRIDGED_GAP_S, False][before] & (grid != sent[before])
        for key in arrays:
            arrays[key][long_gap] = arrays[key][sent[before[long_gap]]]
        held[long_gap] = True
        return Motion(
            fps=fps,
            rest_joints=rest,
            camera=camera,
            source=(source, ""),
            held=held,
            first_frame_time=self.frames[0].time,
            **arrays,
        )
