"""One definition of a latency figure for every benchmark, so a table never mixes two.

training/canvas_eval's preprocessing cost is another measure (each drawing once, no
warm-up) and is named so (`_median_once_ms`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    """The q-th percentile in ms: NumPy's default, linear between the two nearest ranks."""
    return float(np.percentile(seconds, q)) * 1e3


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p99_ms: float

    @classmethod
    def from_samples(cls, seconds: Sequence[float]) -> Timing:
        """Median and p99 of durations in seconds (NaN for none: a run that timed nothing)."""
        if not len(seconds):
            return cls(float("nan"), float("nan"))
        return cls(percentile_ms(seconds, 50), percentile_ms(seconds, 99))


def interleaved(cases: dict[str, tuple[Callable[[], object], int]], *, rounds: int = 10,
                warmup: int = 20) -> dict[str, Timing]:
    """Time each case in turn, round after round, so a busy machine slows them all alike.

    Each case is (call, total calls); every round runs 1/rounds of them, after
    `warmup` untimed calls of each (caches, BLAS, fresh memory).
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for call, _ in cases.values():
        for _ in range(warmup):
            call()
    for _ in range(rounds):
        for name, (call, n) in cases.items():
            for _ in range(max(1, n // rounds)):
                t0 = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - t0)
    return {name: Timing.from_samples(values) for name, values in samples.items()}
