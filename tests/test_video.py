"""Decoding: upright frames whatever the rotation metadata, real timestamps, clear errors."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.video import VideoError, probe, read_frames
from tests.paths import VIDEOS, needs_videos

ROOFTOP = VIDEOS / "pexels_2795750_man_dancing_on_rooftop.mp4"


def _ffmpeg(*args: str) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


@needs_videos
def test_frames_are_counted_and_timed():
    frames = list(read_frames(ROOFTOP))
    info = probe(ROOFTOP)
    assert len(frames) == 217 and frames[0].rgb.shape == (360, 640, 3) and frames[0].rgb.dtype == np.uint8
    assert (info.width, info.height, info.rotation, info.nominal_fps) == (640, 360, 0, 25.0)
    np.testing.assert_allclose(np.diff([f.time for f in frames]), 0.04, atol=1e-6)


@needs_videos
def test_rotation_metadata_turns_frames_upright(tmp_path):
    rotated = tmp_path / "phone.mp4"
    _ffmpeg("-display_rotation", "90", "-i", str(ROOFTOP), "-t", "1", "-c", "copy", str(rotated))
    info = probe(rotated)
    first = next(read_frames(rotated)).rgb
    original = next(read_frames(ROOFTOP)).rgb
    assert info.rotation == 270 and (info.width, info.height) == (360, 640)
    np.testing.assert_array_equal(first, cv2.rotate(original, cv2.ROTATE_90_COUNTERCLOCKWISE))


@needs_videos
def test_variable_frame_rate_keeps_real_times(tmp_path):
    vfr = tmp_path / "vfr.mkv"
    # 25 frames at 25 fps, then 10 frames at 5 fps.
    _ffmpeg("-i", str(ROOFTOP), "-frames:v", "35", "-vf", "setpts='if(lt(N,25),N/25,1+(N-25)/5)/TB'", "-fps_mode", "vfr", "-an", str(vfr))
    times = np.array([f.time for f in read_frames(vfr)])
    assert len(times) == 35
    np.testing.assert_allclose(np.diff(times[:25]), 0.04, atol=2e-3)
    np.testing.assert_allclose(np.diff(times[25:]), 0.2, atol=2e-3)


def test_a_still_image_is_one_frame(tmp_path):
    image = np.zeros((20, 30, 3), np.uint8)
    image[..., 2] = 255  # red in RGB
    cv2.imwrite(str(tmp_path / "still.png"), image[..., ::-1])
    [frame] = list(read_frames(tmp_path / "still.png"))
    assert frame.time == 0 and frame.rgb.shape == (20, 30, 3) and (frame.rgb[..., 2] == 255).all()
    assert probe(tmp_path / "still.png").is_image


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animations_are_clips_timed_by_their_own_frame_delays_and_stills_one_frame(tmp_path, suffix):
    shades = [Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)) for i in range(5)]
    animation = tmp_path / f"animation{suffix}"
    shades[0].save(animation, save_all=True, append_images=shades[1:], duration=[80, 80, 200, 80, 80], loop=0, lossless=True)
    frames, info = list(read_frames(animation)), probe(animation)
    assert len(frames) == info.nominal_frames == 5 and (info.width, info.height, info.is_image) == (30, 20, False)
    np.testing.assert_allclose([f.time for f in frames], [0, 0.08, 0.16, 0.36, 0.44], atol=1e-6)
    assert [int(f.rgb.mean()) for f in frames] == [0, 40, 80, 120, 160]
    shades[0].save(tmp_path / f"still{suffix}")
    assert [(f.index, f.time) for f in read_frames(tmp_path / f"still{suffix}")] == [(0, 0.0)]


def test_unreadable_files_say_why(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        list(read_frames(tmp_path / "missing.mp4"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(VideoError, match="not a video or image file"):
        list(read_frames(tmp_path / "notes.txt"))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError, match="broken.mp4: cannot be opened as a video"):
        list(read_frames(tmp_path / "broken.mp4"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(VideoError, match="broken.png: cannot be decoded as an image"):
        list(read_frames(tmp_path / "broken.png"))
