"""``engine serve`` (the ZeroMQ server that captures videos for clients), ``engine keys
generate`` (the CURVE keys it and ``engine live`` serve with) and ``engine client capture``
(a capture through a running engine)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.cli.common import check_lifter_weights, command_group, console, fail, lifter_choices, solver_choices
from engine.lifting.registry import capture_lifters
from engine.protocol import DEFAULT_ADDRESS
from engine.server import DEFAULT_OUT

keys_app = command_group("CURVE keys for serving beyond this machine.")
client_app = command_group("Talk to a running engine.")


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
        check_lifter_weights(lifter_weights)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = Server(bind, out, root, curve_keys, insecure, lifter_weights, detect_workers)
    except PermissionError as e:
        raise fail(e) from None
    console.print(f"engine serving on {server.address}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a terminated engine ends its capture processes too
    server.serve(stop)


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
    lifter: Annotated[Optional[str], typer.Option(help=f"3D lifter (default: the engine's). {lifter_choices(capture_lifters())}.")] = None,
    solver: Annotated[Optional[str], typer.Option(help=f"Solver: {solver_choices()}.")] = None,
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
            raise fail(f"job {motion.job}: the engine streamed no frames, so {out} was not written", code=1)
        if out is not None:
            fps = motion.fps if motion.fps is not None else 30.0
            Motion(motion.poses, motion.trans, fps, contacts=motion.contacts, rest_joints=motion.rest_joints).save(out)
            console.print(f"wrote {out}")
    except (EngineError, TimeoutError) as e:
        raise fail(e) from None
    finally:
        client.close()
