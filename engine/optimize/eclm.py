"""``engine optimize eclm``: error-constrained layer merging (FastHMR, Algorithm 1).

Adjacent same-shaped layers are merged into one (``engine.layer_merging``) while the error on
a calibration split grows by no more than ``tau`` millimetres over the unmerged model's: from
the first layer on, the layer is merged with the next one; a merge that keeps the error within
``tau`` stays (and the merged layer is tried with its next one), one that does not is undone
and the search moves on. The calibration split is the prepared folder's validation split (the
test split stays for scoring): for a lifter, MPJPE of its answers to the validation mocap
windows with realistic 2D (``engine.eval.lift``); for the decoder, the mean distance of its
one-step decode's 24 points from the motion's on validation windows whose conditions are the
joints made to look lifted (``engine.train.decoder``). The speed-up is the model's forward on
one window before and after, timed alternately on the CPU (medians).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from engine.bench.timing import alternate_ms
from engine.layer_merging import Span


def merge_layers(model: nn.Module, error: Callable[[nn.Module], float], tau_mm: float) -> tuple[nn.Module, dict]:
    """The model with layers merged while ``error`` (mm) stays within ``tau_mm`` of its own
    (module docstring), and what was tried. ``model`` has ``layers`` and ``merged(spans)``."""
    spans: list[Span] = [(i, i + 1) for i in range(model.layers)]
    base = error(model)
    best, tried, i = model, [], 0
    while i < len(spans) - 1:
        candidate = [*spans[:i], (spans[i][0], spans[i + 1][1]), *spans[i + 2 :]]
        try:
            merged = model.merged(candidate)
        except ValueError as e:  # a span the model cannot merge (HoT: across its pruning)
            tried.append({"spans": candidate, "skipped": str(e)})
            i += 1
            continue
        grown = error(merged) - base
        tried.append({"spans": candidate, "error_increase_mm": round(grown, 3), "accepted": grown <= tau_mm})
        if grown <= tau_mm:
            spans, best = candidate, merged
        else:
            i += 1
    return best, {"tau_mm": tau_mm, "layers_before": model.layers, "layers_after": len(spans), "spans": spans, "tried": tried}


def _lifter(model_name: str) -> tuple[nn.Module, str]:
    from engine.lifting.registry import LIFTERS
    from engine.lifting.weights import load_shipped, load_weights

    if model_name in LIFTERS:
        return load_shipped(model_name), model_name
    return load_weights(model_name), Path(model_name).stem


def optimize_lifter(model_name: str, data: Path, tau_mm: float, out: Path, workers: int = 2) -> dict:
    """ECLM on a lifter (a registered name or a weights file): merged weights, card and report in ``out``."""
    from engine.eval.lift import evaluate_lifter
    from engine.lifting.inference import SequenceLifter

    model, name = _lifter(model_name)
    if not hasattr(model, "merged"):
        raise ValueError(f"{model_name}: a {model.card['architecture']} lifter has no layers to merge (HoT has)")
    evaluations = {}

    def error(candidate: nn.Module) -> float:
        candidate.card = model.card
        results = evaluate_lifter(SequenceLifter(candidate, name), name, data, frames=candidate.window, workers=workers, split="validation")
        evaluations[candidate.layers] = results["mpjpe_mm"]
        return results["mpjpe_mm"]

    merged, search = merge_layers(model, error, tau_mm)
    keypoints = torch.rand(1, model.window, 17, model.config.in_chans)
    speed = alternate_ms({"before": lambda: model(keypoints), "after": lambda: merged(keypoints)})
    # The card's test scores were the unmerged model's; the report says what merging cost.
    card = {k: v for k, v in model.card.items() if k not in ("weights_file", "test_metrics")} | {"config": merged.config.to_dict()}
    return _write(
        merged, card, name, out, search, error_before=evaluations[model.layers], error_after=evaluations[merged.layers], speed=speed
    )


def optimize_decoder(model_name: str, data: Path, tau_mm: float, out: Path) -> dict:
    """ECLM on the decoder's denoiser (a solver name or a weights file): merged weights, card and
    report in ``out``."""
    from torch.utils.data import DataLoader

    from engine.data.pose_windows import PoseWindows
    from engine.solving.decoder import DECODER_WEIGHTS, load_decoder
    from engine.train.decoder import mean_point_error_mm

    path = Path(model_name) if model_name not in DECODER_WEIGHTS else None
    decoder = load_decoder(DECODER_WEIGHTS[model_name]) if path is None else _decoder_file(path)
    name = DECODER_WEIGHTS.get(model_name) or path.stem
    windows = PoseWindows(data, "validation", frames=decoder.window, stride=decoder.window, conditions=True)
    batches = list(DataLoader(windows, batch_size=32))

    def error(denoiser: nn.Module) -> float:
        model = decoder.with_denoiser(denoiser).eval()
        with torch.no_grad():
            return mean_point_error_mm(batches, lambda b: model(b["conditions"]), torch.device("cpu"))

    error_before = error(decoder.denoiser)
    merged, search = merge_layers(decoder.denoiser, error, tau_mm)
    after = decoder.with_denoiser(merged).eval()
    conditions = torch.randn(1, decoder.window, decoder.denoiser.config.conditions)
    speed = alternate_ms({"before": lambda: decoder(conditions), "after": lambda: after(conditions)})
    card = json.loads((path or _shipped_card(name)).with_suffix(".json").read_text())
    card["config"] = after.card()["config"]
    return _write(after, card, name, out, search, error_before=error_before, error_after=error(merged), speed=speed)


def _decoder_file(path: Path):
    from engine.decoding.decoder import MotionDecoder

    model = MotionDecoder.from_card(json.loads(path.with_suffix(".json").read_text()))
    model.load_state_dict(torch.load(path, map_location="cpu"))
    return model.eval()


def _shipped_card(name: str) -> Path:
    from engine.decoding.registry import WEIGHTS_DIR

    return WEIGHTS_DIR / f"{name}.json"


def _write(model: nn.Module, card: dict, name: str, out: Path, search: dict, error_before: float, error_after: float, speed: dict) -> dict:
    report = {
        "model": name,
        **search,
        "calibration": "validation split",
        "error_before_mm": round(error_before, 2),
        "error_after_mm": round(error_after, 2),
        "ms_per_window_before": round(speed["before"], 3),
        "ms_per_window_after": round(speed["after"], 3),
        "speed_up": round(speed["before"] / speed["after"], 3),
        "threads": torch.get_num_threads(),
    }
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}-eclm.pt"
    torch.save(model.state_dict(), weights)
    weights.with_suffix(".json").write_text(json.dumps({**card, "name": f"{name}-eclm", "eclm": report}, indent=1))
    (out / f"{name}-eclm-report.json").write_text(json.dumps(report, indent=1))
    return report | {"weights": str(weights)}
