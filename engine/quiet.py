"""Native libraries' chatter kept off the user's terminal.

mediapipe's TFLite and absl ("Created TensorFlow Lite XNNPACK delegate", "Feedback manager
requires ...") and FFmpeg ("moov atom not found", "partial file") write straight to file
descriptor 2, and no setting turns them off; the engine says what matters in its own words.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # threads inside native_stderr_silenced(): fd 2 is restored when the last one leaves
_saved: int | None = None


@contextmanager
def native_stderr_silenced(heard: list[str] | None = None) -> Iterator[None]:
    """Keep what is written to file descriptor 2 off the terminal meanwhile (from any thread of
    this process: the redirection is the process's; nested and concurrent uses are counted).
    With ``heard``, the lines written are appended to it, for an error message to quote; only
    the outermost use hears them (inner ones find fd 2 already taken)."""
    global _depth, _saved
    with _lock:
        kept = None
        if _depth == 0:
            sys.stderr.flush()
            _saved = os.dup(2)
            kept = tempfile.TemporaryFile() if heard is not None else None
            sink = os.dup(kept.fileno()) if kept else os.open(os.devnull, os.O_WRONLY)
            os.dup2(sink, 2)
            os.close(sink)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                os.dup2(_saved, 2)
                os.close(_saved)
                _saved = None
        if kept is not None:
            kept.seek(0)
            heard += [line.strip() for line in kept.read().decode(errors="replace").splitlines() if line.strip()]
            kept.close()
