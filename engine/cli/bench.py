"""``engine bench``: speed and memory measured in one run, of the lifters (``lift``), the
decoder (``decoder``), the frames channel (``frames``), one capture (``pipeline``) and batches
of captures (``batch``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.cli.common import DEFAULTS, JsonOption, command_group, fail, lifter_choices, report
from engine.lifting.registry import LIFTERS
from engine.solving import SOLVERS

app = command_group("Benchmarks: speed and memory, measured in one run.")


@app.command("lift")
def bench_lift_command(
    data: Annotated[Optional[Path], typer.Option(help="Prepared folder whose test split scores both models (needs both trained).")] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    lifter: Annotated[str, typer.Option(help=f"The pruned lifter. {lifter_choices()}.")] = "hot",
    baseline: Annotated[str, typer.Option(help="The unpruned lifter of the same size to compare it with.")] = "mixste",
    json_out: JsonOption = None,
) -> None:
    """HoT vs the unpruned model of the same size: GFLOPs, CPU frames/s, MPJPE; an 18,000-frame lift; and HTNet's milliseconds per frame, one at a time."""
    from engine.bench.lift import bench_lift

    for option, name in (("--lifter", lifter), ("--baseline", baseline)):
        if name not in LIFTERS:
            raise fail(f"{option}: choose from {', '.join(LIFTERS)}, got {name!r}")
    report(bench_lift(lifter, baseline, data=data, threads=threads), f"{lifter} vs unpruned {baseline} (same size)", json_out)


@app.command("decoder")
def bench_decoder_command(
    solver: Annotated[str, typer.Option(help="The decoder: decoder or decoder-free.")] = "decoder",
    lifter: Annotated[str, typer.Option(help=f"The lifter in front of it. {lifter_choices()}.")] = "hot",
    steps: Annotated[int, typer.Option(help="DDIM steps of the decode.")] = 1,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    batch: Annotated[
        int,
        typer.Option(help="Windows given to each at once (1: a stream's window as it comes; a capture's final pass decodes 32).", min=1),
    ] = 1,
    json_out: JsonOption = None,
) -> None:
    """The decoder's decode of a window against the lifter's lift of the same window, timed alternately in one run (docs/decoder.md)."""
    from engine.bench.decoder import bench_decoder
    from engine.solving.decoder import DECODER_WEIGHTS

    if solver not in DECODER_WEIGHTS:
        raise fail(f"--solver: choose from {', '.join(DECODER_WEIGHTS)}, got {solver!r}")
    if lifter not in LIFTERS:
        raise fail(f"--lifter: choose from {', '.join(LIFTERS)}, got {lifter!r}")
    try:
        results = bench_decoder(solver, lifter, steps=steps, threads=threads, batch=batch)
    except FileNotFoundError as e:
        raise fail(e) from None
    report(results, f"{solver} ({steps} step) vs {lifter}, per window in batches of {batch}", json_out)


@app.command("frames")
def bench_frames_command(
    frames: Annotated[int, typer.Option(help="Motion frames to send.")] = 120_000,
    json_out: JsonOption = None,
) -> None:
    """Frames per second through the engine's frames channel (server socket to client, over TCP loopback)."""
    from engine.bench.frames import bench_frames

    report(bench_frames(frames), "frames channel", json_out)


@app.command("pipeline")
def bench_pipeline_command(
    clip: Annotated[Path, typer.Argument(help="A video to capture (for the real-time target: 720p, 30 fps).")],
    solver: Annotated[
        Optional[list[str]],
        typer.Option(
            metavar="NAME",
            help=f"A solver to capture with ({', '.join(SOLVERS)}); give it twice (--solver ik --solver decoder) to compare them in one run, the first as the base.",
        ),
    ] = None,
    json_out: JsonOption = None,
) -> None:
    """Per-stage frames/s and the real-time factor of one capture; motion quality with and without foot locking; what other solvers add."""
    from engine.bench.pipeline import bench_pipeline
    from engine.solving.decoder import DECODER_WEIGHTS, load_decoder

    solvers = tuple(solver or [DEFAULTS.solver])
    for name in solvers:
        if name not in SOLVERS:
            raise fail(f"--solver: choose from {', '.join(SOLVERS)}, got {name!r}")
        try:
            if name in DECODER_WEIGHTS:
                load_decoder(DECODER_WEIGHTS[name])  # before minutes of capture, not after
        except FileNotFoundError as e:
            raise fail(e) from None
    report(bench_pipeline(clip, solvers=solvers), f"capture of {clip.name}", json_out)


@app.command("batch")
def bench_batch_command(
    source: Annotated[Path, typer.Argument(help="A video to cut the clips from.")] = Path(
        "examples/pexels_2795750_man_dancing_on_rooftop.mp4"
    ),
    clips: Annotated[int, typer.Option(help="Clips in the batch.")] = 6,
    frames: Annotated[int, typer.Option(help="Frames per clip (640x360).")] = 75,
    tiny: Annotated[int, typer.Option(help="Tiny clips (2 frames, 64x64, nobody in them) for the Ray driver's peak memory.")] = 1000,
    ray: Annotated[
        str, typer.Option("--ray", metavar="ADDRESS", help="The cluster for the --ray runs (local: a Ray started here).")
    ] = "local",
    json_out: JsonOption = None,
) -> None:
    """Clips per minute of engine mocap with --workers 1, --workers 2 and --ray; the Ray driver's peak memory on many tiny clips."""
    from engine.bench.batch import bench_batch

    report(
        bench_batch(source, clips, frames, tiny, ray),
        f"engine mocap on {clips} clips of {frames} frames ({os.cpu_count()} cores)",
        json_out,
    )
