"""Staged writes: checkpoints and capture outputs are never left half-written."""

from __future__ import annotations

import pytest

from engine.io.staging import staged


def test_a_failure_while_writing_keeps_the_previous_files_and_no_partial_ones(tmp_path):
    (tmp_path / "last.pt").write_text("step 200")
    with pytest.raises(KeyboardInterrupt), staged(tmp_path) as stage:
        stage("best.pt").write_text("step 400")
        stage("last.pt").write_text("step 4")  # killed here, mid-write
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert (tmp_path / "last.pt").read_text() == "step 200"


def test_files_staged_together_land_together(tmp_path):
    with staged(tmp_path) as stage:
        stage("best.pt").write_text("step 400")
        stage("last.pt").write_text("step 400")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"best.pt": "step 400", "last.pt": "step 400"}
