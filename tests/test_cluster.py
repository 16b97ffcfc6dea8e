"""`engine mocap --ray` on a real two-worker Ray cluster (``ray start --head --num-cpus 2`` in a
session of its own, whose processes are killed at the end): outputs equal the local batch's, both ways of
writing them; a second run skips every video; a worker killed mid-task is retried; a task whose
worker keeps dying is reported with its error while the others finish."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.bench.batch import cut_clips
from tests.paths import EXAMPLE_CLIP

ray = pytest.importorskip("ray")
RAY = Path(sys.executable).with_name("ray")
# Ray's switch for one-machine clusters: everything on loopback (without it a driver given
# 127.0.0.1 connects through the machine's network address instead). Such a cluster wants a
# token from its drivers: this one, given to all, rather than one Ray keeps in ~/.ray.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def _in_session(session: int, title: bytes = b"") -> list[int]:
    """Processes of ``session`` whose command line (Ray's workers': their task) starts with ``title``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getsid(int(entry.name)) == session and (entry / "cmdline").read_bytes().startswith(title):
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile
            pass
    return pids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, int]]:
    """(address, session) of a head node with 2 CPUs on loopback, on free ports: every process
    of the cluster is in that session (Ray's workers are in process groups of their own)."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    port = _free_port()
    # The ports Ray would otherwise take by default, so another Ray here is not disturbed.
    ports = {f"--{name}-port": str(_free_port()) for name in ("ray-client-server", "dashboard", "dashboard-agent-listen")}
    command = [str(RAY), "start", "--head", "--block", "--num-cpus", "2", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    command += [
        *(a for pair in ports.items() for a in pair),
        "--include-dashboard",
        "false",
        "--temp-dir",
        str(temp),
        "--disable-usage-stats",
    ]
    log = temp / "start.log"
    head = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=os.environ | LOOPBACK)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, f"ray start failed:\n{log.read_text()}"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", head.pid
    finally:
        # Ray's own `ray stop` would stop every Ray on the machine.
        for pid in _in_session(head.pid):
            os.kill(pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _mocap(folder: Path, out: Path, *options: str, env: dict | None = None, wait: bool = True):
    command = [
        sys.executable,
        "-m",
        "engine",
        "mocap",
        str(folder),
        "--out",
        str(out),
        "--formats",
        "npz",
        "--detect-workers",
        "1",
        *options,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | LOOPBACK | (env or {})
    )
    if not wait:
        return process
    output, _ = process.communicate(timeout=300)
    return process.returncode, output


def _assert_same_npz(out: Path, reference: Path, names: list[str]) -> None:
    for name in names:
        with np.load(out / f"{name}.npz") as got, np.load(reference / f"{name}.npz") as want:
            assert got.files == want.files
            for key in want.files:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}.npz: {key}")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("clips")
    return folder, [p.stem for p in cut_clips(EXAMPLE_CLIP, folder, 2, 25)]


def test_ray_batch_writes_what_the_local_batch_does_and_resumes(cluster, clips, tmp_path):
    folder, names = clips
    env = {"RAY_ADDRESS": cluster[0]}
    # Two worker processes of one torch thread each, as each Ray task of one CPU has.
    code, output = _mocap(folder, tmp_path / "local", "--workers", "2")
    assert code == 0, output
    for write in ("driver", "worker"):
        code, output = _mocap(folder, tmp_path / write, "--ray", "auto", "--ray-write", write, env=env)
        assert code == 0, output
        assert f"2 of 2 videos captured into {tmp_path / write}" in output
        _assert_same_npz(tmp_path / write, tmp_path / "local", names)
        assert sorted(p.name for p in (tmp_path / write).iterdir()) == sorted(
            ["summary.json"] + [f"{n}.{s}" for n in names for s in ("npz", "json")]
        )
    code, output = _mocap(folder, tmp_path / "driver", "--ray", "auto", env=env)
    assert code == 0, output
    assert [line.split()[0] for line in output.splitlines() if line.startswith(("done", "skipped", "failed"))] == ["skipped"] * 2


def test_a_worker_killed_mid_task_is_retried_and_the_batch_completes(cluster, tmp_path):
    address, session = cluster
    names = [p.stem for p in cut_clips(EXAMPLE_CLIP, tmp_path / "clips", 2, 60)]
    batch = _mocap(tmp_path / "clips", tmp_path / "out", "--ray", "auto", env={"RAY_ADDRESS": address}, wait=False)
    deadline = time.monotonic() + 120
    while not (running := _in_session(session, b"ray::capture_video")):  # Ray titles a worker by its task
        assert batch.poll() is None and time.monotonic() < deadline, "no capture task seen running"
        time.sleep(0.2)
    time.sleep(1.0)  # into the capture, past the worker's start
    os.kill(running[0], signal.SIGKILL)
    output, _ = batch.communicate(timeout=300)
    assert batch.returncode == 0, output
    assert all((tmp_path / "out" / f"{name}.npz").is_file() for name in names), output


# A driver whose task for dies.mp4 kills its worker every time (as the kernel killing it for
# memory would): run in its own process, for Ray reads LOOPBACK's variables when imported. The
# task is defined in the script, so it travels by value: the workers need not import the tests.
DYING = """
import os, sys
from pathlib import Path
import ray
from engine.pipeline import cluster
from engine.pipeline.batch import Outcome
from engine.pipeline.settings import Settings

@ray.remote(max_retries=1)
def capture_or_die(video, out, settings, formats, preview, smpl):
    if video.name == "dies.mp4":
        os._exit(1)
    return Outcome(video, "done", frames=1), {}

cluster.capture_video = capture_or_die
cluster.connect(sys.argv[1])
folder = Path(sys.argv[2])
for outcome in cluster.run_on_ray([folder / "dies.mp4", folder / "lives.mp4"], folder / "out", Settings(), ("npz",)):
    # one write, flushed: print() writes its pieces one by one, and Ray's own notices, written
    # from another thread, once landed between "outcome" and the rest
    sys.stdout.write(f"outcome {outcome.status} {outcome.message}\\n")
    sys.stdout.flush()
"""


def test_a_task_whose_worker_keeps_dying_fails_alone_with_its_error(cluster, tmp_path):
    command = [sys.executable, "-c", DYING, cluster[0], str(tmp_path)]
    output = subprocess.run(command, capture_output=True, text=True, env=os.environ | LOOPBACK, timeout=120, check=True).stdout
    # Ray prints notices of its own on the same stdout, at times onto the line an outcome starts.
    outcomes = sorted(re.findall(r"outcome (?:done|failed) .*", output))
    assert len(outcomes) == 2, f"expected an outcome for each video, got:\n{output}"
    done, failed = outcomes
    assert done == "outcome done "  # lives.mp4
    assert failed.startswith(f"outcome failed {tmp_path / 'dies.mp4'}: WorkerCrashedError: "), failed
