"""``engine optimize``: trained models made faster (``eclm``: error-constrained layer merging)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import JsonOption, command_group, fail, report
from engine.lifting.registry import LIFTERS

app = command_group("Make trained models faster after training.")


@app.command("eclm")
def eclm_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", help=f"A lifter ({', '.join(LIFTERS)}), a decoder (decoder, decoder-free), or a weights file with its card."
        ),
    ],
    tau: Annotated[float, typer.Option("--tau", help="Most millimetres the calibration error may grow.", min=0.0)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the merged weights (NAME-eclm.pt, .json) and the report.")],
    data: Annotated[Path, typer.Option(help="Prepared folder (engine data prepare) whose validation split calibrates.")] = Path(
        "data/prepared"
    ),
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    json_out: JsonOption = None,
) -> None:
    """Merge adjacent layers of a lifter (HoT) or of the decoder's denoiser while the error on the
    validation split grows by at most --tau mm (FastHMR's ECLM); report layers, error and the
    measured speed-up before and after (docs/decoder.md, "ECLM")."""
    import json

    import torch

    from engine.optimize.eclm import optimize_decoder, optimize_lifter
    from engine.solving.decoder import DECODER_WEIGHTS

    if not (data / "clips.json").is_file():
        raise fail(f"--data {data}: not a prepared folder (no clips.json); run engine data prepare")
    torch.set_num_threads(threads)
    path = Path(model)
    try:
        if model in DECODER_WEIGHTS or (
            path.suffix == ".pt" and json.loads(path.with_suffix(".json").read_text()).get("architecture") == "motion-decoder"
        ):
            results = optimize_decoder(model, data, tau, out)
        else:
            results = optimize_lifter(model, data, tau, out, workers=min(threads, 2))
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise fail(e) from None
    report({k: v for k, v in results.items() if k != "tried"}, f"ECLM on {model} at tau {tau:g} mm", json_out)
