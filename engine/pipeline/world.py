"""From root-relative camera-frame joints to a world trajectory on a floor (one fixed camera).

1. **Root translation** per frame: the camera-frame offset ``t`` that best reprojects the
   lifted joints onto the 2D keypoints. Under perspective ``u = f (X + t)_x / (X + t)_z + c``
   is linear in ``t`` once multiplied out, so every frame is one confidence-weighted 3×3
   least-squares solve; the depth follows from the ratio of 2D to 3D bone lengths.
   Smoothed over time (Gaussian, ``smooth`` frames of standard deviation, depth in log
   space, so a far person's noisier depth is damped alike).
2. **Floor and gravity**: the camera frame is one for the whole clip (a static camera's, or
   a panning camera's at its first frame, the turns undone by the capture:
   ``camera_motion``). An up direction is first taken from the trunk in the frames where the
   body stands on straight legs (:func:`standing`, :func:`body_up`); a plane fitted through
   those frames' slow feet gives the floor (tilting away from the body's up only along
   directions the feet cover), and is held to a roughly level camera (:func:`roughly_level`);
   feet low and slow in that frame are planted, by a looser speed where the detector sees
   them (under a moving camera, low among the slow feet around them: :func:`planted_feet`).
   The world frame turns the camera frame so the floor's normal is +y (the camera's heading
   kept), with the floor at y = 0 (less ``FOOT_ABOVE_FLOOR``: the ankle joints' height).
3. **Foot locking** (``lock`` 0-1): while a foot is planted the root moves so that the foot
   stays where it landed and on the floor; corrections are blended by ``lock``. The capture
   applies it to the feet of the final SMPL skeleton (after IK, whose fixed bone lengths
   move the feet a little), so the feet that are written are the ones that stay put.
4. **Origin**: a capture may turn its final motion about the vertical and move it along the
   floor so that the first frame's pelvis is at x = z = 0 facing +z (:func:`origin_at`,
   :func:`relocated`); heights, and so the floor, are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from engine.body.ik import h36m_of_rest
from engine.body.joints import H36M17, SMPL24
from engine.body.skeleton import default_rest_joints
from engine.geometry import torso_frame, torso_heading, unit
from engine.timeseries import fill_gaps, fill_settled

FEET = [H36M17.index("l_ankle"), H36M17.index("r_ankle")]
KNEES = [H36M17.index("l_knee"), H36M17.index("r_knee")]
HIPS = [H36M17.index("l_hip"), H36M17.index("r_hip")]
TORSO = [H36M17.index(n) for n in ("l_hip", "r_hip", "l_shoulder", "r_shoulder")]  # torso_frame's order
SMPL_TORSO = [SMPL24.index(n) for n in ("l_hip", "r_hip", "l_shoulder", "r_shoulder")]
FOOT_ABOVE_FLOOR = 0.08  # m: an ankle joint's height over the sole
STANDING_BAND = 0.06  # m above the slow ankles' low percentile: those standing (standing_level)
PLANTED_HEIGHT = 0.10  # m above a foot's usual planted height: still planted (planted_feet)
FLOOR_SPEED = 0.35  # m/s horizontal: the slow feet the floor is fitted to (fit_floor)
PLANTED_SPEED = 1.0  # m/s horizontal: a foot the detector sees, still planted (planted_feet)
FOOT_SEEN = 0.5  # the detector's confidence in an ankle it sees
SIDEWAYS_SPEED = 0.2  # m/s across the lines of sight: what the picture shows (planted_feet)
SPEED_WINDOW_S = 0.1  # Gaussian sigma over which a foot's speed is read (slow_feet)
DRIFT_WINDOW_S = 1.5  # either side: the slow feet that say where a drifting floor is (Floor)
MIN_DRIFT_FEET = 10  # slow feet in that window, else the clip's contact height holds
FLOOR_PERCENTILE = 10  # of slow feet's heights: where the floor is (fit_floor)
STANDING_KNEE_DEG = 50.0  # most a standing knee bends (standing)
STANDING_LEG_DEG = 30.0  # most a standing ankle strays from below the pelvis
UPRIGHT_IN_PICTURE_DEG = 30.0  # most a standing trunk leans in the picture (upright_in_picture)
MIN_STANDING = 5  # frames
MAX_CAMERA_PITCH_DEG = 45.0  # the level-camera prior (roughly_level)
MAX_CAMERA_ROLL_DEG = 10.0
LOCK_SMOOTH = 1.0  # frames (Gaussian sigma) of the foot-locking correction's height
LOCK_SMOOTH_REACH = 4  # frames either side that smoothing reads (scipy: 4 sigma, rounded)
_REST = h36m_of_rest(default_rest_joints())
# The world's vertical in the default rest pose's torso frame.
_REST_UP = torso_frame(*_REST[TORSO]).T @ [0.0, 1.0, 0.0]


@dataclass
class Trajectory:
    """World joints (T, 17, 3), the world-from-camera rotation (3, 3) and translation (3,),
    foot contacts (T, 2) (left, right ankle), and what was assumed."""

    joints: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    contacts: np.ndarray
    notes: list[str]


def root_translation(joints: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Camera-frame translations (T, 3) that best reproject root-relative ``joints`` (T, J, 3)
    onto ``pixels`` (T, J, 3: u, v, confidence) with ``intrinsics`` (fx, fy, cx, cy)."""
    fx, fy, cx, cy = intrinsics
    du, dv, w = pixels[..., 0] - cx, pixels[..., 1] - cy, np.sqrt(np.clip(pixels[..., 2], 0, 1))
    x, y, z = joints[..., 0], joints[..., 1], joints[..., 2]
    zeros = np.zeros_like(du)
    # Rows: fx t_x - du t_z = du z - fx x, and fy t_y - dv t_z = dv z - fy y.
    A = np.concatenate([np.stack([fx + zeros, zeros, -du], -1), np.stack([zeros, fy + zeros, -dv], -1)], axis=1)
    b = np.concatenate([du * z - fx * x, dv * z - fy * y], axis=1)
    weights = np.concatenate([w, w], axis=1)[..., None]
    AtA = np.einsum("tji,tjk->tik", A * weights, A) + 1e-6 * np.eye(3)
    Atb = np.einsum("tji,tj->ti", A * weights, b)
    return np.linalg.solve(AtA, Atb[..., None])[..., 0]


def smooth_translation(translation: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over time; depth in log space."""
    if sigma <= 0:
        return translation
    out = gaussian_filter1d(translation, sigma, axis=0, mode="nearest")
    out[:, 2] = np.exp(gaussian_filter1d(np.log(np.maximum(translation[:, 2], 0.1)), sigma, mode="nearest"))
    return out


def foot_speeds(feet: np.ndarray, up: np.ndarray, fps: float) -> np.ndarray:
    """The speeds (T, 2; m/s) of feet (T, 2, 3) across ``up``, read over ``SPEED_WINDOW_S``
    (:func:`contacts_reach` says how far that reads); zero for a single frame."""
    if len(feet) < 2:  # a single frame shows no motion
        return np.zeros(feet.shape[:2])
    # Over 0.1 s: the detector's jitter alone makes planted feet read as moving (a noisy
    # synthetic walk had fewer than 10 slow feet, and its floor was the body's up alone, 5° off;
    # the leg stretch's standing feet were never planted, and its standing frames floated).
    feet = gaussian_filter1d(feet, SPEED_WINDOW_S * fps, axis=0, mode="nearest")
    flat = feet - (feet @ up)[..., None] * up
    return np.linalg.norm(np.gradient(flat, axis=0), axis=-1) * fps


def sideways_speeds(feet: np.ndarray, eye: np.ndarray, fps: float) -> np.ndarray:
    """The speeds (T, 2; m/s) of feet (T, 2, 3) across the lines of sight from ``eye`` (3,), read
    over ``SPEED_WINDOW_S``: what the picture shows of their motion; zero for a single frame."""
    if len(feet) < 2:
        return np.zeros(feet.shape[:2])
    feet = gaussian_filter1d(feet, SPEED_WINDOW_S * fps, axis=0, mode="nearest")
    velocity, sight = np.gradient(feet, axis=0) * fps, unit(feet - eye)
    return np.linalg.norm(velocity - (velocity * sight).sum(-1, keepdims=True) * sight, axis=-1)


def pictured_feet(camera_joints: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray, turns: np.ndarray | None = None) -> np.ndarray:
    """Where the picture puts the ankles (T, 2, 3; camera frame): on the rays through the
    detected ankles ``pixels`` (T, 17, 2+; H36M17) with ``intrinsics`` (fx, fy, cx, cy), at the
    depth of the lifted ankles in ``camera_joints`` (T, 17, 3); the lifted ankles themselves where
    the detector is unsure of them (under ``FOOT_SEEN``). With ``turns`` (T, 3, 3: a panning
    camera's, undone as ``x_0 = x_t R_t``) the joints are in the first frame's camera, and so are
    the rays put."""
    fx, fy, cx, cy = intrinsics
    feet = camera_joints[:, FEET]
    in_frame = feet if turns is None else np.einsum("tfj,tij->tfi", feet, turns)  # x_t = R_t x_0
    ankles = pixels[:, FEET]
    rays = np.stack([(ankles[..., 0] - cx) / fx, (ankles[..., 1] - cy) / fy, np.ones(ankles.shape[:2])], -1)
    pictured = rays * in_frame[..., 2:]
    if turns is not None:
        pictured = np.einsum("tfi,tij->tfj", pictured, turns)
    return np.where((ankles[..., 2] >= FOOT_SEEN)[..., None], pictured, feet)


def slow_feet(feet: np.ndarray, up: np.ndarray, fps: float) -> np.ndarray:
    """Feet (T, 2) moving slower than ``FLOOR_SPEED`` across ``up`` (:func:`foot_speeds`)."""
    return foot_speeds(feet, up, fps) < FLOOR_SPEED


def standing_level(heights: np.ndarray) -> float:
    """The height (m) slow ankles (heights (N,)) stand at: the median of those within
    ``STANDING_BAND`` of their ``FLOOR_PERCENTILE``-th percentile. The low percentile finds the
    feet on the floor (not the lifted, swinging or badly lifted ones); their median says where
    they are, where the percentile itself lies below them by the lifting's noise (on a synthetic
    walk from noisy 2D the floor came out 3.3 cm high at the planted feet; 2.0 cm with the median)."""
    low = np.percentile(heights, FLOOR_PERCENTILE)
    return float(np.median(heights[heights < low + STANDING_BAND]))


def standing(joints: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Frames (T,) of camera-frame ``joints`` (T, 17, 3) in which the body stands on straight
    legs under its trunk: both knees straighter than ``STANDING_KNEE_DEG`` and both ankles
    within ``STANDING_LEG_DEG`` of straight below the pelvis along the trunk's vertical ``up``
    (T, 3). Those frames' trunks are upright whatever the camera; a floor move, a crouch or a
    leg on a railing are not, and would lean the clip's vertical with them. (A body lying
    straight has a standing body's shape and counts: the level-camera prior holds what it
    would lean.)"""
    thigh, shin = joints[:, KNEES] - joints[:, HIPS], joints[:, FEET] - joints[:, KNEES]
    knee = np.degrees(np.arccos(np.clip(np.sum(unit(thigh) * unit(shin), -1), -1.0, 1.0)))
    legs = unit(joints[:, FEET] - joints[:, :1])
    under = np.degrees(np.arccos(np.clip(-(legs @ up[..., None])[..., 0], -1.0, 1.0)))
    return ((knee < 180 - STANDING_KNEE_DEG) & (under < STANDING_LEG_DEG)).all(axis=1)


def upright_in_picture(pixels: np.ndarray) -> np.ndarray:
    """Frames (T,) whose 2D keypoints (T, 17, 2+: H36M17 pixels, y down) show a body upright in
    the picture: mid-hips to thorax within ``UPRIGHT_IN_PICTURE_DEG`` of the image's up, both
    ankles below both hips. A camera held roughly level (:func:`roughly_level`) sees a standing
    person so; a freeze or a plank, which a lifter may answer with a standing pose (the young
    man's break dance: upside down in the picture, upright as lifted), it does not."""
    trunk = pixels[:, H36M17.index("thorax"), :2] - pixels[:, H36M17.index("pelvis"), :2]
    lean = np.degrees(np.arctan2(np.abs(trunk[:, 0]), -trunk[:, 1]))
    return (lean < UPRIGHT_IN_PICTURE_DEG) & (pixels[:, FEET, 1].min(axis=1) > pixels[:, HIPS, 1].max(axis=1))


def body_up(joints: np.ndarray, pixels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The up direction of people standing, and the frames (T,) they stand in: per frame, the
    vertical of the default skeleton's rest pose carried by the torso's frame (its hips sit
    ahead of its shoulders, so mid-hips → thorax leans back by 6°), median over the
    :func:`standing` frames (over all frames when fewer than ``MIN_STANDING`` stand, people
    being mostly upright), which, given the 2D keypoints ``pixels`` (T, 17, 2+), must also be
    :func:`upright_in_picture`."""
    ups = torso_frame(*joints[:, TORSO].swapaxes(0, 1)) @ _REST_UP
    upright = standing(joints, ups)
    if pixels is not None:
        upright &= upright_in_picture(pixels)
    up = np.median(ups[upright] if upright.sum() >= MIN_STANDING else ups, axis=0)
    return up / np.linalg.norm(up), upright


def _floor_normal(points: np.ndarray, up: np.ndarray, spread: float = 0.5) -> np.ndarray:
    """The normal of the plane through ``points`` (N, 3), as a height field over the plane
    square to ``up`` whose slopes are held towards zero (ridge) along directions the points
    span less than ``spread`` metres: a straight walk fixes the floor's tilt along the walk,
    not across it."""
    side = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    ahead = np.cross(side, up)
    centred = points - points.mean(axis=0)
    A = np.stack([centred @ side, centred @ ahead, np.ones(len(points))], -1)
    ridge = np.diag([len(points) * spread**2, len(points) * spread**2, 0.0])
    a, b, _ = np.linalg.solve(A.T @ A + ridge, A.T @ (centred @ up))
    normal = up - a * side - b * ahead
    return normal / np.linalg.norm(normal)


@dataclass
class Floor:
    """The world frame of one fixed camera: world = ``rotation`` @ camera + ``translation``, and
    the ankle height (2,: left, right) under which a slow foot counts as planted. A floor that
    ``drifts`` was seen by a moving camera (parallax or zoom), which one fixed frame cannot
    follow: there a slow foot is planted when it is low among the slow feet of the
    ``DRIFT_WINDOW_S`` around it (:func:`planted_feet`), and foot locking carries the body onto
    the floor from one planted step to the next."""

    rotation: np.ndarray
    translation: np.ndarray
    contact_height: np.ndarray
    notes: list[str]
    drifts: bool = False


def roughly_level(up: np.ndarray) -> tuple[np.ndarray, str]:
    """``up`` (camera frame: x right, y down, z ahead) held to the prior that cameras are held
    roughly level: pitched at most ``MAX_CAMERA_PITCH_DEG``, rolled at most
    ``MAX_CAMERA_ROLL_DEG``; and what was held, for the report ("" when nothing). Beyond those,
    it is the body that leans (a stretch, floor moves), not the camera: on the six real clips,
    the two where the torso leans over most of the clip gave a roll of 46° and a pitch of 67°."""
    pitch, roll = np.arcsin(np.clip(-up[2], -1.0, 1.0)), np.arctan2(up[0], -up[1])
    held_pitch = np.clip(pitch, -np.radians(MAX_CAMERA_PITCH_DEG), np.radians(MAX_CAMERA_PITCH_DEG))
    held_roll = np.clip(roll, -np.radians(MAX_CAMERA_ROLL_DEG), np.radians(MAX_CAMERA_ROLL_DEG))
    if (held_pitch, held_roll) == (pitch, roll):
        return up, ""
    note = (
        f"the body's up direction puts the camera at {np.degrees(pitch):.0f}° pitch and {np.degrees(roll):.0f}° roll; "
        f"held to {np.degrees(held_pitch):.0f}° and {np.degrees(held_roll):.0f}° (a camera held roughly level)"
    )
    held = np.array([np.sin(held_roll) * np.cos(held_pitch), -np.cos(held_roll) * np.cos(held_pitch), -np.sin(held_pitch)])
    return held, note


def fit_floor(camera_joints: np.ndarray, fps: float, drifts: bool = False, pixels: np.ndarray | None = None) -> Floor:
    """The floor under camera-frame joints (T, 17, 3) of one person (module docstring, step 2);
    ``drifts`` when a moving camera saw them (:class:`Floor`); ``pixels`` (T, 17, 2+), their 2D
    keypoints, when known (:func:`body_up`)."""
    notes = []
    up, upright = body_up(camera_joints, pixels)
    feet = camera_joints[:, FEET]
    slow = slow_feet(feet, up, fps)  # height is not trusted yet
    if upright.sum() >= MIN_STANDING:
        # Only a standing body's slow feet are surely on the floor: in a floor move, a crouch or
        # with a leg on a railing, a slow foot may be anywhere (the young man's break dance
        # tilted its floor 40° by them).
        slow &= upright[:, None]
    if slow.sum() >= 10:
        normal = _floor_normal(feet[slow], up)
        if np.degrees(np.arccos(np.clip(normal @ up, -1, 1))) < 30:
            up = normal
        else:
            notes.append("slow feet do not lie on a level floor; using the body's up direction")
    else:
        notes.append("too few planted feet to fit the floor; using the body's up direction")
    up, held = roughly_level(up)
    if held:
        notes.append(held)
    # Turn the camera frame so that up is +y, keeping the camera's heading.
    rotation = Rotation.align_vectors([[0.0, 1.0, 0.0]], [up])[0].as_matrix()
    heights = (camera_joints[:, FEET] @ rotation.T)[..., 1]
    # The floor is where slow feet stand (standing_level), and each foot's usual planted height
    # is its own (a low percentile of its slow heights); not the lowest feet of the clip, which
    # are often depth errors (someone walking in, a far or hidden foot: 30-40 cm too low on two of the six
    # real clips; the standing people floated, and foot locking planted only those frames).
    if slow.sum() >= 10:
        usual = np.array([np.percentile(heights[slow[:, f], f], FLOOR_PERCENTILE) if slow[:, f].any() else np.nan for f in range(2)])
        floor = standing_level(heights[slow]) - FOOT_ABOVE_FLOOR
        usual = np.where(np.isnan(usual), floor + FOOT_ABOVE_FLOOR, usual)
    elif upright.sum() >= MIN_STANDING:
        # Too few slow feet, but a standing body's lower foot is on the floor (the young man's
        # break dance stands for 7 frames at its end; the lowest feet of the clip are not his).
        floor = np.percentile(heights[upright].min(axis=1), FLOOR_PERCENTILE) - FOOT_ABOVE_FLOOR
        usual = np.full(2, floor + FOOT_ABOVE_FLOOR)
    else:
        usual = np.percentile(heights, 5, axis=0)
        floor = np.percentile(heights.min(axis=1), 5) - FOOT_ABOVE_FLOOR
    contact_height = usual - floor + PLANTED_HEIGHT
    if drifts:
        notes.append("a moving camera: feet planted against the floor around them, and the body carried onto it step by step")
    return Floor(rotation, np.array([0.0, -floor, 0.0]), contact_height, notes, drifts)


def planted_feet(
    feet: np.ndarray, floor: Floor, fps: float, seen: np.ndarray | None = None, pictured: np.ndarray | None = None
) -> np.ndarray:
    """Which world ``feet`` (T, 2, 3) stand (T, 2): under ``floor.contact_height``, and slower
    than ``FLOOR_SPEED``, or, where the detector ``seen`` them (T, 2; all when None), slower
    than ``PLANTED_SPEED`` so long as the picture shows them moving slower than
    ``SIDEWAYS_SPEED`` across the lines of sight from the camera (at ``floor.translation``):
    the ``pictured`` feet (T, 2, 3: world; :func:`pictured_feet`), or the feet themselves when
    None. On a floor that drifts, the height is
    the ``FLOOR_PERCENTILE`` of the slow feet's heights within ``DRIFT_WINDOW_S`` plus
    ``PLANTED_HEIGHT`` where that window holds ``MIN_DRIFT_FEET`` of them (a man standing on a
    ledge before a hand-held camera closes in stood 8 cm above the clip's floor, and was never
    planted).

    Why: lifted feet shake, most of all in depth, and a planted foot reads as moving. Under
    0.35 m/s and 6 cm, feet were planted on 60 % of the mocap's validation windows' frames
    (realistic 2D) against the mocap's 73 % (contact F1 0.890). Under 1.0 m/s and 10 cm, 0.937,
    but foot locking then held the example dancer where the picture showed him moving (the
    motion drawn back onto the video 41 px from his joints, 12.6 before); motion across the
    lines of sight is what the picture shows, and kept under 0.25 m/s it stays 12.8 px off
    (F1 0.910). Read off the detected ankles rather than the lifted ones, which the lifter moves
    across the picture while they stand, F1 0.924 at 0.2 m/s (mocap test 0.875 -> 0.894), 12.3 px.
    A foot the detector does not see is the lifter's guess: the intel walk's first frames (feet
    below the picture) held the walker in place (docs/decoder.md)."""
    speeds = foot_speeds(feet, np.array([0.0, 1.0, 0.0]), fps)
    slow = speeds < FLOOR_SPEED
    heights, below = feet[..., 1], np.broadcast_to(floor.contact_height, feet.shape[:2]).copy()
    if floor.drifts:
        reach = int(round(DRIFT_WINDOW_S * fps))
        # The slow feet's heights of frames t ± reach, both feet, sorted, the others last (inf);
        # the percentile interpolated as np.percentile does (np.nanpercentile loops over rows:
        # 1.2 s for a 17-minute clip, which streaming reads again every 25 frames).
        slow_heights = np.pad(np.where(slow, heights, np.inf), ((reach, reach), (0, 0)), constant_values=np.inf)
        near = np.sort(sliding_window_view(slow_heights, 2 * reach + 1, axis=0).reshape(len(feet), -1), axis=1)
        count = np.isfinite(near).sum(axis=1)
        enough = count >= MIN_DRIFT_FEET
        position = (count[enough] - 1) * FLOOR_PERCENTILE / 100
        low = np.floor(position).astype(int)
        at = near[enough]
        lower, upper = at[np.arange(len(at)), low], at[np.arange(len(at)), np.minimum(low + 1, count[enough] - 1)]
        below[enough] = (lower + (position - low) * (upper - lower))[:, None] + PLANTED_HEIGHT
    under = heights < below
    sideways = sideways_speeds(feet if pictured is None else pictured, floor.translation, fps)
    loose = under & (speeds < PLANTED_SPEED) & (sideways < SIDEWAYS_SPEED)
    if seen is not None:
        loose &= seen
    return under & (slow | loose)


def heel_and_toe_contacts(planted: np.ndarray, solver_contacts: np.ndarray | None = None) -> np.ndarray:
    """The contacts a capture keeps (T, 4: left heel, left toe, right heel, right toe) from the
    world stage's ``planted`` ankles (T, 2), heel and toe alike, and a solver's own heel and toe
    ``solver_contacts`` (T, 4), when it tells them, picking among those frames: a solver reads
    contacts off the pose alone, and trusted alone they pinned feet in the air (on a rendered walk
    the decoder had the left toe down on every frame; the pins held the swinging foot and bent
    the leg to it: 163 mm PA-MPJPE against 49 unlocked)."""
    heel_and_toe = planted[:, [0, 0, 1, 1]].astype(np.float64)
    return heel_and_toe if solver_contacts is None else np.minimum(heel_and_toe, solver_contacts)


def contacts_reach(fps: float, floor: Floor) -> int:
    """How many trailing frames' :func:`planted_feet` may still change as frames are added: a
    speed's smoothing and step, and a drifting floor's window."""
    return int(4 * SPEED_WINDOW_S * fps + 0.5) + 1 + (int(round(DRIFT_WINDOW_S * fps)) if floor.drifts else 0)


def to_world(
    camera_joints: np.ndarray,
    fps: float,
    floor: Floor | None = None,
    keypoints: np.ndarray | None = None,
    intrinsics: np.ndarray | None = None,
    turns: np.ndarray | None = None,
) -> Trajectory:
    """World joints of camera-frame joints (T, 17, 3) on ``floor`` (fitted to them when None),
    with the planted feet (:func:`planted_feet`). The 2D ``keypoints`` (T, 17, 3: pixels and
    confidences) say which feet the detector saw (all when None) and, with the camera's
    ``intrinsics`` (fx, fy, cx, cy) and a pan's ``turns`` (:func:`pictured_feet`), where the
    picture puts them (the lifted feet when None)."""
    floor = floor or fit_floor(camera_joints, fps)
    world = camera_joints @ floor.rotation.T + floor.translation
    seen = pictured = None
    if keypoints is not None:
        seen = keypoints[:, FEET, 2] >= FOOT_SEEN
        if intrinsics is not None:
            pictured = pictured_feet(camera_joints, keypoints, intrinsics, turns) @ floor.rotation.T + floor.translation
    planted = planted_feet(world[:, FEET], floor, fps, seen, pictured)
    return Trajectory(world, floor.rotation, floor.translation, planted.astype(np.float32), list(floor.notes))


def foot_lock_correction(feet: np.ndarray, planted: np.ndarray, lock: float, horizon: int | None = None) -> np.ndarray:
    """The root offset (T, 3) that keeps planted ``feet`` (T, 2, 3: world) from sliding or
    sinking (module docstring, step 3), scaled by ``lock``.

    Sliding: on every step into, during and out of a foot's planted frames (so that its
    speed, read across a frame's two steps, is zero on every planted frame) the root moves
    against the foot's horizontal motion (the mean over the feet it holds); these corrections
    add up, so the body keeps the distance its planted feet allow and never jumps back. Sinking:
    planted feet are lifted or lowered onto the floor, the correction carried across the
    frames in between (:func:`~engine.timeseries.fill_gaps`, looking ``horizon`` frames
    ahead; the whole clip when None) and smoothed a little, as the feet's heights are noisy.
    """
    if lock <= 0 or len(feet) == 0:
        return np.zeros((len(feet), 3))
    still = planted[1:] | planted[:-1]  # (T-1, 2): steps that touch a planted frame
    step = np.diff(feet, axis=0)
    slide = (step * still[..., None]).sum(1) / np.maximum(still.sum(1, keepdims=True), 1)
    correction = np.concatenate([np.zeros((1, 3)), -np.cumsum(slide, axis=0)])
    sink = np.where(planted, FOOT_ABOVE_FLOOR - feet[..., 1], 0.0).sum(1) / np.maximum(planted.sum(1), 1)
    vertical = fill_gaps(sink, planted.any(axis=1), horizon or len(feet))
    correction[:, 1] = gaussian_filter1d(vertical, LOCK_SMOOTH, mode="nearest")
    return correction * lock


def lock_settled(planted: np.ndarray, horizon: int) -> int:
    """How many leading frames of :func:`foot_lock_correction`'s answer are final, given final
    ``planted`` (T, 2): the sink's look ahead, one frame for each step, the smoothing's reach."""
    return max(min(fill_settled(planted.any(axis=1), horizon), len(planted) - 1) - LOCK_SMOOTH_REACH, 0)


def origin_at(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The turn about the vertical (3, 3) and the move along the floor (3,) that put one frame's
    SMPL24 world ``joints`` (24, 3) with the pelvis at x = z = 0 facing +z
    (:func:`~engine.geometry.torso_heading`); heights, and so the floor at y = 0, are kept."""
    turn = Rotation.from_rotvec([0.0, -torso_heading(*joints[SMPL_TORSO]), 0.0]).as_matrix()
    return turn, -(turn @ joints[0]) * [1.0, 0.0, 1.0]


def relocated(
    poses: np.ndarray, trans: np.ndarray, joints: np.ndarray, turn: np.ndarray, move: np.ndarray, rest_pelvis: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SMPL ``poses`` (F, 72), ``trans`` (F, 3) and world ``joints`` (F, 24, 3) of a body whose
    rest pelvis is at ``rest_pelvis``, turned by ``turn`` about the world's origin and then
    moved by ``move``: the same motion in another world frame."""
    poses = poses.copy()
    poses[:, :3] = (Rotation.from_matrix(turn) * Rotation.from_rotvec(poses[:, :3])).as_rotvec()
    return poses, (trans + rest_pelvis) @ turn.T + move - rest_pelvis, joints @ turn.T + move


def relocated_cameras(camera_to_world: np.ndarray, turn: np.ndarray, move: np.ndarray) -> np.ndarray:
    """Camera poses (F, 4, 4: world ← camera) in the world frame of :func:`relocated`."""
    moved = camera_to_world.copy()
    moved[:, :3, :3] = turn @ camera_to_world[:, :3, :3]
    moved[:, :3, 3] = camera_to_world[:, :3, 3] @ turn.T + move
    return moved


class FootPins:
    """Where each planted foot must be, frame after frame: the spot it landed on, on the floor,
    turned as it landed.

    The root correction (:func:`foot_lock_correction`) holds a single planted foot exactly; with
    both feet planted it can only split their disagreement. A pin asks the leg to reach the
    spot itself (:func:`~engine.body.ik.reach_with_leg`) with the foot turned as it was when it
    landed (so the toes stay put too); when the foot lifts, the pin's last offset and turn fade
    out over ``FADE_FRAMES`` so the leg does not jump. Frames come in order, in any number of
    calls; the state carries over.
    """

    FADE_FRAMES = 5

    def __init__(self, lock: float) -> None:
        self.lock = lock
        self.spots: list[np.ndarray | None] = [None, None]
        self.turns: list[np.ndarray | None] = [None, None]  # the foot's world rotation at landing
        self.fading = [np.zeros(3), np.zeros(3)]
        self.fading_turn = [np.zeros(3), np.zeros(3)]  # rotation vector from natural to held, at lift
        self.since_lift = [self.FADE_FRAMES, self.FADE_FRAMES]

    def pins(self, feet: np.ndarray, turns: np.ndarray, planted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How far (T, 2, 3) each foot of ``feet`` (T, 2, 3: world, after the root correction)
        must move, and the world rotations (T, 2, 3, 3) its ankle must take instead of ``turns``
        (T, 2, 3, 3), given ``planted`` (T, 2)."""
        moves, held = np.zeros(feet.shape), turns.copy()
        for t in range(len(feet)):
            for f in range(2):
                if planted[t, f]:
                    if self.spots[f] is None:
                        self.spots[f] = np.array([feet[t, f, 0], FOOT_ABOVE_FLOOR, feet[t, f, 2]])
                        self.turns[f] = turns[t, f]
                    moves[t, f], held[t, f] = self.spots[f] - feet[t, f], self.turns[f]
                    self.fading[f], self.since_lift[f] = moves[t, f], 0
                    self.fading_turn[f] = Rotation.from_matrix(self.turns[f] @ turns[t, f].T).as_rotvec()
                else:
                    self.spots[f] = None
                    self.since_lift[f] += 1
                    weight = max(0.0, 1 - self.since_lift[f] / self.FADE_FRAMES)
                    moves[t, f] = self.fading[f] * weight
                    held[t, f] = Rotation.from_rotvec(self.fading_turn[f] * weight).as_matrix() @ turns[t, f]
        if self.lock < 1:  # a partial lock moves and turns the feet part of the way
            delta = Rotation.from_matrix((held @ np.swapaxes(turns, -1, -2)).reshape(-1, 3, 3)).as_rotvec() * self.lock
            held = Rotation.from_rotvec(delta).as_matrix().reshape(held.shape) @ turns
        return moves * self.lock, held
