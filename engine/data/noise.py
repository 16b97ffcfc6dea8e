"""Synthetic 2D detector noise, calibrated against mediapipe BlazePose on real video.

``DetectorNoise.apply`` turns clean H36M17 pixel keypoints (projected from mocap) into what
``engine.keypoints.detect_pose`` + ``blazepose_to_h36m17`` would report for them: jitter,
low-confidence dropouts with unreliable positions, left/right swaps, truncation at the
frame edge and whole-frame misses, with confidences. The parameters come from
``noise_model.json`` (written by ``python tools/calibrate_noise.py``; the method and
the measured figures are in ``docs/noise-model.md``).

All displacements are in units of the person's 2D scale (``person_scale``), so one model
serves any image and person size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import lfilter
from scipy.stats import norm

from engine.body.joints import H36M17

DEFAULT_MODEL_PATH = Path(__file__).with_name("noise_model.json")

# Swaps exchange a whole limb pair's labels at once, as the detector does (it mistakes which
# leg or arm is which, or which way the body faces): each group holds H36M17 (left, right) pairs.
_LEG_JOINTS = ("hip", "knee", "ankle")
SWAP_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "legs": tuple(p for p in H36M17.flip_pairs if H36M17.names[p[0]][2:] in _LEG_JOINTS),
    "arms": tuple(p for p in H36M17.flip_pairs if H36M17.names[p[0]][2:] not in _LEG_JOINTS),
}

SCALE_WINDOW = 9


def person_scale(uv: np.ndarray) -> np.ndarray:
    """The person's 2D size per frame (T,) in pixels: the diagonal of the box around the 17 joints.

    Median-filtered over ``SCALE_WINDOW`` frames so a single bad detection does not change it.
    The diagonal rather than the height, because it changes less when the person bends, lies
    down or turns upside down (mediapipe's own crop is rotation-invariant in the same way).
    """
    diagonal = np.linalg.norm(uv.max(axis=1) - uv.min(axis=1), axis=-1)
    return median_filter(diagonal, size=SCALE_WINDOW, mode="nearest")


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: np.ndarray | float) -> np.ndarray:
    """Unit-variance AR(1) noise along axis 0 of ``shape``, stationary from the first frame;
    ``phi`` broadcasts over the other axes (one coefficient per joint, say)."""
    phi = np.broadcast_to(phi, shape[1:]).ravel()
    innovations = rng.standard_normal((shape[0], phi.size))
    start = rng.standard_normal(phi.size)
    out = np.empty_like(innovations)
    for p in np.unique(phi):
        columns = phi == p
        out[:, columns], _ = lfilter([np.sqrt(1.0 - p * p)], [1.0, -p], innovations[:, columns], axis=0, zi=p * start[None, columns])
    return out.reshape(shape)


def _runs(rng: np.random.Generator, length: int, fraction_on: float, mean_on: float) -> np.ndarray:
    """A two-state Markov chain (length,) bool: "on" runs average ``mean_on`` frames and cover
    ``fraction_on`` of the time (geometric run lengths, starting in the stationary state)."""
    if fraction_on <= 0.0 or length == 0:
        return np.zeros(length, dtype=bool)
    mean_off = max(mean_on * (1.0 - fraction_on) / fraction_on, 1.0)
    first_on = bool(rng.random() < fraction_on)
    means = np.array([mean_on, mean_off] if first_on else [mean_off, mean_on])
    lengths = rng.geometric(1.0 / means, size=(length, 2)).ravel()  # `length` cycles always cover `length` frames
    run = np.searchsorted(np.cumsum(lengths), np.arange(length), side="right")
    return (run % 2 == 0) == first_on


@dataclass(frozen=True)
class DetectorNoise:
    """The calibrated noise model; ``DetectorNoise.load()`` reads the shipped one.

    Per-joint arrays follow H36M17; displacements are in units of ``person_scale``; the AR
    coefficients and run lengths are per frame at ``fps`` (25).
    """

    fps: float
    sigma_white: np.ndarray  # (17,)
    ar_coefficient: np.ndarray  # (17,)
    sigma_ar: np.ndarray  # (17,)
    drop_threshold: float
    dropout_rate: np.ndarray  # (17,)
    dropout_mean_frames: float
    quantile_levels: np.ndarray  # (Q,)
    confidence_kept: np.ndarray  # (17, Q) quantiles of a kept joint's confidence
    confidence_dropped: np.ndarray  # (Q,)
    confidence_outside: np.ndarray  # (Q,) of joints outside the image
    confidence_lag1: float  # frame-to-frame correlation of the confidences' normal scores
    guess_error: tuple[float, float, float]  # (sigma_white, phi, sigma_ar) of a low-confidence joint's extra error
    swap_rate: dict[str, float]  # events per frame, per SWAP_GROUPS group
    swap_mean_frames: dict[str, float]
    miss_rate: float
    miss_mean_frames: float

    @classmethod
    def load(cls, path: Path | str = DEFAULT_MODEL_PATH) -> DetectorNoise:
        model = json.loads(Path(path).read_text())
        jitter, dropout, swaps = model["jitter"], model["dropout"], model["swaps"]
        guess = dropout["position_error"]
        return cls(
            fps=jitter["fps"],
            sigma_white=np.array(jitter["sigma_white"]),
            ar_coefficient=np.array(jitter["ar_coefficient"]),
            sigma_ar=np.array(jitter["sigma_ar"]),
            drop_threshold=dropout["threshold"],
            dropout_rate=np.array(dropout["rate"]),
            dropout_mean_frames=dropout["mean_run_frames"],
            quantile_levels=np.array(dropout["confidence_quantile_levels"]),
            confidence_kept=np.array(dropout["confidence_kept"]),
            confidence_dropped=np.array(dropout["confidence_dropped"]),
            confidence_outside=np.array(model["edge"]["outside"]["confidence"]),
            confidence_lag1=dropout["confidence_lag1"],
            guess_error=(guess["sigma_white"], guess["ar_coefficient"], guess["sigma_ar"]),
            swap_rate={g: swaps[g]["event_rate"] for g in SWAP_GROUPS},
            swap_mean_frames={g: swaps[g]["mean_frames"] for g in SWAP_GROUPS},
            miss_rate=model["frame_miss"]["rate"],
            miss_mean_frames=model["frame_miss"]["mean_run_frames"],
        )

    def apply(self, uv: np.ndarray, image_size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Detector-like keypoints from clean ones: ``uv`` (T, 17, 2) pixels in an image of
        ``image_size`` (width, height) → ``(uv_noisy (T, 17, 2), confidence (T, 17))``.

        Jitter (white + AR(1)) scaled by the person's 2D size; dropouts in runs, with low
        confidence and a position error of their own (the detector guesses occluded joints);
        joints outside the image get the confidences measured there (mostly low) and, when
        low, the same guessing error, but are not clamped: mediapipe reports them outside the
        image too; left/right swaps of the legs or arms for a few frames; whole frames missed
        (zeros, confidence 0, as ``detect_pose`` reports them). Deterministic given ``rng``.
        """
        uv = np.asarray(uv, dtype=np.float64)
        if uv.ndim != 3 or uv.shape[1:] != (len(H36M17), 2):
            raise ValueError(f"expected H36M17 pixel keypoints (T, 17, 2), got shape {uv.shape}")
        frames, joints = uv.shape[:2]
        scale = person_scale(uv)[:, None, None]

        jitter = self.sigma_white[:, None] * rng.standard_normal(uv.shape)
        jitter += self.sigma_ar[:, None] * _ar1(rng, uv.shape, self.ar_coefficient[:, None])
        noisy = uv + scale * jitter

        dropped = np.stack([_runs(rng, frames, rate, self.dropout_mean_frames) for rate in self.dropout_rate], axis=1)
        width, height = image_size
        outside = (uv[..., 0] < 0) | (uv[..., 0] >= width) | (uv[..., 1] < 0) | (uv[..., 1] >= height)
        # one smooth quantile level per joint drives its confidence, whatever the state
        level = norm.cdf(_ar1(rng, (frames, joints), self.confidence_lag1))
        levels = self.quantile_levels
        kept = np.stack([np.interp(level[:, j], levels, q) for j, q in enumerate(self.confidence_kept)], axis=1)
        # outside the image the measured confidences already include every cause of a dropout
        confidence = np.where(
            outside,
            np.interp(level, levels, self.confidence_outside),
            np.where(dropped, np.interp(level, levels, self.confidence_dropped), kept),
        )
        sigma_white, phi, sigma_ar = self.guess_error
        guess = sigma_white * rng.standard_normal(uv.shape) + sigma_ar * _ar1(rng, uv.shape, phi)
        noisy += np.where((confidence < self.drop_threshold)[..., None], scale * guess, 0.0)

        permutation = np.tile(np.arange(joints), (frames, 1))
        for group, pairs in SWAP_GROUPS.items():
            mean_frames = self.swap_mean_frames[group]
            swapped = _runs(rng, frames, self.swap_rate[group] * mean_frames, mean_frames)
            for left, right in pairs:
                permutation[swapped, left], permutation[swapped, right] = right, left
        noisy = np.take_along_axis(noisy, permutation[..., None], axis=1)
        confidence = np.take_along_axis(confidence, permutation, axis=1)

        missed = _runs(rng, frames, self.miss_rate, self.miss_mean_frames)
        noisy[missed] = 0.0
        confidence[missed] = 0.0
        return noisy, confidence
