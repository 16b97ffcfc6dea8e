"""Native libraries' chatter kept off the user's terminal.

mediapipe's TFLite and absl ("Created TensorFlow Lite XNNPACK delegate", "Feedback manager
requires ...") and FFmpeg ("moov atom not found", "partial file") write straight to file
descriptor 2, and no setting turns them off; the engine says what matters in its own words.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # threads inside native_stderr_silenced(): fd 2 is restored when the last one leaves
_saved: int | None = None


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what is written to file descriptor 2 to /dev/null meanwhile (from any thread of this
    process: the redirection is the process's; nested and concurrent uses are counted)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
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
