"""Interleaved timing: every contender takes a turn in each round, medians over rounds.

On a noisy 2-core machine a slow moment hits whichever contender runs then;
taking turns (A B C, C B A, A B C, ...) spreads that over all of them, and the
median of the rounds drops the outliers.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

Timed = Callable[[int], None]  # run the operation n times


def calibrate(run: Timed, target_seconds: float, limit: int = 1_000_000) -> int:
    """How many calls make one timed block last about ``target_seconds``."""
    n = 1
    while True:
        start = time.perf_counter()
        run(n)
        elapsed = time.perf_counter() - start
        if elapsed >= target_seconds / 4 or n >= limit:
            return max(1, min(limit, int(n * target_seconds / max(elapsed, 1e-9))))
        n *= 4


def interleaved(
    runs: Mapping[str, Tuple[Callable[..., None], int]], rounds: int, cpu: bool = False
) -> Dict[str, List[Tuple[float, float]]]:
    """Per name, ``rounds`` samples of (wall seconds per call, CPU seconds per call).

    The order alternates forward and backward (A B C, C B A, ...), so that a
    drift in machine speed does not favour whoever comes first.
    """
    names = list(runs)
    samples: Dict[str, List[Tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            run, n = runs[name]
            prepare = getattr(run, "prepare", None)
            if prepare is not None:
                prepare(n)  # inputs made before the clock starts
            gc.collect()
            cpu0 = time.process_time() if cpu else 0.0
            start = time.perf_counter()
            run(n)
            wall = time.perf_counter() - start
            used = (time.process_time() - cpu0) if cpu else 0.0
            samples[name].append((wall / n, used / n))
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> Tuple[float, float]:
    """(lower, upper) quartile; with few samples, the min and max."""
    ordered = sorted(values)
    if len(ordered) < 4:
        return ordered[0], ordered[-1]
    q = statistics.quantiles(ordered, n=4)
    return q[0], q[2]
