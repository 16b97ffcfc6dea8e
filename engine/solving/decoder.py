"""The decoder solver: SMPL motion from the learned pose prior (``engine.decoding``), in windows.

The world joints are cut into windows of the decoder's length (81 frames) every half window.
Each window's conditions are its joints relative to the pelvis, turned so that the first
frame faces +z (``engine.decoding.features.window_conditions``, as in training); the decoder answers the
window's points, twists and contacts, which are turned back and blended with the overlapping
windows' (weights rising from each window's edges to its middle; points and twists linearly,
contacts as probabilities) before the IK (:func:`~engine.decoding.representation.solve_representation`)
makes rotations on the clip's rest skeleton. The root is where the world joints put the pelvis.

Streaming: a frame is final once every window over it has been decoded, which needs the
frames up to the end of the last of them: up to a window's length after it (``settled``). A
clip shorter than a window, and the clip's last frames, are decoded in a window filled by
playing them back and forth (:func:`played_back_and_forth`): a motion and its time reversal,
both of which the decoder trained on. Padding with the last frame marked missing, as before,
left it to guess most of a window it rarely saw so empty (on the rendered test clips of 25-30
frames: 88 → 80 and 76 → 69 mm PA-MPJPE, the others within 1 mm).
"""

from __future__ import annotations

import json

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from scipy.special import expit

from engine.body.ik import h36m_of_rest
from engine.body.joints import H36M17
from engine.body.kinematics import forward_kinematics_np
from engine.decoding.decoder import MotionDecoder
from engine.decoding.features import split_features, window_conditions
from engine.decoding.registry import WEIGHTS_DIR
from engine.decoding.representation import solve_representation

DECODER_WEIGHTS = {"decoder": "decoder_default", "decoder-free": "decoder_free"}  # solver name → shipped weights


def load_decoder(name: str) -> MotionDecoder:
    """The shipped decoder ``name`` (``engine/decoding/weights/NAME.pt`` and its card)."""
    weights = WEIGHTS_DIR / f"{name}.pt"
    if not weights.is_file():
        raise FileNotFoundError(
            f"no trained decoder at {weights}: train one with `engine train decoder --config configs/{name}.toml --ship`, or use --solver ik"
        )
    model = MotionDecoder.from_card(json.loads(weights.with_suffix(".json").read_text()))
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    return model.eval()


def played_back_and_forth(frames: int, length: int) -> np.ndarray:
    """Indices (length,) that fill a window of ``length`` with a clip of ``frames`` frames played
    forwards, backwards, forwards... (0, 1, 2, 1, 0, 1, ... for 3 frames; all 0 for one)."""
    period = max(2 * frames - 2, 1)
    k = np.arange(length) % period
    return np.where(k < frames, k, period - k)


class DecoderSolver:
    """Decodes windows as their frames arrive (module docstring)."""

    weights = DECODER_WEIGHTS["decoder"]
    samples = True

    def __init__(self, rest: np.ndarray, fps: float, model: MotionDecoder | None = None, steps: int = 1) -> None:
        self.steps = steps  # DDIM steps from zero noise: deterministic whatever their number
        self.rest, self.rest_h36m = rest, h36m_of_rest(rest)
        self.model = model or load_decoder(self.weights)
        self.window = self.model.window
        self.stride = self.window // 2
        self.decoded: dict[int, np.ndarray] = {}  # window start → (window, features) in the world's turn
        empty = {"poses": (72,), "trans": (3,), "joints": (24, 3), "contacts": (4,), "targets": (24, 3)}
        self.solved = {key: np.zeros((0, *shape)) for key, shape in empty.items()}
        self.next_start = 0  # the next window to decode starts here
        self.settled = 0

    def _decode(self, joints: np.ndarray) -> np.ndarray:
        """Features (window, F) of one window of world joints (n ≤ window, 17, 3), played back and forth to fill it."""
        joints = joints[played_back_and_forth(len(joints), self.window)]
        conditions, turn = window_conditions(joints, np.ones(self.window, bool))
        with torch.no_grad():
            features = self.model(torch.from_numpy(conditions[None].astype(np.float32)), steps=self.steps)[0].numpy().astype(np.float64)
        points, twists, contacts = split_features(features)
        return np.concatenate([(points[:, 1:] @ turn).reshape(self.window, -1), twists.reshape(self.window, -1), expit(contacts)], 1)

    def extend(self, world_joints: np.ndarray, complete: bool = False) -> dict[str, np.ndarray]:
        frames = len(world_joints)
        while self.next_start < frames and (self.next_start + self.window <= frames or complete):
            start = self.next_start
            self.decoded[start] = self._decode(world_joints[start : start + self.window])
            self.next_start += self.stride
            if complete and start + self.window >= frames:
                break  # this window reaches the clip's end
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
