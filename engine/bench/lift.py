"""`engine bench lift`: HoT against the unpruned model of the same size, measured in one run,
and the single-frame lifter's (HTNet's) latency.

FLOPs per window come from ``torch.utils.flop_counter``; throughput is frames per second of
batched windows on this machine's CPU, the two models timed alternately so that load on the
machine hits both alike; accuracy is each model's MPJPE on the test split (realistic 2D) when
trained weights of both ship. A long clip (18,000 frames, ten minutes at 30 fps) is lifted in
one call and the process's peak memory is reported. The single-frame lifter, as live capture
uses it, lifts one frame at a time (batch 1, with the flip test as captures do, after warm-up):
the median and 95th-percentile milliseconds per frame, and its MPJPE beside the others'.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from engine.lifting.hot import HoT, HoTConfig
from engine.lifting.htnet import HTNet, HTNetConfig
from engine.lifting.inference import SequenceLifter, lift_sequence
from engine.lifting.registry import lifter_entry
from engine.lifting.streaming import run_model
from engine.lifting.weights import load_shipped


def gflops(model: HoT, batch: int = 1) -> float:
    """Forward GFLOPs of one batch of windows."""
    x = torch.randn(batch, model.config.frames, model.config.joints, model.config.in_chans)
    # Not under no_grad: FlopCounterMode's module tracker needs the autograd graph; only the
    # forward pass is counted either way.
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def frames_per_second(models: dict[str, HoT], batch: int = 16, rounds: int = 5) -> dict[str, float]:
    """CPU throughput (output frames/s) of each model, timed alternately round by round."""
    seconds = {name: [] for name in models}
    for round_ in range(rounds + 1):
        for name, model in models.items():
            x = torch.randn(batch, model.config.frames, model.config.joints, model.config.in_chans)
            with torch.no_grad():
                started = time.perf_counter()
                model(x)
                if round_:  # the first round warms up
                    seconds[name].append(time.perf_counter() - started)
    return {name: batch * models[name].config.frames / float(np.median(s)) for name, s in seconds.items()}


def long_clip(model: HoT, frames: int = 18_000) -> dict[str, float]:
    """Lift ``frames`` frames of 2D in one call; seconds and peak resident memory (MB)."""
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(-0.5, 0.5, (frames, 17, 2)), np.ones((frames, 17, 1))], -1)
    started = time.perf_counter()
    out = lift_sequence(model, keypoints)
    assert out.shape == (frames, 17, 3)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"long_clip_frames": frames, "long_clip_seconds": time.perf_counter() - started, "peak_memory_mb": peak_mb}


def frame_latency(model: torch.nn.Module, frames: int = 300, warm_up: int = 20) -> dict[str, float]:
    """Milliseconds to lift one frame (batch 1, flip test on, as captures and live capture lift):
    the median and the 95th percentile of ``frames`` frames after ``warm_up``."""
    seconds = []
    rng = np.random.default_rng(0)
    for i in range(warm_up + frames):
        x = torch.from_numpy(np.concatenate([rng.uniform(-0.5, 0.5, (1, 1, 17, 2)), np.ones((1, 1, 17, 1))], -1)).float()
        started = time.perf_counter()
        run_model(model, x, flip_test=True)
        if i >= warm_up:
            seconds.append(time.perf_counter() - started)
    return {"frame_ms_median": 1000 * float(np.median(seconds)), "frame_ms_p95": 1000 * float(np.percentile(seconds, 95))}


def bench_lift(hot: str = "hot", unpruned: str = "mixste", data: Path | None = None, threads: int = 2, single: str = "htnet") -> dict:
    """The benchmark (module docstring) of the registered lifters ``hot`` and ``unpruned``
    (:mod:`engine.lifting.registry`), and of the single-frame lifter ``single``, with their
    shipped weights, else random weights at the default size."""
    torch.set_num_threads(threads)
    have = {name: lifter_entry(name).weights_path.is_file() for name in (hot, unpruned, single)}
    hot_model = load_shipped(hot) if have[hot] else HoT(HoTConfig()).eval()
    config = hot_model.config
    plain = load_shipped(unpruned) if have[unpruned] else HoT(config.unpruned()).eval()
    if plain.config != config.unpruned():
        raise ValueError(f"{unpruned} is not {hot} with pruning off")
    fps = frames_per_second({"hot": hot_model, "unpruned": plain})
    results = {
        "threads": threads,
        "config": config.to_dict(),
        "hot_weights": hot if have[hot] else "random (none shipped)",
        "unpruned_weights": unpruned if have[unpruned] else "random (none shipped)",
        "hot_fps": fps["hot"],
        "unpruned_fps": fps["unpruned"],
        "speedup": fps["hot"] / fps["unpruned"],
        "hot_gflops": gflops(hot_model) / config.frames,
        "unpruned_gflops": gflops(plain) / config.frames,
        "gflops_are": "per output frame",
        # how each was trained: the accuracy check compares models trained the same way
        "hot_training_steps": hot_model.card["steps"] if have[hot] else None,
        "unpruned_training_steps": plain.card["steps"] if have[unpruned] else None,
        "hot_mpjpe_mm": None,
        "unpruned_mpjpe_mm": None,
        "mpjpe_ratio": None,
    }
    single_model = load_shipped(single) if have[single] else HTNet(HTNetConfig()).eval()
    results |= {
        "single_frame_lifter": single if have[single] else "random (none shipped)",
        "single_frame_parameters": sum(p.numel() for p in single_model.parameters()),
        **{f"single_{key}": value for key, value in frame_latency(single_model).items()},
        "single_mpjpe_mm": None,
    }
    if data is not None:
        from engine.eval.lift import evaluate_lifter

        if have[hot] and have[unpruned]:
            for key, name, model in (("hot", hot, hot_model), ("unpruned", unpruned, plain)):
                results[f"{key}_mpjpe_mm"] = evaluate_lifter(SequenceLifter(model, name), name, data)["mpjpe_mm"]
            results["mpjpe_ratio"] = results["hot_mpjpe_mm"] / results["unpruned_mpjpe_mm"]
        if have[single]:
            results["single_mpjpe_mm"] = evaluate_lifter(SequenceLifter(single_model, single), single, data)["mpjpe_mm"]
    results.update(long_clip(hot_model))
    return results
