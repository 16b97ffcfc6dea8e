"""engine mocap: detections over time, the capture of a real clip, and batches that survive bad files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from engine.body.joints import H36M17, SMPL24
from engine.cli import app
from engine.lifting.registry import LIFTERS
from engine.motion import Motion
from engine.pipeline.batch import run_many, run_one
from engine.pipeline.capture import capture
from engine.pipeline.settings import Settings
from engine.pipeline.track import bridge_gaps
from engine.timeseries import resample, uniform_rate
from engine.video import read_frames
from tests.conftest import EMPTY_AFTER, EMPTY_BEFORE, FIRST_PART, GAP, SECOND_PART
from tests.paths import EXAMPLE_MOTION, REPO, VIDEOS, needs_videos

CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"
# `engine mocap` on CLIP with the default settings, saved before the lifter and solver registries
# came in (tests/data/README.md): a redesign that changes no behaviour gives these arrays again.
needs_weights = pytest.mark.skipif(not LIFTERS["hot"].weights_path.is_file(), reason="no shipped HoT weights")


def test_short_gaps_are_bridged_and_long_gaps_marked():
    times = np.arange(40) / 10.0
    keypoints = np.ones((40, 17, 3))
    keypoints[:, :, 0] = times[:, None]
    keypoints[5:8] = 0  # 0.3 s: bridged
    keypoints[20:30] = 0  # 1.0 s: marked
    bridged, long_gap = bridge_gaps(keypoints, times, max_gap_s=0.5)
    np.testing.assert_allclose(bridged[5:8, :, 0], np.repeat(times[5:8, None], 17, axis=1))
    assert (bridged[5:8, :, 2] == 0.5).all()
    assert long_gap[20:30].all() and long_gap.sum() == 10 and (bridged[20:30] == 0).all()


def test_the_detectors_world_landmarks_reach_the_lifter_only_where_it_had_them():
    from pathlib import Path

    from engine.pipeline.capture import Capture
    from engine.video import VideoInfo

    pipeline = Capture(VideoInfo(Path("x.mp4"), 640, 360, 0, 30.0, 60, False), Settings(), lambda *_: None)
    pipeline.fps = 30.0
    rng = np.random.default_rng(0)
    for i in range(60):
        seen = not 20 <= i < 50  # a long gap: nobody in frames 20-49
        landmarks = np.concatenate([rng.uniform(100, 300, (33, 2)), np.full((33, 1), 0.9 * seen)], -1)
        world = rng.normal(0, 0.3, (33, 4)) if seen and i != 5 else np.full((33, 4), np.nan)  # none on frame 5
        pipeline.add(i, i / 30, landmarks, world)
    pixels, in_long_gap, _, world = pipeline.uniform(60, complete=True)
    present = world[:, 0, 3] == 1
    assert world.shape == (60, 17, 4) and in_long_gap[20:50].all()
    assert present.tolist() == [i != 5 and not 20 <= i < 50 for i in range(60)]
    assert not world[~present].any()  # absent: zeros throughout


def test_variable_rates_are_found_and_resampled():
    even = np.arange(10) / 25
    assert uniform_rate(even) == (25.0, True)
    uneven = np.r_[np.arange(10) / 25, 0.36 + np.arange(1, 6) / 10]
    fps, is_even = uniform_rate(uneven)
    assert fps == 25.0 and not is_even
    values = uneven[:, None] * 2
    np.testing.assert_allclose(resample(values, uneven, fps)[:, 0], np.arange(len(resample(values, uneven, fps))) / 25 * 2)


@needs_weights
def test_a_real_clip_becomes_a_motion_and_files(tmp_path):
    outcome = run_one(CLIP, tmp_path, Settings(), ("npz", "bvh", "fbx"), preview=True)
    assert outcome.status == "done", outcome.message
    motion = Motion.load(tmp_path / f"{CLIP.stem}.npz")
    report = json.loads((tmp_path / f"{CLIP.stem}.json").read_text())
    assert motion.num_frames == report["frames"] == 217 and motion.fps == 25.0 and report["detection_rate"] > 0.95
    assert motion.rest_joints is not None and motion.keypoints2d.shape == (217, 17, 3) and motion.contacts.shape == (217, 4)
    assert motion.source[0] == CLIP.name and set(report["files"]) >= {f"{CLIP.stem}.{e}" for e in ("npz", "bvh", "fbx", "json")}
    # The camera pans (measured: 148 px, 17.8°), and the report says so instead of assuming it static.
    camera = report["camera_motion"]
    assert camera["kind"] == "panning" and camera["compensated"] and 130 < camera["pan_px"] < 165
    assert any(w.startswith("panning camera: ") for w in report["warnings"])
    # Upright and on the floor: the head above the pelvis above the ankles, the feet near y = 0.
    head, pelvis, ankles = motion.joints[:, 15, 1], motion.joints[:, 0, 1], motion.joints[:, [7, 8], 1].min(1)
    assert np.median(head - pelvis) > 0.3 and np.median(pelvis - ankles) > 0.5 and abs(np.percentile(ankles, 5)) < 0.15
    # The camera's poses draw the motion back onto the video (the pan undone and redone).
    limbs = [f"{side}_{joint}" for side in "lr" for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")]
    seen = motion.to_pixels(motion.joints)[:, [SMPL24.index(n) for n in limbs]]
    assert np.median(np.linalg.norm(seen - motion.keypoints2d[:, [H36M17.index(n) for n in limbs], :2], axis=-1)) < 15  # measured 10.8 px
    preview = cv2.VideoCapture(str(tmp_path / f"{CLIP.stem}.preview.mp4"))
    assert preview.get(cv2.CAP_PROP_FRAME_COUNT) == 217 and preview.get(cv2.CAP_PROP_FRAME_WIDTH) == 640 + 360
    again = run_one(CLIP, tmp_path, Settings(), ("npz", "bvh", "fbx"), preview=True)
    assert again.status == "skipped"
    _blender_plays_the_bvh_like_the_npz(tmp_path / f"{CLIP.stem}.bvh", motion)


@needs_weights
def test_engine_mocap_on_the_example_clip_gives_the_stored_motion(tmp_path):
    # One detector thread: tracking in segments (more threads) moves the motion by about a millimetre.
    result = CliRunner().invoke(app, ["mocap", str(CLIP), "--out", str(tmp_path), "--formats", "npz", "--detect-workers", "1"])
    assert result.exit_code == 0, result.output
    made, stored = np.load(tmp_path / f"{CLIP.stem}.npz"), np.load(EXAMPLE_MOTION)
    assert sorted(made.files) == sorted(stored.files)
    # The 2D detector first: if it differs, the machine's CPU gives mediapipe other numbers.
    np.testing.assert_allclose(made["keypoints2d"], stored["keypoints2d"], atol=1e-6, err_msg="2D keypoints differ")
    for key in stored.files:
        if stored[key].dtype.kind == "f":
            np.testing.assert_allclose(made[key], stored[key], atol=1e-6, err_msg=key)
        else:
            assert (made[key] == stored[key]).all(), key


@needs_weights
def test_tracking_in_segments_on_two_threads_moves_the_example_motion_by_under_2_5_mm():
    motion, report = capture(CLIP, Settings(detect_workers=2))
    stored = Motion.load(EXAMPLE_MOTION)
    assert report["person"]["detector_threads"] == 2 and motion.num_frames == stored.num_frames
    moved = (motion.joints - motion.joints[:, :1]) - (stored.joints - stored.joints[:, :1])
    # One segment per thread here (217 frames), the second starting from a tracker warmed up on
    # the 20 frames before it. Issue #17 measured 1.9 mm against a bound of 2; since gravity and
    # the floor come from the standing frames alone (issue #18), 2.1 mm: the segments' 2D
    # differences turn gravity 0.1° and the floor 2 mm, and the IK's arms followed (the wrists
    # and hands moved 5-8 mm, the legs 2 mm, on frames whose 2D is the same bit for bit). With the
    # decoder the default solver (issue #20), 1.4 mm: its hands and feet move 2-3 mm.
    assert 1000 * np.linalg.norm(moved, axis=-1).mean() < 2.5


def _blender_plays_the_bvh_like_the_npz(bvh, motion):
    """Blender's own BVH importer: root and feet within 5 cm of the npz's FK on every frame."""
    bpy = pytest.importorskip("bpy", reason="needs the bpy module: pip install 'mocap-engine[test]'")
    from tests.blender_scene import expected_heads, world_heads

    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.import_anim.bvh(filepath=str(bvh), global_scale=0.01, frame_start=1, use_fps_scale=False) == {"FINISHED"}
    scene = bpy.context.scene
    armature = next(o for o in scene.objects if o.type == "ARMATURE")
    played = world_heads(scene, armature, motion.num_frames)
    fk = expected_heads(motion.poses, motion.trans, motion.rest_joints)
    root_and_feet = [SMPL24.index(n) for n in ("pelvis", "l_ankle", "r_ankle", "l_foot", "r_foot")]
    assert np.abs(played[:, root_and_feet] - fk[:, root_and_feet]).max() < 0.05
    # The npz's own joints are that FK (Blender's frame: SMPL (x, y, z) is (x, -z, y)).
    np.testing.assert_allclose(fk, np.stack([motion.joints[..., 0], -motion.joints[..., 2], motion.joints[..., 1]], -1), atol=1e-5)


def test_a_bad_file_fails_alone_with_its_name(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    outcome = run_one(bad, tmp_path / "out", Settings(), ("npz",))
    assert outcome.status == "failed" and "broken.mp4: cannot be opened as a video" in outcome.message


def test_worker_processes_report_every_video(tmp_path):
    videos = []
    for name in ("a.mp4", "b.mov", "c.mkv"):
        (tmp_path / name).write_bytes(b"\x00" * 100)
        videos.append(tmp_path / name)
    outcomes = list(run_many(videos, tmp_path / "out", Settings(), ("npz",), preview=False, workers=2))
    assert sorted(o.video.name for o in outcomes) == ["a.mp4", "b.mov", "c.mkv"]
    assert all(o.status == "failed" and o.video.name in o.message for o in outcomes)


def test_small_people_are_looked_at_again_and_others_are_reported(tmp_path):
    from engine.keypoints import detect_pose
    from engine.pipeline.person import PersonTracker, person_boxes
    from engine.video import read_frames

    # Two people: the example dancer beside his mirror image; the same, the mirror image larger
    # (the taller one is followed); then the dancer alone, shrunk
    # into the corner of a large frame (about a fifth of its height); then tinier still, in a
    # 1080p frame (about an eighth of its height), where the whole-frame detector sees nobody.
    two, small, tiny, unequal = (tmp_path / f"{name}.mp4" for name in ("two", "small", "tiny", "unequal"))
    pair = cv2.VideoWriter(str(two), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1280, 360))
    uneven = cv2.VideoWriter(str(unequal), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1280, 720))
    alone = cv2.VideoWriter(str(small), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1280, 720))
    far = cv2.VideoWriter(str(tiny), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1920, 1080))
    for frame in read_frames(CLIP):
        if frame.index == 40:
            break
        bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
        pair.write(np.concatenate([bgr, bgr[:, ::-1]], axis=1))
        canvas = np.full((720, 1280, 3), 90, np.uint8)
        canvas[340:700, 0:640] = bgr  # the dancer, his feet near the floor line
        canvas[0:720, 640:1280] = cv2.resize(bgr[:, ::-1], (640, 720))[:, :]  # his mirror image, twice as tall
        uneven.write(canvas)
        canvas = np.full((720, 1280, 3), 90, np.uint8)
        canvas[400:670, 100:580] = cv2.resize(bgr, (480, 270))
        alone.write(canvas)
        canvas = np.full((1080, 1920, 3), 90, np.uint8)
        canvas[700:894, 900:1245] = cv2.resize(bgr, (345, 194))
        far.write(canvas)
    for writer in (pair, alone, far, uneven):
        writer.release()

    def track(path):
        with PersonTracker() as tracker:
            return np.array([tracker.process(f.index, f.rgb) for f in read_frames(path)]), tracker.report()

    followed, report = track(two)
    # Two people side by side can make the whole-frame detector miss both: the search and
    # the closer look then keep one followed.
    assert len(report["frames_with_others"]) >= 2 and (followed[..., 2].max(axis=1) > 0).mean() > 0.95
    landmarks, _ = detect_pose(f.rgb for f in read_frames(small))
    improved, report = track(small)
    assert report["small_frames"] > 30 and report["redetected_frames"] > 0 and report["frames_with_others"] == []
    assert improved[..., 2].mean() >= landmarks[..., 2].mean()
    followed, report = track(unequal)
    heights = np.array([b[3] - b[1] for b in person_boxes(followed) if np.isfinite(b).all()])
    assert np.median(heights) > 400  # the taller one (about 600 px against 300 px)
    first_found = int(np.argmax(followed[..., 2].max(axis=1) > 0))
    assert report["chose_larger"] == [first_found]  # the report names the frame of the switch
    landmarks, _ = detect_pose(f.rgb for f in read_frames(tiny))
    found, report = track(tiny)
    assert landmarks[..., 2].max() == 0 and report["found_by_search"] >= 1  # the first pass sees nobody
    assert (found[..., 2].max(axis=1) > 0).mean() > 0.9 and found[..., 2].mean() > 0.8


@needs_videos
def test_a_pose_far_smaller_than_the_person_is_nobody():
    """The walk/stand clip's woman leaves on the right at about frame 215; from frame 222 the
    detector takes the table's base for a person (a fifth of her size) until the clip ends: those
    frames are nobody, hers are all kept."""
    from engine.pipeline.person import PersonTracker

    with PersonTracker() as tracker:
        followed = {
            f.index: tracker.process(f.index, f.rgb)
            for f in read_frames(VIDEOS / "intel_one_by_one_person_walk_stand_48s-72s.mp4")
            if f.index >= 170
        }
        report = tracker.report()
    seen = {index for index, landmarks in followed.items() if landmarks[:, 2].max() > 0}
    assert set(range(170, 214)) <= seen and not seen & set(range(218, 240))
    assert report["collapsed_frames"] and min(report["collapsed_frames"]) >= 216


@needs_weights
def test_with_an_smpl_model_the_preview_shows_the_body_mesh(tmp_path):
    pytest.importorskip("pyrender")
    from engine.pipeline.preview import write_preview
    from engine.video import read_frames
    from tests.test_smpl_model import make_synthetic_smpl

    clip = tmp_path / "short.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for frame, _ in zip(read_frames(CLIP), range(40)):
        writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    outcome = run_one(clip, tmp_path, Settings(), ("npz",))
    assert outcome.status == "done", outcome.message
    motion = Motion.load(tmp_path / "short.npz")
    model = make_synthetic_smpl(tmp_path / "synthetic_smpl.npz")
    panels = {}
    for name, smpl in (("mesh", model), ("skeleton", None)):
        assert write_preview(clip, motion, tmp_path / f"{name}.mp4", smpl) == []
        video = cv2.VideoCapture(str(tmp_path / f"{name}.mp4"))
        video.set(cv2.CAP_PROP_POS_FRAMES, 20)
        panels[name] = video.read()[1][:, 640:].astype(int)

    # The mesh (the synthetic model's: a shaded blob at each joint) is drawn where the skeleton
    # is drawn: in place of its lines, over the same extent.
    def extent(panel):
        drawn = np.abs(panel[:-2] - 24).max(axis=-1) > 40  # (the floor line is left out below)
        drawn[np.abs(panel[:-2] - 90).max(axis=-1) < 3] = False
        rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
        return drawn.mean(), np.array([rows[0], rows[-1], cols[0], cols[-1]])

    (body, mesh_box), (_, skeleton_box) = extent(panels["mesh"]), extent(panels["skeleton"])
    assert body > 0.02 and np.abs(mesh_box - skeleton_box).max() < 40, (mesh_box, skeleton_box)


@needs_weights
def test_mocap_skips_up_to_date_outputs_unless_forced(tmp_path):
    clip = tmp_path / "short.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for _, frame in zip(range(40), read_frames(CLIP)):
        writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    args = ["mocap", str(clip), "--out", str(tmp_path / "out"), "--formats", "npz"]
    runs = [CliRunner().invoke(app, args + extra, terminal_width=200) for extra in ([], [], ["--force"])]
    assert all(run.exit_code == 0 for run in runs), [run.output for run in runs]
    assert ["skipped" in run.output for run in runs] == [False, True, False]


@pytest.fixture(scope="module")
def captured(clip_with_empty_frames):
    """``captured(**options)``: the clip with empty frames captured with those settings, made
    once per module: (motion, report, the provisional chunks streamed as (start, arrays), and the
    final motion's arrays as handed to ``on_final``)."""
    made = {}

    def get(**options):
        key = tuple(sorted(options.items()))
        if key not in made:
            chunks, final = [], {}
            motion, report = capture(
                clip_with_empty_frames,
                Settings(**options),
                on_frames=lambda start, fps, rest, arrays: chunks.append((start, arrays)),
                on_final=lambda start, fps, rest, arrays: final.update(arrays, rest_joints=rest),
            )
            made[key] = motion, report, chunks, final
        return made[key]

    return get


def _seen(motion):
    return motion.keypoints2d[..., 2].max(axis=1) > 0


@needs_weights
def test_empty_frames_before_and_after_the_person_are_left_out_by_default(captured):
    motion, report, _, _ = captured()
    before, after = report["frames_left_out"]["before"], report["frames_left_out"]["after"]
    assert abs(before - EMPTY_BEFORE) <= 1 and abs(after - EMPTY_AFTER) <= 1  # give or take the detector's first and last frame
    assert (
        _seen(motion)[0]
        and _seen(motion)[-1]
        and motion.num_frames == EMPTY_BEFORE + FIRST_PART + GAP + SECOND_PART + EMPTY_AFTER - before - after
    )
    # The first frame's time in the video, to line the motion up with it.
    assert motion.first_frame_time == report["first_frame_time_s"] == pytest.approx(before / 25)


@needs_weights
def test_keep_empty_keeps_those_frames_holding_the_nearest_pose_with_zero_confidence(captured):
    motion, report, _, _ = captured()
    kept, kept_report, _, _ = captured(keep_empty=True)
    before, after = report["frames_left_out"]["before"], report["frames_left_out"]["after"]
    assert kept.num_frames == EMPTY_BEFORE + FIRST_PART + GAP + SECOND_PART + EMPTY_AFTER and kept.first_frame_time == 0.0
    assert kept_report["frames_left_out"] == {"before": 0, "after": 0}
    empty = np.r_[:before, kept.num_frames - after : kept.num_frames]
    assert kept.held[empty].all() and (kept.keypoints2d[empty, :, 2] == 0).all()
    np.testing.assert_array_equal(kept.joints[:before], np.repeat(kept.joints[before : before + 1], before, axis=0))
    np.testing.assert_array_equal(kept.joints[-after:], np.repeat(kept.joints[-after - 1 : -after], after, axis=0))
    # Keeping them changes none of the other frames.
    for key in ("poses", "trans", "joints", "keypoints2d", "contacts", "held"):
        np.testing.assert_array_equal(getattr(kept, key)[before : kept.num_frames - after], getattr(motion, key), err_msg=key)


@needs_weights
def test_a_long_gap_inside_the_clip_is_held_still_and_flagged(captured, tmp_path):
    motion, report, _, _ = captured()
    [[start, end]] = report["held_frames"]
    assert abs((end - start) - GAP) <= 2 and motion.held.sum() == end - start and not _seen(motion)[start:end].any()
    assert f"{start}-{end - 1}" in " ".join(report["warnings"])
    # Truly the last pose seen: no joint moves across the held frames.
    assert np.abs(motion.joints[start:end] - motion.joints[start - 1]).max() < 1e-3
    assert np.abs(motion.poses[start:end] - motion.poses[start - 1]).max() < 1e-6
    motion.save(tmp_path / "held.npz")
    np.testing.assert_array_equal(Motion.load(tmp_path / "held.npz").held, motion.held)


@needs_weights
def test_the_first_frame_origin_puts_the_first_root_at_x_z_zero_facing_z(captured):
    from engine.geometry import torso_heading
    from engine.pipeline.world import SMPL_TORSO

    motion, _, _, _ = captured()
    np.testing.assert_allclose(motion.trans[0, [0, 2]], 0.0, atol=1e-6)
    assert abs(torso_heading(*motion.joints[0, SMPL_TORSO])) < 1e-6
    # --origin camera: the same motion, turned about the vertical and moved along the floor.
    seen_by_camera, _, _, _ = captured(origin="camera")
    np.testing.assert_allclose(motion.trans[:, 1], seen_by_camera.trans[:, 1], atol=1e-6)  # the floor stays at y = 0
    np.testing.assert_allclose(motion.poses[:, 3:], seen_by_camera.poses[:, 3:], atol=1e-6)
    offsets = seen_by_camera.joints - seen_by_camera.joints[:1, :1]
    turn = np.linalg.lstsq(offsets.reshape(-1, 3), (motion.joints - motion.joints[:1, :1]).reshape(-1, 3), rcond=None)[0].T
    np.testing.assert_allclose(turn @ turn.T, np.eye(3), atol=1e-4)
    np.testing.assert_allclose(turn[1], [0.0, 1.0, 0.0], atol=1e-4)


@needs_weights
def test_streamed_chunks_cover_the_motion_in_order_and_the_final_motion_is_what_is_written(captured):
    motion, _, chunks, final = captured()
    assert len(chunks) > 1 and [start for start, _ in chunks] == list(np.cumsum([0] + [len(a["poses"]) for _, a in chunks[:-1]]))
    # Streamed frames are provisional (the floor and bone lengths of the first seconds), but the
    # same frames, held and left out alike; the final motion, fitted on the whole clip, is written.
    np.testing.assert_array_equal(np.concatenate([arrays["held"] for _, arrays in chunks]), motion.held)
    for key in ("poses", "trans", "joints", "contacts", "held", "rest_joints"):
        np.testing.assert_array_equal(final[key].astype(getattr(motion, key).dtype), getattr(motion, key), err_msg=key)
    # A chunk never ends inside a gap: held frames go out only once the person is seen again.
    assert not any(arrays["held"][-1] for _, arrays in chunks)


def test_settings_refuse_an_unknown_origin_and_a_keep_empty_that_is_not_a_boolean():
    with pytest.raises(ValueError, match="origin must be one of first-frame, camera, got 'floor'"):
        Settings(origin="floor")
    with pytest.raises(ValueError, match="keep_empty must be true or false, got 1"):
        Settings.from_options({"keep_empty": 1})
    assert Settings.from_options({"keep_empty": True, "origin": "camera"}) == Settings(keep_empty=True, origin="camera")


def test_the_preview_turns_its_side_view_with_the_bodys_mean_heading(rest_joints):
    from engine.geometry import rotvec_to_matrix, torso_heading
    from engine.pipeline.preview import side_view_turn
    from engine.pipeline.world import SMPL_TORSO

    headings = np.radians([50.0, 70.0, 60.0])  # a body turning about 60° from +z
    joints = rest_joints @ rotvec_to_matrix(headings[:, None] * [0.0, 1.0, 0.0]).swapaxes(1, 2)
    turned = joints @ side_view_turn(joints).T
    np.testing.assert_allclose(np.degrees(torso_heading(*turned[:, SMPL_TORSO].swapaxes(0, 1))), [-10.0, 10.0, 0.0], atol=1e-6)
