"""engine serve over real ZeroMQ sockets: streaming, isolation, cancel, reconnect, fuzzing, safety."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app
from engine.client import CaptureFollower, Client, EngineError, assemble
from engine.lifting.registry import LIFTERS, capture_lifters
from engine.motion import Motion
from engine.pipeline.batch import run_one
from engine.pipeline.settings import Settings
from engine.protocol import Message, ProtocolError, encode
from engine.server import Server, generate_keys
from engine.solving import SOLVERS
from engine.video import read_frames
from tests.paths import REPO

CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"
needs_weights = pytest.mark.skipif(not LIFTERS["hot"].weights_path.is_file(), reason="no shipped HoT weights")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "short.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for frame in read_frames(CLIP):
        if frame.index == 50:
            break
        writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@contextmanager
def serving(server: Server):
    """``server`` serving in a thread until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)


@pytest.fixture
def engine(tmp_path):
    """A server on a free loopback port, in a thread; yields (server, address)."""
    with serving(Server("tcp://127.0.0.1:0", out=tmp_path / "served")) as server:
        yield server, server.address


def test_welcome_offers_the_registered_capture_lifters_and_solvers(engine):
    server, address = engine
    client = Client(address)
    try:
        capabilities = client.hello().fields["capabilities"]
    finally:
        client.close()
    assert capabilities["lifters"] == capture_lifters() and capabilities["solvers"] == ["auto", *SOLVERS]


@needs_weights
def test_streamed_motion_equals_engine_mocap_and_starts_early(engine, tmp_path):
    server, address = engine
    client = Client(address)
    assert client.hello().fields["engine"]
    deadline = time.monotonic() + 120
    while not client.hello().fields["capabilities"]["warm"]:  # an idle engine keeps a capture process loaded
        assert time.monotonic() < deadline, "the engine did not load a capture process within 120 s"
        time.sleep(0.2)
    started = time.monotonic()
    job, position = client.capture(str(CLIP))
    assert position == 0
    arrivals = []
    for message in client.events(job, timeout_s=300):
        arrivals.append((time.monotonic() - started, message))
    client.close()
    messages = [m for _, m in arrivals]
    assert messages[-1].type == "done", messages[-1].fields
    kinds = [m.type for m in messages if m.type in ("frames", "final")]
    assert kinds == sorted(kinds, key=("frames", "final").index)  # the final series after the last provisional chunk
    chunks, finals = ([m for m in messages if m.type == kind] for kind in ("frames", "final"))
    for series in (chunks, finals):
        assert [c.fields["start"] for c in series] == sorted(c.fields["start"] for c in series)  # in order
    streamed, final = assemble(chunks), assemble(finals)  # raise if any frame is missing
    assert len(streamed["poses"]) == len(final["poses"])  # provisional frames: every frame of the motion, as before
    assert any(m.type == "progress" for m in messages)
    first, finished = next(t for t, m in arrivals if m.type == "frames"), arrivals[-1][0]
    # How far 2D detection (which runs as the video is decoded) had got when the first frames came:
    # the worker sends progress and frames through one queue, so the order is the order of events.
    # With several detector threads, the video is detected in segments that come back whole, so
    # detection runs further ahead of the final frames: the clock is the fairer measure of "early".
    before_first = messages[: next(i for i, m in enumerate(messages) if m.type == "frames")]
    detected = max(m.fields["done"] for m in before_first if m.type == "progress" and m.fields["stage"] == "2D keypoints")
    final_at = next(t for t, m in arrivals if m.type == "final")
    print(
        f"\nfirst frames after {first:.1f} s ({detected} of {len(streamed['poses'])} frames detected), "
        f"the final series from {final_at:.1f} s, done after {finished:.1f} s"
    )
    assert first <= 0.75 * finished, f"first frames only after {first:.1f} s of {finished:.1f} s"
    # The engine gives each job every core's 2D detector, as engine mocap does for one video.
    assert run_one(CLIP, tmp_path / "mocap", Settings(detect_workers=server.detect_workers), ("npz",)).status == "done"
    reference = Motion.load(tmp_path / "mocap" / f"{CLIP.stem}.npz")
    for name in ("poses", "trans", "contacts"):
        np.testing.assert_allclose(final[name], getattr(reference, name), atol=1e-5)
    for chunk in finals:  # each final chunk carries the final rest skeleton
        np.testing.assert_allclose(chunk.arrays["rest_joints"], reference.rest_joints, atol=1e-6)
    moved = np.abs(streamed["trans"] - final["trans"]).max()
    print(f"the final motion's root is up to {100 * moved:.1f} cm from the provisional frames'")


@needs_weights
def test_the_operators_weights_file_lifts_every_job_whatever_lifter_the_client_names(tmp_path, short_clip):
    for suffix in (".pt", ".json"):  # weights of ours with their card, as an operator would keep them
        shutil.copy(LIFTERS["hot-free"].weights_path.with_suffix(suffix), tmp_path / f"mine{suffix}")
    with serving(Server("tcp://127.0.0.1:0", out=tmp_path / "served", lifter_weights=tmp_path / "mine.pt")) as server:
        client = Client(server.address)
        assert client.hello().fields["capabilities"]["lifter_weights"] == "mine.pt"
        job, _ = client.capture(str(short_clip), options={"lifter": "hot"})
        assert next(m for m in client.events(job, timeout_s=120) if m.type in ("done", "error")).type == "done"
        client.close()
    assert json.loads((tmp_path / "served" / "short.json").read_text())["lifter"] == str((tmp_path / "mine.pt").resolve())


@needs_weights
def test_capture_motion_returns_the_served_motion_whole_and_in_order(engine, short_clip):
    server, address = engine
    client = Client(address)
    seen = []
    result = client.capture_motion(
        str(short_clip), timeout_s=120, on_progress=lambda f: seen.append((f.job, f.position, f.stage, f.done, f.total))
    )
    client.close()
    served = Motion.load(server.out / "short.npz")
    for name in ("poses", "trans", "contacts"):
        np.testing.assert_array_equal(getattr(result, name), getattr(served, name).astype(np.float32))
    assert result.fps == pytest.approx(served.fps) and result.summary["frames"] == served.num_frames
    np.testing.assert_allclose(result.rest_joints, served.rest_joints, atol=1e-6)
    assert len(result.provisional["poses"]) == served.num_frames and result.provisional_rest_joints.shape == (24, 3)
    assert result.files["npz"] == str((server.out / "short.npz").resolve())
    assert seen[0] == (result.job, 0, "queued", 0, 0) and len(seen) > 1  # accepted, then the engine's progress
    assert all(job == result.job for job, *_ in seen)


@needs_weights
def test_the_same_capture_served_twice_streams_its_frames_and_final_series_both_times(engine, short_clip):
    server, address = engine
    client = Client(address)
    try:
        first, second = (client.capture_motion(str(short_clip), timeout_s=120) for _ in range(2))
    finally:
        client.close()
    for result in (first, second):  # earlier outputs being up to date skips nothing
        assert len(result.provisional["poses"]) == len(result.poses) == 50
    for name in ("poses", "trans", "contacts"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
        np.testing.assert_array_equal(first.provisional[name], second.provisional[name])
    served = Motion.load(server.out / "short.npz")  # the second capture's files: its final motion
    np.testing.assert_array_equal(second.poses, served.poses.astype(np.float32))


@needs_weights
def test_a_served_capture_leaves_out_and_holds_the_frames_engine_mocap_does(engine, clip_with_empty_frames, tmp_path):
    server, address = engine
    client = Client(address)
    try:
        served = client.capture_motion(str(clip_with_empty_frames), timeout_s=120)
    finally:
        client.close()
    assert run_one(clip_with_empty_frames, tmp_path, Settings(detect_workers=server.detect_workers), ("npz",)).status == "done"
    motion = Motion.load(tmp_path / f"{clip_with_empty_frames.stem}.npz")
    assert len(served.poses) == motion.num_frames and motion.held.any() and not motion.held[[0, -1]].any()
    for name in ("poses", "trans", "contacts"):
        np.testing.assert_allclose(getattr(served, name), getattr(motion, name), atol=1e-5)
    # The summary says where the motion starts in the video and which frames are held (one gap).
    held = np.flatnonzero(motion.held)
    assert motion.first_frame_time > 0 and served.summary["first_frame_time_s"] == pytest.approx(motion.first_frame_time)
    assert served.summary["held_frames"] == [[held[0], held[-1] + 1]]


def test_client_capture_of_a_job_with_no_frames_says_so_and_writes_nothing(tmp_path):
    """An engine (here a stand-in) that ends a job without frames: no traceback, no file, exit 1."""
    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def answer() -> None:  # hello, then capture; the job is done at once
        replies = [Message("welcome", fields={"engine": "test", "capabilities": {}}), Message("accepted", job="j1", fields={"position": 0})]
        for reply in replies:
            identity, *_ = router.recv_multipart()
            router.send_multipart([identity, *encode(reply)])
        router.send_multipart([identity, *encode(Message("done", job="j1", fields={"summary": {}, "files": {}}))])

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    out = tmp_path / "motion.npz"
    result = CliRunner().invoke(
        app, ["client", "capture", str(video), "--addr", f"tcp://127.0.0.1:{port}", "--out", str(out), "--timeout", "5"]
    )
    router.close(0)
    assert result.exit_code == 1 and "streamed no frames" in result.output and not out.exists()


def test_capture_motion_raises_the_engines_refusal(engine, tmp_path):
    _, address = engine
    client = Client(address)
    with pytest.raises(EngineError, match="no-such-file") as refused:
        client.capture_motion(str(tmp_path / "missing.mp4"), timeout_s=10)
    client.close()
    assert refused.value.code == "no-such-file"


def _frames(job: str, start: int, count: int, kind: str = "frames") -> Message:
    """A chunk of ``kind`` (``frames`` or ``final``) whose values are its frame numbers (negated in ``final``)."""
    values = np.arange(start, start + count, dtype=np.float32)[:, None] * (-1 if kind == "final" else 1)
    arrays = {"poses": np.repeat(values, 72, 1), "trans": np.repeat(values, 3, 1), "contacts": np.repeat(values, 4, 1)}
    if kind == "final":
        arrays["rest_joints"] = np.full((24, 3), 2.0, np.float32)
    return Message(kind, job=job, fields={"start": start, "fps": 25.0}, arrays=arrays)


def test_a_capture_follower_holds_early_chunks_until_the_ones_before_arrive_and_ignores_other_jobs():
    follow = CaptureFollower("j1")
    assert follow.take(_frames("j1", 10, 5)) == [] and follow.frames.received == 0  # early: waits for 0..9
    assert follow.take(_frames("other", 0, 10)) == [] and follow.frames.received == 0  # another job's frames
    follow.take(Message("skeleton", job="j1", arrays={"rest_joints": np.ones((24, 3), np.float32)}))
    follow.take(Message("progress", job="j1", fields={"stage": "lifting", "done": 3, "total": 15}))
    ready = follow.take(_frames("j1", 0, 10))
    assert [c.fields["start"] for c in ready] == [0, 10] and follow.frames.received == 15 and not follow.frames.early
    assert (follow.stage, follow.done, follow.total, follow.fps) == ("lifting", 3, 15, 25.0) and follow.rest_joints.dtype == np.float64
    # The final series is kept in order, not handed back: it is the result, once done comes.
    assert follow.take(_frames("j1", 10, 5, "final")) == [] and follow.take(_frames("j1", 0, 10, "final")) == []
    assert follow.final.received == 15 and not follow.finished
    follow.take(Message("done", job="j1", fields={"summary": {"frames": 15}, "files": {"npz": "/x/clip.npz"}}))
    result = follow.result()
    assert follow.finished and follow.stage == "done" and follow.error is None
    np.testing.assert_array_equal(result.poses[:, 0], -np.arange(15))  # the final motion
    np.testing.assert_array_equal(result.provisional["poses"][:, 0], np.arange(15))  # the frames streamed
    np.testing.assert_array_equal(result.rest_joints, np.full((24, 3), 2.0))
    np.testing.assert_array_equal(result.provisional_rest_joints, np.ones((24, 3)))
    assert result.files == {"npz": "/x/clip.npz"} and result.summary == {"frames": 15}


def test_a_capture_follower_ends_with_the_engines_error_and_refuses_a_result_with_frames_missing():
    follow = CaptureFollower("j1")
    follow.take(_frames("j1", 5, 5))
    follow.take(Message("error", job="j1", fields={"code": "failed", "message": "no person in the video"}))
    assert follow.finished and follow.error == "failed: no person in the video"
    assert isinstance(follow.failure, EngineError) and follow.failure.code == "failed"
    with pytest.raises(ProtocolError, match="frames 0..4 never came"):
        follow.result()
    follow = CaptureFollower("j1")
    follow.take(_frames("j1", 0, 5))
    follow.take(_frames("j1", 3, 2, "final"))
    with pytest.raises(ProtocolError, match="final 0..2 never came"):
        follow.result()


def test_clients_get_only_their_own_messages(engine, tmp_path):
    _, address = engine
    a, b = Client(address, name="a"), Client(address, name="b")
    missing = tmp_path / "missing.mp4"
    b.send(Message("capture", fields={"video": str(missing)}))
    a.send(Message("ping"))
    assert a.receive(5).type == "pong"
    reply = b.receive(5)
    assert reply.type == "error" and reply.fields["code"] == "no-such-file" and str(missing) in reply.fields["message"]
    assert a.receive(0.3) is None and b.receive(0.3) is None
    a.close()
    b.close()


@needs_weights
def test_cancel_answers_within_a_second_and_the_next_job_runs(engine, short_clip):
    _, address = engine
    client = Client(address)
    job, _ = client.capture(str(short_clip))
    for message in client.events(job, timeout_s=60):
        if message.type == "progress":
            break
    asked = time.monotonic()
    client.cancel(job)
    reply = next(m for m in client.events(job, timeout_s=5) if m.type in ("error", "done"))
    assert reply.type == "error" and reply.fields["code"] == "cancelled" and time.monotonic() - asked < 1.0
    next_job, position = client.capture(str(short_clip))
    assert position == 0 and next(m for m in client.events(next_job, timeout_s=120) if m.type in ("done", "error")).type == "done"
    client.close()


@needs_weights
def test_a_dropped_client_loses_nothing(engine, short_clip):
    server, address = engine
    first = Client(address)
    job, _ = first.capture(str(short_clip))
    first.close()  # gone mid-job
    deadline = time.monotonic() + 120
    while server.jobs[job].status != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (server.out / "short.npz").is_file() and (server.out / "short.bvh").is_file()
    second = Client(address)
    second.attach(job, since=20)
    messages = list(second.events(job, timeout_s=10))
    frames, finals = ([m for m in messages if m.type == kind] for kind in ("frames", "final"))
    assert messages[0].type == "skeleton" and messages[-1].type == "done" and frames[0].fields["start"] <= 20
    kinds = [m.type for m in messages if m.type in ("frames", "final")]
    assert kinds == sorted(kinds, key=("frames", "final").index)  # replayed in the order sent
    tail = assemble(frames)
    served = Motion.load(server.out / "short.npz")
    assert len(tail["poses"]) + frames[0].fields["start"] == served.num_frames
    np.testing.assert_array_equal(assemble(finals)["poses"], served.poses.astype(np.float32))  # the final series whole
    second.close()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_fuzzed_messages_get_errors_and_the_engine_keeps_serving(engine, frames):
    _, address = engine
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(address)
    socket.send_multipart(frames)
    assert socket.poll(2000), "the engine stopped answering"
    reply = socket.recv_multipart()
    socket.send_multipart(encode(Message("ping")))
    assert socket.poll(2000) and b"pong" in socket.recv_multipart()[0]
    socket.close(0)
    assert b'"error"' in reply[0] or b'"pong"' in reply[0] or b'"welcome"' in reply[0]


def _children(pid: int) -> list[int]:
    return [int(child) for child in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads child processes from /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["terminated", "killed"])
def test_the_capture_process_ends_with_the_engine_however_it_is_stopped(how, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    engine = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--bind", address, "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = Client(address)
    try:
        deadline = time.monotonic() + 120
        while not client.hello(timeout_s=5.0).fields["capabilities"]["warm"]:
            assert time.monotonic() < deadline, "no capture process loaded within 120 s"
            time.sleep(0.2)
        workers = _children(engine.pid)
        assert workers
        engine.send_signal(how)
        assert engine.wait(10) == (0 if how == signal.SIGTERM else -signal.SIGKILL)  # SIGTERM: a clean stop
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"capture processes outlived the engine ({how.name})"
            time.sleep(0.1)
    finally:
        client.close()
        engine.kill()


def test_exposed_bind_needs_keys(tmp_path):
    with pytest.raises(PermissionError, match="CURVE keys"):
        Server("tcp://0.0.0.0:0", out=tmp_path)


def test_with_curve_keys_only_clients_knowing_the_server_key_get_in(tmp_path):
    public, _ = generate_keys(tmp_path / "keys")
    server = Server("tcp://127.0.0.1:0", out=tmp_path / "served", curve_keys=tmp_path / "keys")
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        stranger = Client(server.address)
        stranger.send(Message("ping"))
        assert stranger.receive(1.0) is None
        stranger.close()
        friend = Client(server.address, server_key=public.read_bytes())
        assert friend.ping() < 1.0
        friend.close()
    finally:
        stop.set()
        thread.join(5)
