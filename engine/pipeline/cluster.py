"""``engine mocap --ray``: the batch of :mod:`engine.pipeline.batch` on a Ray cluster.

Each video is one Ray task (:func:`run_one` on a worker) that declares the CPUs it uses. The
driver applies the skip rule before submitting, keeps only as many tasks in flight as the
cluster has room to run, and hands back each :class:`Outcome` as its task finishes; so it holds
a few videos' files at a time, never the whole batch's. Where the files are written:

- ``driver`` (the default): the worker captures into a scratch folder of its own and returns
  the files; the driver puts them into ``out`` with the same staged write as the local batch.
  ``out`` need only exist on the driver's machine.
- ``worker``: the worker writes into ``out`` itself (staged, by :func:`run_one`), which must be
  shared storage at the same path on every node and the driver; no file goes through Ray.

Either way the videos must be readable at the same path on every node (docs/cluster.md).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import ray
from ray.exceptions import RayError

from engine.io.staging import staged
from engine.pipeline.batch import Outcome, preview_name, run_one, skipped
from engine.pipeline.settings import Settings
from engine.video import VideoError

WRITERS = ("driver", "worker")
# A task whose worker process dies (killed, out of memory, its node lost) runs again this many
# times. A video that fails inside the capture is not retried: run_one reports it, and a second
# try would fail the same way.
MAX_RETRIES = 3


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``auto``, ``host:port``, ``ray://host:port``), or
    start one on this machine for ``local``."""
    # The workers' own output (mediapipe's and torch's notices) would break up the progress bar
    # and the summary; Ray keeps it in its logs on each node.
    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, include_dashboard=False if address == "local" else None)


@ray.remote(max_retries=MAX_RETRIES)
def capture_video(
    video: Path, out: Path | None, settings: Settings, formats: tuple[str, ...], preview: bool, smpl: Path | None
) -> tuple[Outcome, dict[str, bytes]]:
    """One video captured on a worker: into ``out`` (shared storage), or, when ``out`` is
    ``None``, into a scratch folder whose files come back with the outcome."""
    import torch

    # The task's CPUs are the detector threads' (Ray sizes it so); torch takes as many, as one
    # video of the local batch does when the batch fills every core.
    torch.set_num_threads(settings.detect_workers)
    # force: the driver has applied the skip rule already; this video is to be captured.
    if out is not None:
        return run_one(video, out, settings, formats, preview=preview, smpl=smpl, force=True), {}
    with tempfile.TemporaryDirectory(prefix="engine-capture-") as scratch:
        outcome = run_one(video, Path(scratch), settings, formats, preview=preview, smpl=smpl, force=True)
        return outcome, {name: (Path(scratch) / name).read_bytes() for name in outcome.files}


def _put_in_place(files: dict[str, bytes], out: Path) -> None:
    """A worker's files into ``out``, all renamed into place together (as run_one writes them)."""
    with staged(out) as stage:
        for name, data in files.items():
            stage(name).write_bytes(data)


def _room(cpus: int) -> int:
    """How many tasks of ``cpus`` CPUs the cluster runs at once; asked again each time, so that
    nodes joining or leaving mid-batch change how many are submitted."""
    return max(1, int(ray.cluster_resources().get("CPU", 0) // cpus))


def run_on_ray(
    videos: Iterable[Path],
    out: Path,
    settings: Settings,
    formats: tuple[str, ...],
    preview: bool = False,
    smpl: Path | None = None,
    force: bool = False,
    write: str = "driver",
    on_running: Callable[[int], None] = lambda running: None,
) -> Iterator[Outcome]:
    """Outcomes of ``videos`` captured as Ray tasks on the cluster :func:`connect` joined, as they
    finish (skipped ones at once); ``on_running`` hears how many tasks are in flight whenever
    that changes. ``write`` says who writes the files (module docstring). Videos are taken from
    ``videos`` only as tasks are submitted, and every error becomes a failed :class:`Outcome`."""
    if write not in WRITERS:
        raise ValueError(f"write: one of {', '.join(WRITERS)}, got {write!r}")
    # Workers start in folders of their own: every path they get must be absolute.
    out = out.absolute()
    smpl = smpl.absolute() if smpl else None
    task = capture_video.options(num_cpus=settings.detect_workers)
    pending: dict[ray.ObjectRef, Path] = {}
    queue = iter(videos)
    while True:
        while len(pending) < _room(settings.detect_workers) and (video := next(queue, None)) is not None:
            video = video.absolute()
            try:
                skip = None if force else skipped(video, out, settings, formats, preview_name(video, preview))
            except (OSError, VideoError):  # a video that cannot be read: its task fails with run_one's message
                skip = None
            if skip:
                yield skip
                continue
            pending[task.remote(video, out if write == "worker" else None, settings, formats, preview, smpl)] = video
            on_running(len(pending))
        if not pending:
            return
        [finished], _ = ray.wait(list(pending), num_returns=1)
        video = pending.pop(finished)
        try:
            outcome, files = ray.get(finished)
            _put_in_place(files, out)
        except (RayError, OSError) as e:  # retries used up, or the driver could not write
            first_line = (str(e).strip().splitlines() or [""])[0]  # Ray's errors run on with advice and tracebacks
            outcome = Outcome(video, "failed", message=f"{video}: {type(e).__name__}: {first_line}")
        yield outcome
        on_running(len(pending))  # once the caller has counted this outcome
