"""What the command modules share: the consoles; ``fail`` (a one-line error); ``report`` (a
table of metrics, and its --json file); ``command_group`` (a sub-command group); the options
several commands take; the pipeline's default settings; the solvers' choices for --help; and the
lifters: their choices for --help, and the check that a --lifter-weights file loads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.lifting.registry import LIFTERS
from engine.pipeline.settings import Settings
from engine.solving import AUTO, PAIRED_SOLVERS, SOLVERS

if TYPE_CHECKING:
    import torch


def command_group(help: str) -> typer.Typer:
    """A sub-command group, ``engine NAME ...`` (the package's __init__ names and adds it)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


console = Console()
err_console = Console(stderr=True)

SmplOption = Annotated[
    Optional[Path],
    typer.Option("--smpl", help="SMPL model file (.pkl or .npz); default: $ENGINE_SMPL_MODEL, then the usual places."),
]


def fail(message: object, code: int = 2) -> typer.Exit:
    """Print a one-line error; the caller raises the returned Exit."""
    err_console.print(f"[red]error:[/red] {escape(str(message))}", highlight=False)
    return typer.Exit(code)


def report(results: dict, title: str, json_out: Path | None) -> None:
    """Print ``results`` (nested dicts flattened, lists left out) as a table; write them all to ``json_out`` when given."""
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


def lifter_choices(names: list[str] | None = None) -> str:
    """Registered lifters (all by default) with their summaries, for --help and for refusing a bad name."""
    return "; ".join(f"{name}: {LIFTERS[name].summary}" for name in names or LIFTERS)


def solver_choices() -> str:
    """The solvers a capture may name, for --help."""
    paired = " or ".join(PAIRED_SOLVERS.values())
    return f"{AUTO} (the default: the decoder trained under the lifter's licence, {paired}), {', '.join(SOLVERS)}"


def check_lifter_weights(path: Path) -> torch.nn.Module:
    """The model in weights file ``path``, or exit 2 saying why it does not load."""
    from engine.lifting.weights import load_weights

    try:
        return load_weights(path)
    except (OSError, ValueError) as e:
        raise fail(f"--lifter-weights: {e}") from None
