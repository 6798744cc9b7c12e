"""Figures the perf benchmarks measure, collected for the summary printed at the end.

Each benchmark stores its figures in pytest-benchmark's ``extra_info`` (so they land in
``--benchmark-json``) and here, under a title, so that ``conftest.py`` can print them.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

#: title -> list of (label, value text) lines, in the order they were measured.
FIGURES: dict[str, list[tuple[str, str]]] = {}


def report(title: str, label: str, text: str) -> None:
    FIGURES.setdefault(title, []).append((label, text))


class PairedReference:
    """Times a reference function next to every round of a benchmark, alternating sides.

    Use ``before`` as pytest-benchmark's ``setup`` and ``after`` as its ``teardown``: on even
    rounds the reference runs just before the benchmarked round, on odd rounds just after,
    so that an order effect (cache, scheduler time slice) cancels out. Pairing each round
    with its neighbour cancels the slow drift of a shared machine's load, which two
    separate benchmarks run seconds apart cannot.
    """

    def __init__(self, reference: Callable[[], object]) -> None:
        self.reference = reference
        self.times_s: list[float] = []
        self._round = 0

    def _time(self) -> None:
        t0 = time.perf_counter()
        self.reference()
        self.times_s.append(time.perf_counter() - t0)

    def before(self) -> None:
        if self._round % 2 == 0:
            self._time()

    def after(self, *_args: object, **_kwargs: object) -> None:
        if self._round % 2 == 1:
            self._time()
        self._round += 1

    def ratios(self, measured_s: list[float]) -> list[float]:
        """measured / reference for each measured round (warm-up rounds are dropped)."""
        ref = self.times_s[-len(measured_s) :]
        return [m / r for m, r in zip(measured_s, ref, strict=True)]


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def limit(target: float, loose: float) -> float:
    """The bound a perf test asserts: the issue's ``target`` with ``ECOSCORE_PERF_STRICT=1``
    (a quiet machine), else ``loose`` (a shared machine, where only the printed figure is
    read)."""
    return target if os.environ.get("ECOSCORE_PERF_STRICT") == "1" else loose
