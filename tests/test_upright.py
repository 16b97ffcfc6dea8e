"""People who stand upright in the video stand upright on the floor in the motion (issue #18, "Must show").

At every frame labelled by eye as upright standing (``tests/data/upright_frames.json``, which
says how the labels were made) the captured motion must have:

- the trunk within ``MAX_TILT_DEG`` of vertical: the angle between the SMPL24 pelvis → neck
  vector and the world's +y (the default rest skeleton's own pelvis → neck is 1.1° off
  vertical, so a correct upright capture reads about 1°);
- the lower ankle (the lower of SMPL24 ``l_ankle`` and ``r_ankle``) between ``ANKLE_BAND_M``:
  its height ``y`` above the floor plane ``y = 0``. The engine's floor is the plane the soles
  stand on; a planted ankle joint sits ``FOOT_ABOVE_FLOOR`` (8 cm) above it
  (``engine/pipeline/world.py``), so a correct capture reads about +8 cm, and the band (3 cm
  below the floor to 15 cm above it) allows a raised heel but not a floating or sunken body.

It captures the six clips in ../shared/videos with the default settings (about a minute on
two cores). The table:

    .venv/bin/python -m pytest tests/test_upright.py -s
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest

from engine.body.joints import SMPL24
from engine.motion import Motion
from engine.pipeline.capture import capture
from engine.pipeline.settings import Settings
from engine.pipeline.world import FOOT_ABOVE_FLOOR
from tests.paths import VIDEOS, needs_videos

LABELS = Path(__file__).parent / "data" / "upright_frames.json"
# History of the young man's frame 142 (the end of his break dance, turning a little to his
# left), the last labelled frame to pass. With the floor and gravity fitted on the whole clip,
# the rooftop's pan undone, gravity held to a roughly level camera, gravity and the floor taken
# from the frames in which the person stands on straight legs under the trunk, and planted feet
# found against the floor around them under a moving camera, 17 of 18 passed (4 before that
# work): the analytic IK's trunk leaned 10.0° there (`--solver ik` still reads 10.0°; 12° with
# the mocap-only lifter). Looked at again: in the picture (a level camera: the wall's base is
# horizontal) his trunk leans about 12° there (the detector's mid-hips to mid-shoulders against
# the image's vertical: -12°; -14° at frame 139), so "trunk straight" was generous; against
# vertical lines drawn on the picture he leans about 10° at frames 139 and 142, and gravity on
# this clip comes from his 14 standing frames alone (docs/pipeline.md: the level camera puts it
# 10° off in roll), so these labels measure little more than that he leans alike in them. The
# label stays as made. Since the decoder became the default solver (issue #20) it reads 9.7°:
# 18 of 18 pass, this one by a margin of 0.3°.
MAX_TILT_DEG = 10.0
ANKLE_BAND_M = (-0.03, 0.15)  # lower ankle joint height above the floor (y = 0), metres
PELVIS, NECK = SMPL24.index("pelvis"), SMPL24.index("neck")
ANKLES = [SMPL24.index("l_ankle"), SMPL24.index("r_ankle")]


def _labels() -> dict[str, list[dict]]:
    return json.loads(LABELS.read_text())["clips"]


def trunk_tilt_deg(joints: np.ndarray) -> float:
    """Angle (degrees) between one frame's pelvis → neck (SMPL24 world joints (24, 3)) and +y."""
    trunk = joints[NECK] - joints[PELVIS]
    return float(np.degrees(np.arccos(np.clip(trunk[1] / np.linalg.norm(trunk), -1.0, 1.0))))


def lower_ankle_height_m(joints: np.ndarray) -> float:
    """Height of one frame's lower ankle joint above the floor y = 0 (metres)."""
    return float(joints[ANKLES, 1].min())


def motion_frame(motion: Motion, time_s: float) -> int:
    """The motion frame at ``time_s`` seconds into the video. The motion starts
    ``first_frame_time`` seconds into the video (the frames before the person is first seen are
    left out; a motion that starts with the video has 0 there, and its frame indices are the
    video's) and runs at ``fps``, uniform even where the video's timing is not."""
    return int(round((time_s - motion.first_frame_time) * motion.fps))


def test_the_upright_labels_name_frames_of_the_six_clips():
    """Cheap guard on the label file: every clip exists, frames and times agree with the clip's
    frame rate, and there are enough labels to mean something."""
    labels = _labels()
    assert sum(len(frames) for frames in labels.values()) >= 12
    if not VIDEOS.is_dir():
        pytest.skip(f"no videos at {VIDEOS}")
    with open(VIDEOS / "manifest.csv", newline="") as f:
        manifest = {row["file"]: row for row in csv.DictReader(f)}
    assert set(labels) == set(manifest)
    for clip, frames in labels.items():
        fps = float(manifest[clip]["fps"])
        for label in frames:
            assert label["time_s"] == pytest.approx(label["frame"] / fps, abs=1e-6), (clip, label)
            assert label["note"]


@pytest.fixture(scope="module")
def captured() -> dict[str, tuple[object, float]]:
    """Each labelled clip's Motion, captured with the default settings, and its wall time."""
    motions = {}
    for clip in _labels():
        started = time.perf_counter()
        motion, _ = capture(VIDEOS / clip, Settings())
        motions[clip] = (motion, time.perf_counter() - started)
    return motions


@needs_videos
def test_people_standing_upright_in_the_video_stand_upright_on_the_floor(captured):
    rows, failures = [], []  # rows: clip, video frame, motion frame, tilt or None, ankle height or None, verdict
    for clip, labels in _labels().items():
        motion, _ = captured[clip]
        for label in labels:
            f = motion_frame(motion, label["time_s"])
            if not 0 <= f < motion.num_frames:
                rows.append((clip, label["frame"], f, None, None, "not in the motion"))
                failures.append((clip, label["frame"], f"motion frame {f} is outside the motion's {motion.num_frames}"))
                continue
            tilt, ankle = trunk_tilt_deg(motion.joints[f]), lower_ankle_height_m(motion.joints[f])
            problems = [
                word
                for word, bad in (("leans", tilt > MAX_TILT_DEG), ("off the floor", not ANKLE_BAND_M[0] <= ankle <= ANKLE_BAND_M[1]))
                if bad
            ]
            held = " (a held frame)" if motion.held is not None and motion.held[f] else ""
            rows.append((clip, label["frame"], f, tilt, ankle, (", ".join(problems) or "ok") + held))
            if problems:
                failures.append((clip, label["frame"], f"tilt {tilt:.1f}°, lower ankle {100 * ankle:+.1f} cm"))

    low, high = (100 * x for x in ANKLE_BAND_M)
    print(f"\n\nUpright standing at the labelled frames: trunk = pelvis→neck against +y (at most {MAX_TILT_DEG:g}°); ankle = the lower")
    print(
        f"ankle joint's height above the floor y = 0 ({low:+.0f}..{high:+.0f} cm; a planted ankle reads about +{100 * FOOT_ABOVE_FLOOR:.0f} cm);"
    )
    print(f"sole = ankle - {100 * FOOT_ABOVE_FLOOR:.0f} cm (FOOT_ABOVE_FLOOR), the sole's height if the foot were flat")
    print(f"{'clip':<52} {'frame':>5} {'motion':>6} {'tilt°':>6} {'ankle cm':>8} {'sole cm':>7}  verdict")
    for clip, frame, f, tilt, ankle, verdict in rows:
        if tilt is None:
            print(f"{clip:<52} {frame:>5} {f:>6} {'-':>6} {'-':>8} {'-':>7}  {verdict}")
        else:
            print(f"{clip:<52} {frame:>5} {f:>6} {tilt:6.1f} {100 * ankle:+8.1f} {100 * (ankle - FOOT_ABOVE_FLOOR):+7.1f}  {verdict}")
    measured = [(tilt, ankle) for _, _, _, tilt, ankle, _ in rows if tilt is not None]
    tilts, ankles = np.array(measured).T if measured else (np.array([np.nan]), np.array([np.nan]))
    print(
        f"{len(rows) - len(failures)} of {len(rows)} labelled frames upright on the floor; median tilt {np.median(tilts):.1f}°, "
        f"median lower ankle {100 * np.median(ankles):+.1f} cm"
    )
    print("capture wall time: " + ", ".join(f"{clip[:24]} {seconds:.0f} s" for clip, (_, seconds) in captured.items()))
    assert not failures, "\n".join(f"{clip} frame {frame}: {what}" for clip, frame, what in failures)
