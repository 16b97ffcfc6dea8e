"""``engine live``: frames from a camera or a file captured as they come and streamed over
ZeroMQ one pose at a time, optionally recorded as a motion file."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.cli.common import DEFAULTS, check_lifter_weights, console, fail
from engine.io import FORMATS
from engine.lifting.registry import LIFTERS, capture_lifters
from engine.pipeline.settings import LIVE_BETA, LIVE_CALIBRATION_S, LIVE_LIFTER, LIVE_MIN_CUTOFF_HZ
from engine.protocol import DEFAULT_LIVE_ADDRESS


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
        raise fail("give --camera N or --source FILE (one of them)")
    if realtime and source is None:
        raise fail("--realtime paces a --source file like a camera; a camera is live already")
    for name, value, low in (("--min-cutoff", min_cutoff, 1e-6), ("--beta", beta, 0.0), ("--calibration", calibration, 0.0)):
        if value < low:
            raise fail(f"{name} must be {'above' if low else 'at least'} 0, got {value}")
    if (frames is not None and frames < 1) or (seconds is not None and seconds <= 0):
        raise fail("--frames and --seconds must be above 0")
    if record is not None and record.suffix.lstrip(".") not in FORMATS:
        raise fail(f"--record: the file's suffix says its format, one of {', '.join(FORMATS)}: got {record.name!r}")
    if lifter_weights is None and lifter not in capture_lifters():
        raise fail(
            f"--lifter {lifter!r}: no such lifter here; single-frame ones: {', '.join(per_frame) or 'none yet'}, or --lifter-weights FILE"
        )
    if lifter_weights is None and not streams_per_frame(LIFTERS[lifter].architecture):
        raise fail(
            f"--lifter {lifter}: a windowed lifter ({LIFTERS[lifter].architecture}) needs the frames after each one and cannot stream "
            f"per frame; live capture needs a single-frame lifter: {', '.join(per_frame) or 'none shipped yet: give --lifter-weights FILE'}"
        )
    model = check_lifter_weights(lifter_weights) if lifter_weights is not None else load_shipped(lifter)
    if not streams_per_frame(model.card["architecture"]):
        raise fail(
            f"--lifter-weights {lifter_weights}: a windowed lifter ({model.card['architecture']}) needs the frames after each one "
            "and cannot stream per frame; live capture needs a single-frame lifter (htnet)"
        )
    try:
        reader = FrameReader(camera if camera is not None else source, realtime, frames)
    except VideoError as e:
        raise fail(e) from None
    try:
        server = LiveServer(bind, curve_keys, insecure, {"source": reader.name, "lifter": model.card["name"]})
    except PermissionError as e:
        raise fail(e) from None
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
        raise fail(e, code=1) from None
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
            raise fail(f"--record: no frame was sent, so {record} was not written", code=1)
        motion = recording.motion(processor.fps, processor.rest, processor.camera, reader.name)
        write_motion(motion, record, record.suffix.lstrip("."))
        console.out(f"wrote {record} ({motion.num_frames} frames at {motion.fps:.3g} fps)", highlight=False)
