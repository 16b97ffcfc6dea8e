"""``engine mocap``: videos and photos captured into motion files, on this machine (one process
or several) or on a Ray cluster, with the batch's summary."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Column, Table

from engine.cli.common import DEFAULTS, LifterWeightsOption, SmplOption, check_lifter_weights, console, fail, lifter_choices, solver_choices
from engine.io import FORMATS
from engine.lifting.registry import capture_lifters
from engine.pipeline.settings import ORIGINS, Settings, split_cores
from engine.solving import AUTO


def mocap(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Videos (mp4, mov, avi, mkv, webm, gif), photos (jpg, png, webp, heic...: one frame each; animated webp or png are videos), or folders of both (searched recursively)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    formats: Annotated[str, typer.Option(help="Files to write, comma-separated: npz, bvh, fbx.")] = "npz,bvh,fbx",
    lifter: Annotated[str, typer.Option(help=f"3D lifter. {lifter_choices(capture_lifters())}.")] = DEFAULTS.lifter,
    solver: Annotated[str, typer.Option(help=f"What turns 3D joints into SMPL rotations: {solver_choices()}.")] = AUTO,
    steps: Annotated[
        int, typer.Option(help="The decoder's sampling (DDIM) steps; 1 is the trained one-step decode. Deterministic.")
    ] = DEFAULTS.steps,
    fov: Annotated[
        float, typer.Option(help="Camera field of view across the frame's long side, degrees (69 = a phone's main camera).")
    ] = DEFAULTS.fov_deg,
    smooth: Annotated[float, typer.Option(help="Smoothing of the root trajectory (Gaussian sigma, frames; 0 = none).")] = DEFAULTS.smooth,
    foot_lock: Annotated[float, typer.Option(help="Foot locking strength, 0-1 (0: planted feet may slide).")] = DEFAULTS.foot_lock,
    no_foot_lock: Annotated[bool, typer.Option("--no-foot-lock", hidden=True, help="Old spelling of --foot-lock 0.")] = False,
    keep_empty: Annotated[
        bool,
        typer.Option(
            "--keep-empty",
            help="Keep the frames before the person is first seen and after they are last seen (holding the nearest pose seen, confidence 0); by default the motion starts and ends with the person.",
        ),
    ] = DEFAULTS.keep_empty,
    origin: Annotated[
        str,
        typer.Option(
            help=f"The world's origin, one of {', '.join(ORIGINS)}: first-frame (the first frame's root at x = z = 0, facing +z, on the floor) or camera (on the floor below the camera, +z where it looks)."
        ),
    ] = DEFAULTS.origin,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview",
            help="Also write NAME.preview.mp4: the 2D skeleton on the video beside a side view of the 3D motion (the body mesh with an SMPL model).",
        ),
    ] = False,
    lifter_weights: LifterWeightsOption = None,
    smpl: SmplOption = None,
    workers: Annotated[
        Optional[int], typer.Option(help="Videos captured at once, each in its own process (default: one per core, at most one per video).")
    ] = None,
    detect_workers: Annotated[
        Optional[int],
        typer.Option(
            "--detect-workers",
            help="2D detector threads per video (default: the cores left per video). Above 1 the motion moves by about a millimetre.",
        ),
    ] = None,
    ray: Annotated[
        Optional[str],
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Capture on a Ray cluster, one task per video (docs/cluster.md): auto (the cluster this machine belongs to, or RAY_ADDRESS), host:port, ray://host:port, or local (a Ray started here for this batch). Put it after the paths.",
        ),
    ] = None,
    ray_write: Annotated[
        str,
        typer.Option(
            "--ray-write",
            help="Who writes the files with --ray: driver (the workers send them back; --out on this machine) or worker (each worker writes into --out, which must be shared storage at the same path on every node).",
        ),
    ] = "driver",
    force: Annotated[bool, typer.Option("--force", help="Capture again even videos whose outputs are up to date.")] = False,
    summary_json: Annotated[
        Optional[Path],
        typer.Option(
            "--summary-json",
            help="Where the batch summary goes (per video: status, message, frames, seconds, files written); default: OUT/summary.json.",
        ),
    ] = None,
) -> None:
    """Video in, world-space SMPL motion out: NAME.npz, NAME.bvh, NAME.fbx and NAME.json per input (a photo: one frame, and NAME.preview.png), summary.json per batch."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.pipeline.batch import find_videos, run_many, run_one, torch_threads
    from engine.pipeline.summary import SUMMARY_NAME, batch_summary, display_name, reason, summary_lines, write_summary

    wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
    if not wanted or set(wanted) - set(FORMATS):
        raise fail(f"--formats: choose from {', '.join(FORMATS)}, got {formats!r}")
    if lifter not in capture_lifters():
        raise fail(f"--lifter: choose from {', '.join(capture_lifters())}, got {lifter!r}")
    if ray is not None:
        try:
            from engine.pipeline.cluster import WRITERS, connect, run_on_ray
        except ImportError:
            raise fail('--ray needs Ray: pip install -e ".[cluster]"') from None
        if ray_write not in WRITERS:
            raise fail(f"--ray-write: choose from {', '.join(WRITERS)}, got {ray_write!r}")
        if workers is not None:
            raise fail("--workers is for a batch on this machine; on Ray the cluster's CPUs say how many videos run at once")
        if Path(ray).exists():  # `engine mocap --ray clips/` would take the folder as the address
            raise fail(f"--ray took the path {ray!r} as the cluster's address: give --ray ADDRESS after the paths")
        # Ray's workers start in folders of their own: videos go to them by absolute path, and
        # the summary names them relative to the folders given, as the local batch does.
        paths = [p.absolute() for p in paths]
    videos = find_videos(paths)
    if not videos:
        raise fail("no videos or images found in " + ", ".join(map(str, paths)))
    summary_path = summary_json or out / SUMMARY_NAME
    if clash := next((v for v in videos if (out / f"{v.stem}.json").resolve() == summary_path.resolve()), None):
        raise fail(f"{clash} has its report written to {summary_path}, where the batch summary goes: give --summary-json another path")
    by_stem: dict[str, list[Path]] = {}
    for video in videos:
        by_stem.setdefault(video.stem, []).append(video)
    if same := next((v for v in by_stem.values() if len(v) > 1), None):
        raise fail(
            f"{' and '.join(map(str, same))} would write the same files ({same[0].stem}.npz, ...) into {out}: "
            "rename one, or capture them into separate --out folders"
        )
    if lifter_weights is not None:
        check_lifter_weights(lifter_weights)
    for name, value in (("--workers", workers), ("--detect-workers", detect_workers)):
        if value is not None and value < 1:
            raise fail(f"{name} must be at least 1, got {value}")
    # On Ray each video is a task of one CPU per detector thread, and the cluster's CPUs say how
    # many run at once.
    workers, detect_workers = split_cores(len(videos), workers, detect_workers) if ray is None else (0, detect_workers or 1)
    try:
        settings = Settings(
            detect_workers=detect_workers,
            lifter=lifter,
            solver=solver,
            steps=steps,
            fov_deg=fov,
            smooth=smooth,
            foot_lock=0.0 if no_foot_lock else foot_lock,
            keep_empty=keep_empty,
            origin=origin,
            lifter_weights=str(lifter_weights.resolve()) if lifter_weights else "",
        )
    except ValueError as e:
        raise fail(e) from None
    smpl_model = None
    if preview:  # the body mesh in the preview needs an SMPL model file (and pyrender)
        from engine.body.smpl_model import SmplModelError, find_smpl_model

        try:
            smpl_model = find_smpl_model(smpl)
        except SmplModelError as e:
            raise fail(e) from None
    if ray is not None:
        try:
            connect(ray)
        except ConnectionError as e:
            raise fail(f"--ray {ray}: {e}") from None
        console.print(f"Ray cluster at {ray}: one task of {detect_workers} CPU per video; files written by the {ray_write}")
    else:
        console.print(f"cores: {os.cpu_count()}; videos at a time: {workers}; 2D detector threads per video: {detect_workers}")
    outcomes = []
    started = datetime.now().astimezone()
    # Not in a log: there a progress display shows only its last state, with a name cut to fit.
    columns = TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        overall = progress.add_task("videos", total=len(videos))
        if ray is not None:

            def show(running: int) -> None:
                failed = sum(o.status == "failed" for o in outcomes)
                progress.update(overall, description=f"videos ({running} running, {failed} failed)")

            for outcome in run_on_ray(videos, out, settings, wanted, preview, smpl_model, force, ray_write, show):
                outcomes.append(outcome)
                progress.advance(overall)
        elif workers > 1:
            for outcome in run_many(videos, out, settings, wanted, preview, workers, smpl_model, force):
                outcomes.append(outcome)
                progress.advance(overall)
        else:
            torch_threads(workers, detect_workers)
            stage = progress.add_task("", total=None)
            for video in videos:

                def update(name: str, done: int, total: int) -> None:
                    progress.update(stage, description=f"{video.name}: {name}", completed=done, total=total or None)

                outcomes.append(run_one(video, out, settings, wanted, update, preview, smpl=smpl_model, force=force))
                progress.advance(overall)
    outcomes.sort(key=lambda o: videos.index(o.video))  # in the order found, not finished
    # Output to a log or a pipe gets a line per video rather than a table, whose columns would be
    # folded to a width nobody chose: each status with its video's whole name on one line, for grep.
    if console.is_terminal:
        table = Table(*(Column(header, overflow="fold") for header in ("video", "status", "frames", "seconds", "notes")))
        for o in outcomes:
            colour = {"done": "green", "skipped": "cyan", "failed": "red"}[o.status]
            name, notes = escape(display_name(o.video, paths)), escape(reason(o))
            table.add_row(name, f"[{colour}]{o.status}[/{colour}]", str(o.frames), f"{o.seconds:.1f}", notes)
        console.print(table)
    else:
        for line in summary_lines(outcomes, paths):
            console.out(line, highlight=False)
    try:
        write_summary(batch_summary(outcomes, paths, out, started, datetime.now().astimezone()), summary_path)
    except OSError as e:
        raise fail(f"cannot write the batch summary {summary_path}: {e.strerror}") from None
    failed = sum(o.status == "failed" for o in outcomes)
    console.out(f"{len(outcomes) - failed} of {len(outcomes)} videos captured into {out}; summary in {summary_path}", highlight=False)
    if failed:
        raise typer.Exit(1)
