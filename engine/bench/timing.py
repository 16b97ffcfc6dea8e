"""Timing two or more things fairly on a loaded machine: in turn, round after round."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch


def alternate_ms(forwards: dict[str, Callable[[], object]], rounds: int = 30) -> dict[str, float]:
    """Median milliseconds of each of ``forwards``, run in turn ``rounds`` times after one warm-up."""
    seconds = {name: [] for name in forwards}
    with torch.no_grad():
        for round_ in range(rounds + 1):
            for name, forward in forwards.items():
                started = time.perf_counter()
                forward()
                if round_:
                    seconds[name].append(time.perf_counter() - started)
    return {name: 1000 * float(np.median(values)) for name, values in seconds.items()}
