"""``engine data``: training data from mocap files, ``prepare`` (arrays, split by subject) and
``render`` (videos of bodies performing that mocap, with their ground truth)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.common import command_group, console, fail

app = command_group("Training data from mocap files: prepared arrays, rendered videos.")


@app.command("prepare")
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
        raise fail(f"{src}: not a folder")
    if split_manifest is not None and not split_manifest.is_file() and not update_split_manifest:
        raise fail(f"--split-manifest: {split_manifest}: no such file (give --update-split-manifest to start one)")
    manifest = split_manifest or SPLIT_MANIFEST
    started = time.perf_counter()
    try:
        summary = prepare(src, out, fps=fps, workers=workers, manifest_path=manifest, update_manifest=update_split_manifest)
    except FileNotFoundError as e:
        raise fail(e) from None
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


@app.command("render")
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
        raise fail(f"{e}; rendering needs the render extra: pip install -e '.[render]'") from None
    if not (prepared / "clips.json").is_file():
        raise fail(f"{prepared}: no clips.json; make it with `engine data prepare`")
    if min(clips, frames_per_clip, width, height) < 1:
        raise fail("--clips, --frames-per-clip, --width and --height must be at least 1")
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
        raise fail(e) from None
    run = summary["this_run"]
    rate = run["frames"] / run["seconds"] if run["seconds"] else 0.0
    console.out(f"rendered {run['clips']} clips, {run['frames']} frames in {run['seconds']:.0f} s ({rate:.1f} frames/s, render and detect)")
    for name, s in summary["splits"].items():
        console.out(f"{name}: {s['clips']} clips, {s['frames']} frames, person found in {100 * s['detected_share']:.1f} % -> {out / name}")
