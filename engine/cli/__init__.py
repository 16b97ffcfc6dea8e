"""The ``engine`` command line: the typer app, with each module's commands registered on it.

``engine info`` and ``export``: export.py; ``mocap``: capture.py; ``serve``, with the ``keys``
and ``client`` groups: serve.py; ``live``: live.py; the ``data``, ``eval``, ``train``,
``bench``, ``optimize`` and ``addon`` groups: data.py, evaluate.py, train.py, bench.py, optimize.py, addon.py; what they
share: common.py. Heavy packages (torch, mediapipe, Ray, bpy) are imported inside the
commands, so that ``engine --help`` stays fast."""

from __future__ import annotations

import typer

from engine.cli import addon, bench, capture, data, evaluate, export, live, optimize, serve, train

app = typer.Typer(
    help="Markerless motion capture: video of a person in, SMPL motion, BVH and FBX out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags without "<bool>", every option on its line
)
# In --help's order: the commands, then the groups.
app.command()(export.info)
app.command()(export.export)
app.command()(capture.mocap)
app.command()(serve.serve)
app.command()(live.live)
app.add_typer(data.app, name="data")
app.add_typer(evaluate.app, name="eval")
app.add_typer(bench.app, name="bench")
app.add_typer(serve.keys_app, name="keys")
app.add_typer(serve.client_app, name="client")
app.add_typer(train.app, name="train")
app.add_typer(optimize.app, name="optimize")
app.add_typer(addon.app, name="addon")
