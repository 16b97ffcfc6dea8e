"""Lifters and solvers plug in through their registries: an entry and a module, nothing else."""

from __future__ import annotations

import json

import numpy as np

from engine.body.ik import h36m_of_rest
from engine.body.skeleton import default_rest_joints
from engine.lifting import registry
from engine.lifting.baselines import MeanPose
from engine.lifting.registry import ARCHITECTURES, LIFTERS, Architecture, LifterEntry, capture_lifters
from engine.motion import Motion
from engine.pipeline.capture import capture
from engine.pipeline.settings import Settings
from engine.solving import SOLVERS
from engine.solving.decoder import DecoderSolver
from engine.solving.ik import IKSolver
from tests.paths import EXAMPLE_MOTION, REPO

CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"
# The default skeleton's H36M17 joints turned from SMPL's world (y up, facing +z) into a camera's
# frame (y down) facing the person: root-relative, as a lifter answers.
STANDING = (h36m_of_rest(default_rest_joints()) * [1.0, -1.0, -1.0]).astype(np.float32)
STANDING -= STANDING[0]


class StandingLifter(MeanPose):
    """A toy single-frame lifter defined outside the engine: the pose its card holds (a person
    standing square to the camera), whatever it is shown."""


class LookAheadSolver(IKSolver):
    """A toy solver that holds back its last ``LOOK_AHEAD`` frames until the clip is complete,
    as a temporal decoder would; it records what it settled and when."""

    LOOK_AHEAD = 20
    calls: list[tuple[int, int]] = []  # (frames given, settled)

    def extend(self, world_joints: np.ndarray, complete: bool = False) -> dict[str, np.ndarray]:
        solved = super().extend(world_joints, complete)
        self.settled = len(world_joints) if complete else max(len(world_joints) - self.LOOK_AHEAD, 0)
        LookAheadSolver.calls.append((len(world_joints), self.settled))
        return solved


class EveryFootDownSolver(DecoderSolver):
    """A toy solver: the decoder, saying that every heel and toe stands on every frame."""

    def extend(self, world_joints: np.ndarray, complete: bool = False) -> dict[str, np.ndarray]:
        solved = super().extend(world_joints, complete)
        return solved | {"contacts": np.ones((len(solved["poses"]), 4))}


def test_every_shipped_lifter_has_a_card_naming_its_architecture_licence_and_window():
    for entry in LIFTERS.values():
        assert entry.weights_path.is_file() and entry.architecture in ARCHITECTURES
        assert entry.licence and entry.window >= 1
    assert capture_lifters()[0] == registry.DEFAULT_LIFTER and "mean-pose" not in capture_lifters()


def test_a_toy_lifter_and_a_toy_solver_run_a_capture_through_their_registry_entries(tmp_path, monkeypatch):
    card = {"name": "standing", "architecture": "standing", "licence": "ours", "config": {"frames": 1}, "pose": STANDING.tolist()}
    (tmp_path / "standing.json").write_text(json.dumps(card))
    monkeypatch.setitem(ARCHITECTURES, "standing", Architecture(f"{__name__}:StandingLifter", "engine.lifting.streaming:PerFrameLifting"))
    monkeypatch.setitem(LIFTERS, "standing", LifterEntry("standing", str(tmp_path / "standing.json"), "a person standing"))
    monkeypatch.setitem(SOLVERS, "look-ahead", f"{__name__}:LookAheadSolver")
    # The toy's one pose as it is, not averaged with the detector's 3D as a capture's lifting is.
    monkeypatch.setattr("engine.lifting.streaming.averaged_with_detector", lambda lifted, keypoints: lifted)
    LookAheadSolver.calls.clear()
    emitted = []

    def on_frames(start: int, fps: float, rest: np.ndarray, arrays: dict) -> None:
        emitted.append((start + len(arrays["poses"]), LookAheadSolver.calls[-1]))

    motion, report = capture(CLIP, Settings(lifter="standing", solver="look-ahead", foot_lock=0.0), on_frames=on_frames)
    assert report["lifter"] == "standing" and report["lifter_card"] == "standing" and report["solver"] == "look-ahead"
    assert motion.num_frames == report["frames_decoded"] == 217
    # Streamed before the end, and never past what the solver had settled.
    assert len(emitted) > 1 and all(end <= settled for end, (_, settled) in emitted[:-1])
    assert any(given > settled for given, settled in LookAheadSolver.calls)
    # Every frame shows the one standing pose: only the root turns and moves.
    np.testing.assert_allclose(motion.poses[:, 3:], np.broadcast_to(motion.poses[:1, 3:], motion.poses[:, 3:].shape), atol=1e-5)


def test_a_solvers_contacts_pin_only_feet_the_world_stage_finds_planted(monkeypatch):
    # A solver's contacts come from the pose alone; trusted alone they pinned a walker's swinging
    # foot in the air. A solver claiming every foot down on every frame gets the world stage's
    # planted feet (heel and toe alike), and the decoder's own contacts, as stored for the example
    # clip (default settings), are among them.
    monkeypatch.setitem(SOLVERS, "every-foot-down", f"{__name__}:EveryFootDownSolver")
    motion, _ = capture(CLIP, Settings(solver="every-foot-down"))
    claimed, own = motion.contacts > 0.5, Motion.load(EXAMPLE_MOTION).contacts > 0.5
    assert 0.2 < claimed.mean() < 0.9
    np.testing.assert_array_equal(claimed[:, [0, 2]], claimed[:, [1, 3]])
    assert (own <= claimed).all() and 0.2 < own.mean()
