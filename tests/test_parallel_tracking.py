"""One video's 2D stage on several threads: segments with a warm-up, results in order, bounded memory."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.pipeline.parallel_tracking import SegmentedTracker, segmenting
from engine.pipeline.person import PersonTracker
from engine.pipeline.settings import Settings, split_cores
from engine.video import Frame, read_frames
from tests.paths import REPO

CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    """The example clip's first 70 frames at 640 × 360 (detection is what is tested, not resolution)."""
    return [Frame(f.index, f.time, cv2.resize(f.rgb, (640, 360))) for f, _ in zip(read_frames(CLIP), range(70))]


SEGMENT, WARMUP = 25, 8  # short, so that 70 frames make three segments


def _single(frames: list[Frame]) -> np.ndarray:
    with PersonTracker() as tracker:
        return np.array([landmarks for _, _, landmarks, _ in tracker.track(frames)])


def test_the_tracker_keeps_the_world_landmarks_of_the_landmarks_it_returns(frames):
    # A blank frame first: nobody there, so no world landmarks either.
    blank = Frame(-1, 0.0, np.zeros_like(frames[0].rgb))
    with PersonTracker() as tracker:
        for index, _, landmarks, world in tracker.track([blank, *frames[:10]]):
            assert world.shape == (33, 4) and world is tracker.world_landmarks
            if index < 0:
                assert not landmarks[:, 2].any() and np.isnan(world).all()
                continue
            # Same look: mediapipe gives both the same visibility; metres, centred between the hips.
            np.testing.assert_array_equal(world[:, 3], landmarks[:, 2])
            assert np.abs(world[[23, 24], :3].mean(axis=0)).max() < 0.01 and np.abs(world[:, :3]).max() < 1.5


def test_a_restarted_tracker_sees_what_a_fresh_one_sees(frames):
    with PersonTracker() as used, PersonTracker() as fresh:
        for frame in frames[:20]:
            used.process(frame.index, frame.rgb)
        used.restart()
        again = [used.process(f.index, f.rgb) for f in frames[20:40]]
        first = [fresh.process(f.index, f.rgb) for f in frames[20:40]]
    np.testing.assert_array_equal(again, first)


def test_segments_come_back_in_order_with_their_times_and_match_one_tracker_closely(frames):
    with SegmentedTracker(2, SEGMENT, WARMUP) as tracker:
        found = list(tracker.track(frames))
        report = tracker.report()
    assert [index for index, *_ in found] == list(range(len(frames)))
    assert [time for _, time, *_ in found] == [f.time for f in frames]
    segmented, single = np.array([landmarks for _, _, landmarks, _ in found]), _single(frames)
    # each frame's world landmarks come from the same look as its landmarks
    assert all(np.array_equal(world[:, 3], landmarks[:, 2], equal_nan=True) or np.isnan(world).all() for _, _, landmarks, world in found)
    np.testing.assert_array_equal(segmented[:SEGMENT], single[:SEGMENT])  # the first segment is tracked as by one tracker
    # Later segments start from a warmed-up tracker: within a pixel on almost every landmark.
    assert np.median(np.linalg.norm(segmented[SEGMENT:, :, :2] - single[SEGMENT:, :, :2], axis=-1)) < 1.0
    # The report counts each frame once, not the warm-up frames seen twice.
    assert report["sampled_frames"] == len(range(0, len(frames), 10))


def test_segmented_tracking_gives_the_same_landmarks_on_every_run_and_with_any_thread_count(frames):
    runs = []
    for workers in (2, 2, 3):
        with SegmentedTracker(workers, SEGMENT, WARMUP) as tracker:
            runs.append(np.array([landmarks for _, _, landmarks, _ in tracker.track(frames)]))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_frames_in_flight_stay_bounded(frames):
    pulled = []

    def source():
        for frame in frames:
            pulled.append(frame.index)
            yield frame

    with SegmentedTracker(2, SEGMENT, WARMUP) as tracker:
        for emitted, _ in enumerate(tracker.track(source()), start=1):
            assert len(pulled) - emitted <= 2 * SEGMENT


def test_a_detector_thread_failure_ends_tracking_with_its_error(frames):
    broken = [*frames[:5], Frame(5, 0.2, frames[5].rgb[..., 0])]  # a grey frame: the detector refuses it
    with pytest.raises(ValueError, match="expected an RGB uint8 frame"), SegmentedTracker(2, SEGMENT, WARMUP) as tracker:
        list(tracker.track(broken))


def test_one_video_gets_every_core_and_a_batch_one_video_per_core():
    assert split_cores(1, cores=2) == (1, 2)
    assert split_cores(5, cores=2) == (2, 1)
    assert split_cores(5, cores=8) == (5, 1)
    assert split_cores(5, workers=1, cores=4) == (1, 4)
    assert split_cores(1, detect_workers=1, cores=4) == (1, 1)


def test_a_short_clip_is_one_segment_per_thread_a_long_one_as_memory_allows_and_8k_gets_one_thread():
    assert segmenting(2, 1280, 720, 260) == (2, 130)
    assert segmenting(2, 1280, 720, 150) == (2, 100)  # never shorter than 100 frames
    assert segmenting(2, 1280, 720, 50) == (1, 100)  # one segment (a photo: one frame): one thread
    assert segmenting(2, 1280, 720, 1) == (1, 100)
    assert segmenting(2, 1280, 720, 9000) == (2, (1 << 30) // (2 * 1280 * 720 * 3))  # 194 frames in flight per thread
    assert segmenting(2, 7680, 4320, 9000)[0] == 1


def test_the_settings_key_only_tells_one_detector_thread_from_many():
    assert Settings(detect_workers=2).key() == Settings(detect_workers=8).key() != Settings().key()
