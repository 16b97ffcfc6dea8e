"""Calibrate the 2D detector noise model against mediapipe BlazePose on real video.

    python tools/calibrate_noise.py ../shared/videos --out noise_model.json

(a developer script, not part of the installed package) runs ``engine.keypoints.detect_pose``
on every clip listed in the folder's ``manifest.csv`` (frames decoded by ``engine.video``)
and on its mirror image, maps the landmarks to H36M17 and measures, in units of the person's
2D scale (``engine.data.noise.person_scale``):

- jitter: the difference between the detections of a frame and of its mirror image (mapped
  back) contains no motion, only the two detections' errors, so its autocovariance gives the
  white and AR(1) parts directly; the residual after a low-pass filter, the usual measure,
  cannot tell slow errors from motion and serves as a cross-check at several cut-offs;
- dropouts (confidence < 0.5), the confidences of dropped and kept joints, and how far off
  dropped joints are; whole-frame misses;
- left/right swaps of the legs or arms (a two-state Viterbi labelling);
- confidence inside, near and outside the image border.

It writes the fitted parameters to ``--out``, in the format ``engine.data.noise.DetectorNoise``
reads; the engine ships its calibration as ``engine/data/noise_model.json``, which changes
only when someone copies a new file there. ``docs/noise-model.md`` has the method, the
figures and the caveats.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib.metadata
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.signal import butter, sosfiltfilt, sosfreqz
from scipy.stats import norm, rankdata

from engine.body.joints import H36M17
from engine.data.noise import SWAP_GROUPS, person_scale
from engine.keypoints import MODEL_COMPLEXITY, blazepose_to_h36m17, detect_pose
from engine.video import probe, read_frames_ahead

DROP_THRESHOLD = 0.5  # a joint with confidence below this counts as dropped
REFERENCE_FPS = 25.0  # the jitter's AR coefficient is per frame at this rate; other clips are left out of its fit
MAX_LAG = 6  # autocovariance lags fitted
GLITCH_SIGMAS = 6.0  # errors beyond this many robust sigmas are glitches, not jitter
CUTOFFS_HZ = (2.0, 3.0, 4.0, 6.0)  # low-pass cut-offs of the residual cross-check
FILTER_ORDER = 4
MIN_SEGMENT = 25  # frames; shorter runs of detected frames are too short to low-pass
SWAP_PENALTY = 0.3  # scale units of displacement a label switch must explain away
SWAP_MIN_SEPARATION = 0.1  # scale units: closer limb pairs cannot show a swap
SWAP_MAX_FRAMES = 25  # longer swapped runs are ambiguous (a crossing, or a missed switch back)
EDGE_MARGIN = 0.03  # fraction of the image's shorter side counted as "near the border"
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 21)


@dataclass
class Clip:
    """H36M17 detections of one video: ``keypoints`` (T, 17, 3) pixels and confidence."""

    name: str
    fps: float
    width: int
    height: int
    keypoints: np.ndarray

    @property
    def detected(self) -> np.ndarray:
        return self.keypoints[..., 2].max(axis=1) > 0


def rgb_frames(path: Path, mirror: bool = False) -> Iterator[np.ndarray]:
    """A video's RGB uint8 frames as the engine decodes them (``engine.video``: upright, every
    frame), optionally mirrored left to right."""
    for frame in read_frames_ahead(path):
        yield np.ascontiguousarray(frame.rgb[:, ::-1]) if mirror else frame.rgb


def unmirror(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Detections (T, 17, 3) of a mirrored video in the original image: x reflected, and the
    person's left and right exchanged (a mirrored person's left arm is the real right arm)."""
    result = keypoints[:, H36M17.flip_permutation].copy()
    result[..., 0] = np.where(result[..., 2] > 0, width - result[..., 0], 0.0)
    return result


def detect_clip(path: Path, fps: float, smooth_landmarks: bool = False) -> tuple[Clip, Clip]:
    """The clip's detections, and those of its mirror image mapped back onto it."""
    info = probe(path)
    width, height = info.width, info.height  # as displayed, which is how engine.video decodes it
    views = [blazepose_to_h36m17(detect_pose(rgb_frames(path, mirror), smooth_landmarks)[0]).astype(np.float64) for mirror in (False, True)]
    return Clip(path.stem, fps, width, height, views[0]), Clip(path.stem, fps, width, height, unmirror(views[1], width))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist()))


def detected_segments(detected: np.ndarray, min_length: int = 1) -> list[slice]:
    """Runs of consecutive detected frames at least ``min_length`` long."""
    return [slice(s, s + n) for s, n in runs(detected) if n >= min_length]


def clip_scale(clip: Clip) -> np.ndarray:
    """``person_scale`` per frame (T,), computed over each run of detected frames (1 elsewhere)."""
    scale = np.ones(len(clip.keypoints))
    for segment in detected_segments(clip.detected):
        scale[segment] = person_scale(clip.keypoints[segment, :, :2])
    return scale


# --- jitter ---------------------------------------------------------------------------------


def autocovariance(noise: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of n_t n_{t+k} over valid pairs, and their counts, per joint and lag k = 0..MAX_LAG:
    two (J, MAX_LAG + 1) arrays from ``noise`` (T, J, 2) and ``valid`` (T, J); x and y pooled."""
    sums = np.zeros((noise.shape[1], MAX_LAG + 1))
    counts = np.zeros_like(sums)
    n = np.where(valid[..., None], noise, 0.0)
    for k in range(min(MAX_LAG + 1, len(n))):
        sums[:, k] = (n[: len(n) - k] * n[k:]).sum(axis=(0, 2))
        counts[:, k] = 2 * (valid[: len(n) - k] & valid[k:]).sum(axis=0)
    return sums, counts


def without_glitches(noise: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``valid`` (T, J) minus samples beyond ``GLITCH_SIGMAS`` robust sigmas of their joint."""
    magnitude = np.abs(noise).max(axis=-1)
    sigma = np.full(noise.shape[1], np.inf)
    for j in np.flatnonzero(valid.any(axis=0)):
        sigma[j] = 1.4826 * np.median(np.abs(noise[valid[:, j], j]))  # the MAD, as a Gaussian sigma
    return valid & (magnitude <= GLITCH_SIGMAS * sigma)


def mirror_noise(view: np.ndarray, mirrored: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """One detection's error (T, J, 2) in scale units, as the two views' difference over sqrt(2).

    Motion cancels exactly; if the two detections' errors are independent and alike, the
    difference has twice the variance and the same autocorrelation as either."""
    return (view[..., :2] - mirrored[..., :2]) / (np.sqrt(2.0) * scale[:, None, None])


def fit_ar1(sums: np.ndarray, counts: np.ndarray) -> tuple[float, float, float]:
    """Fit white + AR(1) noise, autocovariance sigma_white^2 [k = 0] + sigma_ar^2 phi^k, to measured
    lag sums and counts (MAX_LAG + 1,). Returns (sigma_white, phi, sigma_ar).

    For each phi on a grid the two variances follow by non-negative least squares, each lag
    weighted by its sample count; the best phi wins."""
    lags = np.arange(MAX_LAG + 1)
    measured, weight = sums / np.maximum(counts, 1), np.sqrt(counts)
    best = (np.inf, 0.0, 0.0, 0.0)
    for phi in np.linspace(0.0, 0.98, 99):
        design = np.stack([lags == 0, phi**lags], axis=1) * weight[:, None]
        (var_white, var_ar), error = nnls(design, measured * weight)
        if error < best[0]:
            best = (error, float(np.sqrt(var_white)), float(phi), float(np.sqrt(var_ar)))
    return best[1], best[2], best[3]


def _lowpass(fps: float, cutoff_hz: float) -> np.ndarray:
    return butter(FILTER_ORDER, cutoff_hz / (fps / 2), output="sos")


def lowpass_residual(uv: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """What a zero-phase Butterworth low-pass removes from trajectories (T, ..., 2)."""
    return uv - sosfiltfilt(_lowpass(fps, cutoff_hz), uv, axis=0)


def residual_variance(fps: float, cutoff_hz: float, sigma_white: float, phi: float, sigma_ar: float) -> float:
    """Variance of the low-pass residual of white + AR(1) noise, from the noise spectrum."""
    omega, response = sosfreqz(_lowpass(fps, cutoff_hz), worN=4096)
    highpass = (1.0 - np.abs(response) ** 2) ** 2  # filtfilt applies |H|^2; the residual keeps 1 - |H|^2
    spectrum = sigma_white**2 + sigma_ar**2 * (1.0 - phi**2) / np.abs(1.0 - phi * np.exp(-1j * omega)) ** 2
    return float((highpass * spectrum).mean())


# --- left/right swaps -----------------------------------------------------------------------


def swap_states(keypoints: np.ndarray, scale: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Frames (T,) whose labels of the limb ``pairs`` are exchanged, for detections without gaps.

    Two-state Viterbi: the labelling (as detected, or left/right exchanged) that makes the
    trajectories move least, each switch costing ``SWAP_PENALTY`` scale units. Displacements
    are weighted by the confidences involved, so guessed (occluded) joints barely vote. The
    labelling that holds for most frames is taken as the true one.
    """
    left, right = [p[0] for p in pairs], [p[1] for p in pairs]
    a, b, conf = keypoints[:, left, :2], keypoints[:, right, :2], keypoints[..., 2]
    weight = np.minimum.reduce([conf[1:, left], conf[1:, right], conf[:-1, left], conf[:-1, right]])

    def step(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x[1:] - y[:-1], axis=-1)

    stay = (weight * (step(a, a) + step(b, b))).sum(axis=1) / scale[1:]
    cross = (weight * (step(a, b) + step(b, a))).sum(axis=1) / scale[1:]
    total = np.zeros(2)
    came_from = np.zeros((len(keypoints), 2), dtype=int)
    for t in range(1, len(keypoints)):
        # cost[previous state, state]: keeping the state compares like with like
        cost = total[:, None] + np.array([[stay[t - 1], cross[t - 1] + SWAP_PENALTY], [cross[t - 1] + SWAP_PENALTY, stay[t - 1]]])
        came_from[t] = cost.argmin(axis=0)
        total = cost.min(axis=0)
    states = np.zeros(len(keypoints), dtype=bool)
    states[-1] = bool(total.argmin())
    for t in range(len(keypoints) - 1, 0, -1):
        states[t - 1] = bool(came_from[t, int(states[t])])
    return ~states if states.mean() > 0.5 else states


_SWAP_COUNTS = ("events", "event_frames", "long_runs", "eligible_frames")


def swap_statistics(keypoints: np.ndarray, scale: np.ndarray) -> dict[str, dict]:
    """Swap events per group in detections without gaps: events (swapped runs of at most
    ``SWAP_MAX_FRAMES``), their frames, longer ambiguous runs, frames where a swap is visible
    (the pair at least ``SWAP_MIN_SEPARATION`` apart), and the swapped-frame mask."""
    result = {}
    for group, pairs in SWAP_GROUPS.items():
        swapped = swap_states(keypoints, scale, pairs)
        left, right = [p[0] for p in pairs], [p[1] for p in pairs]
        separation = np.linalg.norm(keypoints[:, left, :2] - keypoints[:, right, :2], axis=-1).mean(axis=1)
        events = [n for _, n in runs(swapped)]
        result[group] = {
            "events": sum(n <= SWAP_MAX_FRAMES for n in events),
            "event_frames": sum(n for n in events if n <= SWAP_MAX_FRAMES),
            "long_runs": sum(n > SWAP_MAX_FRAMES for n in events),
            "eligible_frames": int((separation / scale >= SWAP_MIN_SEPARATION).sum()),
            "mask": swapped,
        }
    return result


# --- the calibration ------------------------------------------------------------------------


def edge_zones(clip: Clip) -> np.ndarray:
    """Per joint sample (T, 17): 0 inside the image, 1 within ``EDGE_MARGIN`` of its border, 2 outside."""
    x, y = clip.keypoints[..., 0], clip.keypoints[..., 1]
    margin = EDGE_MARGIN * min(clip.width, clip.height)
    outside = (x < 0) | (x >= clip.width) | (y < 0) | (y >= clip.height)
    near = (x < margin) | (x >= clip.width - margin) | (y < margin) | (y >= clip.height - margin)
    return np.where(outside, 2, np.where(near, 1, 0))


def swapped_joints(clip: Clip, scale: np.ndarray) -> tuple[np.ndarray, dict[str, dict]]:
    """Which joint samples (T, 17) carry exchanged labels, and the swap counts per group."""
    swapped = np.zeros(clip.keypoints.shape[:2], dtype=bool)
    counts = {group: dict.fromkeys(_SWAP_COUNTS, 0) for group in SWAP_GROUPS}
    for segment in detected_segments(clip.detected, 2):
        for group, stats in swap_statistics(clip.keypoints[segment], scale[segment]).items():
            joints = [j for pair in SWAP_GROUPS[group] for j in pair]
            swapped[segment.start + np.flatnonzero(stats.pop("mask"))[:, None], joints] = True
            for key, value in stats.items():
                counts[group][key] += value
    return swapped, counts


def measure_clip(clip: Clip, mirror: Clip) -> dict:
    """Everything measured on one clip and its mirror view, unpooled (``calibrate`` pools and fits)."""
    conf = clip.keypoints[..., 2]
    dropped = conf < DROP_THRESHOLD
    zones = edge_zones(clip)
    scale = clip_scale(clip)
    swapped, swaps = swapped_joints(clip, scale)
    # dropout and confidence statistics: detected joints inside the image with the right labels
    usable = clip.detected[:, None] & (zones < 2) & ~swapped

    mirror_swapped, _ = swapped_joints(mirror, scale)
    both_usable = usable & mirror.detected[:, None] & ~mirror_swapped
    noise = mirror_noise(clip.keypoints, mirror.keypoints, scale)
    mirror_dropped = mirror.keypoints[..., 2] < DROP_THRESHOLD
    kept = without_glitches(noise, both_usable & ~dropped & ~mirror_dropped)
    # a dropped joint's error, against the mirror view's confident detection of it
    guessed = without_glitches(noise * np.sqrt(2.0), both_usable & dropped & ~mirror_dropped)

    residual = {cutoff: np.zeros((2, len(H36M17))) for cutoff in CUTOFFS_HZ if cutoff < 0.8 * clip.fps / 2}
    for segment in detected_segments(clip.detected, MIN_SEGMENT):
        for cutoff, totals in residual.items():
            r = lowpass_residual(clip.keypoints[segment, :, :2], clip.fps, cutoff) / scale[segment, None, None]
            valid = without_glitches(r, usable[segment] & ~dropped[segment])
            totals += [(r**2 * valid[..., None]).sum(axis=(0, 2)), 2 * valid.sum(axis=0)]

    segments = detected_segments(clip.detected)
    confident = usable & ~dropped
    kept_pairs = [
        np.stack([conf[s][:-1, j], conf[s][1:, j]], axis=1)[confident[s][:-1, j] & confident[s][1:, j]]
        for j in range(len(H36M17))
        for s in segments
    ]
    return {
        "clip": clip,
        "zones": zones,
        "usable": usable,
        "dropped": dropped,
        "swaps": swaps,
        "jitter": autocovariance(noise, kept),
        "glitches": int((both_usable & ~dropped & ~mirror_dropped & ~kept).sum()),
        "jitter_samples": int((both_usable & ~dropped & ~mirror_dropped).sum()),
        "guessed": autocovariance(noise * np.sqrt(2.0), guessed),
        "residual": residual,
        "drop_runs": [n for j in range(len(H36M17)) for s in segments for _, n in runs(dropped[s, j] & usable[s, j])],
        "kept_confidence_pairs": np.concatenate(kept_pairs),
        # before the first and after the last detection the person may simply be out of the picture
        "miss_runs": [n for _, n in runs(~clip.detected[segments[0].start : segments[-1].stop])] if segments else [],
        "span_frames": segments[-1].stop - segments[0].start if segments else 0,
    }


def _both_sides(per_joint: np.ndarray) -> np.ndarray:
    """Per-joint figures (J, ...) summed over each left/right pair: the detector has no reason to
    favour a side, and which side the clips happen to show more of is not worth modelling."""
    return per_joint + per_joint[H36M17.flip_permutation]


def _quantiles(values: np.ndarray) -> list[float]:
    return np.quantile(values, QUANTILE_LEVELS).round(4).tolist() if len(values) else []


def _normal_score_lag1(pairs: np.ndarray) -> float:
    """Lag-1 correlation of confidences after mapping them to normal scores (a Gaussian copula)."""
    scores = norm.ppf(rankdata(pairs.ravel()) / (pairs.size + 1)).reshape(pairs.shape)
    return float(np.corrcoef(scores[:, 0], scores[:, 1])[0, 1])


def _fit_figures(sums: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    sigma_white, phi, sigma_ar = fit_ar1(sums, counts)
    return {"sigma_white": round(sigma_white, 5), "ar_coefficient": round(phi, 3), "sigma_ar": round(sigma_ar, 5)}


def _residual_check(measurements: list[dict], fits: list[dict]) -> dict[str, dict[str, float]]:
    """Measured low-pass residual sigma per cut-off against the sigma the fitted jitter predicts."""
    check = {}
    for cutoff in CUTOFFS_HZ:
        measured = predicted = samples = 0.0
        for m in measurements:
            if cutoff not in m["residual"]:
                continue
            squares, counts = m["residual"][cutoff]
            measured += squares.sum()
            predicted += sum(c * residual_variance(m["clip"].fps, cutoff, *f.values()) for c, f in zip(counts, fits))
            samples += counts.sum()
        if samples:
            check[str(cutoff)] = {
                "measured": round(float(np.sqrt(measured / samples)), 5),
                "predicted": round(float(np.sqrt(predicted / samples)), 5),
            }
    return check


def calibrate(measurements: list[dict], smooth_landmarks: bool = False) -> dict:
    """Pool the clips' measurements into the noise model document (``noise_model.json``)."""
    clips = [m["clip"] for m in measurements]
    reference = [m for m in measurements if m["clip"].fps == REFERENCE_FPS]
    sums, counts = (_both_sides(sum(m["jitter"][i] for m in reference)) for i in (0, 1))
    joint_fits = [_fit_figures(sums[j], counts[j]) for j in range(len(H36M17))]
    glitches = sum(m["glitches"] for m in reference)
    guessed_fit = _fit_figures(*(sum(m["guessed"][i].sum(axis=0) for m in measurements) for i in (0, 1)))

    per_clip = []
    for m in measurements:
        clip = m["clip"]
        clip_fit = _fit_figures(m["jitter"][0].sum(axis=0), m["jitter"][1].sum(axis=0))
        per_clip.append(
            {
                "name": clip.name,
                "fps": clip.fps,
                "width": clip.width,
                "height": clip.height,
                "frames": len(clip.keypoints),
                "detected_frames": int(clip.detected.sum()),
                "dropout_rate": round(float((m["dropped"] & m["usable"]).sum() / max(m["usable"].sum(), 1)), 4),
                "outside_fraction": round(float((m["zones"] == 2)[clip.detected].mean()), 4),
                "jitter": clip_fit,
                "glitch_fraction": round(m["glitches"] / max(m["jitter_samples"], 1), 4),
                "residual_sigma": _residual_check([m], [clip_fit] * len(H36M17)),
                "swaps": {g: {k: s[k] for k in ("events", "long_runs", "eligible_frames")} for g, s in m["swaps"].items()},
            }
        )

    swaps = {}
    for group in SWAP_GROUPS:
        totals = {k: sum(m["swaps"][group][k] for m in measurements) for k in _SWAP_COUNTS}
        swaps[group] = {
            "pairs": [list(p) for p in SWAP_GROUPS[group]],
            "event_rate": round(totals["events"] / totals["eligible_frames"], 5),
            "mean_frames": round(totals["event_frames"] / max(totals["events"], 1), 2),
            **totals,
        }

    detected = np.concatenate([c.detected for c in clips])
    confidence = np.concatenate([c.keypoints[..., 2] for c in clips])
    usable, dropped, zones = (np.concatenate([m[key] for m in measurements]) for key in ("usable", "dropped", "zones"))
    seen = detected[:, None]
    kept = usable & ~dropped
    kept_pairs = np.concatenate([m["kept_confidence_pairs"] for m in measurements])
    drop_runs = [n for m in measurements for n in m["drop_runs"]]
    miss_runs = [n for m in measurements for n in m["miss_runs"]]
    return {
        "description": "2D detector noise of mediapipe BlazePose mapped to H36M17, in units of the person's 2D scale; "
        "written by `python tools/calibrate_noise.py`, described in docs/noise-model.md",
        "mediapipe_version": importlib.metadata.version("mediapipe"),
        "model_complexity": MODEL_COMPLEXITY,
        "smooth_landmarks": smooth_landmarks,
        "date": datetime.date.today().isoformat(),
        "frames": int(len(detected)),
        "detected_frames": int(detected.sum()),
        "scale": "diagonal of the 2D box around the 17 joints, median over 9 frames (engine.data.noise.person_scale)",
        "joints": list(H36M17.names),
        "clips": per_clip,
        "jitter": {
            "fps": REFERENCE_FPS,
            "method": f"white + AR(1) fitted to the autocovariance (lags 0-{MAX_LAG}) of mirror-view differences",
            **{key: [f[key] for f in joint_fits] for key in ("sigma_white", "ar_coefficient", "sigma_ar")},
            "all_joints": _fit_figures(sums.sum(axis=0), counts.sum(axis=0)),
            "glitch_sigmas": GLITCH_SIGMAS,
            "glitch_fraction": round(glitches / sum(m["jitter_samples"] for m in reference), 4),
            "residual_check": _residual_check(reference, joint_fits),
        },
        "dropout": {
            "threshold": DROP_THRESHOLD,
            "rate": (_both_sides((usable & dropped).sum(axis=0)) / _both_sides(usable.sum(axis=0))).round(4).tolist(),
            "mean_run_frames": round(float(np.mean(drop_runs)), 2),
            "confidence_quantile_levels": QUANTILE_LEVELS.round(3).tolist(),
            "confidence_dropped": _quantiles(confidence[usable & dropped]),
            "confidence_kept": [
                _quantiles(np.concatenate([confidence[kept[:, i], i] for i in {j, H36M17.flip_permutation[j]}])) for j in range(len(H36M17))
            ],
            "confidence_lag1": round(_normal_score_lag1(kept_pairs), 3),
            "position_error": guessed_fit,
        },
        "frame_miss": {
            "rate": round(sum(miss_runs) / sum(m["span_frames"] for m in measurements), 4),
            "mean_run_frames": round(float(np.mean(miss_runs)), 2),
        },
        "swaps": swaps,
        "edge": {
            "margin": EDGE_MARGIN,
            **{
                zone: {
                    "samples": int((in_zone := seen & (zones == z)).sum()),
                    "dropout_rate": round(float((dropped & in_zone).sum() / max(in_zone.sum(), 1)), 4),
                    "confidence": _quantiles(confidence[in_zone]),
                }
                for z, zone in enumerate(("inside", "near_border", "outside"))
            },
        },
    }


def read_manifest(folder: Path) -> list[tuple[Path, float]]:
    with open(folder / "manifest.csv", newline="") as f:
        return [(folder / row["file"], float(row["fps"])) for row in csv.DictReader(f)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", type=Path, help="folder with manifest.csv and the clips")
    parser.add_argument("--out", type=Path, required=True, help="where to write the noise model (JSON)")
    parser.add_argument("--smooth-landmarks", action="store_true", help="detect with mediapipe's smoothing on (for comparison)")
    args = parser.parse_args(argv)
    measurements = []
    for path, fps in read_manifest(args.videos):
        print(f"detecting {path.name}", flush=True)
        measurements.append(measure_clip(*detect_clip(path, fps, args.smooth_landmarks)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(calibrate(measurements, args.smooth_landmarks), indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
