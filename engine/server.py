"""`engine serve`: the ZeroMQ engine that captures videos for clients and streams their motion.

One ROUTER socket (``docs/protocol.md``); the loop never blocks on a job. Jobs run one at a
time, each in a child process (started while the server is idle, so that its imports and
model loading are done before the job arrives) that runs the same capture as ``engine mocap`` and writes the
same files; the child passes progress, the motion's provisional frames as soon as the capture has
made them, and at the end the final motion (the one written), through a queue (the server cuts
them into ``frames`` and ``final`` messages), so a cancel stops it at once (the
process is ended) and a crash in it never takes the server down. Every message about a job
goes to the job's current owner: a client that reconnects ``attach``-es and gets the frames
it missed and the final series. Nothing here imports torch.

Safety: loopback by default; any other interface needs CURVE keys (``engine keys generate``)
or ``insecure=True``; ``MAXMSGSIZE`` on the socket; every message validated
(``engine.protocol``); videos must be existing regular files, inside ``root`` when set.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import threading
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from ipaddress import ip_address
from pathlib import Path
from pkgutil import resolve_name

import zmq

from engine import __version__
from engine.io import FORMATS
from engine.lifting.registry import capture_lifters
from engine.pipeline.settings import Settings, split_cores
from engine.protocol import DEFAULT_ADDRESS, MAX_MESSAGE_BYTES, MOTION_ARRAYS, Message, ProtocolError, decode, encode
from engine.solving import AUTO, SOLVERS

log = logging.getLogger("engine.serve")
DEFAULT_OUT = Path("out/served")
CHUNK_FRAMES = 60
HEARTBEAT_MS = 2000
CLIENT_TYPES = {"hello", "capture", "cancel", "attach", "ping"}


@dataclass
class Worker:
    process: mp.Process
    jobs: mp.Queue
    events: mp.Queue
    ready: bool = False  # its imports are done


@dataclass
class Job:
    id: str
    owner: bytes
    video: Path
    settings: Settings
    status: str = "queued"  # queued, running, done, failed, cancelled
    worker: Worker | None = None
    sent: list[Message] = field(default_factory=list)  # skeleton, frames, final and the last message, for attach


def is_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host in ("localhost",):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False  # "*", interface names and host names count as exposed


def generate_keys(folder: Path) -> tuple[Path, Path]:
    """Write a CURVE key pair: ``server.key`` (secret, keep it) and ``server.pub`` (give to clients)."""
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.curve_keypair()
    (folder / "server.pub").write_bytes(public)
    (folder / "server.key").write_bytes(secret)
    (folder / "server.key").chmod(0o600)
    return folder / "server.pub", folder / "server.key"


def bind_router(bind: str, curve_keys: Path | None = None, insecure: bool = False, send_queue: int = 1000) -> zmq.Socket:
    """The engine's ROUTER socket bound to ``bind``, with the safety every engine keeps (module
    docstring): PermissionError for an address beyond loopback without CURVE keys or ``insecure``.
    ``send_queue``: messages kept for a client that does not read (ZeroMQ's default), the rest dropped."""
    if not is_loopback(bind) and curve_keys is None:
        if not insecure:
            raise PermissionError(
                f"binding {bind} exposes the engine beyond this machine: give CURVE keys "
                "(engine keys generate DIR, then --curve-keys DIR) or --insecure"
            )
        log.warning("INSECURE: serving %s without encryption or authentication", bind)
    socket = zmq.Context.instance().socket(zmq.ROUTER)
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES + 4096)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SNDHWM, send_queue)
    socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * HEARTBEAT_MS)
    if curve_keys is not None:
        socket.curve_server = True
        socket.curve_publickey = (curve_keys / "server.pub").read_bytes()
        socket.curve_secretkey = (curve_keys / "server.key").read_bytes()
    socket.bind(bind)
    return socket


def _exit_with_server() -> None:
    """End this capture process when the server's process ends, even when it was killed (SIGKILL
    gives it no chance to end its children): an orphan would hold its memory and its inherited
    stdout forever."""
    mp.parent_process().join()
    os._exit(1)


def _work(jobs: mp.Queue, events: mp.Queue) -> None:
    """A capture process: loads the pipeline first (seconds), then waits for one job and runs it
    as ``engine mocap`` does, passing progress, frames and the final motion back through ``events``
    as (kind, start, fps, motion arrays, arrays every chunk carries whole)."""
    threading.Thread(target=_exit_with_server, daemon=True).start()
    import mediapipe.python.solutions.pose  # noqa: F401  (the detector's import takes seconds)

    from engine.pipeline.batch import run_one, torch_threads

    for solver in SOLVERS.values():  # the decoder's module imports diffusers: 1.7 s that held back a job's first frames
        resolve_name(solver)
    events.put(("ready",))
    video, out, options = jobs.get()
    torch_threads(1, options["detect_workers"])

    def progress(stage: str, done: int, total: int) -> None:
        events.put(("progress", stage, done, total))

    def frames(start: int, fps: float, rest, arrays: dict) -> None:
        if start == 0:
            events.put(("skeleton", rest))
        events.put(("frames", start, fps, {key: arrays[key] for key in MOTION_ARRAYS}, {}))

    def final(start: int, fps: float, rest, arrays: dict) -> None:
        # the whole clip's rest skeleton can differ from the streamed frames': each chunk carries it
        events.put(("final", start, fps, {key: arrays[key] for key in MOTION_ARRAYS}, {"rest_joints": rest}))

    # force: the client asked for the frames, so earlier outputs being up to date is no reason to skip
    outcome = run_one(Path(video), Path(out), Settings(**options), FORMATS, progress, on_frames=frames, force=True, on_final=final)
    events.put(("outcome", outcome.status, outcome.message, outcome.files))


class Server:
    def __init__(
        self,
        bind: str = DEFAULT_ADDRESS,
        out: Path = DEFAULT_OUT,
        root: Path | None = None,
        curve_keys: Path | None = None,
        insecure: bool = False,
        lifter_weights: Path | None = None,
        detect_workers: int | None = None,
    ) -> None:
        self.socket = bind_router(bind, curve_keys, insecure)
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.out, self.root = out, root.resolve() if root else None
        # The operator's weights file serves every job in place of the lifter a client names;
        # clients cannot name files themselves (Settings.from_options).
        self.lifter_weights = lifter_weights.resolve() if lifter_weights else None
        # One job runs at a time, so it gets every core's detector, as one video does in engine mocap.
        self.detect_workers = split_cores(1, 1, detect_workers)[1]
        self.jobs: dict[str, Job] = {}
        self.waiting: deque[str] = deque()
        self.running: Job | None = None
        self.spawn = mp.get_context("spawn")
        self.standby: Worker | None = None  # started while idle, so a job does not wait for imports

    # ---------------------------------------------------------------- sending

    def _send(self, identity: bytes, message: Message) -> None:
        self.socket.send_multipart([identity, *encode(message)])

    def _tell(self, job: Job, message: Message, keep: bool = False) -> None:
        if keep:
            job.sent.append(message)
        self._send(job.owner, message)

    def _error(self, identity: bytes, code: str, text: str, job: str | None = None) -> None:
        self._send(identity, Message("error", job=job, fields={"code": code, "message": text}))

    # ---------------------------------------------------------------- receiving

    def handle(self, identity: bytes, frames: list[bytes]) -> None:
        """Answer one client message; anything wrong becomes an ``error`` reply."""
        try:
            message = decode(frames)
            if message.type.startswith("live-"):
                raise ProtocolError("bad-message", f"{message.type!r}: this engine captures videos; live streams come from `engine live`")
            if message.type not in CLIENT_TYPES:
                raise ProtocolError("bad-message", f"{message.type!r} is sent by the engine, not to it")
            getattr(self, f"_on_{message.type}")(identity, message)
        except ProtocolError as e:
            self._error(identity, e.code, str(e))
        except Exception as e:  # a bug here must not cost the other clients their server
            log.exception("while handling a message")
            self._error(identity, "failed", f"the engine failed on this message: {type(e).__name__}: {e}")

    def _on_hello(self, identity: bytes, message: Message) -> None:
        capabilities = {
            "lifters": capture_lifters(),
            "solvers": [AUTO, *SOLVERS],
            "lifter_weights": self.lifter_weights.name if self.lifter_weights else None,
            "formats": list(FORMATS),
            "chunk_frames": CHUNK_FRAMES,
            "warm": self.warm,
        }
        self._send(identity, Message("welcome", fields={"engine": __version__, "capabilities": capabilities}))

    def _on_ping(self, identity: bytes, message: Message) -> None:
        self._send(identity, Message("pong"))

    def _on_capture(self, identity: bytes, message: Message) -> None:
        video = Path(message.fields["video"]).expanduser()
        if not video.is_file():
            raise ProtocolError("no-such-file", f"{video}: no such file (or not a regular file) on the engine's machine")
        if self.root is not None and not video.resolve().is_relative_to(self.root):
            raise ProtocolError("outside-root", f"{video}: outside the folder this engine serves ({self.root})")
        try:
            settings = Settings.from_options(message.fields.get("options", {}))
        except (TypeError, ValueError) as e:
            raise ProtocolError("bad-field", f"capture options: {e}") from None
        settings = replace(settings, detect_workers=self.detect_workers)
        if self.lifter_weights is not None:
            settings = replace(settings, lifter_weights=str(self.lifter_weights))
        job = Job(uuid.uuid4().hex[:12], identity, video.resolve(), settings)
        self.jobs[job.id] = job
        self.waiting.append(job.id)
        position = len(self.waiting) - 1 + (self.running is not None)  # jobs that run before it
        self._tell(job, Message("accepted", job=job.id, fields={"position": position}))

    def _job(self, message: Message) -> Job:
        job = self.jobs.get(message.job)
        if job is None:
            raise ProtocolError("no-such-job", f"no job {message.job!r}")
        return job

    def _on_cancel(self, identity: bytes, message: Message) -> None:
        job = self._job(message)
        if job.status == "queued":
            self.waiting.remove(job.id)
        elif job.status == "running" and job.worker is not None:
            job.worker.process.kill()
            job.worker.process.join()
            self.running = None
        else:
            raise ProtocolError("bad-field", f"job {job.id} has already ended ({job.status})")
        job.status = "cancelled"
        self._tell(job, Message("error", job=job.id, fields={"code": "cancelled", "message": "cancelled by the client"}), keep=True)

    def _on_attach(self, identity: bytes, message: Message) -> None:
        job = self._job(message)
        job.owner = identity
        since = message.fields.get("since", 0)
        for sent in job.sent:  # the skeleton and the final series always: the final motion is wanted whole
            if sent.type != "frames" or sent.fields["start"] + len(sent.arrays["poses"]) > since:
                self._send(identity, sent)

    # ---------------------------------------------------------------- jobs

    def _new_worker(self) -> Worker:
        jobs, events = self.spawn.Queue(), self.spawn.Queue()
        process = self.spawn.Process(target=_work, args=(jobs, events), daemon=True)
        process.start()
        return Worker(process, jobs, events)

    @property
    def warm(self) -> bool:
        """Whether a capture process is loaded and waiting, so a job starts at once."""
        if self.standby is not None and not self.standby.ready:
            try:
                self.standby.ready = self.standby.events.get_nowait() == ("ready",)
            except queue.Empty:
                pass
        return self.standby is not None and self.standby.ready

    def _start_next(self) -> None:
        if self.running is not None or not self.waiting:
            if self.running is None and self.standby is None:
                self.standby = self._new_worker()
            return
        job = self.jobs[self.waiting.popleft()]
        options = asdict(job.settings)
        try:
            worker = self.standby if self.standby is not None and self.standby.process.is_alive() else self._new_worker()
            self.standby = None
            worker.jobs.put((str(job.video), str(self.out), options))
        except Exception as e:  # e.g. out of processes: this job fails, the engine goes on
            log.exception("could not start a capture process")
            job.status = "failed"
            self._tell(
                job, Message("error", job=job.id, fields={"code": "failed", "message": f"could not start the capture: {e}"}), keep=True
            )
            return
        job.worker = worker
        job.status, self.running = "running", job
        for position, waiting in enumerate(self.waiting, start=1):
            self._tell(self.jobs[waiting], Message("accepted", job=waiting, fields={"position": position}))

    def _follow_running(self) -> None:
        job = self.running
        if job is None:
            return
        while True:
            try:
                event = job.worker.events.get_nowait()
            except queue.Empty:
                break
            if event[0] == "ready":
                continue
            if event[0] == "progress":
                _, stage, done, total = event
                self._tell(job, Message("progress", job=job.id, fields={"stage": stage, "done": done, "total": max(total, 0)}))
            elif event[0] == "skeleton":
                self._tell(job, Message("skeleton", job=job.id, arrays={"rest_joints": event[1]}), keep=True)
            elif event[0] in ("frames", "final"):
                kind, start, fps, arrays, whole = event
                for offset in range(0, len(arrays["poses"]), CHUNK_FRAMES):
                    chunk = {key: value[offset : offset + CHUNK_FRAMES] for key, value in arrays.items()} | whole
                    self._tell(job, Message(kind, job=job.id, fields={"start": start + offset, "fps": fps}, arrays=chunk), keep=True)
            else:
                _, status, text, files = event
                self._finish(job, status, text, files)
                return
        if not job.worker.process.is_alive() and job.worker.events.empty():
            self._finish(job, "failed", f"the capture process ended with exit code {job.worker.process.exitcode}", [])

    def _finish(self, job: Job, status: str, text: str, files: list[str]) -> None:
        self.running = None
        if status == "failed":
            job.status = "failed"
            self._tell(job, Message("error", job=job.id, fields={"code": "failed", "message": text}), keep=True)
            return
        stem = job.video.stem
        report = json.loads((self.out / f"{stem}.json").read_text())
        keys = ("frames", "fps", "first_frame_time_s", "held_frames", "detection_rate", "warnings", "timings_s")
        summary = {k: report[k] for k in keys if k in report}
        paths = {name.rsplit(".", 1)[-1]: str((self.out / name).resolve()) for name in files}
        job.status = "done"
        self._tell(job, Message("done", job=job.id, fields={"summary": summary, "files": paths}), keep=True)

    # ---------------------------------------------------------------- loop

    def serve(self, stop: threading.Event | None = None, poll_ms: int = 20) -> None:
        """Serve until ``stop`` is set (forever without one)."""
        log.info("engine %s serving on %s", __version__, self.address)
        try:
            while stop is None or not stop.is_set():
                if self.socket.poll(poll_ms):
                    while self.socket.poll(0):
                        identity, *frames = self.socket.recv_multipart()
                        self.handle(identity, frames)
                self._follow_running()
                self._start_next()
        finally:
            for worker in (self.running and self.running.worker, self.standby):
                if worker is not None:
                    worker.process.kill()
            self.socket.close(0)
