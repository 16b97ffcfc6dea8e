"""Train every shipped model on a lent GPU machine for a fixed budget, and bring the weights back.

That machine has its own Python (3.12, with torch, numpy, scipy, rich) and no network, and only
the repository travels there. So, here first::

    python tools/train_on_gpu.py pack [--only NAME ...]   # the arrays training reads -> .gpu/prepared

then on the lent machine (one command, carrying ``.gpu``)::

    PYTHONPATH=. python3 tools/train_on_gpu.py train --minutes 8

Each shipped model (``SHIPPED``) trains at once, in its own process, on the GPU with the same
code and losses as on the CPU (``engine.train.lifter``, ``engine.train.decoder``), until its steps
are done or the budget is spent. A decoder is two runs in one process: its VAE for half the
budget, then its denoiser on that VAE. The best weights and model cards come back under
``$OUT`` as tar files of at most 16 MiB each (what the device tool returns). Unpack them into
``runs/``, check the cards, and ship with ``engine train lifter|decoder --config
configs/NAME.toml --ship`` (which exports the run's best weights) once the numbers are worth
shipping. The carried folder may hold 64 MiB: the lifters' arrays and the decoders' do not fit
together, so pack for what one call trains (``--only``); rotations travel as float16 (0.06° at
the largest angles; training reads them as float64). The shipped `hot` and `hot-free` are two
stages each: the mocap-only first (``hot_default``, ``hot_free``) trains there; the second
(``configs/hot_world.toml``, ``configs/hot_free_world.toml``) reads the rendered corpora, which
do not fit beside the mocap in the carried folder, so it runs here, from the first's weights.
The shipped decoders likewise: ``decoder_default`` and ``decoder_free`` (each with its VAE)
train there, ``configs/decoder_rendered.toml`` and ``configs/decoder_free_rendered.toml`` here.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np

LIFTERS = ("hot_default", "hot_free", "mixste_default", "htnet_default", "htnet_free", "htnet_no_ipc")
DECODERS = {"decoder_default": "vae_default", "decoder_free": "vae_free"}  # each decoder's VAE config
SHIPPED = LIFTERS + tuple(DECODERS)
ARRAYS = {"lifter": ("h36m.npy", "valid.npy"), "decoder": ("poses.npy", "contacts.npy", "valid.npy")}
PACKED = Path(".gpu/prepared")
TAR_LIMIT = 16 * 2**20


def _kind(name: str) -> str:
    return "decoder" if name in DECODERS else "lifter"


def pack(prepared: Path, packed: Path, names: tuple[str, ...]) -> None:
    """Copy the files training ``names`` reads (clips, split, and the arrays of their kind) of
    the train and validation splits."""
    arrays = sorted({array for name in names for array in ARRAYS[_kind(name)]})
    for split in ("train", "validation"):
        (packed / split).mkdir(parents=True, exist_ok=True)
        for name in arrays:
            if name == "poses.npy":
                np.save(packed / split / name, np.load(prepared / split / name).astype(np.float16))
            else:
                shutil.copyfile(prepared / split / name, packed / split / name)
    for name in ("clips.json", "split.csv", "summary.json"):
        shutil.copyfile(prepared / name, packed / name)
    size = sum(p.stat().st_size for p in packed.rglob("*") if p.is_file())
    print(f"{packed}: {size / 2**20:.1f} MiB ({', '.join(arrays)})")


def _train_one(name: str, data: str, runs: str, minutes: float, workers: int) -> None:
    common = dict(data=data, runs=runs, workers=workers, threads=2, device="auto")
    if name in DECODERS:
        from engine.train.decoder import DecoderTrainConfig, train

        vae = DecoderTrainConfig.load(Path("configs") / f"{DECODERS[name]}.toml")
        train(replace(vae, max_hours=minutes / 120, **common))
        decoder = DecoderTrainConfig.load(Path("configs") / f"{name}.toml")
        train(replace(decoder, vae=str(Path(runs) / vae.name / f"{vae.name}.pt"), max_hours=minutes / 120, **common))
        return
    from engine.train.lifter import TrainConfig, train

    config = TrainConfig.load(Path("configs") / f"{name}.toml")
    train(replace(config, max_hours=minutes / 60, **common))


def train_all(data: Path, runs: Path, out: Path, minutes: float, names: tuple[str, ...]) -> None:
    """Train ``names`` side by side for ``minutes``, then tar their exports into ``out``."""
    workers = max(1, (os.cpu_count() or 2) // len(names) - 1)  # data loading is what a GPU waits for
    context = multiprocessing.get_context("spawn")
    jobs = [context.Process(target=_train_one, args=(n, str(data), str(runs), minutes, workers), name=n) for n in names]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    out.mkdir(parents=True, exist_ok=True)
    summary, tars, size = {}, [], TAR_LIMIT
    for name in [n for name in names for n in ((DECODERS[name], name) if name in DECODERS else (name,))]:
        files = [runs / name / f"{name}.pt", runs / name / f"{name}.json"]
        if not all(f.is_file() for f in files):
            summary[name] = "no export (the run failed: see the log above)"
            continue
        card = json.loads(files[1].read_text())
        summary[name] = {key: card[key] for key in ("steps", "training_hours", "best_val_mpjpe_mm", "machine")}
        weight = sum(f.stat().st_size for f in files)
        if size + weight > TAR_LIMIT:
            tars.append(tarfile.open(out / f"weights_{len(tars)}.tar", "w"))
            size = 0
        for f in files:
            tars[-1].add(f, arcname=f"{name}/{f.name}")
        size += weight
    for tar in tars:
        tar.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="here: the training arrays into .gpu/prepared")
    packing.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    packing.add_argument("--only", nargs="*", default=list(SHIPPED), help="the models the pack is for (default: every shipped one)")
    training = commands.add_parser("train", help="on the lent machine: train every shipped config")
    training.add_argument("--minutes", type=float, default=8.0, help="budget per run (they run side by side)")
    training.add_argument("--runs", type=Path, default=Path("/tmp/runs"))
    training.add_argument("--only", nargs="*", default=list(SHIPPED), help="configs to train (default: every shipped one)")
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.prepared, PACKED, tuple(args.only))
    else:
        train_all(PACKED, args.runs, Path(os.environ.get("OUT", "out/gpu")), args.minutes, tuple(args.only))


if __name__ == "__main__":
    main()
