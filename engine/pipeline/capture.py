"""Video → Motion: the one function ``engine mocap`` and the server call.

Stages: decode (``engine.video``) → 2D keypoints (mediapipe, ``engine.keypoints``; a second
look on crops where the person is small, and for other people, ``person``) → gaps
bridged or marked, timing made uniform (``track``) → lifting by the lifter chosen by
``Settings.lifter`` (``engine.lifting``; HoT by default) → root translation, floor and foot
locking (``world``) → per-clip bone lengths and the solver chosen by ``Settings.solver``
(``engine.solving``; the decoder paired with the lifter by default) → a :class:`~engine.motion.Motion`, and a report
(``report``). No motion is invented: frames in long detection gaps hold the last seen pose
exactly, carry zero 2D confidence and are flagged ``held``; frames before the person is first
seen and after they are last seen are left out (``Settings.keep_empty`` keeps them, held). The
world's origin is the person's place and heading at the first frame (``Settings.origin``).

The stages run while the video is being decoded, and provisional frames come out as soon as
they are final for streaming: every step looks only a bounded way ahead (the lifter's and the
solver's ``settled`` counts, ``LOOKAHEAD_S`` for filling and foot locking, the smoothing's
reach), and the choices made once per clip (frame rate, floor, bone lengths) are made on the
first ``CALIBRATION_S`` seconds of the person, the origin on their first frame. Frames in a long
gap are held back until the person is seen again (then they are final) or the clip ends (then
they are dropped, or kept with ``keep_empty``). Once the clip is decoded, the floor and bone
lengths are fitted again on the whole clip and every frame is made again from the kept lifting
(``Capture.final``): that is the Motion written, and the motion a served capture ends with.
The provisional frames come from the solver's ``provisional`` one where it names one (the
decoder's windows would hold them back up to 81 frames: the IK's come at once); the final motion
from the chosen solver.
:func:`capture_landmarks` runs the same stages on given 2D landmarks instead of a video's
detector (``engine eval video`` feeds it the exact 2D).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.ik import fit_rest_skeleton, reach_with_leg
from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.body.skeleton import default_rest_joints
from engine.keypoints import BLAZEPOSE_NUM_LANDMARKS, detected_keypoints
from engine.lifting import normalise_screen, world_channels
from engine.lifting.inference import fill_unsure_joints
from engine.lifting.weights import load_shipped, load_weights, streaming_lifter
from engine.motion import Motion
from engine.pipeline.camera_motion import CameraMotion
from engine.pipeline.parallel_tracking import SegmentedTracker, segmenting
from engine.pipeline.person import PersonTracker, tracking_report
from engine.pipeline.photo import limbs_on_rays
from engine.pipeline.report import capture_report
from engine.pipeline.settings import Settings
from engine.pipeline.track import bridge_gaps, bridge_settled
from engine.pipeline.world import (
    Floor,
    FootPins,
    contacts_reach,
    fit_floor,
    foot_lock_correction,
    heel_and_toe_contacts,
    lock_settled,
    origin_at,
    relocated,
    relocated_cameras,
    root_translation,
    smooth_translation,
    to_world,
)
from engine.quiet import native_stderr_silenced
from engine.solving import Solver, make_solver, provisional_solver
from engine.timeseries import fill_settled, hold_gaps, interpolate, trailing_run_start, uniform_rate
from engine.video import Frame, VideoInfo, probe, read_frames_ahead

Progress = Callable[[str, int, int], None]  # stage, done, total
# first frame, fps, the clip's rest skeleton (24, 3), arrays of the final frames (MOTION_KEYS)
FrameSink = Callable[[int, float, np.ndarray, dict[str, np.ndarray]], None]

CALIBRATION_S = 3.0  # seconds of the person seen before the clip-wide choices are made
LOOKAHEAD_S = 0.5  # how far filling unsure joints and carrying foot corrections look ahead
COMMIT_FRAMES = 25  # decoded frames between attempts to finish more frames
MOTION_KEYS = ("poses", "trans", "joints", "keypoints2d", "contacts", "held", "camera_to_world")
SMPL_FEET = [SMPL24.index("l_ankle"), SMPL24.index("r_ankle")]  # what foot locking holds still


def intrinsics(width: int, height: int, fov_deg: float) -> np.ndarray:
    """(fx, fy, cx, cy) of a centred pinhole seeing ``fov_deg`` across the long side."""
    focal = max(width, height) / 2 / np.tan(np.radians(fov_deg) / 2)
    return np.array([focal, focal, width / 2, height / 2])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Capture:
    """The pipeline over the frames decoded so far; ``finish`` turns more frames final.

    Each step works on every frame so far (cheap, numpy) except the lifter and the solver,
    which keep what they have done. A step's ``*_settled`` count (the lifter's and the
    solver's ``settled``) says how many leading frames of its answer are final; the frames
    final through every step are emitted, once, in order, to ``on_frames``.
    """

    def __init__(self, info: VideoInfo, settings: Settings, on_frames: FrameSink) -> None:
        self.info, self.settings, self.on_frames = info, settings, on_frames
        self.camera = intrinsics(info.width, info.height, settings.fov_deg)
        self.camera_motion = CameraMotion(info.width, info.height, self.camera)
        self.turns: list[np.ndarray] = []  # the camera's rotation per decoded frame (CameraMotion.measure)
        self.compensate = False  # whether the camera's turns are undone (CameraMotion.report's "compensated")
        self.model = load_weights(settings.lifter_weights) if settings.lifter_weights else load_shipped(settings.lifter)
        self.lifting = streaming_lifter(self.model)
        self.times: list[float] = []
        self.keypoints: list[np.ndarray] = []  # H36M17 pixels and confidence per decoded frame
        self.world: list[np.ndarray] = []  # the detector's world landmarks as the lifter's channels (17, 4) per decoded frame
        self.fps: float | None = None
        self.floor: Floor | None = None
        self.rest: np.ndarray | None = None
        self.solver: Solver | None = None
        self.notes: list[str] = []  # what the clip-wide choices assumed, for the report
        # A photo has no motion for planted feet to slide in: locking would only pull a foot to
        # the floor (a still foot reads as planted), away from where the picture shows it.
        self.foot_lock = 0.0 if info.is_image else settings.foot_lock
        self.pins = FootPins(self.foot_lock)
        self.seen_from: int | None = None  # the first uniform frame in which the person is seen
        self.start = 0  # the uniform frame that is the motion's first
        self.origin: tuple[np.ndarray, np.ndarray] | None = None  # origin_at's turn and move, once decided
        self.emitted = 0  # the uniform frames before this one are emitted (those before start left out)
        self.last: dict[str, np.ndarray] | None = None  # the last emitted frame, for the frames that hold it
        self.lifted: np.ndarray | None = None  # every frame's lifted joints, once the clip is complete
        # Told the world joints the solver is given on a complete pass (N, 17, 3) and which
        # frames show the person (N,), uniform frames from the first: the last call is the
        # final motion's. What the decoder trains on (engine.data.render.lifted).
        self.on_world_joints: Callable[[np.ndarray, np.ndarray], None] | None = None
        self.timings = {"camera motion": 0.0, "lifting": 0.0, "world and solver": 0.0}

    def add(self, index: int, seconds: float, landmarks: np.ndarray, world_landmarks: np.ndarray | None = None) -> int:
        """Take one more decoded frame's landmarks (frames in order, watched by
        ``self.camera_motion``) and the detector's world landmarks (33, 3 or 4; None or NaN
        when it has none); returns how many frames there are now."""
        started = time.perf_counter()
        self.turns.append(Rotation.from_matrix(self.camera_motion.measure(index, landmarks)).as_rotvec())
        self.timings["camera motion"] += time.perf_counter() - started
        self.keypoints.append(detected_keypoints(landmarks[None])[0].astype(np.float64))
        no_world = np.full((BLAZEPOSE_NUM_LANDMARKS, 3), np.nan)
        self.world.append(world_channels((no_world if world_landmarks is None else world_landmarks)[None])[0])
        self.times.append(seconds)  # last: another thread reads as many frames as there are times
        return len(self.times)

    def uniform(self, frames: int, complete: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The final frames' keypoints (F, 17, 3) at the clip's uniform frame times, gaps
        bridged, frames in long gaps holding the last seen pose (the first, before it) with
        confidence 0; the long-gap mask (F,); the camera's rotations (F, 3, 3) there; and the
        world landmarks' channels (F, 17, 4), present only between frames that both have them."""
        times, raw = np.array(self.times[:frames]), np.array(self.keypoints[:frames])
        bridged, in_long_gap = bridge_gaps(raw, times)
        settled = len(times) if complete else bridge_settled(raw[..., 2].max(axis=1) > 0, times)
        if settled == 0:
            return raw[:0], in_long_gap[:0], np.zeros((0, 3, 3)), np.zeros((0, *self.world[0].shape))
        grid = times[0] + np.arange(int(round((times[settled - 1] - times[0]) * self.fps)) + 1) / self.fps
        pixels = interpolate(bridged[:settled], times[:settled], grid)
        in_long_gap = interpolate(in_long_gap[:settled].astype(float), times[:settled], grid) > 0.5
        if in_long_gap.all():
            return pixels[:0], in_long_gap[:0], np.zeros((0, 3, 3)), np.zeros((0, *self.world[0].shape))
        pixels[..., :2] = hold_gaps(pixels[..., :2], ~in_long_gap)
        turns = Rotation.from_rotvec(interpolate(np.array(self.turns[:settled]), times[:settled], grid)).as_matrix()
        world = interpolate(np.array(self.world[:settled]), times[:settled], grid)
        present = (world[:, :1, 3:] > 1 - 1e-9) & ~in_long_gap[:, None, None]
        return pixels, in_long_gap, turns, np.where(present, world, 0.0)

    @property
    def first_frame_time(self) -> float:
        """Seconds into the video of the motion's first frame (the uniform frames start at the first decoded)."""
        return self.times[0] + self.start / self.fps

    def finish(self, frames: int, complete: bool = False) -> None:
        """Emit the frames that are final given the first ``frames`` decoded ones (all of them
        when the clip is ``complete``). Called with a growing ``frames``, one call at a time."""
        if self.fps is None:
            if not complete and self.times[frames - 1] - self.times[0] < CALIBRATION_S:
                return
            self.fps = uniform_rate(np.array(self.times[:frames]))[0]
        pixels, in_long_gap, turns, world = self.uniform(frames, complete)
        if self.seen_from is None and len(pixels):  # final: nothing comes out of uniform before the person does
            self.seen_from = int(np.argmax(~in_long_gap))
            self.start = 0 if self.settings.keep_empty else self.seen_from
        horizon = int(round(LOOKAHEAD_S * self.fps))
        normalised = np.concatenate([normalise_screen(pixels[..., :2], self.info.width, self.info.height), pixels[..., 2:], world], -1)
        filled = fill_unsure_joints(normalised, horizon=horizon)
        if not complete:
            sure = filled[..., 2] >= 0.2
            filled = filled[: min([len(filled)] + [fill_settled(sure[:, j], horizon) for j in range(sure.shape[1])])]
        if self.floor is None and (complete or (~in_long_gap[: len(filled)]).sum() >= CALIBRATION_S * self.fps):
            started = time.perf_counter()
            lifted = self.lifting.provisional(filled)
            self.timings["lifting"] += time.perf_counter() - started
            self.calibrate(lifted, pixels[: len(filled)], in_long_gap[: len(filled)], turns[: len(filled)], frames)
        if self.floor is None or not len(filled):
            return
        started = time.perf_counter()
        lifted = self.lifting.extend(filled, complete)
        self.timings["lifting"] += time.perf_counter() - started
        if complete:
            self.lifted = lifted  # for final(): a streaming lifter answers a complete clip once
        self.solve(lifted, pixels, in_long_gap, turns, complete)

    def final(self) -> None:
        """Once the clip is complete (``finish(..., complete=True)`` called): the clip-wide
        choices made again on every frame of the person, and every frame emitted again with them,
        from the first, to ``on_frames``. The lifting is kept; the rest is cheap."""
        pixels, in_long_gap, turns, _ = self.uniform(len(self.times), True)
        self.calibrate(self.lifted, pixels, in_long_gap, turns, len(self.times), whole=True)
        self.pins, self.origin, self.last, self.emitted = FootPins(self.foot_lock), None, None, 0
        self.solve(self.lifted, pixels, in_long_gap, turns, True)

    def solve(self, lifted: np.ndarray, pixels: np.ndarray, in_long_gap: np.ndarray, turns: np.ndarray, complete: bool) -> None:
        """World joints, SMPL rotations and foot locking for the ``lifted`` frames, and the
        frames final through them emitted."""
        horizon = int(round(LOOKAHEAD_S * self.fps))
        started = time.perf_counter()
        done = len(lifted)
        camera_joints = self.camera_joints(lifted, pixels[:done], in_long_gap[:done], turns[:done])
        if not complete:
            done -= int(4 * self.settings.smooth + 0.5)  # the smoothing's reach
        unsettled = 0 if complete else contacts_reach(self.fps, self.floor)
        if done - unsettled > self.emitted:
            pan = turns[:done] if self.compensate else None
            trajectory = to_world(camera_joints[:done], self.fps, self.floor, pixels[:done], self.camera, pan)
            if complete and self.on_world_joints is not None:
                self.on_world_joints(trajectory.joints, ~in_long_gap[:done])
            done -= unsettled
            solved = self.solver.extend(trajectory.joints[:done], complete)
            done = min(done, self.solver.settled)
            heel_and_toe = heel_and_toe_contacts(trajectory.contacts[:done], solved["contacts"][:done] if "contacts" in solved else None)
            planted = heel_and_toe.reshape(-1, 2, 2).max(axis=2) > 0.5
            correction = foot_lock_correction(solved["joints"][:done, SMPL_FEET], planted, self.foot_lock, horizon)
            if not complete and self.foot_lock > 0:
                done = lock_settled(planted, horizon)
            if not (complete and self.settings.keep_empty):
                # Frames in a long gap wait for the person to come back (the clip's end drops them).
                done = min(done, trailing_run_start(~in_long_gap[:done]))
            if done > self.emitted:
                self.emit(solved, correction, heel_and_toe, pixels, in_long_gap, turns, done)
        self.timings["world and solver"] += time.perf_counter() - started

    def camera_joints(self, lifted: np.ndarray, pixels: np.ndarray, in_long_gap: np.ndarray, turns: np.ndarray) -> np.ndarray:
        """The lifted joints at their (smoothed) root translations in the camera frame (the
        first frame's camera when a pan is compensated), frames in long gaps holding the last
        seen frame's (the first's, before it), so that nothing downstream (floor, contacts, foot
        locking) sees motion there."""
        seen = ~in_long_gap
        translation = root_translation(lifted, pixels, self.camera)
        if self.compensate:
            # A turning camera sees x_t = R_t x_0: each frame's joints and root go back into the
            # first frame's camera (rows: x_0ᵀ = x_tᵀ R_t), before smoothing, so that the
            # trajectory, the floor and the contacts are those of one fixed camera. Undoing the
            # turn on the 3D answer rather than on the 2D keypoints keeps the lifter's input the
            # picture it was trained on (an unturned camera's) and is exact for a pure rotation;
            # and the lifting, done once, stays valid whichever way the clip-wide choice goes.
            lifted = lifted @ turns
            translation = np.einsum("ti,tij->tj", translation, turns)
        if seen.any():
            translation = smooth_translation(hold_gaps(translation, seen), self.settings.smooth)
        joints = hold_gaps(lifted + translation[:, None], seen)
        if self.info.is_image:  # a photo's one pose, held to what the picture shows
            joints = np.array([limbs_on_rays(pose, seen_at, self.camera) for pose, seen_at in zip(joints, pixels)])
        return joints

    def calibrate(
        self, lifted: np.ndarray, pixels: np.ndarray, in_long_gap: np.ndarray, turns: np.ndarray, frames: int, whole: bool = False
    ) -> None:
        """The clip-wide choices, from the frames so far (the first ``frames`` decoded; the
        ``whole`` clip): whether the camera's turns are undone, the floor and the bone lengths,
        and with them the solver."""
        camera_motion = self.camera_motion.report(frames)
        self.compensate = camera_motion["compensated"]
        camera_joints = self.camera_joints(lifted, pixels, in_long_gap, turns)
        seen = ~in_long_gap
        self.floor = fit_floor(camera_joints[seen], self.fps, drifts=camera_motion["kind"] == "moving", pixels=pixels[seen])
        world = to_world(camera_joints, self.fps, self.floor).joints
        self.rest = fit_rest_skeleton(world[seen], default_rest_joints())
        # A stream's provisional frames come early: a solver that looks far ahead (the decoder)
        # leaves them to the one it names, and makes the final motion.
        solver = self.settings.solver if whole else provisional_solver(self.settings.solver)
        self.solver = make_solver(solver, self.rest, self.fps, self.settings.steps)
        if self.info.is_image:  # no camera motion to measure, nothing to lock
            self.notes = [*self.floor.notes, "a photo: floor and bone lengths from its one pose, feet not locked"]
            return
        span = "the whole clip" if whole else f"the first {CALIBRATION_S:g} s of the person (streamed frames)"
        self.notes = [camera_motion["note"], *self.floor.notes, f"floor and bone lengths fitted on {span}"]

    def camera_to_world(self, turns: np.ndarray) -> np.ndarray:
        """Each frame's camera pose (F, 4, 4) in the (floor's) world, from the camera's
        ``turns`` (F, 3, 3): a turned camera sees x_t = R_t x_0 when its turns are undone
        (``camera_joints``), so world = floor.rotation R_tᵀ x_t + floor.translation."""
        poses = np.tile(np.eye(4), (len(turns), 1, 1))
        poses[:, :3, :3] = self.floor.rotation @ (turns.swapaxes(1, 2) if self.compensate else np.eye(3))
        poses[:, :3, 3] = self.floor.translation
        return poses

    def emit(
        self,
        solved: dict[str, np.ndarray],
        correction: np.ndarray,
        contacts: np.ndarray,
        pixels: np.ndarray,
        in_long_gap: np.ndarray,
        camera_turns: np.ndarray,
        done: int,
    ) -> None:
        """Hand the frames from the last emitted up to ``done`` to ``on_frames``, feet pinned
        where ``contacts`` (F, 4: left heel, left toe, right heel, right toe) say they stand,
        frames in long gaps exactly the last seen pose."""
        part = slice(self.emitted, done)
        poses, trans = solved["poses"][part], solved["trans"][part] + correction[part]
        joints = solved["joints"][part] + correction[part, None]
        local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(-1, 24, 3, 3)
        turns = forward_kinematics_np(local, self.rest, trans, rep="matrix")[1][:, SMPL_FEET]
        reach, held = self.pins.pins(joints[:, SMPL_FEET], turns, contacts[part].reshape(-1, 2, 2).max(axis=2) > 0.5)
        moved = (np.abs(reach).max(axis=(1, 2)) > 1e-6) | (np.abs(held - turns).max(axis=(1, 2, 3)) > 1e-6)
        if moved.any():
            local = local[moved]
            for f, side in enumerate("lr"):
                local = reach_with_leg(local, self.rest, trans[moved], side, joints[moved, SMPL_FEET[f]] + reach[moved, f], held[moved, f])
            poses = poses.copy()
            poses[moved] = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(-1, 72)
            joints = joints.copy()
            joints[moved] = forward_kinematics_np(local, self.rest, trans[moved], rep="matrix")[0]
        in_gap = in_long_gap[part]
        arrays = {"poses": poses, "trans": trans, "joints": joints, "contacts": contacts[part]}
        # The steps above hold a gap's inputs still, but the pins and foot locking still act
        # on its frames; the pose written must be the last one seen (the first, before it).
        known = np.r_[self.last is not None, ~in_gap]
        for key, value in arrays.items():
            before = value[:1] if self.last is None else self.last[key]
            arrays[key] = hold_gaps(np.concatenate([before, value]), known)[1:]
        self.last = {key: value[-1:] for key, value in arrays.items()}
        keypoints2d = pixels[part].copy()
        keypoints2d[in_gap, :, 2] = 0.0
        arrays |= {"keypoints2d": keypoints2d, "held": in_gap, "camera_to_world": self.camera_to_world(camera_turns[part])}
        # Frames before the motion's start went through the pins like the others (so keeping
        # them changes no other frame) but are left out; a part always ends past the start.
        first = max(self.emitted, self.start)
        arrays = {key: value[first - self.emitted :] for key, value in arrays.items()}
        if self.settings.origin == "first-frame":
            if self.origin is None:  # decided once, on the motion's first frame
                self.origin = origin_at(arrays["joints"][0])
            arrays["poses"], arrays["trans"], arrays["joints"] = relocated(
                arrays["poses"], arrays["trans"], arrays["joints"], *self.origin, self.rest[0]
            )
            arrays["camera_to_world"] = relocated_cameras(arrays["camera_to_world"], *self.origin)
        self.on_frames(first - self.start, self.fps, self.rest, arrays)
        self.emitted = done


def _follow(pipeline: Capture, found: Iterator[tuple], progress: Progress, total: int) -> float:
    """Give ``pipeline`` each (frame index, seconds, landmarks) ``found`` yields, in order, finishing
    frames every ``COMMIT_FRAMES`` in a second thread; returns the seconds spent waiting on ``found``
    (the 2D stage)."""
    waited = 0.0
    # 2D detection runs here (or in detector threads), and the rest of the pipeline in another
    # thread, every COMMIT_FRAMES frames in order (so its results never depend on thread timing).
    with ThreadPoolExecutor(max_workers=1) as rest:
        commits = []
        while True:
            tick = time.perf_counter()
            if (item := next(found, None)) is None:
                break
            waited += time.perf_counter() - tick
            frames = pipeline.add(*item)
            progress("2D keypoints", frames, total)
            if frames % COMMIT_FRAMES == 0:
                commits.append(rest.submit(pipeline.finish, frames))
            if commits and commits[0].done():
                commits.pop(0).result()  # a failure there stops the capture now
        for commit in commits:
            commit.result()
    return waited


def _conclude(
    pipeline: Capture,
    path: Path,
    source: tuple[str, str],
    person: dict,
    timings: dict,
    started: float,
    on_final: FrameSink | None,
) -> tuple[Motion, dict]:
    """Once every frame is given to ``pipeline``: the whole clip finished and made again
    (``Capture.final``), its Motion and report (``path`` names the clip, ``source`` is the Motion's
    (file name, sha256), ``person`` the tracker's counts, ``timings`` the stages' seconds so far)."""
    info = pipeline.info
    detected = np.array(pipeline.keypoints)[..., 2].max(axis=1) > 0
    if not detected.any():
        where = "the photo" if info.is_image else f"any of its {len(pipeline.times)} frames"
        raise ValueError(f"{path}: no person found in {where}; the person must be in view (the whole body)")
    chunks: list[dict[str, np.ndarray]] = []
    pipeline.finish(len(pipeline.times), complete=True)
    pipeline.on_frames = lambda start, fps, rest, arrays: chunks.append(arrays)
    pipeline.final()
    timings = {**timings, **pipeline.timings, "wall": time.perf_counter() - started}

    joined = {key: np.concatenate([c[key] for c in chunks]) for key in MOTION_KEYS}
    if on_final is not None:
        on_final(0, pipeline.fps, pipeline.rest, joined)
    motion = Motion(
        **joined,
        fps=pipeline.fps,
        camera=pipeline.camera,
        source=source,
        rest_joints=pipeline.rest,
        first_frame_time=pipeline.first_frame_time,
    )
    times = np.array(pipeline.times)
    report = capture_report(
        path,
        info,
        pipeline.settings,
        motion,
        times,
        detected,
        pipeline.notes,
        pipeline.camera_motion.report(),
        pipeline.model.card["name"],
        person,
        timings,
    )
    return motion, report


def _collector(total: int, progress: Progress, on_frames: FrameSink | None) -> FrameSink:
    """The frame sink of a capture: reports progress and passes the frames on to ``on_frames``."""

    def collect(start: int, fps: float, rest: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        progress("motion", start + len(arrays["poses"]), max(total, 1))
        if on_frames is not None:
            on_frames(start, fps, rest, arrays)

    return collect


def capture(
    path: str | Path,
    settings: Settings = Settings(),
    progress: Progress | None = None,
    on_frames: FrameSink | None = None,
    on_final: FrameSink | None = None,
) -> tuple[Motion, dict]:
    """The Motion of the person in ``path`` and a report (frames, rates, timings, warnings).

    ``on_frames`` receives provisional frames in order, in chunks, as soon as each is final
    for streaming (about ``LOOKAHEAD_S`` plus a lifting window after it is decoded, and after
    the first ``CALIBRATION_S`` seconds of the person, whose floor and bone lengths they use).
    Once the clip is decoded, the floor and bone lengths are fitted again on the whole clip
    and every frame is made again with them: that is the returned Motion, and ``on_final``
    receives it whole (start 0) before ``capture`` returns.
    """
    path = Path(path)
    report_progress = progress or (lambda stage, done, total: None)
    info = probe(path)
    pipeline = Capture(info, settings, _collector(info.nominal_frames, report_progress, on_frames))
    started = time.perf_counter()
    # Decoding runs in a thread, 2D detection here (or in detector threads), and the rest of the
    # pipeline in another.
    detect_workers, segment_frames = segmenting(settings.detect_workers, info.width, info.height, info.nominal_frames)
    # mediapipe's graphs log ("Created TensorFlow Lite XNNPACK delegate") from threads of their own,
    # at moments of their own (a model opening just after its detector is made): keep the whole
    # 2D stage silenced, not only each call into it.
    with native_stderr_silenced():
        tracker = PersonTracker() if detect_workers == 1 else SegmentedTracker(detect_workers, segment_frames)
        with tracker:
            tracked = tracker.track(pipeline.camera_motion.watch(read_frames_ahead(path)))
            detecting = _follow(pipeline, tracked, report_progress, info.nominal_frames)
    person = {**tracker.report(), "detector_threads": detect_workers, "segment_frames": segment_frames if detect_workers > 1 else None}
    return _conclude(pipeline, path, (path.name, file_sha256(path)), person, {"2D keypoints": detecting}, started, on_final)


def capture_landmarks(
    landmarks: np.ndarray,
    times: np.ndarray,
    width: int,
    height: int,
    settings: Settings = Settings(),
    frames: Iterable[Frame] | None = None,
    name: str = "landmarks",
    world_landmarks: np.ndarray | None = None,
    progress: Progress | None = None,
    on_frames: FrameSink | None = None,
    on_final: FrameSink | None = None,
    on_world_joints: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> tuple[Motion, dict]:
    """:func:`capture` of a ``width`` × ``height`` clip whose 2D keypoints are given instead of
    detected: BlazePose ``landmarks`` (T, 33, 3: pixels and confidence, zeros where nobody is
    seen) at ``times`` (T,) seconds from the first frame, with the detector's ``world_landmarks``
    (T, 33, 3 or 4; NaN where it has none) when given. Every later stage is the capture's own.

    The camera's motion is measured on ``frames`` (the clip's decoded frames, e.g.
    :func:`engine.video.read_frames_ahead`, one per landmark row, in order) when given, else it
    is unknown and the camera counts as static. ``name`` names the clip in the report and the
    Motion's ``source`` (with the sha256 of the landmarks' float32 bytes).
    """
    landmarks, times = np.asarray(landmarks, np.float32), np.asarray(times, np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (BLAZEPOSE_NUM_LANDMARKS, 3) or times.shape != (len(landmarks),):
        raise ValueError(f"expected landmarks (T, 33, 3) and times (T,), got {landmarks.shape} and {times.shape}")
    if not len(times) or (np.diff(times) <= 0).any():
        raise ValueError("times must be increasing seconds, one per frame")
    report_progress = progress or (lambda stage, done, total: None)
    info = VideoInfo(Path(name), width, height, 0, 0.0, len(landmarks), False)
    pipeline = Capture(info, settings, _collector(len(landmarks), report_progress, on_frames))
    pipeline.on_world_joints = on_world_joints
    started = time.perf_counter()

    worlds = [None] * len(landmarks) if world_landmarks is None else np.asarray(world_landmarks)
    if len(worlds) != len(landmarks):
        raise ValueError(f"expected world landmarks for each of the {len(landmarks)} frames, got {len(worlds)}")

    def given() -> Iterator[tuple[int, float, np.ndarray, np.ndarray | None]]:
        watched = None if frames is None else pipeline.camera_motion.watch(frames)
        for index, (seconds, frame_landmarks, world) in enumerate(zip(times.tolist(), landmarks, worlds)):
            if watched is not None and next(watched, None) is None:
                raise ValueError(f"{name}: fewer frames than landmarks ({index} for {len(landmarks)})")
            yield index, seconds, frame_landmarks, world

    given_at = _follow(pipeline, given(), report_progress, len(landmarks))
    source = (name, hashlib.sha256(landmarks.tobytes()).hexdigest())
    return _conclude(
        pipeline,
        Path(name),
        source,
        tracking_report([]) | {"detector_threads": 0, "segment_frames": None},
        {"2D keypoints": given_at},
        started,
        on_final,
    )
