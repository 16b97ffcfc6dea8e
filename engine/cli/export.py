"""``engine info`` (versions, and where the engine finds Blender, mediapipe and an SMPL model)
and ``engine export`` (a motion file written as BVH, FBX or our Motion .npz)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from engine import __version__
from engine.cli.common import SmplOption, console, fail
from engine.io import FORMATS

Format = Enum("Format", [(name, name) for name in FORMATS], type=str)


class Units(str, Enum):
    cm = "cm"
    m = "m"


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _mediapipe_status() -> str:
    version = _package_version("mediapipe")
    if version is None:
        return "[red]not installed[/red]"
    package = Path(importlib.util.find_spec("mediapipe").origin).parent
    model = package / "modules" / "pose_landmark" / "pose_landmark_full.tflite"
    found = "bundled pose model found" if model.exists() else "[red]bundled pose model missing[/red]"
    return f"{version} ({found}: {model})"


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
        raise fail(e) from None
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
        raise fail(f"{out} is the input file; choose another with --out")
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
        raise fail(e) from None
    except FbxUnavailableError as e:
        raise fail(e, code=3) from None
    console.print(f"wrote {out} ({motion.num_frames} frames at {motion.fps:g} fps)")
