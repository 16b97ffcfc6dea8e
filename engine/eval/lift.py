"""``engine eval lift`` and ``engine eval motion``: one honest way to measure accuracy.

Lifters are scored on the test split of a prepared folder (``engine data prepare``), or on
a folder of BVH files, prepared on the fly with every clip in the test split. Windows do not
overlap, so every frame counts once; cameras and detector noise are drawn from a fixed seed,
so two lifters see exactly the same inputs. Errors are over real, glitch-free frames
(padding and glitches masked out); acceleration error is over windows with no masked frame.
MPJPE and PA-MPJPE are also given per source dataset (the part of a clip's licence before the
colon), since a lifter trained on one source is partly scored out of its domain.
:func:`record_test_metrics` writes the scores into a model card the caller names
(``engine eval lift --card FILE``); nothing here writes anywhere else.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.body.skeleton import default_rest_joints
from engine.data.dataset import MocapWindows, Noise
from engine.eval import metrics
from engine.io.staging import staged
from engine.motion import Motion
from engine.timeseries import interpolate

MM = 1000.0


def _test_windows(
    data: Path, frames: int, noise: Noise, seed: int, workers: int, rotations: bool = False, split: str = "test"
) -> tuple[MocapWindows, tempfile.TemporaryDirectory | None]:
    options = dict(frames=frames, stride=frames, noise=noise, fixed=True, seed=seed, rotations=rotations)
    if (data / "clips.json").is_file():
        return MocapWindows(data, split, **options), None
    if split != "test":
        raise ValueError(f"{data}: only a prepared folder (engine data prepare) has a {split} split")
    from engine.data.prepare import prepare

    scratch = tempfile.TemporaryDirectory(prefix="engine-eval-")
    prepare(data, Path(scratch.name), workers=max(workers, 1), force_split="test")
    return MocapWindows(scratch.name, "test", **options), scratch


def evaluate_lifter(
    lifter,
    model: str,
    data: Path,
    noise: Noise = "realistic",
    frames: int = 243,
    seed: int = 0,
    workers: int = 2,
    solver: str | None = None,
    split: str = "test",
) -> dict:
    """Every metric of ``lifter`` (see :mod:`engine.lifting`) on ``data``'s test windows (or
    another ``split``'s), and, with ``solver``, that solver's on the lifter's answers
    (:mod:`engine.eval.solve`)."""
    dataset, scratch = _test_windows(Path(data), frames, noise, seed, workers, rotations=solver is not None, split=split)
    preds, truths, masks, solver_truth = [], [], [], []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=16, num_workers=workers):
            preds.append(lifter(batch["keypoints"]).numpy())
            truths.append(batch["joints"].numpy())
            masks.append(batch["mask"].numpy())
            solver_truth.append(
                {
                    key: batch[key].numpy()
                    for key in ("poses", "contacts", "world_root", "camera_rotation", "keypoints", "camera")
                    if key in batch
                }
            )
    if scratch is not None:
        scratch.cleanup()
    pred, truth, mask = np.concatenate(preds), np.concatenate(truths), np.concatenate(masks)
    p, t = pred[mask], truth[mask]  # (N, 17, 3) real frames
    whole = mask.all(axis=1)
    sources = np.array([dataset.clips[clip]["licence"].split(":")[0] for clip, *_ in dataset.windows])
    by_dataset = {}
    for source in sorted(set(sources)):
        picked = mask & (sources == source)[:, None]
        ps, ts = pred[picked], truth[picked]
        by_dataset[source] = {"frames": len(ps), "mpjpe_mm": metrics.mpjpe(ps, ts) * MM, "pa_mpjpe_mm": metrics.pa_mpjpe(ps, ts) * MM}
    results = {
        "model": model,
        "data": str(data),
        "split": split,
        "noise": noise,
        "seed": seed,
        "window_frames": frames,
        "windows": len(dataset),
        "frames": int(mask.sum()),
        "mpjpe_mm": metrics.mpjpe(p, t) * MM,
        "n_mpjpe_mm": metrics.n_mpjpe(p, t) * MM,
        "pa_mpjpe_mm": metrics.pa_mpjpe(p, t) * MM,
        "end_joint_mpjpe_mm": metrics.end_joint_mpjpe(p, t, H36M17) * MM,
        "accel_error_mm": metrics.accel_error(pred[whole], truth[whole]) * MM if whole.any() else float("nan"),
        "bone_length_std_mm": metrics.bone_length_std(pred[whole], H36M17.parents) * MM if whole.any() else float("nan"),
        "per_joint_mm": dict(zip(H36M17.names, (metrics.per_joint_error(p, t) * MM).round(2).tolist())),
        "by_dataset": by_dataset,
    }
    if solver is not None:
        from engine.eval.solve import evaluate_solver

        stacked = {key: np.concatenate([part[key] for part in solver_truth]) for key in solver_truth[0]}
        results["solve"] = evaluate_solver(solver, pred, stacked, mask) | {"raw_accel_error_mm": results["accel_error_mm"]}
    return results


def read_card(card_path: str | Path) -> dict:
    """The model card at ``card_path``; ValueError says why the file is not one (missing, not
    JSON, not a JSON object)."""
    card_path = Path(card_path)
    if not card_path.is_file():
        raise ValueError(
            f"{card_path}: no such file (give the model card to record the scores in, e.g. engine/lifting/weights/hot_world.json)"
        )
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{card_path}: not a model card ({e})") from None
    if not isinstance(card, dict):
        raise ValueError(f"{card_path}: not a model card (a JSON object)")
    return card


def record_test_metrics(card_path: str | Path, results: dict) -> Path:
    """Write ``results`` (:func:`evaluate_lifter`'s, for one kind of 2D noise) into the model card
    at ``card_path`` (:func:`read_card`), under ``test_metrics`` and the noise's name, keeping the
    rest of the card and the other kinds of noise; returns the card's path."""
    card_path = Path(card_path)
    card = read_card(card_path)
    card.setdefault("test_metrics", {})[results["noise"]] = results
    with staged(card_path.parent) as stage:  # a failed write leaves the card as it was
        stage(card_path.name).write_text(json.dumps(card, indent=1) + "\n")
    return card_path


def _joints(motion: Motion) -> np.ndarray:
    if motion.joints is not None:
        return motion.joints.astype(np.float64)
    joints, _ = forward_kinematics_np(motion.poses.reshape(-1, 24, 3), default_rest_joints(), motion.trans)
    return joints


def compare_motions(pred: Motion, truth: Motion) -> dict:
    """Metrics of ``pred`` against ``truth`` on SMPL24 joints (their ``joints``, else FK on the
    default skeleton): ``pred`` is resampled to ``truth``'s frame times (linear), both are cut
    to the frames they share, and joint errors are root-aligned (pelvis subtracted per frame);
    the root trajectory error is measured after aligning the first frames' pelvises."""
    p, t = _joints(pred), _joints(truth)
    times_p, times_t = np.arange(len(p)) / pred.fps, np.arange(len(t)) / truth.fps
    keep = times_t <= times_p[-1] + 1e-9
    times_t, t = times_t[keep], t[keep]
    p = interpolate(p, times_p, times_t)
    pr, tr = metrics.root_relative(p), metrics.root_relative(t)
    trajectory = (p[:, 0] - p[0, 0]) - (t[:, 0] - t[0, 0])
    return {
        "frames": len(t),
        "fps": truth.fps,
        "alignment": "pred resampled to the ground truth's frame times; joints root-aligned per frame",
        "mpjpe_mm": metrics.mpjpe(pr, tr) * MM,
        "pa_mpjpe_mm": metrics.pa_mpjpe(pr, tr) * MM,
        "n_mpjpe_mm": metrics.n_mpjpe(pr, tr) * MM,
        "end_joint_mpjpe_mm": metrics.end_joint_mpjpe(pr, tr, SMPL24) * MM,
        "accel_error_mm": metrics.accel_error(pr, tr) * MM if len(t) >= 3 else float("nan"),
        "root_trajectory_error_mm": float(np.linalg.norm(trajectory, axis=-1).mean() * MM),
        "jitter_pred_m_s3": metrics.jitter(p, truth.fps) if len(t) >= 4 else float("nan"),
        "jitter_truth_m_s3": metrics.jitter(t, truth.fps) if len(t) >= 4 else float("nan"),
    }
