"""engine bench lift's parts: FLOPs, alternating CPU timing, and a long clip in one call."""

from __future__ import annotations

from engine.bench.lift import frames_per_second, gflops, long_clip
from engine.lifting.hot import HoT, HoTConfig

SMALL = HoTConfig(frames=27, dim=32, depth=3, heads=4, mlp_dim=64, prune_layer=1, n_tokens=9)


def test_pruning_cuts_the_flops_and_both_models_are_timed():
    hot = HoT(SMALL).eval()
    plain = HoT(SMALL.unpruned()).eval()
    assert gflops(hot) < 0.75 * gflops(plain)
    fps = frames_per_second({"hot": hot, "unpruned": plain}, batch=2, rounds=2)
    assert set(fps) == {"hot", "unpruned"} and min(fps.values()) > 0


def test_a_long_clip_lifts_in_one_call_and_reports_memory():
    report = long_clip(HoT(SMALL).eval(), frames=600)
    assert report["long_clip_frames"] == 600 and report["peak_memory_mb"] > 0 and report["long_clip_seconds"] > 0


def test_frames_channel_delivers_every_frame_faster_than_ten_thousand_a_second():
    from engine.bench.frames import bench_frames

    result = bench_frames(frames=12_000)  # bench_frames itself checks every value arrived
    assert result["frames"] == 12_000 and result["frames_per_second"] > 10_000


def test_the_decoder_bench_times_the_decode_and_the_lifter_on_the_same_windows_per_window():
    from engine.bench.decoder import bench_decoder
    from tests.test_decoder import _tiny_decoder

    results = bench_decoder(model=_tiny_decoder(81), rounds=2, threads=1, batch=3)
    assert results["decoder_window_frames"] == results["lifter_window_frames"] == 81 and results["batch"] == 3
    assert results["lifter_ms_per_window"] > 0 and results["decoder_ms_per_window"] > 0 and results["ik_ms_per_window"] > 0
    assert results["decoder_over_lifter"] == results["decoder_ms_per_window"] / results["lifter_ms_per_window"]
