"""engine live: frames streamed while a file plays as a camera, a recording, drops instead of
queues, bad clients refused while the stream goes on, windowed lifters refused."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import zmq
from typer.testing import CliRunner

from engine.body.skeleton import default_rest_joints
from engine.cli import app
from engine.client import Client, LiveFollower
from engine.lifting.htnet import HTNet
from engine.lifting.registry import LIFTERS, WEIGHTS_DIR
from engine.live_server import LiveServer
from engine.motion import Motion
from engine.pipeline.live import LiveFrame, LiveRecording
from engine.pipeline.live_source import FrameReader
from engine.protocol import Message, encode
from engine.server import Server
from engine.video import read_frames
from tests.paths import EXAMPLE_CLIP
from tests.test_htnet import SMALL

CLIP_FRAMES, CLIP_FPS = 90, 25.0  # 3.6 s of the example clip, small: the detector keeps up on a busy machine


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def _write_clip(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def person_clip_file(path: Path, frames: int = CLIP_FRAMES) -> Path:
    """The example clip's first ``frames`` at 320×180, 25 fps (the person always in view), written to ``path``."""
    small = [cv2.resize(f.rgb, (320, 180), interpolation=cv2.INTER_AREA) for f, _ in zip(read_frames(EXAMPLE_CLIP), range(frames))]
    return _write_clip(path, small, CLIP_FPS)


def htnet_weights_file(folder: Path) -> Path:
    """The shipped htnet's weights when there are some, else a small HTNet's (random weights: the
    plumbing is what is tested) saved in ``folder`` with its model card, as a trained one is."""
    if "htnet" in LIFTERS:
        return LIFTERS["htnet"].weights_path
    torch.manual_seed(0)
    torch.save(HTNet(SMALL).state_dict(), folder / "tiny_htnet.pt")
    (folder / "tiny_htnet.json").write_text(json.dumps({"name": "tiny_htnet", "architecture": "htnet", "config": SMALL.to_dict()}))
    return folder / "tiny_htnet.pt"


@pytest.fixture(scope="module")
def person_clip(tmp_path_factory) -> Path:
    return person_clip_file(tmp_path_factory.mktemp("live") / "dancer.mp4")


@pytest.fixture(scope="module")
def black_clip(tmp_path_factory) -> Path:
    """2 s of black 64×64 frames at 25 fps: a camera's timing for the tests whose worker is a stand-in."""
    return _write_clip(tmp_path_factory.mktemp("live") / "black.mp4", [np.zeros((64, 64, 3), np.uint8)] * 50, CLIP_FPS)


@pytest.fixture(scope="module")
def htnet_weights(tmp_path_factory) -> Path:
    return htnet_weights_file(tmp_path_factory.mktemp("weights"))


class StandIn:
    """In place of LiveProcessor where the pose does not matter: a zero pose per frame, each
    frame's 2D stage taking ``detect_s`` seconds."""

    fps, rest, camera = CLIP_FPS, default_rest_joints(), np.array([64.0, 64.0, 32.0, 32.0])
    calibration_frames = unseen_frames = 0

    def __init__(self, detect_s: float = 0.0) -> None:
        self.detect_s = detect_s

    def detect(self, frame) -> np.ndarray:
        time.sleep(self.detect_s)
        return np.zeros((17, 3))

    def pose(self, frame, pixels: np.ndarray) -> LiveFrame:
        return LiveFrame(frame.index, frame.time, frame.handed_over, np.zeros(72), np.zeros(3), np.zeros((24, 3)), np.zeros(4), pixels)


def test_engine_live_streams_frames_while_the_file_plays_and_records_what_it_sent(person_clip, htnet_weights, tmp_path):
    address, record, report = free_address(), tmp_path / "live.npz", tmp_path / "live.json"
    arrivals, followed = [], {}

    def follow() -> None:  # a real client, subscribed before the engine starts reading (--wait)
        client = Client(address)
        try:
            followed["stream"] = client.follow_live(timeout_s=60, on_frame=lambda m: arrivals.append(time.monotonic()))
        except Exception as e:
            followed["error"] = e
        finally:
            client.close()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    arguments = ["live", "--source", str(person_clip), "--realtime", "--wait", "--lifter-weights", str(htnet_weights)]
    result = CliRunner().invoke(app, [*arguments, "--bind", address, "--record", str(record), "--json", str(report)])
    thread.join(10)
    assert result.exit_code == 0, result.output
    assert "error" not in followed, followed.get("error")
    stream: LiveFollower = followed["stream"]
    numbers = json.loads(report.read_text())
    print(f"\n{result.output.strip()}")
    assert (
        stream.reason == "the source ended" and stream.stats["frames_sent"] == stream.received == numbers["frames_sent"] >= 10
    )  # drops depend on the load
    assert numbers["frames_read"] == CLIP_FRAMES and stream.source == person_clip.name and stream.fps == pytest.approx(CLIP_FPS, rel=0.01)
    assert stream.rest_joints.shape == (24, 3) and numbers["calibration_frames"] > 0
    # Live: the frames arrive as the file plays, each as long after its time in the file as the
    # first one was (give or take the engine's own delay), so they come before the file ends, not after it.
    motion = stream.motion()
    lag = np.array(arrivals) - motion["time"]
    print(f"each frame's arrival less its time in the file varies by {1000 * np.ptp(lag):.0f} ms over the stream")
    assert np.ptp(lag) < 0.5 and numbers["delay_ms_p95"] < 500
    assert np.all(np.diff(motion["index"]) > 0)
    # The recording is the frames sent, one Motion frame per source frame from the first sent to the last.
    recorded = Motion.load(record)
    first = motion["index"][0]
    assert recorded.num_frames == motion["index"][-1] - first + 1 and recorded.fps == pytest.approx(CLIP_FPS, rel=0.01)
    np.testing.assert_allclose(recorded.poses[motion["index"] - first], motion["poses"], atol=1e-5)
    np.testing.assert_allclose(recorded.trans[motion["index"] - first], motion["trans"], atol=1e-5)
    np.testing.assert_allclose(recorded.rest_joints, stream.rest_joints, atol=1e-6)
    assert np.abs(recorded.joints[0, 0, [0, 2]]).max() < 1e-5  # the origin under the first frame's root


def test_a_worker_slower_than_the_camera_drops_frames_instead_of_queuing_them(black_clip):
    reader = FrameReader(black_clip, realtime=True)
    server = LiveServer("tcp://127.0.0.1:0")
    started = time.perf_counter()
    try:
        reason, stats = server.run(reader, StandIn(detect_s=3 / CLIP_FPS))  # each frame's 2D takes three frames' time
    finally:
        server.close(0)
    numbers = stats.summary()
    print(f"\n{numbers['frames_read']} read, {numbers['frames_dropped']} dropped, {numbers['frames_processed']} processed")
    assert reason == "the source ended" and numbers["frames_read"] == 50
    assert numbers["frames_dropped"] >= 25 and numbers["drop_rate"] == numbers["frames_dropped"] / 50
    # Every frame read was processed or dropped (at most the two in the slots when the file ended are neither) ...
    assert 48 <= numbers["frames_processed"] + numbers["frames_dropped"] <= 50
    # ... and nothing waited in a queue: the stream ended with the file, not a backlog's worth
    # later (a queue would end it at 3 × 2 s, with frames 4 s old); margins for a loaded machine.
    assert time.perf_counter() - started < 50 / CLIP_FPS + 2.5
    assert max(stats.delays) < 1.0  # a frame sent is a stage or two old


def test_a_bad_client_message_is_refused_while_the_stream_goes_on(black_clip):
    server = LiveServer("tcp://127.0.0.1:0")
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(run=server.run(FrameReader(black_clip, realtime=True), StandIn(), wait_for_subscriber=True)),
        daemon=True,
    )
    thread.start()
    viewer, stranger = Client(server.address), zmq.Context.instance().socket(zmq.DEALER)
    stranger.setsockopt(zmq.LINGER, 0)
    stranger.connect(server.address)
    try:
        viewer.subscribe_live()
        follow, frames_before = LiveFollower(), None
        deadline = time.monotonic() + 10
        refusals = []
        while not follow.finished and time.monotonic() < deadline:
            message = viewer.receive(1.0)
            if message is not None:
                follow.take(message)
            if follow.received == 5 and frames_before is None:  # mid-stream: garbage, a capture, a frame sent to it
                frames_before = follow.received
                for bad in ([b"\xff not json"], encode(Message("capture", fields={"video": "/x.mp4"})), encode(Message("pong"))):
                    stranger.send_multipart(bad)
                    assert stranger.poll(2000), "the live engine stopped answering"
                    refusals.append(json.loads(stranger.recv_multipart()[0]))
                stranger.send_multipart(encode(Message("ping")))
                assert stranger.poll(2000) and b"pong" in stranger.recv_multipart()[0]
    finally:
        viewer.close()
        stranger.close(0)
        thread.join(10)
        server.close(0)
    assert [r["type"] for r in refusals] == ["error"] * 3, refusals
    assert [r["code"] for r in refusals] == ["bad-message", "bad-message", "bad-message"]
    assert "engine live answers" in refusals[1]["message"]
    assert follow.finished and follow.reason == "the source ended" and follow.received > frames_before + 20  # the stream went on
    assert follow.stats["frames_sent"] == follow.received and outcome["run"][0] == "the source ended"


def test_a_late_subscriber_gets_the_skeleton_before_its_first_frame_and_unsubscribing_stops_the_frames(black_clip):
    server = LiveServer("tcp://127.0.0.1:0")
    thread = threading.Thread(
        target=server.run, args=(FrameReader(black_clip, realtime=True), StandIn()), kwargs={"wait_for_subscriber": True}
    )
    thread.start()
    first, late = Client(server.address), Client(server.address)
    try:
        first.subscribe_live()
        kinds = [first.receive(5).type for _ in range(10)]
        assert kinds[0] == "live-start" and set(kinds[1:]) == {"live-frame"}
        late.subscribe_live()
        assert [late.receive(5).type for _ in range(2)] == ["live-start", "live-frame"]
        late.unsubscribe_live()
        while late.receive(0.3) is not None:  # the frames already on their way
            pass
        assert late.receive(0.5) is None  # none after
        assert first.receive(1.0).type == "live-frame"  # while the first subscriber still gets them
    finally:
        first.close()
        late.close()
        thread.join(10)
        server.close(0)


def test_engine_serve_points_a_live_subscriber_to_engine_live(tmp_path):
    server = Server("tcp://127.0.0.1:0", out=tmp_path)  # not serving: its capture process never starts
    client = Client(server.address)
    try:
        client.subscribe_live()
        assert server.socket.poll(5000)
        identity, *frames = server.socket.recv_multipart()
        server.handle(identity, frames)
        reply = client.receive(5)
    finally:
        client.close()
        server.socket.close(0)
    assert reply.type == "error" and reply.fields["code"] == "bad-message" and "engine live" in reply.fields["message"]


@pytest.mark.parametrize("how", ["--lifter hot", "--lifter-weights hot_free_world.pt"])
def test_a_lifter_that_cannot_stream_per_frame_is_refused(how, black_clip):
    option, value = how.split()
    if option == "--lifter-weights":
        value = str(WEIGHTS_DIR / value)
        if not Path(value).is_file():
            pytest.skip(f"no shipped weights {value}")
    result = CliRunner().invoke(app, ["live", "--source", str(black_clip), option, value, "--bind", free_address()])
    said = " ".join(result.output.split())  # as one line, however the terminal folded it
    assert result.exit_code == 2 and "cannot stream per frame" in said and "single-frame lifter" in said, said


def test_the_recording_interpolates_dropped_frames_and_holds_long_gaps():
    def frame(index: int, angle: float, x: float) -> LiveFrame:
        poses = np.zeros(72)
        poses[3 * 18 + 2] = angle  # the left elbow turned about z
        joints = np.full((24, 3), x)
        return LiveFrame(index, index / 25, 0.0, poses, np.array([x, 1.0, 0.0]), joints, np.ones(4), np.ones((17, 3)))

    recording = LiveRecording()
    for index, angle, x in ((10, 0.0, 0.0), (12, 1.0, 2.0), (13, 1.0, 3.0), (40, 0.5, 5.0)):  # one frame dropped, then 1.1 s unseen
        recording.add(frame(index, angle, x))
    motion = recording.motion(25.0, default_rest_joints(), np.array([100.0, 100.0, 50.0, 50.0]), "camera 0")
    assert motion.num_frames == 31 and motion.first_frame_time == pytest.approx(0.4) and motion.source == ("camera 0", "")
    assert motion.poses[1, 3 * 18 + 2] == pytest.approx(0.5, abs=1e-5) and motion.trans[1, 0] == pytest.approx(1.0)  # slerp, lerp
    assert not motion.held[:4].any() and motion.held[4:30].all() and not motion.held[30]
    np.testing.assert_array_equal(motion.trans[4:30], np.repeat(motion.trans[3:4], 26, axis=0))  # the long gap holds the last sent
    assert motion.poses[30, 3 * 18 + 2] == pytest.approx(0.5, abs=1e-5)
