"""One batch of bad and good inputs: each bad one fails alone with its own message, every good
one is captured, and nothing half-written is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from engine.lifting.registry import LIFTERS
from engine.pipeline.batch import find_videos, run_many
from engine.pipeline.settings import Settings
from engine.video import VideoError, probe, read_frames
from tests.paths import REPO

CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"
pytestmark = pytest.mark.skipif(not LIFTERS["hot"].weights_path.is_file(), reason="no shipped HoT weights")


def _write(path, frames, size=None, fps=25):
    height, width = frames[0].shape[:2] if size is None else size[::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb if size is None else cv2.resize(rgb, size), cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    frames = [f.rgb for f, _ in zip(read_frames(CLIP), range(30))]
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(CLIP.read_bytes()[:40_000])
    (folder / "notes.mp4").write_text("not a video, just a note someone renamed\n")
    _write(folder / "nobody.mp4", [np.full_like(frames[0], 120) for _ in range(20)])
    _write(folder / "one_frame.mp4", frames[:1])
    _write(folder / "uhd.mp4", frames[:8], size=(3840, 2160))
    _write(folder / "short.mp4", frames)
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-display_rotation", "90", "-i", str(folder / "short.mp4"), "-c", "copy", str(folder / "phone.mp4")],
        check=True,
    )
    (folder / "gone.mp4").symlink_to(folder / "deleted_long_ago.mp4")
    os.mkfifo(folder / "pipe.mp4")
    return folder


def test_a_batch_of_bad_inputs_fails_each_alone_and_captures_the_good(corpus, tmp_path):
    out = tmp_path / "out"
    videos = find_videos([corpus])
    outcomes = {o.video.name: o for o in run_many(videos, out, Settings(), ("npz", "bvh"), preview=False, workers=2)}
    expected_failures = {
        "empty.mp4": "empty file (0 bytes)",
        "notes.mp4": "cannot be opened as a video",
        "nobody.mp4": "no person found in any of its 20 frames",
        "gone.mp4": "a link to nothing",
        "pipe.mp4": "not a regular file",
    }
    for name, message in expected_failures.items():
        assert outcomes[name].status == "failed" and message in outcomes[name].message and name in outcomes[name].message, outcomes[name]
    for name in ("one_frame.mp4", "uhd.mp4", "short.mp4", "phone.mp4"):
        assert outcomes[name].status == "done", (name, outcomes[name].message)
        report = json.loads((out / f"{name[:-4]}.json").read_text())
        assert {f"{name[:-4]}.npz", f"{name[:-4]}.bvh"} <= set(report["files"])
    assert json.loads((out / "phone.json").read_text())["rotation"] in (90, 270)
    # A file cut short keeps what could be decoded, and says so.
    truncated = outcomes["truncated.mp4"]
    assert truncated.status == "done" and "truncated.mp4: only 3 of the 217 frames" in truncated.message
    assert json.loads((out / "one_frame.json").read_text())["frames"] == 1
    # Failed videos left nothing; nothing temporary is left anywhere.
    written = sorted(p.name for p in out.iterdir())
    assert all(not n.startswith(tuple(k[:-4] + "." for k in expected_failures)) for n in written), written
    assert not [n for n in written if "partial" in n], written


def test_mocap_output_carries_no_native_library_chatter(tmp_path):
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all")
    (tmp_path / "truncated.mp4").write_bytes(CLIP.read_bytes()[:100_000])
    result = subprocess.run(
        [sys.executable, "-m", "engine", "mocap", str(tmp_path), "--out", str(tmp_path / "out"), "--formats", "npz"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "1 of 2 videos captured" in " ".join(result.stdout.split())  # the garbage failed
    # FFmpeg's own words come only inside our one-line message, never as its raw "[mov,mp4 @ 0x...]" lines.
    for chatter in ("XNNPACK", "W0000", "absl::InitializeLog", "@ 0x", "partial file", "WARN", "None"):
        assert chatter not in result.stdout + result.stderr, chatter
    assert "garbage.mp4: cannot be opened as a video (FFmpeg: moov atom not found); " in result.stdout


def test_a_video_cut_before_its_index_says_what_ffmpeg_found_in_one_line(tmp_path):
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
    for i in range(10):  # noise: frames large enough that half the file ends inside them
        writer.write(np.random.default_rng(i).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    writer.release()
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # OpenCV writes the index (moov) last: it is gone
    with pytest.raises(VideoError) as error:
        probe(cut)
    assert str(error.value).startswith(f"{cut}: cannot be opened as a video (FFmpeg: moov atom not found); ")
    assert "\n" not in str(error.value)
