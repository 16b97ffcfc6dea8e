"""What a batch of ``engine mocap`` did, for people and for scripts.

People read one line per video (or the command line's table), each video named relative to the
folder it was found in, whole; scripts read ``summary.json`` (by default in the output folder):
per video its name, path, status, message, frames, seconds and output paths, when the batch ran,
and totals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from engine import __version__
from engine.io.staging import staged
from engine.pipeline.batch import Outcome

SUMMARY_NAME = "summary.json"


def display_name(video: Path, given: Iterable[Path]) -> str:
    """``video`` relative to the given folder it was found in; a video given by itself, as given."""
    for folder in given:
        if folder.is_dir() and video.is_relative_to(folder):
            return video.relative_to(folder).as_posix()
    return str(video)


def reason(outcome: Outcome) -> str:
    """The outcome's message without the video's path a failure's starts with, for a line or a
    row that names the video already."""
    return outcome.message.removeprefix(f"{outcome.video}: ")


def summary_lines(outcomes: Iterable[Outcome], given: Iterable[Path]) -> list[str]:
    """One line per video: its status, its whole name, and what happened (frames and seconds of
    a capture, its warnings, or why it failed and what to do)."""
    given = list(given)
    lines = []
    for outcome in outcomes:
        notes = [f"{outcome.frames} frames in {outcome.seconds:.1f} s"] if outcome.status == "done" else []
        notes += [reason(outcome)] if outcome.message else []
        lines.append(f"{outcome.status:<8}{display_name(outcome.video, given)}: {'; '.join(notes)}")
    return lines


def batch_summary(outcomes: Iterable[Outcome], given: Iterable[Path], out: Path, started: datetime, finished: datetime) -> dict:
    """The summary of a batch of ``outcomes`` found in the paths ``given``, written into ``out``
    between ``started`` and ``finished``: every video, and totals."""
    outcomes, given = list(outcomes), list(given)
    videos = [
        {
            "name": display_name(o.video, given),
            "path": str(o.video.absolute()),
            "status": o.status,
            "message": o.message,
            "frames": o.frames,
            "seconds": round(o.seconds, 3),
            "outputs": [str(out.absolute() / name) for name in o.files],
        }
        for o in outcomes
    ]
    totals = {"videos": len(outcomes)} | {status: sum(o.status == status for o in outcomes) for status in ("done", "skipped", "failed")}
    totals |= {"frames": sum(o.frames for o in outcomes), "seconds": round(sum(o.seconds for o in outcomes), 3)}
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "engine_version": __version__,
        "out": str(out.absolute()),
        "totals": totals,
        "videos": videos,
    }


def write_summary(summary: dict, path: Path) -> None:
    """``summary`` as JSON at ``path``, written under a temporary name and renamed into place, so
    a reader never finds half of it. Non-ASCII names are escaped: a file name need not be UTF-8."""
    with staged(path.parent) as stage:
        stage(path.name).write_text(json.dumps(summary, indent=1) + "\n")
