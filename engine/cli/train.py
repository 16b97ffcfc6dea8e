"""``engine train``: the lifter (``lifter``) and the decoder's stages (``decoder``) trained on
prepared mocap (and rendered corpora) from a TOML configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import command_group, console

app = command_group("Train the engine's models on prepared mocap.")


@app.command("lifter")
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


@app.command("decoder")
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

    A denoiser may go on from a trained decoder (`init`) and learn from rendered corpora too
    (`corpora`: each clip captured by the pipeline, e.g. configs/decoder_rendered.toml).

    The best weights and their model card go to RUNS/NAME/NAME.pt and NAME.json (RUNS is the
    config's `runs`, default runs/); the package's shipped weights change only with --ship."""
    from engine.train.decoder import DecoderTrainConfig, train

    settings = DecoderTrainConfig.load(config)
    card = train(settings, ship=ship)
    console.print(
        f"best validation point error {card['best_val_mpjpe_mm']:.1f} mm after {card['steps']} steps ({card['training_hours']:.2f} h)"
    )
