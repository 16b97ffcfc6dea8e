"""The detector noise model: the shipped calibration, and its statistics measured back from
synthetic noisy keypoints with the calibration's own estimators."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from engine.body.joints import H36M17
from engine.data.noise import DEFAULT_MODEL_PATH, SWAP_GROUPS, DetectorNoise, person_scale
from tools import calibrate_noise

IMAGE = (1000, 1000)
# A person facing the camera, legs apart and arms out (body units, y down; their left at +x).
TEMPLATE = np.array(
    [
        [0, 0],
        [-0.12, 0],
        [-0.18, 0.45],
        [-0.25, 0.9],
        [0.12, 0],
        [0.18, 0.45],
        [0.25, 0.9],
        [0, -0.25],
        [0, -0.5],
        [0, -0.6],
        [0, -0.7],
        [0.2, -0.5],
        [0.45, -0.45],
        [0.7, -0.4],
        [-0.2, -0.5],
        [-0.45, -0.45],
        [-0.7, -0.4],
    ]
)


def smooth_trajectory(frames: int, fps: float = 25.0) -> np.ndarray:
    """(T, 17, 2) pixels: the template swaying and opening its limbs slowly, inside the image."""
    t = np.arange(frames) / fps
    sway = 0.1 * np.stack([np.sin(2 * np.pi * 0.3 * t), 0.5 * np.cos(2 * np.pi * 0.2 * t)], axis=-1)
    spread = 0.05 * np.sin(2 * np.pi * 0.5 * t)[:, None, None] * np.sign(TEMPLATE[None, :, :1])
    return 500 + 300 * (TEMPLATE[None] + sway[:, None] + spread)


@pytest.fixture(scope="module")
def model() -> DetectorNoise:
    return DetectorNoise.load()


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DEFAULT_MODEL_PATH.read_text())


def test_shipped_model_records_its_provenance(document, model):
    assert document["mediapipe_version"] == "0.10.21" and document["model_complexity"] == 1
    assert document["smooth_landmarks"] is False and document["date"]
    assert len(document["clips"]) == 6 and document["frames"] == sum(c["frames"] for c in document["clips"]) > 1000
    assert document["joints"] == list(H36M17.names)
    assert model.sigma_white.shape == model.dropout_rate.shape == (17,) and model.confidence_kept.shape == (17, 21)
    assert np.all(model.confidence_dropped < model.drop_threshold)
    assert np.all(model.confidence_kept >= model.drop_threshold)


def test_person_scale_is_the_box_diagonal():
    uv = smooth_trajectory(50)
    diagonal = np.linalg.norm(uv.max(axis=1) - uv.min(axis=1), axis=-1)
    np.testing.assert_allclose(person_scale(uv), diagonal, rtol=0.01)


def test_apply_is_deterministic_and_reports_misses_like_the_detector(model):
    uv = smooth_trajectory(2000)
    first = model.apply(uv, IMAGE, np.random.default_rng(7))
    again = model.apply(uv, IMAGE, np.random.default_rng(7))
    other = model.apply(uv, IMAGE, np.random.default_rng(8))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    noisy, confidence = first
    assert noisy.shape == uv.shape and confidence.shape == uv.shape[:2]
    assert np.all((confidence >= 0) & (confidence <= 1))
    missed = confidence.max(axis=1) == 0
    assert 0 < missed.mean() < 0.1 and not noisy[missed].any()


def test_swaps_exchange_whole_limbs(model):
    quiet = dataclasses.replace(
        model,
        sigma_white=np.zeros(17),
        sigma_ar=np.zeros(17),
        dropout_rate=np.zeros(17),
        guess_error=(0.0, 0.0, 0.0),
        miss_rate=0.0,
        swap_rate={"legs": 0.05, "arms": 0.0},
    )
    uv = smooth_trajectory(4000)
    noisy, _ = quiet.apply(uv, IMAGE, np.random.default_rng(3))
    legs = [j for pair in SWAP_GROUPS["legs"] for j in pair]
    flipped = uv[:, H36M17.flip_permutation]
    unchanged = np.all(noisy == uv, axis=(1, 2))
    legs_swapped = np.all(noisy[:, legs] == flipped[:, legs], axis=(1, 2))
    assert np.all(unchanged ^ legs_swapped)  # every frame: all of the legs swapped, or nothing
    others = [j for j in range(17) if j not in legs]
    np.testing.assert_array_equal(noisy[:, others], uv[:, others])
    assert legs_swapped.mean() == pytest.approx(0.05 * model.swap_mean_frames["legs"], rel=0.3)


def test_joints_outside_the_image_lose_confidence_but_stay_outside(model, document):
    uv = smooth_trajectory(4000)
    uv[:, H36M17.index("r_wrist"), 0] = -40.0  # the right hand beyond the left border
    noisy, confidence = model.apply(uv, IMAGE, np.random.default_rng(5))
    seen = confidence.max(axis=1) > 0
    wrist = H36M17.index("r_wrist")
    dropped = confidence[seen, wrist] < model.drop_threshold
    assert dropped.mean() == pytest.approx(document["edge"]["outside"]["dropout_rate"], abs=0.1)
    assert np.median(noisy[seen, wrist, 0]) < 0  # reported where it is, as mediapipe does, not clamped


def test_calibration_measures_back_the_model_it_wrote(document, model):
    """Two independent noisy 'views' of one smooth motion stand in for a clip and its mirror
    image; the calibration's estimators must return the shipped model's figures."""
    uv = smooth_trajectory(16000)
    views = [model.apply(uv, IMAGE, np.random.default_rng(seed)) for seed in (1, 2)]
    clips = [calibrate_noise.Clip("synthetic", 25.0, *IMAGE, np.dstack([n, c])) for n, c in views]
    measured = calibrate_noise.calibrate([calibrate_noise.measure_clip(*clips)])

    expected, got = document["jitter"], measured["jitter"]
    expected_sigma = np.hypot(expected["sigma_white"], expected["sigma_ar"])
    np.testing.assert_allclose(np.hypot(got["sigma_white"], got["sigma_ar"]), expected_sigma, rtol=0.08)
    np.testing.assert_allclose(got["sigma_white"], expected["sigma_white"], rtol=0.25, atol=0.001)
    np.testing.assert_allclose(got["ar_coefficient"], expected["ar_coefficient"], atol=0.08)
    np.testing.assert_allclose(measured["dropout"]["rate"], document["dropout"]["rate"], rtol=0.2, atol=0.01)
    assert measured["frame_miss"]["rate"] == pytest.approx(document["frame_miss"]["rate"], abs=0.01)
    for group in SWAP_GROUPS:
        rate = document["swaps"][group]["event_rate"]
        assert measured["swaps"][group]["event_rate"] == pytest.approx(rate, rel=0.35), group
