"""A batch's report a user can read: every video named whole, at any width and in a log, a
summary.json for scripts, failures that say what to do; and animated GIFs captured like videos."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

import engine.cli.capture
from engine.cli import app
from engine.lifting.registry import LIFTERS
from engine.pipeline.batch import Outcome, find_videos
from engine.pipeline.capture import capture
from engine.pipeline.settings import Settings
from engine.video import read_frames
from tests.test_bad_inputs import CLIP, _write

needs_weights = pytest.mark.skipif(not LIFTERS["hot"].weights_path.is_file(), reason="no shipped HoT weights")

LONG_NAME = "Überstunden im Büro — ein sehr langer Dateiname mit Leerzeichen, der in keine Spalte einer Tabelle passt 🎬 [final] FINAL.mp4"


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """The example clip's first 25 frames (1 s), RGB."""
    return [f.rgb for f, _ in zip(read_frames(CLIP), range(25))]


@needs_weights
def test_a_piped_batch_names_every_video_whole_and_summary_json_lists_each_status(tmp_path, frames):
    corpus, out = tmp_path / "my clips", tmp_path / "out"
    corpus.mkdir()
    (corpus / "empty recording from the phone (copy).mp4").write_bytes(b"")
    (corpus / "random bytes – definitely not a video.mov").write_bytes(np.random.default_rng(0).bytes(20_000))
    (corpus / "cut short while downloading.mp4").write_bytes(CLIP.read_bytes()[:40_000])
    _write(corpus / LONG_NAME, [np.full_like(frames[0], 120)] * 10)  # nobody in it
    (corpus / "good clips").mkdir()
    _write(corpus / "good clips" / "dancer.mp4", frames)
    expected = {
        "empty recording from the phone (copy).mp4": ("failed", "empty file (0 bytes): re-export or re-download it"),
        "random bytes – definitely not a video.mov": ("failed", "convert it: ffmpeg -i IN -c:v libx264 OUT.mp4"),
        "cut short while downloading.mp4": ("done", "could be decoded (a truncated or damaged file)"),
        LONG_NAME: ("failed", "no person found in any of its 10 frames; the person must be in view"),
        "good clips/dancer.mp4": ("done", ""),
    }

    environment = os.environ | {"COLUMNS": "80", "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-m", "engine", "mocap", str(corpus), "--out", str(out), "--formats", "npz"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        timeout=300,
    )

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    for name, (status, message) in expected.items():
        [line] = [line for line in lines if name in line]  # whole, on one line with its status and what to do
        assert line.startswith(status) and message in line, line
    assert "…" not in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    videos = {video["name"]: video for video in summary["videos"]}
    assert {name: video["status"] for name, video in videos.items()} == {name: status for name, (status, _) in expected.items()}
    for name, video in videos.items():
        assert video["path"] == str(corpus / name) and expected[name][1] in video["message"]
        if video["status"] == "failed":  # a failure names its file first
            assert video["message"].startswith(f"{corpus / name}: ") and not video["outputs"]
    assert videos["good clips/dancer.mp4"]["frames"] == 25 and videos["good clips/dancer.mp4"]["seconds"] > 0
    assert [Path(p).name for p in videos["good clips/dancer.mp4"]["outputs"]] == ["dancer.npz", "dancer.json"]
    assert all(Path(p).is_file() for video in videos.values() for p in video["outputs"])
    totals = summary["totals"]
    assert (totals["videos"], totals["done"], totals["skipped"], totals["failed"]) == (5, 2, 0, 3) and totals["frames"] >= 25 + 3
    assert summary["started"] <= summary["finished"]
    assert "summary in" in lines[-1] and not [p for p in out.iterdir() if "partial" in p.name]


def test_a_terminal_table_folds_long_names_instead_of_cutting_them(tmp_path, monkeypatch):
    long_video = tmp_path / "sub folder" / LONG_NAME
    long_video.parent.mkdir()
    long_video.write_bytes(b"")
    canned = Outcome(long_video, "failed", message=f"{long_video}: empty file (0 bytes): re-export or re-download it")
    monkeypatch.setattr("engine.pipeline.batch.run_one", lambda video, *args, **kwargs: canned)
    screen = io.StringIO()
    monkeypatch.setattr(engine.cli.capture, "console", Console(file=screen, force_terminal=True, color_system=None, width=50))

    result = CliRunner().invoke(app, ["mocap", str(tmp_path), "--out", str(tmp_path / "out"), "--summary-json", str(tmp_path / "s.json")])

    assert result.exit_code == 1
    rows = [line.split("│") for line in screen.getvalue().splitlines() if line.startswith("│")]
    first_column, notes = ("".join(row[column].strip() for row in rows) for column in (1, 5))
    assert f"subfolder/{LONG_NAME}".replace(" ", "") == first_column.replace(" ", "")
    assert notes.replace(" ", "") == "emptyfile(0bytes):re-exportorre-downloadit"
    assert json.loads((tmp_path / "s.json").read_text())["videos"][0]["name"] == f"sub folder/{LONG_NAME}"


def test_a_video_whose_report_would_be_the_summary_is_refused_before_capturing(tmp_path):
    (tmp_path / "summary.mp4").write_bytes(b"")
    result = CliRunner().invoke(app, ["mocap", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "give --summary-json another path" in result.output
    assert not (tmp_path / "out").exists()


@needs_weights
def test_an_animated_gif_of_a_person_is_captured_with_its_frame_count_and_timing(tmp_path, frames):
    gif = tmp_path / "dancer.gif"
    pictures = [Image.fromarray(rgb).resize((320, 180)) for rgb in frames]
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=80, loop=0)  # 12.5 frames a second

    motion, report = capture(gif, Settings())

    assert find_videos([tmp_path]) == [gif]
    assert report["frames_decoded"] == motion.num_frames == 25 and motion.fps == pytest.approx(12.5)
    assert report["detection_rate"] > 0.9
