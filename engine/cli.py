"""The `engine` command line."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import signal
import threading
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from engine import __version__
from engine.io import FORMATS
from engine.lifting.registry import LIFTERS, capture_lifters
from engine.pipeline.settings import LIVE_BETA, LIVE_CALIBRATION_S, LIVE_LIFTER, LIVE_MIN_CUTOFF_HZ, ORIGINS, Settings, split_cores
from engine.protocol import DEFAULT_ADDRESS, DEFAULT_LIVE_ADDRESS
from engine.server import DEFAULT_OUT
from engine.solving import SOLVERS

if TYPE_CHECKING:
    import torch

app = typer.Typer(
    help="Markerless motion capture: video of a person in, SMPL motion, BVH and FBX out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags without "<bool>", every option on its line
)


def _group(name: str, help: str) -> typer.Typer:
    """A sub-command group, ``engine NAME ...``."""
    group = typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(group, name=name)
    return group


data_app = _group("data", "Training data from mocap files: prepared arrays, rendered videos.")
eval_app = _group("eval", "Measure accuracy: lifters on mocap, or one motion against another.")
bench_app = _group("bench", "Benchmarks: speed and memory, measured in one run.")
keys_app = _group("keys", "CURVE keys for serving beyond this machine.")
client_app = _group("client", "Talk to a running engine.")
train_app = _group("train", "Train the engine's models on prepared mocap.")
addon_app = _group("addon", "The Blender extension.")
console = Console()
err_console = Console(stderr=True)

SmplOption = Annotated[
    Optional[Path],
    typer.Option("--smpl", help="SMPL model file (.pkl or .npz); default: $ENGINE_SMPL_MODEL, then the usual places."),
]


Format = Enum("Format", [(name, name) for name in FORMATS], type=str)


class NoiseKind(str, Enum):
    clean = "clean"
    realistic = "realistic"


class Units(str, Enum):
    cm = "cm"
    m = "m"


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _fail(message: object, code: int = 2) -> typer.Exit:
    """Print a one-line error; the caller raises the returned Exit."""
    err_console.print(f"[red]error:[/red] {escape(str(message))}", highlight=False)
    return typer.Exit(code)


def _mediapipe_status() -> str:
    version = _package_version("mediapipe")
    if version is None:
        return "[red]not installed[/red]"
    package = Path(importlib.util.find_spec("mediapipe").origin).parent
    model = package / "modules" / "pose_landmark" / "pose_landmark_full.tflite"
    found = "bundled pose model found" if model.exists() else "[red]bundled pose model missing[/red]"
    return f"{version} ({found}: {model})"


@app.command()
def info(smpl: SmplOption = None) -> None:
    """Versions, and where the engine finds Blender, mediapipe and an SMPL model."""
    from engine.body.smpl_model import SmplModelError, find_smpl_model, smpl_search_locations
    from engine.io.fbx import blender_backend

    table = Table(show_header=False, box=None)
    table.add_row("engine", __version__)
    table.add_row("python", platform.python_version())
    for name in ("torch", "numpy", "scipy", "roma", "smplx"):
        table.add_row(name, _package_version(name) or "[red]not installed[/red]")
    table.add_row("mediapipe", _mediapipe_status())
    backend = blender_backend()
    table.add_row("FBX via", backend or "[yellow]no bpy module and no blender binary: FBX export unavailable[/yellow]")
    try:
        model = find_smpl_model(smpl)
    except SmplModelError as e:
        raise _fail(e) from None
    table.add_row("SMPL model", str(model) if model else "[yellow]none (using the default CMU rest skeleton)[/yellow]")
    table.add_row("SMPL search", "\n".join(smpl_search_locations()))
    console.print(table)


def rest_joints_for(betas: np.ndarray, smpl: Path | None) -> tuple[np.ndarray, str]:
    """The rest skeleton to pose: the SMPL model's for these betas if one is found, else the default."""
    from engine.body.skeleton import default_rest_joints
    from engine.body.smpl_model import SmplModel, find_smpl_model

    model_path = find_smpl_model(smpl)
    if model_path is None:
        return default_rest_joints(), "default CMU rest skeleton"
    return SmplModel(model_path).rest_joints(betas), f"SMPL model {model_path}"


@app.command()
def export(
    motion_path: Annotated[Path, typer.Argument(metavar="MOTION.npz", help="Our Motion .npz or any AMASS-style .npz.")],
    to: Annotated[Format, typer.Option("--to", help="Output format.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output file; default: next to the input.")] = None,
    units: Annotated[Units, typer.Option(help="BVH length unit.")] = Units.cm,
    smpl: SmplOption = None,
) -> None:
    """Write a motion file as BVH, FBX or our Motion .npz."""
    from engine.body.smpl_model import SmplModelError
    from engine.io.fbx import FbxUnavailableError
    from engine.io.write import write_motion
    from engine.motion import Motion, MotionFileError

    out = out or motion_path.with_suffix("." + to.value)
    if out.resolve() == motion_path.resolve():
        raise _fail(f"{out} is the input file; choose another with --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        motion = Motion.load(motion_path)
        rest = None
        if to.value != "npz":
            if motion.rest_joints is not None and smpl is None:
                rest, described = motion.rest_joints.astype(np.float64), "the motion's own rest skeleton"
            else:
                rest, described = rest_joints_for(motion.betas, smpl)
            console.print(f"skeleton: {described}")
        write_motion(motion, out, to.value, rest, units=units.value)
    except (MotionFileError, SmplModelError) as e:
        raise _fail(e) from None
    except FbxUnavailableError as e:
        raise _fail(e, code=3) from None
    console.print(f"wrote {out} ({motion.num_frames} frames at {motion.fps:g} fps)")


@data_app.command("prepare")
def data_prepare(
    src: Annotated[Path, typer.Argument(help="Folder searched for .bvh and .bvh.gz files (any skeleton with recognisable joint names).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for the prepared arrays (large; keep it out of git).")],
    fps: Annotated[float, typer.Option(help="Frame rate to resample to.")] = 30.0,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    split_manifest: Annotated[
        Optional[Path],
        typer.Option(
            "--split-manifest",
            metavar="FILE",
            help="Split manifest (group,split rows) to read; default: the shipped "
            "splits/mocap_split.csv. Only read: the split used, with any new groups, is written to OUT/split.csv.",
        ),
    ] = None,
    update_split_manifest: Annotated[
        bool,
        typer.Option(
            "--update-split-manifest",
            help="Also add the newly drawn groups to the --split-manifest file (the shipped one when none is given).",
        ),
    ] = False,
) -> None:
    """Turn mocap into training data: joints, SMPL rotations, contacts; split by subject.

    Groups (subjects, or clips where no subject is known) that the split manifest lacks are
    drawn by a hash of their name; the split used goes to OUT/split.csv, and the manifest file
    changes only with --update-split-manifest."""
    import time

    from engine.data.prepare import SPLIT_MANIFEST, prepare

    if not src.is_dir():
        raise _fail(f"{src}: not a folder")
    if split_manifest is not None and not split_manifest.is_file() and not update_split_manifest:
        raise _fail(f"--split-manifest: {split_manifest}: no such file (give --update-split-manifest to start one)")
    manifest = split_manifest or SPLIT_MANIFEST
    started = time.perf_counter()
    try:
        summary = prepare(src, out, fps=fps, workers=workers, manifest_path=manifest, update_manifest=update_split_manifest)
    except FileNotFoundError as e:
        raise _fail(e) from None
    table = Table("split", "clips", "groups", "frames", "hours", "direction error (°)")
    for split, s in summary["splits"].items():
        table.add_row(split, str(s["clips"]), str(s["groups"]), str(s["frames"]), f"{s['hours']:.2f}", f"{s['direction_error_deg']:.2f}")
    console.print(table)
    for path, reason in summary["rejected"].items():
        console.print(f"[yellow]rejected[/yellow] {escape(reason)}", highlight=False)
    console.print(f"{summary['prepared']} of {summary['files']} files prepared in {time.perf_counter() - started:.0f} s -> {out}")
    split = summary["split_manifest"]
    new = len(split["new_groups"])
    added = f"added to {manifest}" if split["manifest_updated"] else f"not added to {manifest} (read only)"
    console.print(f"split: {split['written']} ({new} new group{'' if new == 1 else 's'}, {added})", highlight=False)


class Split(str, Enum):
    train = "train"
    validation = "validation"
    test = "test"


@data_app.command("render")
def data_render(
    prepared: Annotated[Path, typer.Argument(help="A folder made by `engine data prepare` (its clips.json and per-split arrays).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for the videos, ground truth and shards (large; keep it out of git).")],
    split: Annotated[Split, typer.Option(help="Which split's mocap to render; subjects of other splits are refused.")] = Split.train,
    clips: Annotated[int, typer.Option(help="Clips in the corpus (a resumed run renders those not yet finished).")] = 100,
    frames_per_clip: Annotated[int, typer.Option(help="Longest window of a mocap clip one video shows (30 fps).")] = 240,
    width: Annotated[int, typer.Option(help="Frame width, pixels.")] = 640,
    height: Annotated[int, typer.Option(help="Frame height, pixels.")] = 360,
    seed: Annotated[int, typer.Option(help="Seed of everything drawn: clip k depends on the seed and k alone.")] = 0,
    anny_cache: Annotated[
        Optional[Path],
        typer.Option("--anny-cache", help="Anny's model cache (about 800 MB); default: $ANNY_CACHE_DIR, else ~/.cache/mocap-engine/anny."),
    ] = None,
) -> None:
    """Render free-licence bodies (Anny) performing the prepared mocap, and run the pipeline's
    2D stage on every video: OUT/clips/SPLIT/ (an mp4 and an npz of ground truth and
    detections per clip), per-split arrays in OUT/SPLIT/ and OUT/clips.json (docs/training-data.md,
    "Rendered corpus"). Resumable: run it again to finish or extend a corpus."""
    try:
        from engine.data.render.body import anny_cache_dir, load_anny
        from engine.data.render.corpus import HeldOutClip, render_corpus
    except ModuleNotFoundError as e:
        raise _fail(f"{e}; rendering needs the render extra: pip install -e '.[render]'") from None
    if not (prepared / "clips.json").is_file():
        raise _fail(f"{prepared}: no clips.json; make it with `engine data prepare`")
    if min(clips, frames_per_clip, width, height) < 1:
        raise _fail("--clips, --frames-per-clip, --width and --height must be at least 1")
    cache = anny_cache or anny_cache_dir()
    console.print(f"Anny model cache: {cache} (built on first use: about 800 MB, 2 minutes)", highlight=False)
    try:
        load_anny(cache)
        summary = render_corpus(
            prepared,
            out,
            split=split.value,
            clips=clips,
            frames_per_clip=frames_per_clip,
            width=width,
            height=height,
            seed=seed,
            log=lambda line: console.out(line, highlight=False),  # one line per clip, unwrapped, for logs
        )
    except (HeldOutClip, ValueError, ModuleNotFoundError) as e:
        raise _fail(e) from None
    run = summary["this_run"]
    rate = run["frames"] / run["seconds"] if run["seconds"] else 0.0
    console.out(f"rendered {run['clips']} clips, {run['frames']} frames in {run['seconds']:.0f} s ({rate:.1f} frames/s, render and detect)")
    for name, s in summary["splits"].items():
        console.out(f"{name}: {s['clips']} clips, {s['frames']} frames, person found in {100 * s['detected_share']:.1f} % -> {out / name}")


def _report(results: dict, title: str, json_out: Path | None) -> None:
    import json

    table = Table("metric", "value", title=title)

    def add(prefix: str, values: dict) -> None:
        for key, value in values.items():
            if isinstance(value, dict):
                add(f"{prefix}{key} / ", value)
            elif not isinstance(value, list):
                table.add_row(prefix + key, f"{value:.2f}" if isinstance(value, float) else str(value))

    add("", results)
    console.print(table)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=1) + "\n")
        console.print(f"wrote {json_out}")


JsonOption = Annotated[Optional[Path], typer.Option("--json", help="Also write every metric to this JSON file.")]
LifterWeightsOption = Annotated[
    Optional[Path],
    typer.Option(
        "--lifter-weights",
        help="Weights file to use instead of the lifter's shipped ones: an official HoT-MixSTE checkpoint, "
        "or weights of ours with their model card NAME.json beside NAME.pt.",
    ),
]
DEFAULTS = Settings()


def _lifter_choices(names: list[str] | None = None) -> str:
    """Registered lifters (all by default) with their summaries, for --help and for refusing a bad name."""
    return "; ".join(f"{name}: {LIFTERS[name].summary}" for name in names or LIFTERS)


def _check_lifter_weights(path: Path) -> torch.nn.Module:
    """The model in weights file ``path``, or exit 2 saying why it does not load."""
    from engine.lifting.weights import load_weights

    try:
        return load_weights(path)
    except (OSError, ValueError) as e:
        raise _fail(f"--lifter-weights: {e}") from None


@eval_app.command("lift")
def eval_lift(
    data: Annotated[Path, typer.Argument(help="A prepared folder (its test split) or a folder of BVH files (all of it).")],
    lifter_name: Annotated[
        str, typer.Option("--lifter", metavar="NAME", help=f"Lifter to score, with its shipped weights. {_lifter_choices()}.")
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
        raise _fail(f"{data}: not a folder")
    if bool(lifter_name) == bool(lifter_weights):
        raise _fail("give --lifter NAME (a shipped lifter) or --lifter-weights FILE, one of them")
    if lifter_name and lifter_name not in LIFTERS:
        raise _fail(f"--lifter: unknown lifter {lifter_name!r}; choose from {_lifter_choices()}")
    try:
        card_document = read_card(card) if card is not None else None
    except ValueError as e:
        raise _fail(f"--card: {e}") from None
    if lifter_weights is not None:
        loaded = _check_lifter_weights(lifter_weights)
        model, lifter, model_card = str(lifter_weights), SequenceLifter(loaded, lifter_weights.stem), getattr(loaded, "card", {})
    else:
        model, lifter, model_card = lifter_name, load_lifter(lifter_name), LIFTERS[lifter_name].card
    named, expected = (card_document or {}).get("name"), model_card.get("name")
    if named and expected and named != expected:  # the scores of one model in another's card
        raise _fail(f"--card: {card} is the card of {named!r}, not of {model!r} (whose card is {expected!r})")
    if solver is not None and solver not in SOLVERS:
        raise _fail(f"--solver: unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
    try:
        results = evaluate_lifter(lifter, model, data, noise=noise.value, frames=window, seed=seed, solver=solver)
    except FileNotFoundError as e:  # a solver without trained weights says how to get them
        raise _fail(e) from None
    _report(results, f"{model} on {data} ({noise.value} 2D)", json_out)
    if card is not None:
        console.print(f"recorded in {record_test_metrics(card, results)}")


@eval_app.command("motion")
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
        raise _fail(e) from None
    _report(results, f"{pred.name} vs {truth.name}", json_out)


@eval_app.command("video")
def eval_video(
    data: Annotated[Path, typer.Argument(help="A rendered corpus (engine data render), or one of its clips/SPLIT folders.")],
    lifter_name: Annotated[
        str, typer.Option("--lifter", metavar="NAME", help=f"Lifter of the captures. {_lifter_choices(capture_lifters())}.")
    ] = DEFAULTS.lifter,
    solver: Annotated[
        str, typer.Option("--solver", metavar="NAME", help=f"Solver of the captures: {', '.join(SOLVERS)}.")
    ] = DEFAULTS.solver,
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

    try:
        settings = Settings(lifter=lifter_name, solver=solver)
        count = len(clip_files(data)[:clips])
    except ValueError as e:
        raise _fail(e) from None
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
        raise _fail(e) from None
    headers = [Column(f"PA-MPJPE\n{m.replace('_', ' ')}", justify="right") for m in METHODS]
    table = Table("", "clips", Column("frames", justify="right"), *headers, Column("pipeline /\nmediapipe", justify="right"))
    table.title = "by motion family (mm)"
    for name, group in [("overall", results["overall"]), *results["by_family"].items()]:
        values = [group[m].get("pa_mpjpe_mm", float("nan")) for m in METHODS]
        ratio = group["pa_mpjpe_pipeline_over_mediapipe"]
        table.add_row(name, str(group["clips"]), str(group["frames"]), *(f"{v:.1f}" for v in values), f"{ratio:.2f}")
    console.print(table)
    shown = {key: value for key, value in results.items() if key not in ("by_family", "per_clip")}
    _report(shown, f"{settings.lifter} + {settings.solver} on {data}", None)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=1) + "\n")
        console.print(f"wrote {json_out} (per clip, per family, overall)")


@train_app.command("lifter")
def train_lifter(
    config: Annotated[Path, typer.Option("--config", help="Training configuration (TOML), e.g. configs/hot_default.toml.")],
    ship: Annotated[
        bool,
        typer.Option(
            "--ship",
            help="Also copy the best weights and their card into the package's "
            "weights folder (engine/lifting/weights/NAME.pt, .json), replacing the shipped ones.",
        ),
    ] = False,
) -> None:
    """Train a lifter (HoT unless the config names another architecture); resumes from RUNS/NAME/last.pt.

    The best weights and their model card go to RUNS/NAME/NAME.pt and NAME.json (RUNS is the
    config's `runs`, default runs/); the package's shipped weights change only with --ship."""
    from engine.lifting.registry import WEIGHTS_DIR
    from engine.train.lifter import TrainConfig, train

    settings = TrainConfig.load(config)
    card = train(settings, ship=ship)
    run = Path(settings.runs) / settings.name
    written = [run / f"{settings.name}.pt", run / f"{settings.name}.json"]
    if ship:
        written += [WEIGHTS_DIR / f"{settings.name}.pt", WEIGHTS_DIR / f"{settings.name}.json"]
    console.print(
        f"best validation MPJPE {card['best_val_mpjpe_mm']:.1f} mm after {card['steps']} steps "
        f"({card['training_hours']:.2f} h) -> {', '.join(map(str, written))}"
    )


@train_app.command("decoder")
def train_decoder(
    config: Annotated[Path, typer.Option("--config", help="Training configuration (TOML), e.g. configs/vae_default.toml.")],
    ship: Annotated[
        bool,
        typer.Option(
            "--ship",
            help="Also copy the best weights and their card into the package's "
            "weights folder (engine/decoding/weights/NAME.pt, .json), replacing the shipped ones.",
        ),
    ] = False,
) -> None:
    """Train a stage of the decoder (the config's `stage`: "vae", its pose prior, then "denoiser" on it); resumes from RUNS/NAME/last.pt.

    The best weights and their model card go to RUNS/NAME/NAME.pt and NAME.json (RUNS is the
    config's `runs`, default runs/); the package's shipped weights change only with --ship."""
    from engine.train.decoder import DecoderTrainConfig, train

    settings = DecoderTrainConfig.load(config)
    card = train(settings, ship=ship)
    console.print(
        f"best validation point error {card['best_val_mpjpe_mm']:.1f} mm after {card['steps']} steps ({card['training_hours']:.2f} h)"
    )


@bench_app.command("lift")
def bench_lift_command(
    data: Annotated[Optional[Path], typer.Option(help="Prepared folder whose test split scores both models (needs both trained).")] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    lifter: Annotated[str, typer.Option(help=f"The pruned lifter. {_lifter_choices()}.")] = "hot",
    baseline: Annotated[str, typer.Option(help="The unpruned lifter of the same size to compare it with.")] = "mixste",
    json_out: JsonOption = None,
) -> None:
    """HoT vs the unpruned model of the same size: GFLOPs, CPU frames/s, MPJPE; an 18,000-frame lift; and HTNet's milliseconds per frame, one at a time."""
    from engine.bench.lift import bench_lift

    for option, name in (("--lifter", lifter), ("--baseline", baseline)):
        if name not in LIFTERS:
            raise _fail(f"{option}: choose from {', '.join(LIFTERS)}, got {name!r}")
    _report(bench_lift(lifter, baseline, data=data, threads=threads), f"{lifter} vs unpruned {baseline} (same size)", json_out)


@bench_app.command("decoder")
def bench_decoder_command(
    solver: Annotated[str, typer.Option(help="The decoder: decoder or decoder-free.")] = "decoder",
    lifter: Annotated[str, typer.Option(help=f"The lifter in front of it. {_lifter_choices()}.")] = "hot",
    steps: Annotated[int, typer.Option(help="DDIM steps of the decode.")] = 1,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    json_out: JsonOption = None,
) -> None:
    """The decoder's decode of a window against the lifter's lift of the same window, timed alternately in one run (docs/decoder.md)."""
    from engine.bench.decoder import bench_decoder
    from engine.solving.decoder import DECODER_WEIGHTS

    if solver not in DECODER_WEIGHTS:
        raise _fail(f"--solver: choose from {', '.join(DECODER_WEIGHTS)}, got {solver!r}")
    if lifter not in LIFTERS:
        raise _fail(f"--lifter: choose from {', '.join(LIFTERS)}, got {lifter!r}")
    try:
        results = bench_decoder(solver, lifter, steps=steps, threads=threads)
    except FileNotFoundError as e:
        raise _fail(e) from None
    _report(results, f"{solver} ({steps} step) vs {lifter}, per window", json_out)


@bench_app.command("frames")
def bench_frames_command(
    frames: Annotated[int, typer.Option(help="Motion frames to send.")] = 120_000,
    json_out: JsonOption = None,
) -> None:
    """Frames per second through the engine's frames channel (server socket to client, over TCP loopback)."""
    from engine.bench.frames import bench_frames

    _report(bench_frames(frames), "frames channel", json_out)


@bench_app.command("pipeline")
def bench_pipeline_command(
    clip: Annotated[Path, typer.Argument(help="A video to capture (for the real-time target: 720p, 30 fps).")],
    json_out: JsonOption = None,
) -> None:
    """Per-stage frames/s and the real-time factor of one capture; motion quality with and without foot locking."""
    from engine.bench.pipeline import bench_pipeline

    _report(bench_pipeline(clip), f"capture of {clip.name}", json_out)


@bench_app.command("batch")
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

    _report(
        bench_batch(source, clips, frames, tiny, ray),
        f"engine mocap on {clips} clips of {frames} frames ({os.cpu_count()} cores)",
        json_out,
    )


@addon_app.command("build")
def addon_build(
    out: Annotated[Path, typer.Option(help="Folder for the extension zip.")] = Path("dist"),
) -> None:
    """Build the Blender extension zip (pyzmq wheels bundled) and check it with Blender's validator."""
    from engine.addon_build import AddonBuildError, build_addon

    try:
        zip_path = build_addon(out)
    except AddonBuildError as e:
        raise _fail(e) from None
    console.print(f"built and validated {zip_path}: Blender > Edit > Preferences > Get Extensions > Install from Disk")


@app.command()
def mocap(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Videos (mp4, mov, avi, mkv, webm, gif), photos (jpg, png, webp, heic...: one frame each; animated webp or png are videos), or folders of both (searched recursively)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    formats: Annotated[str, typer.Option(help="Files to write, comma-separated: npz, bvh, fbx.")] = "npz,bvh,fbx",
    lifter: Annotated[str, typer.Option(help=f"3D lifter. {_lifter_choices(capture_lifters())}.")] = DEFAULTS.lifter,
    solver: Annotated[str, typer.Option(help=f"What turns 3D joints into SMPL rotations: {', '.join(SOLVERS)}.")] = DEFAULTS.solver,
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
        raise _fail(f"--formats: choose from {', '.join(FORMATS)}, got {formats!r}")
    if lifter not in capture_lifters():
        raise _fail(f"--lifter: choose from {', '.join(capture_lifters())}, got {lifter!r}")
    if ray is not None:
        try:
            from engine.pipeline.cluster import WRITERS, connect, run_on_ray
        except ImportError:
            raise _fail('--ray needs Ray: pip install -e ".[cluster]"') from None
        if ray_write not in WRITERS:
            raise _fail(f"--ray-write: choose from {', '.join(WRITERS)}, got {ray_write!r}")
        if workers is not None:
            raise _fail("--workers is for a batch on this machine; on Ray the cluster's CPUs say how many videos run at once")
        if Path(ray).exists():  # `engine mocap --ray clips/` would take the folder as the address
            raise _fail(f"--ray took the path {ray!r} as the cluster's address: give --ray ADDRESS after the paths")
        # Ray's workers start in folders of their own: videos go to them by absolute path, and
        # the summary names them relative to the folders given, as the local batch does.
        paths = [p.absolute() for p in paths]
    videos = find_videos(paths)
    if not videos:
        raise _fail("no videos or images found in " + ", ".join(map(str, paths)))
    summary_path = summary_json or out / SUMMARY_NAME
    if clash := next((v for v in videos if (out / f"{v.stem}.json").resolve() == summary_path.resolve()), None):
        raise _fail(f"{clash} has its report written to {summary_path}, where the batch summary goes: give --summary-json another path")
    by_stem: dict[str, list[Path]] = {}
    for video in videos:
        by_stem.setdefault(video.stem, []).append(video)
    if same := next((v for v in by_stem.values() if len(v) > 1), None):
        raise _fail(
            f"{' and '.join(map(str, same))} would write the same files ({same[0].stem}.npz, ...) into {out}: "
            "rename one, or capture them into separate --out folders"
        )
    if lifter_weights is not None:
        _check_lifter_weights(lifter_weights)
    for name, value in (("--workers", workers), ("--detect-workers", detect_workers)):
        if value is not None and value < 1:
            raise _fail(f"{name} must be at least 1, got {value}")
    # On Ray each video is a task of one CPU per detector thread, and the cluster's CPUs say how
    # many run at once.
    workers, detect_workers = split_cores(len(videos), workers, detect_workers) if ray is None else (0, detect_workers or 1)
    try:
        settings = Settings(
            detect_workers=detect_workers,
            lifter=lifter,
            solver=solver,
            fov_deg=fov,
            smooth=smooth,
            foot_lock=0.0 if no_foot_lock else foot_lock,
            keep_empty=keep_empty,
            origin=origin,
            lifter_weights=str(lifter_weights.resolve()) if lifter_weights else "",
        )
    except ValueError as e:
        raise _fail(e) from None
    smpl_model = None
    if preview:  # the body mesh in the preview needs an SMPL model file (and pyrender)
        from engine.body.smpl_model import SmplModelError, find_smpl_model

        try:
            smpl_model = find_smpl_model(smpl)
        except SmplModelError as e:
            raise _fail(e) from None
    if ray is not None:
        try:
            connect(ray)
        except ConnectionError as e:
            raise _fail(f"--ray {ray}: {e}") from None
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
        raise _fail(f"cannot write the batch summary {summary_path}: {e.strerror}") from None
    failed = sum(o.status == "failed" for o in outcomes)
    console.out(f"{len(outcomes) - failed} of {len(outcomes)} videos captured into {out}; summary in {summary_path}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def serve(
    bind: Annotated[str, typer.Option(help="ZeroMQ address to bind.")] = DEFAULT_ADDRESS,
    out: Annotated[Path, typer.Option(help="Where every job writes its files, as engine mocap does.")] = DEFAULT_OUT,
    root: Annotated[Optional[Path], typer.Option(help="Only capture videos inside this folder.")] = None,
    curve_keys: Annotated[
        Optional[Path], typer.Option("--curve-keys", help="Folder with server.key and server.pub (engine keys generate).")
    ] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback bind without CURVE keys (logged loudly).")] = False,
    lifter_weights: Annotated[
        Optional[Path],
        typer.Option(
            "--lifter-weights",
            help="HoT weights file every job uses, whichever lifter its client names: an official "
            "HoT-MixSTE checkpoint, or weights of ours with their model card NAME.json beside NAME.pt.",
        ),
    ] = None,
    detect_workers: Annotated[
        Optional[int], typer.Option("--detect-workers", help="2D detector threads per job (default: one per core), as engine mocap's.")
    ] = None,
) -> None:
    """Run the engine as a ZeroMQ server that captures videos for clients (docs/protocol.md)."""
    import logging

    from engine.server import Server

    if lifter_weights is not None:
        _check_lifter_weights(lifter_weights)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = Server(bind, out, root, curve_keys, insecure, lifter_weights, detect_workers)
    except PermissionError as e:
        raise _fail(e) from None
    console.print(f"engine serving on {server.address}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a terminated engine ends its capture processes too
    server.serve(stop)


@app.command()
def live(
    camera: Annotated[Optional[int], typer.Option("--camera", help="Capture from camera N (OpenCV's numbering: 0 is the first).")] = None,
    source: Annotated[Optional[Path], typer.Option("--source", help="Capture from a video file instead of a camera.")] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Play --source at its own frame rate, as a camera delivers frames (those the engine cannot keep up with are dropped); without it every frame of the file is processed.",
        ),
    ] = False,
    bind: Annotated[str, typer.Option(help="ZeroMQ address to stream on (engine serve's is port 5557).")] = DEFAULT_LIVE_ADDRESS,
    curve_keys: Annotated[
        Optional[Path], typer.Option("--curve-keys", help="Folder with server.key and server.pub (engine keys generate).")
    ] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback bind without CURVE keys (logged loudly).")] = False,
    lifter: Annotated[
        str, typer.Option(help="3D lifter: a single-frame one (a windowed lifter such as hot needs later frames).")
    ] = LIVE_LIFTER,
    lifter_weights: Annotated[
        Optional[Path],
        typer.Option(
            "--lifter-weights",
            help="Weights file to use instead of the lifter's shipped ones: a single-frame lifter's (HTNet) with its model card NAME.json beside NAME.pt.",
        ),
    ] = None,
    fov: Annotated[
        float, typer.Option(help="Camera field of view across the frame's long side, degrees (69 = a phone's main camera).")
    ] = DEFAULTS.fov_deg,
    min_cutoff: Annotated[
        float, typer.Option("--min-cutoff", help="One-Euro filter: cut-off at rest, Hz (lower: smoother when still, more lag).")
    ] = LIVE_MIN_CUTOFF_HZ,
    beta: Annotated[
        float,
        typer.Option(help="One-Euro filter: how fast the cut-off rises with a joint's speed, Hz per m/s (higher: less lag, more jitter)."),
    ] = LIVE_BETA,
    calibration: Annotated[
        float,
        typer.Option(
            help="Seconds of the person in view (standing) that fix the floor, gravity and bone lengths; their frames are not sent."
        ),
    ] = LIVE_CALIBRATION_S,
    wait: Annotated[bool, typer.Option("--wait", help="Start reading the source only once a client has subscribed.")] = False,
    frames: Annotated[Optional[int], typer.Option("--frames", help="Stop after this many frames of the source.")] = None,
    seconds: Annotated[Optional[float], typer.Option("--seconds", help="Stop after this many seconds of streaming.")] = None,
    record: Annotated[
        Optional[Path], typer.Option("--record", help="On stop, save the frames sent as a motion: FILE.npz, FILE.bvh or FILE.fbx.")
    ] = None,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="On stop, write the stream's numbers (frames dropped, delay percentiles) as JSON.")
    ] = None,
) -> None:
    """Live capture: frames from a camera (or a file) as they come, one SMPL pose each, streamed at once over ZeroMQ (docs/live.md)."""
    import json

    import torch

    from engine.io.write import write_motion
    from engine.lifting.weights import load_shipped
    from engine.live_server import LiveServer
    from engine.pipeline.live import LiveProcessor, LiveRecording, streams_per_frame
    from engine.pipeline.live_source import FrameReader
    from engine.quiet import native_stderr_silenced
    from engine.video import VideoError

    per_frame = [name for name in capture_lifters() if streams_per_frame(LIFTERS[name].architecture)]
    if (camera is None) == (source is None):
        raise _fail("give --camera N or --source FILE (one of them)")
    if realtime and source is None:
        raise _fail("--realtime paces a --source file like a camera; a camera is live already")
    for name, value, low in (("--min-cutoff", min_cutoff, 1e-6), ("--beta", beta, 0.0), ("--calibration", calibration, 0.0)):
        if value < low:
            raise _fail(f"{name} must be {'above' if low else 'at least'} 0, got {value}")
    if (frames is not None and frames < 1) or (seconds is not None and seconds <= 0):
        raise _fail("--frames and --seconds must be above 0")
    if record is not None and record.suffix.lstrip(".") not in FORMATS:
        raise _fail(f"--record: the file's suffix says its format, one of {', '.join(FORMATS)}: got {record.name!r}")
    if lifter_weights is None and lifter not in capture_lifters():
        raise _fail(
            f"--lifter {lifter!r}: no such lifter here; single-frame ones: {', '.join(per_frame) or 'none yet'}, or --lifter-weights FILE"
        )
    if lifter_weights is None and not streams_per_frame(LIFTERS[lifter].architecture):
        raise _fail(
            f"--lifter {lifter}: a windowed lifter ({LIFTERS[lifter].architecture}) needs the frames after each one and cannot stream "
            f"per frame; live capture needs a single-frame lifter: {', '.join(per_frame) or 'none shipped yet: give --lifter-weights FILE'}"
        )
    model = _check_lifter_weights(lifter_weights) if lifter_weights is not None else load_shipped(lifter)
    if not streams_per_frame(model.card["architecture"]):
        raise _fail(
            f"--lifter-weights {lifter_weights}: a windowed lifter ({model.card['architecture']}) needs the frames after each one "
            "and cannot stream per frame; live capture needs a single-frame lifter (htnet)"
        )
    try:
        reader = FrameReader(camera if camera is not None else source, realtime, frames)
    except VideoError as e:
        raise _fail(e) from None
    try:
        server = LiveServer(bind, curve_keys, insecure, {"source": reader.name, "lifter": model.card["name"]})
    except PermissionError as e:
        raise _fail(e) from None
    console.print(
        f"engine live on {server.address}: {reader.name} ({reader.width}x{reader.height}, {reader.fps:.3g} fps"
        f"{', paced as a camera' if realtime else ''}), lifter {model.card['name']}; Ctrl-C stops"
    )
    stop = threading.Event()  # Ctrl-C and SIGTERM end the stream cleanly: clients told, the recording saved
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    recording, threads = LiveRecording() if record is not None else None, torch.get_num_threads()
    torch.set_num_threads(1)  # a one-frame model: more threads only wait on each other and on the detector
    try:
        # mediapipe's native log lines come from its own threads at moments of their own: the whole 2D stage runs silenced
        with native_stderr_silenced():
            processor = LiveProcessor(model, reader.width, reader.height, fov, min_cutoff, beta, calibration)
            try:
                reason, stats = server.run(reader, processor, stop, seconds, wait, recording.add if recording else None)
            finally:
                processor.close()
    except VideoError as e:
        raise _fail(e, code=1) from None
    finally:
        server.close()
        torch.set_num_threads(threads)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    numbers = stats.summary()
    delays = (
        f"median {numbers['delay_ms_median']:.0f} ms, 95th percentile {numbers['delay_ms_p95']:.0f} ms, longest {numbers['delay_ms_max']:.0f} ms"
        if numbers["frames_sent"]
        else "no frame sent"
    )
    console.out(
        f"{reason}: {numbers['frames_read']} frames read, {numbers['frames_dropped']} dropped ({100 * numbers['drop_rate']:.1f} %), "
        f"{numbers['frames_processed']} processed ({numbers['calibration_frames']} calibrating, {numbers['unseen_frames']} without the person), "
        f"{numbers['frames_sent']} sent at {numbers['sent_fps']:.1f} frames/s in {numbers['seconds']:.1f} s\n"
        f"delay from a frame's decoding to its message leaving: {delays}"
        + (f"; CPU {numbers['cpu_ms_per_frame']:.0f} ms a frame processed (all threads)" if numbers["frames_processed"] else ""),
        highlight=False,
    )
    if json_out is not None:
        report = {"source": reader.name, "lifter": model.card["name"], "realtime": realtime, "reason": reason, **numbers}
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    if record is not None:
        if not recording.frames:
            raise _fail(f"--record: no frame was sent, so {record} was not written", code=1)
        motion = recording.motion(processor.fps, processor.rest, processor.camera, reader.name)
        write_motion(motion, record, record.suffix.lstrip("."))
        console.out(f"wrote {record} ({motion.num_frames} frames at {motion.fps:.3g} fps)", highlight=False)


@keys_app.command("generate")
def keys_generate(folder: Annotated[Path, typer.Argument(help="Folder for server.key (secret) and server.pub (for clients).")]) -> None:
    """Make a CURVE key pair for engine serve --curve-keys."""
    from engine.server import generate_keys

    public, secret = generate_keys(folder)
    console.print(f"wrote {secret} (keep it secret) and {public} (give it to clients)")


@client_app.command("capture")
def client_capture(
    video: Annotated[Path, typer.Argument(help="A video the engine's machine can read.")],
    addr: Annotated[str, typer.Option(help="Engine address.")] = DEFAULT_ADDRESS,
    out: Annotated[Optional[Path], typer.Option(help="Save the final motion (engine mocap's) as this .npz.")] = None,
    server_key: Annotated[Optional[Path], typer.Option("--server-key", help="The engine's server.pub, for CURVE.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds of engine silence before giving up.")] = 120.0,
    lifter: Annotated[Optional[str], typer.Option(help=f"3D lifter (default: the engine's). {_lifter_choices(capture_lifters())}.")] = None,
    solver: Annotated[Optional[str], typer.Option(help=f"Solver (default: the engine's): {', '.join(SOLVERS)}.")] = None,
) -> None:
    """Capture a video through a running engine, printing progress; save the final motion it sends."""
    from engine.client import CaptureFollower, Client, EngineError
    from engine.motion import Motion

    def show(follow: CaptureFollower) -> None:  # first when the job is accepted, then at each progress message
        if not accepted:
            accepted.append(follow.job)
            console.print(f"job {follow.job} accepted, {follow.position} ahead of it")
        else:
            console.print(f"  {follow.stage}: {follow.done}/{follow.total}", end="\r")

    client, accepted = Client(addr, server_key.read_bytes() if server_key else None), []
    try:
        welcome = client.hello()
        console.print(f"engine {welcome.fields['engine']} at {addr}")
        options = {key: value for key, value in (("lifter", lifter), ("solver", solver)) if value is not None}
        motion = client.capture_motion(str(video.resolve()), options, timeout_s=timeout, on_progress=show)
        console.print(f"\ndone: {len(motion.provisional['poses'])} frames streamed, {len(motion.poses)} final; files: {motion.files}")
        if out is not None and not len(motion.poses):
            raise _fail(f"job {motion.job}: the engine streamed no frames, so {out} was not written", code=1)
        if out is not None:
            fps = motion.fps if motion.fps is not None else 30.0
            Motion(motion.poses, motion.trans, fps, contacts=motion.contacts, rest_joints=motion.rest_joints).save(out)
            console.print(f"wrote {out}")
    except (EngineError, TimeoutError) as e:
        raise _fail(e) from None
    finally:
        client.close()
