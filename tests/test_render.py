"""The rendered corpus (engine/data/render): Anny bodies performing prepared mocap, watched by
the pipeline's 2D stage. A few short clips at a small size, rendered once per session.

Needs the render extra (anny) and EGL; Anny builds a model cache of about 800 MB on first use
(about 2 minutes, in $ANNY_CACHE_DIR or ~/.cache/mocap-engine/anny), in a child process with a
time limit: when it cannot, these tests are skipped and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.body.joints import SMPL24
from engine.keypoints import blazepose_to_h36m17

pytest.importorskip("anny", reason="the render extra is not installed: pip install -e '.[render]'")
pytest.importorskip("imageio_ffmpeg", reason="no ffmpeg binary: pip install imageio-ffmpeg")

from engine.data.render.body import Body, anny_cache_dir, load_anny, random_body  # noqa: E402
from engine.data.render.corpus import HeldOutClip, render_corpus, split_clips  # noqa: E402
from engine.data.render.retarget import LIMBS, perform  # noqa: E402

# PyOpenGL 3.1.0, which pyrender pins, reads images with numpy's deprecated tostring().
pytestmark = pytest.mark.filterwarnings("ignore:tostring:DeprecationWarning")
CACHE_BUILD_S = 420
SIZE = (480, 270)  # small, and the person still tall enough for the detector
FRAMES = 24


@pytest.fixture(scope="session")
def anny_model():
    """Anny's model, its cache built first in a child process that may take CACHE_BUILD_S."""
    cache = anny_cache_dir()
    build = f"from engine.data.render.body import load_anny; load_anny({str(cache)!r})"
    try:
        subprocess.run([sys.executable, "-c", build], check=True, capture_output=True, timeout=CACHE_BUILD_S)
    except subprocess.TimeoutExpired:
        pytest.skip(f"Anny's model cache could not be built in {CACHE_BUILD_S} s at {cache}")
    except subprocess.CalledProcessError as e:
        pytest.skip(f"Anny's model cache could not be built at {cache}: {e.stderr.decode(errors='replace')[-500:]}")
    return load_anny(cache)


@pytest.fixture(scope="session")
def egl():
    """Skips when no offscreen OpenGL context can be made (EGL and Mesa missing: .ci/system-packages)."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import pyrender

        pyrender.OffscreenRenderer(16, 16).delete()
    except Exception as e:  # what fails depends on which library is missing
        pytest.skip(f"no offscreen OpenGL (EGL): {e}")


def _window(prepared_dir: Path, split: str, frames: int) -> tuple[dict, dict]:
    clip = next(c for c in json.loads((prepared_dir / "clips.json").read_text()) if c["split"] == split and c["frames"] >= frames)
    part = slice(clip["start"], clip["start"] + frames)
    keys = ("h36m", "smpl_joints", "poses", "valid", "contacts")
    return clip, {k: np.load(prepared_dir / split / f"{k}.npy", mmap_mode="r")[part] for k in keys}


@pytest.fixture(scope="session")
def performance(anny_model, prepared):
    """A random body performing 90 frames of a training clip: (mocap window, ground truth, vertices, body)."""
    _, mocap = _window(prepared[0], "train", 90)
    body = Body(random_body(np.random.default_rng(3)), anny_model)
    truth, vertices = perform(body, mocap, 30.0)
    return mocap, truth, vertices, body


@pytest.fixture(scope="session")
def corpus(anny_model, egl, prepared, tmp_path_factory):
    """Two short clips of the train split rendered and watched: (output folder, summary)."""
    out = tmp_path_factory.mktemp("corpus")
    summary = render_corpus(
        prepared[0], out, "train", clips=2, frames_per_clip=FRAMES, width=SIZE[0], height=SIZE[1], seed=1, log=lambda _: None
    )
    return out, summary


def test_limbs_point_where_the_mocap_limbs_point(performance):
    mocap, truth, _, _ = performance
    s = SMPL24.index
    for side in "lr":
        for joint, child in LIMBS.items():
            ours = truth["smpl_joints"][:, s(f"{side}_{child}")] - truth["smpl_joints"][:, s(f"{side}_{joint}")]
            theirs = mocap["smpl_joints"][:, s(f"{side}_{child}")] - mocap["smpl_joints"][:, s(f"{side}_{joint}")]
            cos = np.sum(ours * theirs, -1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
            angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
            assert angle.max() < 1.0, f"{side}_{joint} -> {side}_{child}: {angle.max():.2f} deg"


def test_bones_keep_their_length(performance, anny_model):
    """Posed by rotations only: every limb keeps the body's own length in every frame."""
    _, truth, _, body = performance
    from engine.data.render.retarget import AnnyRig

    rest = AnnyRig(body).rest_joints
    s = SMPL24.index
    for side in "lr":
        for joint, child in LIMBS.items():
            a, b = s(f"{side}_{joint}"), s(f"{side}_{child}")
            lengths = np.linalg.norm(truth["smpl_joints"][:, b] - truth["smpl_joints"][:, a], axis=-1)
            np.testing.assert_allclose(lengths, np.linalg.norm(rest[b] - rest[a]), atol=1e-4)


def test_feet_are_on_the_floor(performance):
    mocap, _, vertices, body = performance
    weights, indices = body.model.vertex_bone_weights.numpy(), body.model.vertex_bone_indices.numpy()
    dominant = np.array(body.bone_names)[indices[np.arange(indices.shape[0]), weights.argmax(axis=1)]]
    lowest = vertices[..., 1].min(axis=1)
    assert np.percentile(lowest, 5) == pytest.approx(0.0, abs=1e-6)  # the floor is where the body stands
    assert lowest.min() > -0.03  # nothing sinks far into it
    soles, planted = [], []
    for side, contacts in (("L", mocap["contacts"][:, :2]), ("R", mocap["contacts"][:, 2:])):
        foot = (np.char.startswith(dominant, "foot") | np.char.startswith(dominant, "toe")) & np.char.endswith(dominant, side)
        soles.append(vertices[:, foot, 1].min(axis=1))
        planted.append(contacts.min(axis=1) > 0.5)  # heel and toe on the ground in the mocap
    soles, planted = np.stack(soles, 1), np.stack(planted, 1)
    assert planted.any()
    # A planted foot is as near the floor as the mocap's contacts say (within 5 cm of it), and
    # the lower of the planted feet stands on it (mocap's feet wobble by a few centimetres).
    assert soles[planted].max() < 0.05
    standing = np.where(planted, soles, np.inf).min(axis=1)[planted.any(axis=1)]
    assert np.median(standing) < 0.02, f"{np.median(standing):.3f} m"


def test_ground_truth_projects_onto_the_body(corpus, anny_model):
    """The stored camera puts the ground-truth joints on the rendered body's silhouette."""
    from engine.data.render.corpus import ClipRenderer, plan

    out, _ = corpus
    clip = np.load(out / "clips" / "train" / "000000.npz")
    record = json.loads(str(clip["meta"]))
    prepared = Path(json.loads((out / "render.json").read_text())["settings"]["prepared"])
    first = plan(split_clips(prepared, "train"), 1, FRAMES, seed=1)[0]
    worker = ClipRenderer(prepared, "train", *SIZE, 30.0, anny_model)
    try:
        truth, _, vertices, _, _ = worker.stage(first, seed=1)
        np.testing.assert_array_equal(truth["smpl_joints"], clip["smpl_joints"])  # the same clip, again
        on_body = []
        for t in range(0, FRAMES, 6):
            (fx, fy, cx, cy), extrinsics = clip["intrinsics"][t], clip["extrinsics"][t]
            mask = worker.renderer.body_mask(vertices[t], extrinsics[:, :3], extrinsics[:, 3], (fx, fy, cx, cy))
            cam = clip["smpl_joints"][t] @ extrinsics[:, :3].T + extrinsics[:, 3]
            uv = np.round(np.stack([fx * cam[:, 0] / cam[:, 2] + cx, fy * cam[:, 1] / cam[:, 2] + cy], -1)).astype(int)
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < SIZE[0]) & (uv[:, 1] >= 0) & (uv[:, 1] < SIZE[1])
            assert inside.all(), f"frame {t}: joints outside the frame"
            # Within a pixel of the silhouette (a joint near the skin may round to the pixel beside it).
            near = np.zeros_like(mask)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    near |= np.roll(mask, (dy, dx), axis=(0, 1))
            on_body += list(near[uv[:, 1], uv[:, 0]])
    finally:
        worker.close()
    assert np.mean(on_body) > 0.95, f"{np.mean(on_body):.0%} of ground-truth joints on the body ({record['camera']})"


def test_the_detector_finds_the_person(corpus):
    out, summary = corpus
    assert summary["splits"]["train"]["detected_share"] > 0.8
    landmarks = np.load(out / "train" / "landmarks.npy")
    world = np.load(out / "train" / "world_landmarks.npy")
    h36m, intrinsics, extrinsics = (np.load(out / "train" / f"{k}.npy") for k in ("h36m", "intrinsics", "extrinsics"))
    found = landmarks[..., 2].max(axis=1) > 0
    assert np.isfinite(world[found]).all() and np.isnan(world[~found]).all()
    assert np.abs(world[found]).max() < 1.5  # metres around the hips
    cam = np.einsum("nij,nkj->nki", extrinsics[:, :, :3], h36m) + extrinsics[:, None, :, 3]
    uv = np.stack([intrinsics[:, None, 0] * cam[..., 0] / cam[..., 2], intrinsics[:, None, 1] * cam[..., 1] / cam[..., 2]], -1)
    uv += intrinsics[:, None, 2:]
    detected = blazepose_to_h36m17(landmarks)[..., :2]
    height = np.ptp(uv[..., 1], axis=1, keepdims=True)
    error = np.linalg.norm(detected - uv, axis=-1) / height
    limbs = [i for i in range(17) if i not in (9, 10)]  # nose and ears: docs/training-data.md, "Rendered corpus"
    assert np.median(error[found][:, limbs]) < 0.05


def test_shards_and_clip_index(corpus):
    out, _ = corpus
    clips = json.loads((out / "clips.json").read_text())
    assert [c["index"] for c in clips] == [0, 1] and all(c["split"] == "train" for c in clips)
    index = np.load(out / "train" / "clip_index.npy", mmap_mode="r")
    frames = sum(c["frames"] for c in clips)
    for key, shape in {"landmarks": (33, 3), "world_landmarks": (33, 3), "h36m": (17, 3), "smpl_joints": (24, 3), "poses": (72,)}.items():
        assert np.load(out / "train" / f"{key}.npy", mmap_mode="r").shape == (frames, *shape)
    assert np.load(out / "train" / "extrinsics.npy", mmap_mode="r").shape == (frames, 3, 4)
    for i, c in enumerate(clips):
        assert (index[c["start"] : c["start"] + c["frames"]] == i).all()
        assert c["licence"] and c["mocap_clip"] and c["body"]["phenotypes"] and (out / "clips" / "train" / c["video"]).is_file()


def test_resume_skips_finished_clips(corpus, prepared):
    out, _ = corpus
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "clips" / "train").iterdir()}
    (out / "clips" / "train" / "000001.partial.mp4").write_bytes(b"cut short")  # an interrupted clip's leftovers
    lines = []
    summary = render_corpus(
        prepared[0], out, "train", clips=2, frames_per_clip=FRAMES, width=SIZE[0], height=SIZE[1], seed=1, log=lines.append
    )
    assert summary["this_run"]["clips"] == 0 and "2 of 2 clips already rendered" in lines[0]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "clips" / "train").iterdir() if "partial" not in p.name} == finished
    with pytest.raises(ValueError, match="other settings"):
        render_corpus(prepared[0], out, "train", clips=2, frames_per_clip=FRAMES, width=320, height=180, seed=1)


def test_test_subjects_are_refused_for_training(prepared, tmp_path):
    # The shipped split keeps CMU subject 06 for testing; a folder prepared with another
    # manifest that put it in train must not become training videos.
    source = json.loads((prepared[0] / "clips.json").read_text())
    leaked = dict(source[0], name="06_01", subject="06", group="subject:cmu/06", split="train")
    (tmp_path / "clips.json").write_text(json.dumps([*source, leaked]))
    with pytest.raises(HeldOutClip, match="subject:cmu/06"):
        split_clips(tmp_path, "train")
    with pytest.raises(HeldOutClip):
        render_corpus(tmp_path, tmp_path / "out", "train", clips=1)
    assert not (tmp_path / "out").exists()
    # The fixture's own test split holds subject 02, which the shipped split trains on.
    with pytest.raises(HeldOutClip, match="subject:cmu/02"):
        split_clips(prepared[0], "test")


def test_rendered_windows_give_the_detectors_view_and_the_bodys_joints_in_the_camera(corpus):
    from engine.data.render.shards import to_camera
    from engine.data.render.windows import RenderedWindows, skeleton_size
    from engine.lifting import WORLD

    out, _ = corpus
    windows = RenderedWindows([out], "train", frames=27)
    assert len(windows) == 2  # one padded window per 24-frame clip
    sample = windows[0]
    assert sample["keypoints"].shape == (27, 17, 7) and sample["joints"].shape == (27, 17, 3)
    assert sample["mask"].tolist() == [True] * FRAMES + [False] * 3  # the padding does not count
    h36m, extrinsics = (np.load(out / "train" / f"{k}.npy")[:FRAMES] for k in ("h36m", "extrinsics"))
    cam = to_camera(h36m, extrinsics)
    np.testing.assert_allclose(sample["joints"][:FRAMES].numpy(), cam - cam[:, :1], atol=1e-5)
    found = np.load(out / "train" / "landmarks.npy")[:FRAMES, :, 2].max(axis=1) > 0
    assert (sample["keypoints"][:FRAMES, 0, 6].numpy() == found).all()  # world landmarks wherever the person was found
    assert not RenderedWindows([out], "train", frames=27, world_dropout=1.0)[0]["keypoints"][..., WORLD].any()
    # scaled to a given size, a body keeps its proportions
    scaled = RenderedWindows([out], "train", frames=27, size=2.0)[0]["joints"][:FRAMES].numpy()
    assert skeleton_size(scaled) == pytest.approx(2.0, rel=1e-5)
    np.testing.assert_allclose(scaled, sample["joints"][:FRAMES].numpy() * 2.0 / skeleton_size(cam), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="no packed validation split"):
        RenderedWindows([out], "validation")


def test_a_lifter_trains_on_mocap_and_rendered_clips_with_their_world_landmarks(corpus, prepared, tmp_path):
    from engine.lifting.registry import LIFTERS
    from engine.train.lifter import TrainConfig, train

    # The fixture's clips, called validation clips, for the rendered validation.
    val = tmp_path / "rendered_validation"
    shutil.copytree(corpus[0] / "train", val / "validation")
    shutil.copy(corpus[0] / "render.json", val)
    clips = json.loads((corpus[0] / "clips.json").read_text())
    (val / "clips.json").write_text(json.dumps([{**c, "split": "validation"} for c in clips]))
    # the shipped hot's size, started from its weights
    model = LIFTERS["hot"].card["config"]
    config = TrainConfig(
        name="tiny", data=str(prepared[0]), model=model, steps=2, val_every=1, val_windows=4, batch=2, workers=0, threads=1,
        runs=str(tmp_path), corpora=[str(corpus[0])], corpus_validation=[str(val)], corpus_share=0.5, init="hot",
    )  # fmt: skip
    card = train(config)
    assert card["steps"] == 2 and card["config"]["in_chans"] == 7 and card["training"]["corpora"] == [str(corpus[0])]
    assert card["started_from"]["name"] == LIFTERS["hot"].card["name"]
    # validation: the mean of the mocap's and the rendered clips', each kept
    last = card["history"][-1]
    assert last["val_mpjpe_mm"] == pytest.approx((last["val_mocap_mm"] + last["val_rendered_mm"]) / 2, abs=0.01)
    rendered = {c["licence"] for c in json.loads((corpus[0] / "clips.json").read_text())}
    assert rendered <= set(card["data"]["licences"])


def test_the_decoder_trains_on_rendered_clips_as_the_pipeline_captures_them(corpus, prepared, tmp_path):
    from engine.data.render.lifted import LiftedWindows, lift_clips
    from engine.decoding.features import split_features
    from engine.pipeline.settings import Settings
    from engine.train.decoder import DecoderTrainConfig, train

    clips = lift_clips(corpus[0], "train", Settings())
    assert len(clips) == 2
    assert all(c["lifted"].shape == (FRAMES, 17, 3) and c["seen"].dtype == bool and c["seen"].any() for c in clips)
    windows = LiftedWindows(clips, frames=27)
    sample = windows[0]
    assert sample["motion"].shape[0] == sample["conditions"].shape[0] == 27
    picks = np.r_[0:FRAMES, FRAMES - 2 : FRAMES - 5 : -1]  # 24 frames played back and forth to fill 27
    assert sample["mask"].tolist() == list(clips[0]["seen"][picks] & (clips[0]["valid"][picks] > 0))
    # the body's own motion at the capture's size: every bone scaled alike
    points = split_features(sample["motion"].numpy().astype(np.float64))[0]
    s = SMPL24.index
    truth = clips[0]["smpl_joints"][:FRAMES]
    ratios = [
        np.linalg.norm(points[:FRAMES, s(b)] - points[:FRAMES, s(a)], axis=-1) / np.linalg.norm(truth[:, s(b)] - truth[:, s(a)], axis=-1)
        for a, b in (("l_hip", "l_knee"), ("r_knee", "r_ankle"), ("l_shoulder", "l_elbow"), ("r_elbow", "r_wrist"))
    ]
    captured = clips[0]["lifted"] - clips[0]["lifted"][:, :1]
    true = clips[0]["h36m"] - clips[0]["h36m"][:, :1]
    size = np.linalg.norm(captured, axis=-1).mean() / np.linalg.norm(true, axis=-1).mean()
    np.testing.assert_allclose(np.median(ratios, axis=1), size, rtol=0.03)
    # a decoder goes on training from another on them, validated on both kinds of windows
    common = dict(data=str(prepared[0]), steps=1, val_every=1, val_windows=4, batch=2, workers=0, device="cpu", runs=str(tmp_path))
    train(DecoderTrainConfig(name="v", model={"frames": 27, "width": 32, "layers": 1, "ffn": 64, "latent": 8}, **common))
    train(
        DecoderTrainConfig(
            name="d", stage="denoiser", vae=str(tmp_path / "v" / "v.pt"), model={"width": 32, "layers": 3, "ffn": 64}, **common
        )
    )
    val = tmp_path / "rendered_validation"
    shutil.copytree(corpus[0] / "train", val / "validation")
    shutil.copytree(corpus[0] / "clips" / "train", val / "clips" / "validation")
    shutil.copy(corpus[0] / "render.json", val)
    (val / "clips.json").write_text(json.dumps([{**c, "split": "validation"} for c in json.loads((corpus[0] / "clips.json").read_text())]))
    card = train(
        DecoderTrainConfig(
            name="r", stage="denoiser", init=str(tmp_path / "d" / "d.pt"), corpora=[str(corpus[0])], corpus_validation=[str(val)],
            corpus_share=0.5, **common,
        )
    )  # fmt: skip
    assert card["started_from"]["name"] == "d" and card["data"]["clips"] > 2
    last = card["history"][-1]
    assert last["val_mpjpe_mm"] == pytest.approx((last["val_mocap_mm"] + last["val_rendered_mm"]) / 2, abs=0.01)
    before, after = torch.load(tmp_path / "d" / "d.pt"), torch.load(tmp_path / "r" / "r.pt")
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("vae.") or k in ("latent_scale", "points_from_joints"))
