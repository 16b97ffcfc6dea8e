"""The rendered clips packed into per-split arrays that trainers read like the mocap's.

For each split rendered (``OUT/clips/SPLIT/*.npz``), ``OUT/SPLIT/KEY.npy`` holds every
finished clip's frames in clip order, to be opened with ``mmap_mode="r"``: ``landmarks``
(N, 33, 3: pixels and visibility), ``world_landmarks`` (N, 33, 3, metres, hip-centred; NaN
where nobody was found), ``h36m`` (N, 17, 3), ``smpl_joints`` (N, 24, 3), ``face`` (N, 3, 3:
the nose tip and the left and right ears on the body's skin), ``poses`` (N, 72),
``contacts`` (N, 4), ``valid`` (N,), ``intrinsics`` (N, 4: fx, fy, cx, cy), ``extrinsics``
(N, 3, 4: world-to-camera R | t) and ``clip_index`` (N,: the clip's place in ``clips.json``).
``OUT/clips.json`` lists every clip with its split, ``start`` (first row in its split's
arrays), frames, video, mocap clip, subject, licence, body, scene and camera. Every file is
written under a temporary name and renamed, so readers never see half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

KEYS = ("landmarks", "world_landmarks", "h36m", "smpl_joints", "face", "poses", "contacts", "valid", "intrinsics", "extrinsics")


def to_camera(points: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """World ``points`` (T, N, 3) in each frame's camera (``extrinsics`` (T, 3, 4) world → camera)."""
    return np.einsum("tij,tnj->tni", extrinsics[:, :, :3], points) + extrinsics[:, None, :, 3]


def finished_clips(folder: Path) -> list[Path]:
    """A split's finished clips (their ``.npz``), in clip order."""
    return sorted(p for p in folder.glob("*.npz") if not p.name.endswith(".partial.npz"))


def pack(out: Path) -> dict:
    """Write the shards and ``clips.json`` of every split rendered into ``out``; returns a
    summary (clips, frames and the share of frames the detector found the person, per split)."""
    records, summary = [], {}
    for folder in sorted(p for p in (out / "clips").glob("*") if p.is_dir()):
        split, paths = folder.name, finished_clips(folder)
        if not paths:
            continue
        metas, lengths = [], []
        for path in paths:
            with np.load(path) as clip:
                metas.append(json.loads(str(clip["meta"])))
                lengths.append(len(clip["valid"]))
        total = int(sum(lengths))
        (out / split).mkdir(exist_ok=True)
        arrays = {}
        with np.load(paths[0]) as first:
            shapes = {k: (first[k].dtype, first[k].shape[1:]) for k in KEYS}
        partials = {k: out / split / f"{k}.partial.npy" for k in (*KEYS, "clip_index")}
        for key in KEYS:
            dtype, shape = shapes[key]
            arrays[key] = np.lib.format.open_memmap(partials[key], mode="w+", dtype=dtype, shape=(total, *shape))
        arrays["clip_index"] = np.lib.format.open_memmap(partials["clip_index"], mode="w+", dtype=np.int32, shape=(total,))
        start, found = 0, 0.0
        for path, meta, length in zip(paths, metas, lengths):
            with np.load(path) as clip:
                for key in KEYS:
                    arrays[key][start : start + length] = clip[key]
            arrays["clip_index"][start : start + length] = len(records)
            records.append({"split": split, "start": start} | meta)
            found += meta["detected_share"] * length
            start += length
        for array in arrays.values():
            array.flush()
        arrays.clear()  # closes the memory maps
        for key, partial in partials.items():
            os.replace(partial, out / split / f"{key}.npy")
        summary[split] = {"clips": len(paths), "frames": total, "detected_share": round(found / max(total, 1), 4)}
    partial = out / "clips.partial.json"
    partial.write_text(json.dumps(records, indent=1))
    os.replace(partial, out / "clips.json")
    return {"splits": summary}
