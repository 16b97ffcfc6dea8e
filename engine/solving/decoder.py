"""The decoder solver: SMPL motion from the learned pose prior (``engine.decoding``), in windows.

The world joints are cut into windows of the decoder's length (81 frames) every half window.
Each window's conditions are its joints relative to the pelvis, turned so that the first
frame faces +z (``engine.decoding.features.window_conditions``, as in training); the decoder answers the
window's points, twists and contacts, which are turned back, pulled half way to the lifter's
limb joints (:func:`pulled_to_lifter`) and blended with the overlapping windows' (weights
rising from each window's edges to its middle; points and twists linearly, contacts as
probabilities) before the IK (:func:`~engine.decoding.representation.solve_representation`)
makes rotations on the clip's rest skeleton. The root is where the world joints put the pelvis.

Why the pull: the decoder answers what its prior makes of the joints it is given, 24 mm from
them on the limbs even given a mocap window's exact joints, and on new bodies and motions its
limbs end up further from the truth than the lifter's (rendered test clips: 76.7 mm against
68.7). Moving its limb joints half way to the lifter's, that difference smoothed over 3 frames,
keeps its smoothness, twists, ankles and wrists and averages two answers whose errors differ:
PA-MPJPE on the rendered test clips 73.9 → 70.2 mm, on the validation clips 79.5 → 78.7 (all
the way there: 80.7-80.9, the IK's 80.8, with the IK's jitter); on the mocap test 48.6 → 48.7
mm, rotations 13.0° → 13.8° (docs/decoder.md, the fifth pair). Half was chosen on the
validation clips (none, half, all).

Windows ready together (a whole clip's, once it is complete) are decoded ``DECODE_BATCH`` at a
time: the decoder's layers are so small that one window at a time costs mostly per-call
overhead (on 2 threads 9.8 ms a window alone, 1.9 in a batch of 32; docs/decoder.md, session 24).

Streaming: a frame is final once every window over it has been decoded, which needs the
frames up to the end of the last of them: up to a window's length after it (``settled``). That
is too late for a capture's provisional frames (on the 217-frame example clip they came only
once its 2D detection had finished), so the decoder names the IK as its ``provisional`` solver. A
clip shorter than a window, and the clip's last frames, are decoded in a window filled by
playing them back and forth (:func:`~engine.decoding.features.played_back_and_forth`): a motion and its time reversal,
both of which the decoder trained on. Padding with the last frame marked missing, as before,
left it to guess most of a window it rarely saw so empty (on the rendered test clips of 25-30
frames: 88 → 80 and 76 → 69 mm PA-MPJPE, the others within 1 mm).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation
from scipy.special import expit

from engine.body.ik import h36m_of_rest
from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.decoding.decoder import MotionDecoder, load_decoder_weights
from engine.decoding.features import played_back_and_forth, split_features, window_conditions
from engine.decoding.registry import WEIGHTS_DIR
from engine.decoding.representation import solve_representation
from engine.geometry import smallest_rotations
from engine.lifting import LIMBS

DECODER_WEIGHTS = {"decoder": "decoder_rendered", "decoder-free": "decoder_free_rendered"}  # solver name → shipped weights
DECODE_BATCH = 32  # windows decoded at once, as the lifter lifts them (module docstring)
LIFTER_PULL, PULL_SIGMA = 0.5, 3.0  # pulled_to_lifter's share of the way and smoothing (frames)
_LIMB_POINTS = [SMPL24.index(H36M17.names[joint]) for joint in LIMBS]  # the lifter's limb joints among the decoded points
_HIPS, _H36M_HIPS = [SMPL24.index(n) for n in ("l_hip", "r_hip")], [H36M17.index(n) for n in ("l_hip", "r_hip")]
# Feet and hands, and the bone (joint, child) they turn with.
_ENDS = {
    SMPL24.index(f"{s}_{end}"): (SMPL24.index(f"{s}_{a}"), SMPL24.index(f"{s}_{b}"))
    for s in "lr"
    for end, a, b in (("foot", "knee", "ankle"), ("hand", "elbow", "wrist"))
}


def pulled_to_lifter(points: np.ndarray, joints: np.ndarray, share: float = LIFTER_PULL, sigma: float = PULL_SIGMA) -> np.ndarray:
    """A window's decoded ``points`` (T, 25, 3; pelvis at the origin, turned as ``joints``)
    with the limb joints (hips, knees, ankles, shoulders, elbows, wrists) moved ``share`` of the
    way to where the lifter's ``joints`` (T, 17, 3) put them relative to the hips' midpoint, that
    difference smoothed over time (Gaussian, ``sigma`` frames) so that the decoder's smoothness
    stays; each foot and hand turns with its shin or forearm, so the ankles' and wrists' own
    rotations stay the decoder's (module docstring)."""
    mid = points[:, _HIPS].mean(1, keepdims=True)
    lifted = joints[:, LIMBS] - joints[:, _H36M_HIPS].mean(1, keepdims=True)
    gap = (
        gaussian_filter1d(lifted - (points[:, _LIMB_POINTS] - mid), sigma, axis=0, mode="nearest")
        if sigma
        else lifted - (points[:, _LIMB_POINTS] - mid)
    )
    pulled = points.copy()
    pulled[:, _LIMB_POINTS] += share * gap
    for end, (joint, child) in _ENDS.items():
        turn = smallest_rotations(points[:, child] - points[:, joint], pulled[:, child] - pulled[:, joint])
        pulled[:, end] = pulled[:, child] + np.einsum("tij,tj->ti", turn, points[:, end] - points[:, child])
    return pulled


def load_decoder(name: str) -> MotionDecoder:
    """The shipped decoder ``name`` (``engine/decoding/weights/NAME.pt`` and its card)."""
    weights = WEIGHTS_DIR / f"{name}.pt"
    if not weights.is_file():
        raise FileNotFoundError(
            f"no trained decoder at {weights}: train one with `engine train decoder --config configs/{name}.toml --ship`, or use --solver ik"
        )
    return load_decoder_weights(weights)


class DecoderSolver:
    """Decodes windows as their frames arrive (module docstring)."""

    weights = DECODER_WEIGHTS["decoder"]
    samples = True
    provisional = "ik"  # a stream's first frames would wait up to 81 frames for their windows

    def __init__(self, rest: np.ndarray, fps: float, model: MotionDecoder | None = None, steps: int = 1, batch: int = DECODE_BATCH) -> None:
        self.steps = steps  # DDIM steps from zero noise: deterministic whatever their number
        self.batch = batch
        self.rest, self.rest_h36m = rest, h36m_of_rest(rest)
        self.model = model or load_decoder(self.weights)
        self.window = self.model.window
        self.stride = self.window // 2
        self.decoded: dict[int, np.ndarray] = {}  # window start → (window, features) in the world's turn
        empty = {"poses": (72,), "trans": (3,), "joints": (24, 3), "contacts": (4,), "targets": (24, 3)}
        self.solved = {key: np.zeros((0, *shape)) for key, shape in empty.items()}
        self.next_start = 0  # the next window to decode starts here
        self.settled = 0

    def _decode(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """Features (window, F) of windows of world joints (each n ≤ window, 17, 3), played back
        and forth to fill them, decoded ``batch`` at a time."""
        filled = [joints[played_back_and_forth(len(joints), self.window)] for joints in windows]
        conditions, turns = zip(*(window_conditions(joints, np.ones(self.window, bool)) for joints in filled))
        features = []
        for first in range(0, len(filled), self.batch):
            batch = torch.from_numpy(np.stack(conditions[first : first + self.batch]).astype(np.float32))
            with torch.no_grad():
                features.extend(self.model(batch, steps=self.steps).numpy().astype(np.float64))
        decoded = []
        for answer, joints, turn in zip(features, filled, turns):
            points, twists, contacts = split_features(answer)
            points = pulled_to_lifter(points @ turn, joints)
            decoded.append(np.concatenate([points[:, 1:].reshape(self.window, -1), twists.reshape(self.window, -1), expit(contacts)], 1))
        return decoded

    def extend(self, world_joints: np.ndarray, complete: bool = False) -> dict[str, np.ndarray]:
        frames = len(world_joints)
        starts = []
        while self.next_start < frames and (self.next_start + self.window <= frames or complete):
            starts.append(self.next_start)
            self.next_start += self.stride
            if complete and starts[-1] + self.window >= frames:
                break  # this window reaches the clip's end
        if starts:
            self.decoded |= zip(starts, self._decode([world_joints[start : start + self.window] for start in starts]))
        ready = frames if complete else min(self.next_start, frames)  # frames before the first window not decoded
        if ready > self.settled:
            self._solve(world_joints, self.settled, ready)
            self.settled = ready
        return self.solved

    def _solve(self, world_joints: np.ndarray, begin: int, end: int) -> None:
        """Blend the windows over frames ``begin``..``end`` and solve them."""
        blended, total = np.zeros((end - begin, next(iter(self.decoded.values())).shape[1])), np.zeros((end - begin, 1))
        ramp = np.minimum(np.arange(self.window) + 1, self.window - np.arange(self.window))[:, None].astype(np.float64)
        for start, features in self.decoded.items():
            lo, hi = max(start, begin), min(start + self.window, end)
            if lo < hi:
                blended[lo - begin : hi - begin] += ramp[lo - start : hi - start] * features[lo - start : hi - start]
                total[lo - begin : hi - begin] += ramp[lo - start : hi - start]
        blended /= total
        for start in [s for s in self.decoded if s + self.window <= end]:
            del self.decoded[start]  # no later frame needs it
        points, twists, contacts = split_features(blended)
        local = solve_representation(points, twists, self.rest)
        pelvis = world_joints[begin:end, H36M17.index("pelvis")] + local[:, 0] @ (self.rest[0] - self.rest_h36m[H36M17.index("pelvis")])
        trans = pelvis - self.rest[0]
        joints, _ = forward_kinematics_np(local, self.rest, trans, rep="matrix")
        targets = points[:, :24] + joints[:, :1]  # the decoded joints, where the IK aimed
        poses = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(local), -1)
        for key, value in (("poses", poses), ("trans", trans), ("joints", joints), ("contacts", contacts), ("targets", targets)):
            self.solved[key] = np.concatenate([self.solved[key], value])


class FreeDecoderSolver(DecoderSolver):
    """The decoder trained on the commercially usable mocap alone (pairs with ``hot-free``)."""

    weights = DECODER_WEIGHTS["decoder-free"]
