"""Training data from mocap: any BVH folder → per-split arrays of joints, SMPL rotations and contacts.

For every BVH under the source folder: recognise the skeleton (``engine.body.correspondence``),
find its length unit from its proportions, drop leading reference frames, retarget onto the
default SMPL skeleton (``engine.body.retarget``), resample to the target frame rate, put the
floor at y = 0 and label foot contacts. Clips go to train / validation / test by subject (by
clip where no subject is known), as listed in the split manifest (``splits/mocap_split.csv``
in the repository, or another file), which is only read; groups it does not list are drawn by
a hash of their name. Only ``update_manifest`` writes those new groups back into it.

Output folder: ``clips.json`` (one record per clip: name, subject, split, licence, frames,
offsets into the arrays, unit, height, retargeting error), ``split.csv`` (the split this
folder was made with: the manifest's groups plus the newly drawn ones), ``summary.json`` and,
per split, ``.npy`` arrays over all its clips' frames, read with memory mapping:
``h36m`` (N, 17, 3) and ``smpl_joints`` (N, 24, 3) world joint positions in metres,
``poses`` (N, 72) SMPL axis-angle on the default skeleton, ``trans`` (N, 3),
``contacts`` (N, 4) (left heel, left toe, right heel, right toe), ``valid`` (N,) false on
frames near a glitch in the source.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress
from scipy.spatial.transform import Rotation, Slerp

from engine.body.correspondence import SkeletonError, joint_maps
from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.body.retarget import bone_direction_error, reference_pose, retarget
from engine.body.skeleton import default_rest_joints
from engine.io.bvh import Bvh, BvhError, read_bvh
from engine.timeseries import interpolate

SPLITS = ("train", "validation", "test")
SPLIT_MANIFEST = Path(__file__).resolve().parents[2] / "splits" / "mocap_split.csv"  # the shipped split, read-only
SPLIT_FILE = "split.csv"  # the effective split, written beside the prepared arrays
# Length units a BVH may be written in; the first that makes the body 1.4-2.1 m tall wins.
UNITS = {"cm": 0.01, "m": 1.0, "cmu": 0.0254 / 0.45, "inch": 0.0254, "mm": 0.001}
HEIGHT_RANGE_M = (1.4, 2.1)
# Ankle-to-shoulder length (leg bones plus mid-hips to thorax) is about 78% of stature.
ANKLE_TO_SHOULDER_OF_STATURE = 0.78
REFERENCE_FRAME_SPEED = 5.0  # m/s: a leading frame this far from the next is a reference pose
GLITCH_SPEED = 20.0  # m/s: no joint of a person moves this fast
CONTACT_HEIGHT = 0.05  # m above the joint's own lowest usual height
CONTACT_SPEED = 0.3  # m/s horizontal
# Licences of the folders in ../shared/mocap (its README); other data says its own, or "unknown".
KNOWN_LICENCES = {
    "cmu": "CMU Graphics Lab Motion Capture Database: free, commercial use allowed (mocap.cs.cmu.edu)",
    "bandai2": "Bandai Namco Research Motion Dataset 2: CC BY-NC 4.0, non-commercial",
}
_CONTACT_JOINTS = [SMPL24.index(n) for n in ("l_ankle", "l_foot", "r_ankle", "r_foot")]


class RejectedClip(ValueError):
    """A file that cannot become training data; the message says why."""


@dataclass
class ClipInfo:
    name: str
    path: str
    subject: str | None
    group: str
    split: str
    licence: str
    skeleton: str
    unit: str
    height_m: float
    fps: float
    frames: int
    start: int  # offset into its split's arrays
    dropped_leading_frames: int
    ground_m: float  # the floor's height in the source, subtracted from every position
    direction_error_deg: float  # mean SMPL24 bone direction error of the retargeting


def stature_m(smpl_zero_pose: np.ndarray) -> float:
    """Estimated standing height from SMPL24 joint positions (any pose: only lengths count)."""
    at = {n: smpl_zero_pose[SMPL24.index(n)] for n in ("l_hip", "l_knee", "l_ankle", "r_hip", "l_shoulder", "r_shoulder")}
    legs = np.linalg.norm(at["l_hip"] - at["l_knee"]) + np.linalg.norm(at["l_knee"] - at["l_ankle"])
    torso = np.linalg.norm((at["l_shoulder"] + at["r_shoulder"] - at["l_hip"] - at["r_hip"]) / 2)
    return float((legs + torso) / ANKLE_TO_SHOULDER_OF_STATURE)


def choose_unit(height_in_file_units: float, name: str) -> tuple[str, float]:
    """The first of :data:`UNITS` that makes the body 1.4-2.1 m tall."""
    for unit, metres in UNITS.items():
        if HEIGHT_RANGE_M[0] <= height_in_file_units * metres <= HEIGHT_RANGE_M[1]:
            return unit, metres
    raise RejectedClip(
        f"{name}: body height {height_in_file_units:.3g} file units is 1.4-2.1 m in none of "
        f"{', '.join(UNITS)}; not a person at a known scale"
    )


def _resample_rotations(times: np.ndarray, rotmats: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    out = np.empty((len(new_times),) + rotmats.shape[1:])
    for j in range(rotmats.shape[1]):
        out[:, j] = Slerp(times, Rotation.from_matrix(rotmats[:, j]))(new_times).as_matrix()
    return out


def contact_labels(joints: np.ndarray, fps: float) -> np.ndarray:
    """Foot contacts (T, 4) of heels (ankles) and toes: near the joint's usual lowest height
    and slow horizontally."""
    feet = joints[:, _CONTACT_JOINTS]
    low = np.percentile(feet[..., 1], 5, axis=0)
    speed = np.linalg.norm(np.gradient(feet[..., [0, 2]], axis=0), axis=-1) * fps
    return ((feet[..., 1] < low + CONTACT_HEIGHT) & (speed < CONTACT_SPEED)).astype(np.float32)


def process_clip(bvh: Bvh, fps: float, rest_joints: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays (see the module docstring) and facts for one clip; raises :class:`RejectedClip`."""
    name = Path(bvh.source).name
    try:
        reference = reference_pose(bvh)
        maps = joint_maps(bvh.names, bvh.parents, *reference, bvh.end_sites)
    except SkeletonError as e:
        raise RejectedClip(f"{name}: {e}") from None
    height = stature_m(maps["SMPL24"].positions(*reference))
    unit, metres = choose_unit(height, name)

    positions, rotations = bvh.world()
    smpl = maps["SMPL24"].positions(positions, rotations) * metres
    speed = np.linalg.norm(np.diff(smpl, axis=0), axis=-1).max(axis=1) * bvh.fps  # (T-1,)
    dropped = 0
    while dropped < len(speed) and speed[dropped] > REFERENCE_FRAME_SPEED:
        dropped += 1
    if bvh.num_frames - dropped < 2:
        raise RejectedClip(f"{name}: fewer than 2 frames of motion")
    positions, rotations, smpl = positions[dropped:], rotations[dropped:], smpl[dropped:]
    glitch = np.zeros(len(smpl), bool)
    jumps = np.flatnonzero(speed[dropped:] > GLITCH_SPEED)
    glitch[jumps], glitch[np.minimum(jumps + 1, len(smpl) - 1)] = True, True

    local = retarget(maps["SMPL24"], positions, rotations, reference, rest_joints)
    h36m = maps["H36M17"].positions(positions, rotations) * metres
    times = np.arange(len(smpl)) / bvh.fps
    new_times = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
    local = _resample_rotations(times, local, new_times)
    smpl, h36m = interpolate(smpl, times, new_times), interpolate(h36m, times, new_times)
    valid = interpolate((~glitch).astype(float), times, new_times) > 0.999

    ground = float(np.percentile(smpl[:, _CONTACT_JOINTS, 1].min(axis=1), 5))
    smpl[..., 1] -= ground
    h36m[..., 1] -= ground
    trans = smpl[:, 0] - rest_joints[0]
    ours, _ = forward_kinematics_np(local, rest_joints, trans, rep="matrix")
    arrays = {
        "h36m": h36m.astype(np.float32),
        "smpl_joints": smpl.astype(np.float32),
        "poses": Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(local), -1).astype(np.float32),
        "trans": trans.astype(np.float32),
        "contacts": contact_labels(smpl, fps),
        "valid": valid,
    }
    facts = {
        "skeleton": f"{len(bvh.names)} joints, root {bvh.names[0]}",
        "unit": unit,
        "height_m": round(height * metres, 3),
        "fps": fps,
        "frames": len(smpl),
        "dropped_leading_frames": dropped,
        "ground_m": round(ground, 4),
        "direction_error_deg": round(float(bone_direction_error(ours, smpl).mean()), 4),
    }
    return arrays, facts


def subject_of(path: Path) -> str | None:
    """The performer, where the file name says it (CMU's ``<subject>_<trial>``)."""
    m = re.match(r"^(\d+)_\d+", path.name)
    return m[1] if m else None


def licence_of(path: Path, src: Path) -> str:
    """The licence of the folder a file comes from: known folders, else a LICENSE file beside it."""
    for folder in [path.parent, *path.parent.parents]:
        if folder.name in KNOWN_LICENCES:
            return KNOWN_LICENCES[folder.name]
        licence_file = folder / "LICENSE"
        if licence_file.is_file():
            return f"{folder.name}: " + licence_file.read_text(errors="replace").strip().splitlines()[0]
        if folder == src:
            break
    return "unknown"


def split_of(group: str, manifest: dict[str, str]) -> str:
    """The manifest's split for a group, or a stable hash draw: 10% test, 10% validation."""
    if group not in manifest:
        draw = int(hashlib.sha1(group.encode()).hexdigest(), 16) % 20
        manifest[group] = "test" if draw < 2 else "validation" if draw < 4 else "train"
    return manifest[group]


def read_split_manifest(path: Path) -> dict[str, str]:
    """Group → split as listed in a manifest file (``group,split`` rows); empty when there is none."""
    if not path.is_file():
        return {}
    return {row["group"]: row["split"] for row in csv.DictReader(path.open())}


def write_split_manifest(path: Path, manifest: dict[str, str]) -> None:
    """Write a manifest, groups sorted (the layout of ``splits/mocap_split.csv``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["group", "split"])
        writer.writerows(sorted(manifest.items()))


def _job(args: tuple[Path, float]) -> tuple[Path, dict | None, dict | None, str | None]:
    path, fps = args
    try:
        arrays, facts = process_clip(read_bvh(path), fps, default_rest_joints())
        return path, arrays, facts, None
    except (BvhError, RejectedClip) as e:
        return path, None, None, str(e)


def prepare(
    src: Path,
    out: Path,
    fps: float = 30.0,
    workers: int = 2,
    manifest_path: Path = SPLIT_MANIFEST,
    force_split: str | None = None,
    update_manifest: bool = False,
) -> dict:
    """Prepare every BVH under ``src`` into ``out``; returns a summary (also ``out/summary.json``).

    The split manifest at ``manifest_path`` is read, never written, unless ``update_manifest``
    asks for the groups it lacks to be added to it; the split actually used (its groups plus the
    newly drawn ones) goes to ``out/split.csv`` either way. ``force_split`` puts every clip in
    that split and writes no split file (to evaluate on someone's own mocap)."""
    files = sorted(p for p in src.rglob("*") if p.name.endswith((".bvh", ".bvh.gz")))
    if not files:
        raise FileNotFoundError(f"{src}: no .bvh or .bvh.gz files")
    listed = read_split_manifest(manifest_path)
    manifest = dict(listed)  # the manifest's groups plus those drawn here; the file stays as it is
    per_split: dict[str, dict[str, list[np.ndarray]]] = {s: {} for s in SPLITS}
    clips: list[ClipInfo] = []
    rejected: dict[str, str] = {}
    with Progress(transient=True) as progress, ProcessPoolExecutor(max_workers=workers) as pool:
        task = progress.add_task("preparing mocap", total=len(files))
        for path, arrays, facts, error in pool.map(_job, [(f, fps) for f in files], chunksize=4):
            progress.advance(task)
            if error is not None:
                rejected[str(path.relative_to(src))] = error
                continue
            subject = subject_of(path)
            group = f"subject:{path.parent.name}/{subject}" if subject else f"clip:{path.relative_to(src)}"
            split = force_split or split_of(group, manifest)
            start = sum(len(a) for a in per_split[split].get("trans", []))
            for key, value in arrays.items():
                per_split[split].setdefault(key, []).append(value)
            name = path.name.removesuffix(".gz").removesuffix(".bvh")
            clips.append(
                ClipInfo(
                    name=name,
                    path=str(path.relative_to(src)),
                    subject=subject,
                    group=group,
                    split=split,
                    licence=licence_of(path, src),
                    start=start,
                    **facts,
                )
            )
    out.mkdir(parents=True, exist_ok=True)
    for split, arrays in per_split.items():
        (out / split).mkdir(exist_ok=True)
        for key, parts in arrays.items():
            np.save(out / split / f"{key}.npy", np.concatenate(parts))
    new_groups = {group: split for group, split in sorted(manifest.items()) if group not in listed}
    if force_split is None:
        write_split_manifest(out / SPLIT_FILE, manifest)
        if update_manifest and new_groups:
            write_split_manifest(manifest_path, manifest)
    (out / "clips.json").write_text(json.dumps([asdict(c) for c in clips], indent=1))
    summary = summarise(clips, rejected, len(files), fps)
    if force_split is None:
        summary["split_manifest"] = {
            "read": str(manifest_path),
            "written": str(out / SPLIT_FILE),
            "new_groups": new_groups,
            "manifest_updated": bool(update_manifest and new_groups),
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarise(clips: list[ClipInfo], rejected: dict[str, str], files: int, fps: float) -> dict:
    """Counts, frames and mean retargeting error per split, licences, and every rejection with its reason."""
    splits = {}
    for split in SPLITS:
        mine = [c for c in clips if c.split == split]
        frames = sum(c.frames for c in mine)
        error = sum(c.direction_error_deg * c.frames for c in mine) / max(frames, 1)
        splits[split] = {
            "clips": len(mine),
            "frames": frames,
            "hours": round(frames / fps / 3600, 3),
            "groups": len({c.group for c in mine}),
            "direction_error_deg": round(error, 3),
            "licences": sorted({c.licence for c in mine}),
        }
    return {
        "files": files,
        "prepared": len(clips),
        "rejected": rejected,
        "fps": fps,
        "splits": splits,
        "joint_sets": {"h36m": H36M17.name, "smpl_joints": SMPL24.name},
    }
