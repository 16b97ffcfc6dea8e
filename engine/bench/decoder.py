"""`engine bench decoder`: the decoder's one-step decode against the lifter on the same window.

Both are timed alternately on the CPU (after warm-up), so that load on the machine hits both
alike, each given ``batch`` windows at once: the lifter (its own windows of 2D keypoints, e.g.
``hot``'s 81 frames) and the decoder's whole answer for windows of as many frames (the
denoiser's ``steps`` DDIM steps and the VAE's decoder; the IK is not included, it is the same
for both solvers). Reports the medians per window (``lifter_ms_per_window``,
``decoder_ms_per_window``) and their ratio, with the analytic IK's time for one window beside
them. Batch 1 is a stream's window as it comes; a capture's final pass decodes a clip's windows
32 at a time (``engine.solving.decoder.DECODE_BATCH``), as the lifter lifts them. The two differ
by more than the arithmetic: the decoder does about 2 % of the lifter's multiply-adds, in layers
so small that at batch 1 the CPU spends most of their time on per-call overheads.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.bench.timing import alternate_ms
from engine.body.skeleton import default_rest_joints
from engine.decoding.decoder import MotionDecoder
from engine.decoding.features import CONDITIONS
from engine.lifting.weights import load_shipped
from engine.solving.decoder import DECODER_WEIGHTS, load_decoder
from engine.solving.ik import IKSolver


def bench_decoder(
    solver: str = "decoder",
    lifter: str = "hot",
    steps: int = 1,
    rounds: int = 30,
    threads: int = 2,
    batch: int = 1,
    model: MotionDecoder | None = None,
) -> dict:
    """Milliseconds per window of ``lifter`` and of the decoder of ``solver`` (module docstring)."""
    torch.set_num_threads(threads)
    decoder = model or load_decoder(DECODER_WEIGHTS[solver])
    lifting = load_shipped(lifter).eval()
    frames = decoder.window
    keypoints = torch.rand(batch, lifting.window, 17, 3)
    conditions = torch.randn(batch, frames, CONDITIONS)
    world = np.random.default_rng(0).normal(0.0, 0.3, (frames, 17, 3))
    ms = alternate_ms(
        {
            "lifter": lambda: lifting(keypoints),
            "decoder": lambda: decoder(conditions, steps=steps),
            "ik": lambda: IKSolver(default_rest_joints(), 30.0).extend(world, complete=True),
        },
        rounds,
    )
    lifter_ms, decoder_ms = ms["lifter"] / batch, ms["decoder"] / batch
    return {
        "solver": solver,
        "lifter": lifter,
        "lifter_window_frames": lifting.window,
        "decoder_window_frames": frames,
        "steps": steps,
        "batch": batch,
        "threads": threads,
        "rounds": rounds,
        "lifter_ms_per_window": lifter_ms,
        "decoder_ms_per_window": decoder_ms,
        "decoder_over_lifter": decoder_ms / lifter_ms,
        "ik_ms_per_window": ms["ik"],
    }
