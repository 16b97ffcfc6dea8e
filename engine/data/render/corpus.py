"""The render loop: prepared mocap in, one video and its ground truth per clip out, resumable.

Clip ``k`` of a corpus is decided by the seed and ``k`` alone: which mocap clip (dealt out
source by source and family by family, so consecutive clips differ in motion: CMU's families
are its subjects, Bandai's its motions and styles), which window of it, the body, the scene
and the camera. A finished clip is never rendered again, and each clip's files appear whole
or not at all (written under a temporary name, then renamed), so a stopped run resumes where
it was.

Per clip, in ``OUT/clips/SPLIT/``: ``NNNNNN.mp4`` (H.264, yuv420p, like real footage) and
``NNNNNN.npz``: the ground truth per frame (``h36m``, ``smpl_joints``, ``face``, ``poses``,
``contacts``, ``valid``, ``intrinsics``, ``extrinsics``), what the pipeline's 2D stage saw on
the encoded video (``landmarks``, ``world_landmarks``) and ``meta`` (JSON: mocap clip,
subject, licence, body, scene, camera, timings). ``engine.data.render.shards`` packs them
into per-split arrays.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.data.prepare import SPLIT_MANIFEST, read_split_manifest, split_of
from engine.data.render.body import Body, load_anny, random_body
from engine.data.render.camera import CameraTrack, NoCamera, random_camera_track
from engine.data.render.retarget import perform
from engine.data.render.scene import Renderer, SceneParams, random_scene
from engine.data.render.shards import pack

SETTINGS_FILE = "render.json"
PROGRESS_FILE = "progress.jsonl"
ENCODER = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]


class HeldOutClip(ValueError):
    """A clip whose subject the shipped split keeps out of the split being rendered."""


class UnrenderableClip(ValueError):
    """A planned clip that cannot be filmed: no camera holds its motion, or its pose is not finite."""


@dataclass(frozen=True)
class ClipPlan:
    index: int
    clip: dict  # the prepared clip's record (clips.json)
    start: int  # first frame of the window, within the clip
    frames: int


def family(name: str) -> str:
    """Clips of one family share a performer or a motion: a name without its trailing numbers
    (``06_01`` → ``06``, ``dataset-2_walk_normal_002`` → ``dataset-2_walk_normal``)."""
    return re.sub(r"(_\d+)+$", "", name) or name


def split_clips(prepared: Path, split: str, manifest: Path = SPLIT_MANIFEST) -> list[dict]:
    """The prepared clips of ``split``; raises :class:`HeldOutClip` when the shipped split
    manifest (``splits/mocap_split.csv``, or a hash draw for groups it does not list) puts any
    of their subjects in another split, so that test subjects never become training data even
    from a folder prepared with another manifest."""
    clips = [c for c in json.loads((prepared / "clips.json").read_text()) if c["split"] == split]
    if not clips:
        raise ValueError(f"{prepared}: no clips in split {split!r}")
    shipped = read_split_manifest(manifest)
    wrong = sorted({f"{c['group']} ({split_of(c['group'], shipped)})" for c in clips if split_of(c["group"], shipped) != split})
    if wrong:
        raise HeldOutClip(f"{prepared}: its {split} split holds groups the shipped split keeps elsewhere: {', '.join(wrong[:8])}")
    return clips


def _deal(groups: list[list]) -> list:
    """One from each group in turn, until all are dealt."""
    return [g[r] for r in range(max(map(len, groups), default=0)) for g in groups if r < len(g)]


def plan(clips: list[dict], count: int, frames_per_clip: int, seed: int) -> list[ClipPlan]:
    """The first ``count`` clips of a corpus (module docstring): mocap clips dealt source by
    source (the first folder of their path), within a source family by family, each in a
    seeded random order; a longer plan starts with a shorter one."""
    rng = np.random.default_rng([seed, 0])
    sources: dict[str, dict[str, list[dict]]] = {}
    for c in clips:
        sources.setdefault(Path(c["path"]).parts[0], {}).setdefault(family(c["name"]), []).append(c)
    per_source = []
    for source in sorted(sources):
        families = [sources[source][name] for name in sorted(sources[source])]
        for members in families:
            rng.shuffle(members)
        per_source.append(_deal([families[i] for i in rng.permutation(len(families))]))
    dealt = _deal(per_source)
    plans = []
    for k in range(count):
        clip = dealt[k % len(dealt)]
        frames = min(frames_per_clip, clip["frames"])
        start = int(np.random.default_rng([seed, k, 1]).integers(0, clip["frames"] - frames + 1))
        plans.append(ClipPlan(k, clip, start, frames))
    return plans


def ffmpeg_exe() -> str:
    """The ffmpeg binary imageio-ffmpeg ships (part of the render extra)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoWriter:
    """Frames piped to ffmpeg as raw RGB, encoded as H.264 into ``path``."""

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        command = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}"]
        command += ["-i", "-", *ENCODER, "-f", "mp4", str(path)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        self.process.stdin.write(np.ascontiguousarray(frame).tobytes())

    def close(self) -> None:
        _, errors = self.process.communicate()
        if self.process.returncode:
            raise RuntimeError(f"ffmpeg failed: {errors.decode(errors='replace').strip()}")


def detect(video: Path) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline's 2D stage on a video, as ``engine mocap`` runs it (a fresh
    :class:`~engine.pipeline.person.PersonTracker` on the decoded frames): BlazePose
    landmarks (T, 33, 3) in pixels with visibility, and world landmarks (T, 33, 3) in metres."""
    from engine.pipeline.person import PersonTracker
    from engine.quiet import native_stderr_silenced
    from engine.video import read_frames_ahead

    landmarks, world = [], []
    with native_stderr_silenced(), PersonTracker() as tracker:
        for _, _, found, found_world in tracker.track(read_frames_ahead(video)):
            landmarks.append(found)
            world.append(found_world[:, :3])
    return np.asarray(landmarks, np.float32), np.asarray(world, np.float32)


def _atomic_save(path: Path, **arrays: np.ndarray) -> None:
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez_compressed(partial, **arrays)
    os.replace(partial, path)


class ClipRenderer:
    """Renders planned clips (module docstring) with one Anny model and one offscreen renderer."""

    def __init__(self, prepared: Path, split: str, width: int, height: int, fps: float, model=None) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.arrays = {k: np.load(prepared / split / f"{k}.npy", mmap_mode="r") for k in ("h36m", "smpl_joints", "poses", "valid")}
        self.model = model or load_anny()
        self.renderer = Renderer(width, height)

    def close(self) -> None:
        self.renderer.close()

    def ground_truth(self, plan: ClipPlan, rng: np.random.Generator) -> tuple[dict, Body, np.ndarray]:
        """A new random body performing a planned clip's window: ground-truth arrays, the body,
        its vertices (T, V, 3)."""
        window = slice(plan.clip["start"] + plan.start, plan.clip["start"] + plan.start + plan.frames)
        mocap = {k: np.asarray(v[window]) for k, v in self.arrays.items()}
        body = Body(random_body(rng), self.model)
        truth, vertices = perform(body, mocap, self.fps)
        return truth, body, vertices

    def stage(self, plan: ClipPlan, seed: int) -> tuple[dict, Body, np.ndarray, CameraTrack, SceneParams]:
        """Everything a planned clip's frames need, its scene set up in the renderer: the ground
        truth, the body, its vertices (T, V, 3), the camera and the scene."""
        rng = np.random.default_rng([seed, plan.index, 2])
        truth, body, vertices = self.ground_truth(plan, rng)
        if not np.isfinite(vertices).all():
            raise UnrenderableClip("the posed body is not finite")
        stature = float(np.ptp(body.rest_vertices[:, 1]))
        seen = np.concatenate([truth["smpl_joints"], vertices[:, ::40]], axis=1)  # joints and the skin's outline
        try:
            camera = random_camera_track(rng, seen, stature, self.width, self.height)
        except NoCamera as e:
            raise UnrenderableClip(str(e)) from None
        eye = -np.einsum("tji,tj->ti", camera.R, camera.t)
        scene = random_scene(rng, truth["smpl_joints"][:, 0], eye)
        self.renderer.set_scene(scene, body.faces, body.colours, int(rng.integers(2**31)))
        return truth, body, vertices, camera, scene

    def render(self, plan: ClipPlan, folder: Path, seed: int) -> dict:
        """Render, encode and watch one planned clip into ``folder``; returns its record."""
        started = time.perf_counter()
        truth, body, vertices, camera, scene = self.stage(plan, seed)
        name = f"{plan.index:06d}"
        video, partial = folder / f"{name}.mp4", folder / f"{name}.partial.mp4"
        writer = VideoWriter(partial, self.width, self.height, self.fps)
        intrinsics = (camera.fx, camera.fy, camera.cx, camera.cy)
        try:
            for t in range(plan.frames):
                writer.write(self.renderer.render(vertices[t], camera.R[t], camera.t[t], intrinsics))
        finally:
            writer.close()
        os.replace(partial, video)
        rendered = time.perf_counter()
        landmarks, world = detect(video)
        detected = time.perf_counter()
        found = float((landmarks[..., 2].max(axis=1) > 0).mean())
        record = {
            "index": plan.index,
            "video": video.name,
            "frames": plan.frames,
            "fps": self.fps,
            "mocap_clip": plan.clip["name"],
            "mocap_path": plan.clip["path"],
            "mocap_start": plan.start,
            "subject": plan.clip["subject"],
            "group": plan.clip["group"],
            "licence": plan.clip["licence"],
            "body": body.params.to_json(),
            "camera": camera.summary(),
            "scene": scene.to_json(),
            "detected_share": round(found, 4),
            "render_fps": round(plan.frames / (rendered - started), 2),
            "detect_fps": round(plan.frames / (detected - rendered), 2),
        }
        extrinsics = np.concatenate([camera.R, camera.t[:, :, None]], axis=2)
        _atomic_save(
            folder / f"{name}.npz",
            **truth,
            landmarks=landmarks,
            world_landmarks=world,
            intrinsics=np.tile(np.float32(intrinsics), (plan.frames, 1)),
            extrinsics=extrinsics.astype(np.float32),
            meta=np.array(json.dumps(record)),
        )
        return record


def _settings(out: Path, settings: dict) -> None:
    """Record a run's settings in ``out``; a folder rendered with other ones is refused, so one
    corpus never mixes frame sizes or clip plans."""
    path = out / SETTINGS_FILE
    if path.is_file():
        before = json.loads(path.read_text())["settings"]
        if {k: v for k, v in before.items() if k != "prepared"} != {k: v for k, v in settings.items() if k != "prepared"}:
            raise ValueError(f"{out} was rendered with other settings ({before}); render into another folder")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"settings": settings, "anny": _anny_version()}, indent=1))


def render_corpus(
    prepared: Path,
    out: Path,
    split: str = "train",
    clips: int = 100,
    frames_per_clip: int = 240,
    width: int = 640,
    height: int = 360,
    seed: int = 0,
    pack_every: int = 50,
    log: Callable[[str], None] = print,
) -> dict:
    """Render the first ``clips`` clips of a corpus of ``split`` into ``out`` (module
    docstring), skipping those already finished, and pack the shards; returns a summary.
    Frames per second (render, detect, overall) are logged per clip and appended to
    ``out/progress.jsonl``. A clip that cannot be made (:class:`UnrenderableClip`) is
    recorded as ``NNNNNN.failed.json`` and not tried again."""
    clip_records = split_clips(prepared, split)
    _settings(
        out, {"prepared": str(prepared.resolve()), "frames_per_clip": frames_per_clip, "width": width, "height": height, "seed": seed}
    )
    folder = out / "clips" / split
    folder.mkdir(parents=True, exist_ok=True)
    plans = [p for p in plan(clip_records, clips, frames_per_clip, seed) if not _finished(folder, p.index)]
    log(f"{split}: {clips - len(plans)} of {clips} clips already rendered, {len(plans)} to go -> {folder}")
    summary_file = prepared / "summary.json"
    fps = float(json.loads(summary_file.read_text()).get("fps", 30.0)) if summary_file.is_file() else 30.0
    done, frames, started = 0, 0, time.perf_counter()
    worker = ClipRenderer(prepared, split, width, height, fps) if plans else None
    try:
        for p in plans:
            try:
                record = worker.render(p, folder, seed)
            except UnrenderableClip as e:
                (folder / f"{p.index:06d}.failed.json").write_text(
                    json.dumps({"index": p.index, "mocap_clip": p.clip["name"], "error": str(e)})
                )
                log(f"clip {p.index}: {p.clip['name']}: skipped: {e}")
                continue
            done, frames = done + 1, frames + record["frames"]
            rate = frames / (time.perf_counter() - started)
            log(
                f"clip {p.index} ({done}/{len(plans)}): {p.clip['name']} [{p.start}:{p.start + p.frames}], "
                f"render {record['render_fps']:.1f} fps, detect {record['detect_fps']:.1f} fps, "
                f"person found in {100 * record['detected_share']:.0f} % of frames; overall {rate:.1f} frames/s"
            )
            brief = {k: v for k, v in record.items() if k not in ("body", "scene")}
            with (out / PROGRESS_FILE).open("a") as f:
                f.write(json.dumps({"split": split, "time": time.time(), "overall_fps": round(rate, 2)} | brief) + "\n")
            if done % pack_every == 0:
                pack(out)
    finally:
        if worker is not None:
            worker.close()
    summary = pack(out)
    summary["this_run"] = {"clips": done, "frames": frames, "seconds": round(time.perf_counter() - started, 1)}
    return summary


def _finished(folder: Path, index: int) -> bool:
    return (folder / f"{index:06d}.npz").is_file() or (folder / f"{index:06d}.failed.json").is_file()


def _anny_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("anny")
    except importlib.metadata.PackageNotFoundError:
        return None
