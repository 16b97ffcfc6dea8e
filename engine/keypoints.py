"""2D keypoints per frame: mediapipe BlazePose (bundled weights) and its mapping to H36M17.

BlazePose predicts 33 landmarks; the lifters speak H36M17 (``engine.body.joints``). The
mapping below is the one definition of that correspondence, and the mocap training targets
are built with the same definitions, so keep the two in step:

- 0 pelvis: midpoint of the left (23) and right (24) hip; confidence: min of the two.
- 1, 2, 3 right hip, knee, ankle: right hip (24), right knee (26), right ankle (28).
- 4, 5, 6 left hip, knee, ankle: left hip (23), left knee (25), left ankle (27).
- 7 spine: midpoint of pelvis and thorax (the mean of both hips and both shoulders);
  confidence: min of the four.
- 8 thorax: midpoint of the left (11) and right (12) shoulder; confidence: min of the two.
- 9 neck/nose: the nose (0).
- 10 head: midpoint of the left (7) and right (8) ear; confidence: min of the two.
- 11, 12, 13 left shoulder, elbow, wrist: landmarks 11, 13, 15.
- 14, 15, 16 right shoulder, elbow, wrist: landmarks 12, 14, 16.

BlazePose's "left" is the person's own left, as is H36M17's. A joint's confidence is the
minimum of its parts' confidences (a midpoint is only as reliable as its worst part).

What the lifter reads (:func:`detected_keypoints`) is that mapping with one more rule about
confidence (:func:`unsure_copies`): a limb joint the detector is unsure of, drawn on top of its
other side's twin that it sees, is a copy of the twin, not a guess, and its confidence becomes 0.

``PoseDetector`` runs ``mediapipe.solutions.pose`` with ``model_complexity=1``, the only
complexity whose weights ship inside the wheel (0 and 2 would download at run time).
Its landmark smoothing is switched off by default; see ``detect_pose``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.body.joints import H36M17
from engine.quiet import native_stderr_silenced

# BlazePose landmark indices (mediapipe's PoseLandmark enum, checked by the tests).
NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST = 11, 12, 13, 14, 15, 16
LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = 23, 24, 25, 26, 27, 28
BLAZEPOSE_NUM_LANDMARKS = 33

# Each H36M17 joint is the mean of these BlazePose landmarks, with their minimum confidence.
BLAZEPOSE_TO_H36M17: tuple[tuple[int, ...], ...] = (
    (LEFT_HIP, RIGHT_HIP),  # pelvis
    (RIGHT_HIP,),
    (RIGHT_KNEE,),
    (RIGHT_ANKLE,),
    (LEFT_HIP,),
    (LEFT_KNEE,),
    (LEFT_ANKLE,),
    (LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER),  # spine: midpoint of pelvis and thorax
    (LEFT_SHOULDER, RIGHT_SHOULDER),  # thorax
    (NOSE,),  # neck/nose
    (LEFT_EAR, RIGHT_EAR),  # head
    (LEFT_SHOULDER,),
    (LEFT_ELBOW,),
    (LEFT_WRIST,),
    (RIGHT_SHOULDER,),
    (RIGHT_ELBOW,),
    (RIGHT_WRIST,),
)

# A limb joint and its twin on the other side (H36M17): where BlazePose draws a hidden limb.
LIMB_TWINS = tuple((H36M17.index(f"l_{joint}"), H36M17.index(f"r_{joint}")) for joint in ("elbow", "wrist", "knee", "ankle"))
SEEN = 0.5  # a landmark's visibility from which the detector sees it (its hidden ones score far lower)
COPY_REACH = 0.2  # torso lengths: an unsure limb joint this close to its seen twin is a copy of it

MODEL_COMPLEXITY = 1
MEDIAPIPE_VERSION = "0.10.21"  # the last release with the pose solution (README's install)


def blazepose_to_h36m17(landmarks: np.ndarray) -> np.ndarray:
    """Map BlazePose landmarks (T, 33, C) to H36M17 joints (T, 17, C).

    The last channel is the confidence (visibility); the others are coordinates: (x, y, conf)
    pixels or (x, y, z, conf) world landmarks. Coordinates of a joint are the mean of its
    landmarks, its confidence their minimum (see the module docstring).
    """
    landmarks = np.asarray(landmarks)
    if landmarks.ndim != 3 or landmarks.shape[1] != BLAZEPOSE_NUM_LANDMARKS or landmarks.shape[2] < 2:
        raise ValueError(f"expected BlazePose landmarks (T, 33, C>=2), got shape {landmarks.shape}")
    joints = np.empty((landmarks.shape[0], len(H36M17), landmarks.shape[2]), dtype=landmarks.dtype)
    for j, sources in enumerate(BLAZEPOSE_TO_H36M17):
        parts = landmarks[:, list(sources)]
        joints[:, j, :-1] = parts[..., :-1].mean(axis=1)
        joints[:, j, -1] = parts[..., -1].min(axis=1)
    return joints


def unsure_copies(joints: np.ndarray) -> np.ndarray:
    """H36M17 ``joints`` (T, 17, C: coordinates, the confidence last) with the confidence of
    each elbow, wrist, knee or ankle the detector is unsure of (below ``SEEN``) set to 0 on
    frames where it lies within ``COPY_REACH`` torso lengths (pelvis to thorax, in the first two
    coordinates) of its twin on the other side, which the detector sees.

    Why: in a side view BlazePose draws the hidden arm or leg over the visible one. On a rendered
    test clip of a man raising his right hand, side on, the hidden left elbow and wrist lay 8 and
    7 px from the true right ones and 50 and 84 px from their own, at visibility 0.08 and 0.24,
    and mediapipe's own 3D had the left wrist 409 mm off: the lifter, reading the copy as an
    unsure guess, put it 443 mm off (PA-MPJPE 142.8 mm, mediapipe's 139.1). At confidence 0 the
    lifter answers from the rest of the body: 130.4. On the 16 rendered validation clips
    PA-MPJPE 79.72 -> 75.02 mm (a wave 133.2 -> 73.9); ``SEEN`` 0.3 / 0.5 / 0.7 / 0.9 with a
    reach of 0.2: 75.08 / 75.02 / 74.66 / 74.94; reach 0.1 / 0.2 / 0.3 at 0.5: 79.60 / 75.02 /
    75.02 (docs/evaluation.md). The landmarks stay where the detector put them."""
    joints = np.array(joints)
    torso = np.linalg.norm(joints[:, H36M17.index("thorax"), :2] - joints[:, H36M17.index("pelvis"), :2], axis=-1)
    unsure = joints[..., -1] < SEEN
    for left, right in LIMB_TWINS:
        near = np.linalg.norm(joints[:, left, :2] - joints[:, right, :2], axis=-1) < COPY_REACH * torso
        copies = near[:, None] & unsure[:, [left, right]] & ~unsure[:, [right, left]]
        joints[:, [left, right], -1] = np.where(copies, 0.0, joints[:, [left, right], -1])
    return joints


def detected_keypoints(landmarks: np.ndarray) -> np.ndarray:
    """The H36M17 keypoints (T, 17, C) the lifter reads from BlazePose ``landmarks`` (T, 33, C:
    pixels and visibility): :func:`blazepose_to_h36m17`, then :func:`unsure_copies`."""
    return unsure_copies(blazepose_to_h36m17(landmarks))


def h36m17_to_blazepose(joints: np.ndarray) -> np.ndarray:
    """BlazePose landmarks (T, 33, C) that :func:`blazepose_to_h36m17` maps back to H36M17
    ``joints`` (T, 17, C, the last channel the confidence), as a detector would report them:
    each single-landmark joint gives its landmark, both ears take the head; pelvis, spine and
    thorax come back as the midpoints of hips and shoulders (exactly when they are those
    midpoints). Landmarks no joint gives stay zero, with confidence 0."""
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1] != len(H36M17) or joints.shape[2] < 2:
        raise ValueError(f"expected H36M17 joints (T, 17, C>=2), got shape {joints.shape}")
    landmarks = np.zeros((joints.shape[0], BLAZEPOSE_NUM_LANDMARKS, joints.shape[2]), dtype=joints.dtype)
    for j, sources in enumerate(BLAZEPOSE_TO_H36M17):
        if len(sources) == 1 or H36M17.names[j] == "head":
            landmarks[:, list(sources)] = joints[:, j, None]
    return landmarks


class PoseDetector:
    """BlazePose on one frame at a time: in video mode it tracks the person from frame to
    frame; with ``static_image_mode`` every image is searched afresh.

    ``detect_pose`` explains ``smooth_landmarks``. Use as a context manager, or ``close()``.
    """

    def __init__(self, smooth_landmarks: bool = False, static_image_mode: bool = False) -> None:
        try:  # mediapipe is slow to import; only load it to detect
            from mediapipe.python.solutions.pose import Pose
        except ModuleNotFoundError as e:  # installed apart, so that pip does not fetch jax (README)
            raise ModuleNotFoundError(f"{e}: the 2D detector needs it: pip install --no-deps mediapipe=={MEDIAPIPE_VERSION}") from e

        with native_stderr_silenced():
            self._pose = Pose(static_image_mode=static_image_mode, model_complexity=MODEL_COMPLEXITY, smooth_landmarks=smooth_landmarks)

    def __enter__(self) -> PoseDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pose.close()

    def reset(self) -> None:
        """Forget the person tracked so far: the next frame is searched afresh, as by a new detector."""
        with native_stderr_silenced():
            self._pose.reset()

    def process(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks of one RGB uint8 frame (H, W, 3): (33, 3) pixels and visibility, and
        (33, 4) world landmarks and visibility; zeros (2D) and NaN (world) when nobody is found."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
        height, width = frame.shape[:2]
        with native_stderr_silenced():  # mediapipe logs loading its models, on whichever frame needs one
            result = self._pose.process(frame)
        if result.pose_landmarks is None:
            return np.zeros((BLAZEPOSE_NUM_LANDMARKS, 3), np.float32), np.full((BLAZEPOSE_NUM_LANDMARKS, 4), np.nan, np.float32)
        pixels = [(lm.x * width, lm.y * height, lm.visibility) for lm in result.pose_landmarks.landmark]
        world = [(lm.x, lm.y, lm.z, lm.visibility) for lm in result.pose_world_landmarks.landmark]
        return np.asarray(pixels, np.float32), np.asarray(world, np.float32)


def detect_pose(frames: Iterable[np.ndarray], smooth_landmarks: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Run BlazePose on RGB uint8 frames (H, W, 3) in order, tracking the person across frames.

    Returns ``(landmarks2d, world)``: ``landmarks2d`` (T, 33, 3) float32 pixels (x right,
    y down; landmarks may lie outside the image) and visibility; ``world`` (T, 33, 4) float32
    mediapipe's world landmarks (metres, origin between the hips) and visibility. A frame
    without a detected person gives zeros with confidence 0 in ``landmarks2d`` and NaN in
    ``world``. The confidence is mediapipe's ``visibility``: the solutions API clears
    ``presence``, so it is not available here.

    ``smooth_landmarks`` is off by default. Measured on the six clips in ``../shared/videos``
    (``docs/noise-model.md``), mediapipe's filter (a causal one-euro filter, which also steers
    the next frame's crop) lowers the total jitter by only about a tenth: it removes part of
    the white, frame-to-frame part, not the slow correlated error that dominates. In exchange
    it delays the landmarks by 0.1-0.4 frames, an error that grows with speed, that the noise
    model does not simulate and that the temporal lifters, which see past and future frames,
    cannot tell from motion. The noise model in ``engine/data/noise_model.json`` is calibrated
    with this default.
    """
    with PoseDetector(smooth_landmarks) as detector:
        found = [detector.process(frame) for frame in frames]
    return (
        np.asarray([f[0] for f in found], np.float32).reshape(-1, BLAZEPOSE_NUM_LANDMARKS, 3),
        np.asarray([f[1] for f in found], np.float32).reshape(-1, BLAZEPOSE_NUM_LANDMARKS, 4),
    )
