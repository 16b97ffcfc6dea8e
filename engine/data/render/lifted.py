"""Windows of rendered corpora as the decoder's training samples: the pipeline's own 3D in, the
rendered body's motion out.

:func:`lift_clips` runs the capture (``engine.pipeline.capture.capture_landmarks``) on each
clip's stored detections and world landmarks, its video beside them for the camera's motion,
and keeps the world joints its solver was given on the final pass: exactly what the decoder
solver sees in ``engine mocap``, real detector errors and the lifter's and the world stage's
with them. :class:`LiftedWindows` cuts them into windows as the decoder solver does
(``engine.decoding.features.window_conditions``; a clip shorter than a window played back
and forth: ``engine.decoding.features.played_back_and_forth``) beside the body's motion in the
decoder's representation:

- the body's rest skeleton is the one that poses the clip's SMPL rotations (``poses``) onto
  its rendered SMPL24 joints (:func:`~engine.body.kinematics.posing_rest`: each bone's offset in its parent's frame,
  averaged over the frames);
- a capture cannot tell a body's size (the rendered ones span 0.9-1.65 times the mocap's), so
  the motion is scaled to the size of the capture's joints (per clip), and turned by the
  rotation that best lays the window's true joints onto the captured ones: the decoder is to
  mend the pose, not guess the size or the world's tilt that nothing in its conditions shows.

With ``augment`` a window is mirrored (half the windows) and reversed in time (half), as the
mocap windows are (``engine.data.pose_windows``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import posing_rest
from engine.data.dataset import sample_rng, window_starts
from engine.data.pose_windows import mirror_pose, mirrored
from engine.decoding.features import motion_features, played_back_and_forth, window_conditions
from engine.decoding.representation import LEAF_JOINTS, to_representation
from engine.geometry import best_rotations, rotvec_to_matrix
from engine.pipeline.settings import Settings

_ARRAYS = ("landmarks", "world_landmarks", "h36m", "smpl_joints", "poses", "contacts", "valid")


def lift_clips(folder: str | Path, split: str, settings: Settings, licences: tuple[str, ...] | None = None) -> list[dict]:
    """Every ``split`` clip of the rendered corpus ``folder`` (only those whose licence starts
    with one of ``licences`` when given) captured on its stored detections with ``settings``:
    its arrays (``_ARRAYS``, float64), ``lifted`` (T, 17, 3) the world joints the capture's
    solver was given, ``seen`` (T,) the frames where it saw the person, and its ``clip`` entry
    of ``clips.json``. A clip in which the capture finds nobody is left out."""
    from engine.pipeline.capture import capture_landmarks  # the pipeline, imported only to make training data
    from engine.video import read_frames_ahead

    folder = Path(folder)
    if not (folder / split / "h36m.npy").is_file():
        raise FileNotFoundError(f"{folder}: no packed {split} split (engine data render ... --split {split})")
    width, height = (json.loads((folder / "render.json").read_text())["settings"][k] for k in ("width", "height"))
    arrays = {key: np.load(folder / split / f"{key}.npy", mmap_mode="r") for key in _ARRAYS}
    lifted = []
    for clip in json.loads((folder / "clips.json").read_text()):
        if clip["split"] != split or (licences and not clip["licence"].startswith(licences)):
            continue
        rows = slice(clip["start"], clip["start"] + clip["frames"])
        own = {key: np.asarray(value[rows], np.float64) for key, value in arrays.items()}  # this clip's rows
        given: list[tuple[np.ndarray, np.ndarray]] = []
        video = folder / "clips" / split / clip["video"]
        try:
            capture_landmarks(
                own["landmarks"],
                np.arange(clip["frames"]) / clip["fps"],
                width,
                height,
                settings,
                read_frames_ahead(video),
                video.name,
                own["world_landmarks"],
                on_world_joints=lambda joints, there: given.append((joints, there)),
            )
        except ValueError:  # nobody found: nothing to learn from
            continue
        joints, there = given[-1]
        frames = min(len(joints), clip["frames"])
        lifted.append({**{k: v[:frames] for k, v in own.items()}, "lifted": joints[:frames], "seen": there[:frames], "clip": clip})
    return lifted


class LiftedWindows(Dataset):
    """Windows of ``frames`` frames of lifted clips (:func:`lift_clips`) as ``{"motion": (T,
    FEATURES), "mask": (T,), "conditions": (T, CONDITIONS)}`` (module docstring), a window
    every ``stride`` frames."""

    def __init__(self, clips: list[dict], frames: int = 81, stride: int | None = None, augment: bool = False, seed: int = 0) -> None:
        if not clips:
            raise ValueError("no lifted clips to make windows of")
        self.frames, self.augment, self.seed = frames, augment, seed
        self.clips = [clip["clip"] for clip in clips]
        self.samples, self.windows = [], []
        stride = stride or max(frames // 3, 1)
        for index, clip in enumerate(clips):
            local = rotvec_to_matrix(clip["poses"].reshape(-1, len(SMPL24), 3))
            there = clip["seen"] & (clip["valid"] > 0)
            captured, truth = (clip[k] - clip[k][:, :1] for k in ("lifted", "h36m"))
            size = np.linalg.norm(captured[there], axis=-1).mean() / np.linalg.norm(truth[there], axis=-1).mean() if there.any() else 1.0
            local[:, list(LEAF_JOINTS)] = np.eye(3)  # the representation does not carry them
            self.samples.append(
                {"local": local, "rest": size * posing_rest(local, clip["smpl_joints"]), "truth": size * truth, "lifted": clip["lifted"],
                 "contacts": clip["contacts"], "there": there}
            )  # fmt: skip
            self.windows += [(index, start) for start in window_starts(len(local), frames, stride)]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = sample_rng(not self.augment, self.seed, index)
        sample, start = self.samples[self.windows[index][0]], self.windows[index][1]
        picks = start + played_back_and_forth(min(self.frames, len(sample["local"]) - start), self.frames)
        local, rest, contacts = sample["local"][picks], sample["rest"], sample["contacts"][picks]
        lifted, truth, there = sample["lifted"][picks], sample["truth"][picks], sample["there"][picks]
        if self.augment and rng.random() < 0.5:
            local, contacts = mirrored(local, contacts)
            rest, lifted, truth = mirror_pose(rest, SMPL24), mirror_pose(lifted, H36M17), mirror_pose(truth, H36M17)
        if self.augment and rng.random() < 0.5:
            local, contacts, lifted, truth, there = local[::-1], contacts[::-1], lifted[::-1], truth[::-1], there[::-1]
        points, twists = to_representation(np.ascontiguousarray(local), rest)
        captured = lifted - lifted[:, :1]
        laid = there if there.any() else np.ones(self.frames, bool)
        onto_capture = best_rotations(truth[laid].reshape(-1, 3), captured[laid].reshape(-1, 3))
        conditions, turn = window_conditions(np.ascontiguousarray(lifted), there)
        motion = motion_features(points @ onto_capture.T @ turn.T, twists, contacts)
        return {
            "motion": torch.from_numpy(motion.astype(np.float32)),
            "mask": torch.from_numpy(there.copy()),
            "conditions": torch.from_numpy(conditions.astype(np.float32)),
        }
