"""``engine eval``: accuracy of a lifter on mocap (``lift``), of one motion against another
(``motion``), and of the whole pipeline on rendered clips (``video``)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Column, Table

from engine.cli.common import (
    DEFAULTS,
    JsonOption,
    LifterWeightsOption,
    check_lifter_weights,
    command_group,
    console,
    fail,
    lifter_choices,
    report,
    solver_choices,
)
from engine.lifting.registry import LIFTERS, capture_lifters
from engine.pipeline.settings import Settings
from engine.solving import AUTO, SOLVERS

app = command_group("Measure accuracy: lifters on mocap, or one motion against another.")


class NoiseKind(str, Enum):
    clean = "clean"
    realistic = "realistic"


@app.command("lift")
def eval_lift(
    data: Annotated[Path, typer.Argument(help="A prepared folder (its test split) or a folder of BVH files (all of it).")],
    lifter_name: Annotated[
        str, typer.Option("--lifter", metavar="NAME", help=f"Lifter to score, with its shipped weights. {lifter_choices()}.")
    ] = "",
    lifter_weights: LifterWeightsOption = None,
    noise: Annotated[NoiseKind, typer.Option(help="2D input: exact projections, or with calibrated detector noise.")] = NoiseKind.realistic,
    window: Annotated[
        int, typer.Option("--window", metavar="N", help="Window length in frames: the test clips are cut into windows of N frames.")
    ] = 243,
    seed: Annotated[int, typer.Option(help="Seed of the cameras and the noise.")] = 0,
    solver: Annotated[
        Optional[str],
        typer.Option(
            help=f"Also score this solver on the lifter's answers (rotations, contacts, smoothness; docs/decoder.md): {', '.join(SOLVERS)}."
        ),
    ] = None,
    json_out: JsonOption = None,
    card: Annotated[
        Optional[Path],
        typer.Option(
            "--card",
            metavar="FILE",
            help="Also record the scores in the model card FILE "
            "(test_metrics, by kind of noise); a shipped lifter's card is engine/lifting/weights/NAME.json.",
        ),
    ] = None,
) -> None:
    """Score a 3D lifter on mocap seen by random virtual cameras (same cameras for every model).

    Writes nothing but the --json report and, when given, the scores into the --card FILE."""
    from engine.eval.lift import evaluate_lifter, read_card, record_test_metrics
    from engine.lifting import load_lifter
    from engine.lifting.inference import SequenceLifter

    if not data.is_dir():
        raise fail(f"{data}: not a folder")
    if bool(lifter_name) == bool(lifter_weights):
        raise fail("give --lifter NAME (a shipped lifter) or --lifter-weights FILE, one of them")
    if lifter_name and lifter_name not in LIFTERS:
        raise fail(f"--lifter: unknown lifter {lifter_name!r}; choose from {lifter_choices()}")
    try:
        card_document = read_card(card) if card is not None else None
    except ValueError as e:
        raise fail(f"--card: {e}") from None
    if lifter_weights is not None:
        loaded = check_lifter_weights(lifter_weights)
        model, lifter, model_card = str(lifter_weights), SequenceLifter(loaded, lifter_weights.stem), getattr(loaded, "card", {})
    else:
        model, lifter, model_card = lifter_name, load_lifter(lifter_name), LIFTERS[lifter_name].card
    named, expected = (card_document or {}).get("name"), model_card.get("name")
    if named and expected and named != expected:  # the scores of one model in another's card
        raise fail(f"--card: {card} is the card of {named!r}, not of {model!r} (whose card is {expected!r})")
    if solver is not None and solver not in SOLVERS:
        raise fail(f"--solver: unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
    try:
        results = evaluate_lifter(lifter, model, data, noise=noise.value, frames=window, seed=seed, solver=solver)
    except FileNotFoundError as e:  # a solver without trained weights says how to get them
        raise fail(e) from None
    report(results, f"{model} on {data} ({noise.value} 2D)", json_out)
    if card is not None:
        console.print(f"recorded in {record_test_metrics(card, results)}")


@app.command("motion")
def eval_motion(
    pred: Annotated[Path, typer.Argument(metavar="PRED.npz", help="The motion to score.")],
    truth: Annotated[Path, typer.Argument(metavar="GT.npz", help="The ground truth.")],
    json_out: JsonOption = None,
) -> None:
    """Compare two Motion files: PRED resampled to GT's frame times, joints root-aligned per frame."""
    from engine.eval.lift import compare_motions
    from engine.motion import Motion, MotionFileError

    try:
        results = compare_motions(Motion.load(pred), Motion.load(truth))
    except MotionFileError as e:
        raise fail(e) from None
    report(results, f"{pred.name} vs {truth.name}", json_out)


@app.command("video")
def eval_video(
    data: Annotated[Path, typer.Argument(help="A rendered corpus (engine data render), or one of its clips/SPLIT folders.")],
    lifter_name: Annotated[
        str, typer.Option("--lifter", metavar="NAME", help=f"Lifter of the captures. {lifter_choices(capture_lifters())}.")
    ] = DEFAULTS.lifter,
    lifter_weights: LifterWeightsOption = None,
    solver: Annotated[str, typer.Option("--solver", metavar="NAME", help=f"Solver of the captures: {solver_choices()}.")] = AUTO,
    clips: Annotated[Optional[int], typer.Option("--clips", metavar="N", min=1, help="Score only the first N clips.")] = None,
    stored_2d: Annotated[
        bool, typer.Option("--stored-2d", help="Give the pipeline the 2D detections the corpus stored instead of detecting again.")
    ] = False,
    true_fov: Annotated[
        bool,
        typer.Option("--true-fov", help="Give each capture its clip's true field of view (default: the capture's own, as engine mocap)."),
    ] = False,
    json_out: JsonOption = None,
) -> None:
    """The whole pipeline on rendered clips with ground truth, beside mediapipe's world landmarks
    and the pipeline fed the exact 2D (docs/evaluation.md): per clip, per motion family, overall."""
    import json

    from engine.eval.video import METHODS, clip_files, evaluate_video

    if lifter_weights is not None:
        check_lifter_weights(lifter_weights)
    try:
        settings = Settings(lifter=lifter_name, solver=solver, lifter_weights=str(lifter_weights.resolve()) if lifter_weights else "")
        count = len(clip_files(data)[:clips])
    except ValueError as e:
        raise fail(e) from None
    done = 0

    def on_clip(clip: dict) -> None:
        nonlocal done
        done += 1
        scores = ", ".join(f"{m} {clip[m]['pa_mpjpe_mm']:.1f}" for m in METHODS if "pa_mpjpe_mm" in clip[m])
        failed = "".join(f"; {m} failed: {why}" for m, why in clip["failed"].items())
        console.print(
            f"[{done}/{count}] {clip['clip']} ({clip['family']}, {clip['frames']} frames): PA-MPJPE mm {scores}{failed}", highlight=False
        )

    try:
        results = evaluate_video(data, settings, clips=clips, stored_2d=stored_2d, true_fov=true_fov, on_clip=on_clip)
    except FileNotFoundError as e:  # a solver without trained weights says how to get them
        raise fail(e) from None
    headers = [Column(f"PA-MPJPE\n{m.replace('_', ' ')}", justify="right") for m in METHODS]
    table = Table("", "clips", Column("frames", justify="right"), *headers, Column("pipeline /\nmediapipe", justify="right"))
    table.title = "by motion family (mm)"
    for name, group in [("overall", results["overall"]), *results["by_family"].items()]:
        values = [group[m].get("pa_mpjpe_mm", float("nan")) for m in METHODS]
        ratio = group["pa_mpjpe_pipeline_over_mediapipe"]
        table.add_row(name, str(group["clips"]), str(group["frames"]), *(f"{v:.1f}" for v in values), f"{ratio:.2f}")
    console.print(table)
    shown = {key: value for key, value in results.items() if key not in ("by_family", "per_clip")}
    report(shown, f"{settings.lifter} + {settings.solver} on {data}", None)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=1) + "\n")
        console.print(f"wrote {json_out} (per clip, per family, overall)")
