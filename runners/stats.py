"""Statistics of repeats: median with a distribution-free confidence interval, and the CV."""

from __future__ import annotations

import math

import numpy as np

from ecoscore.record import Latency, Stat


def _binom_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_stat(values: list[float] | np.ndarray, level: float = 0.95) -> Stat:
    """Median of the repeats with the order-statistic confidence interval for the median.

    The interval [x_(k), x_(n-k+1)] covers the true median with probability
    1 - 2 P(Bin(n, 1/2) <= k - 1). The widest k reaching ``level`` is used; when even
    [min, max] does not reach it (n < 6 for 95 %), [min, max] is given with the level it
    does reach, which is recorded in ``ci_level``.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = int(x.size)
    if n == 0:
        raise ValueError("no values")
    median = float(np.median(x))
    if n == 1:
        return Stat(median=median, ci_low=median, ci_high=median, ci_level=0.0, cv=0.0, n=1)
    best_k, best_level = 1, 1 - 2 * _binom_cdf(0, n)
    for k in range(2, n // 2 + 1):
        lvl = 1 - 2 * _binom_cdf(k - 1, n)
        if lvl >= level:
            best_k, best_level = k, lvl
        else:
            break
    mean = float(np.mean(x))
    cv = float(np.std(x, ddof=1) / mean) if mean != 0 else 0.0
    return Stat(
        median=median,
        ci_low=float(x[best_k - 1]),
        ci_high=float(x[n - best_k]),
        ci_level=round(best_level, 4),
        cv=cv,
        n=n,
    )


def latency_summary(latencies_ns: np.ndarray) -> Latency:
    ms = latencies_ns.astype(np.float64) / 1e6
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return Latency(
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        min_ms=float(ms.min()),
        max_ms=float(ms.max()),
        count=int(ms.size),
    )
