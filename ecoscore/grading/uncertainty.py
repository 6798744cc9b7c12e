"""How sure a grade is: the probability of each class, computed, not sampled.

These probabilities are model-based: they follow from an assumed error model (below), not
from the observed spread of many runs of the same solution, which ecoscore does not yet have.

The natural log of the true energy per inference is taken as normal, centred on the log of
the measured median, with a standard deviation that combines three independent terms:

- the spread of the repeats: from the record's confidence interval of the median
  (half its width in log space over the normal quantile of its level), or, when the record
  gives no usable interval, from the coefficient of variation over sqrt(n);
- the meter's stated relative uncertainty (1 sigma). It is a systematic error of the
  sensor or model, shared by every repeat, so it does not shrink with n;
- the between-run term: a fresh run of the same solution (another session, a reboot,
  another unit of the same device) differs by more than the repeats of one run show. Until
  replication data set it, its floor is ``BETWEEN_RUN_LOG_SIGMA`` = ln(1.35) / 2 = 0.150:
  the replication tolerance on the same hardware (x1.35, ``ecoscore.jury.replicate``) read
  as two sigma.

A relative (1 sigma) uncertainty u becomes a log-space sigma of sqrt(ln(1 + u^2)), the
sigma of a log-normal variable with coefficient of variation u. The probability of a class
is the normal mass between the logs of its bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from ecoscore.grading.scale import CLASSES, WorkloadScale
from ecoscore.record import Stat

_STD_NORMAL = NormalDist()
#: Floor of the between-run log-sigma: the same-hardware replication tolerance (x1.35) read
#: as two sigma, until replication data set it.
BETWEEN_RUN_RATIO = 1.35
BETWEEN_RUN_LOG_SIGMA = math.log(BETWEEN_RUN_RATIO) / 2


@dataclass(frozen=True)
class LogSigma:
    """Standard deviations of ln(energy per inference) and where they come from."""

    repeats: float
    repeats_from: str  # "ci" | "cv" | "none"
    meter: float
    total: float
    between_runs: float = BETWEEN_RUN_LOG_SIGMA


def log_sigma_of_rel(u: float) -> float:
    """Log-space sigma of a log-normal quantity whose coefficient of variation is ``u``."""
    return math.sqrt(math.log1p(u * u)) if u > 0 else 0.0


def repeats_log_sigma(stat: Stat) -> tuple[float, str]:
    """Sigma of ln(median) from the spread of the repeats, and which figure gave it."""
    usable_ci = (
        stat.n >= 2
        and 0.0 < stat.ci_level < 1.0
        and 0.0 < stat.ci_low < stat.ci_high
        and math.isfinite(stat.ci_high)
    )
    if usable_ci:
        z = _STD_NORMAL.inv_cdf((1.0 + stat.ci_level) / 2.0)
        return (math.log(stat.ci_high) - math.log(stat.ci_low)) / (2.0 * z), "ci"
    if stat.n >= 2 and stat.cv > 0 and math.isfinite(stat.cv):
        return log_sigma_of_rel(stat.cv) / math.sqrt(stat.n), "cv"
    return 0.0, "none"


def combined_log_sigma(
    stat: Stat, meter_uncertainty_rel: float, between_runs: float = BETWEEN_RUN_LOG_SIGMA
) -> LogSigma:
    """The three terms and their quadratic sum."""
    rep, source = repeats_log_sigma(stat)
    meter = log_sigma_of_rel(max(meter_uncertainty_rel, 0.0))
    return LogSigma(
        repeats=rep,
        repeats_from=source,
        meter=meter,
        total=math.sqrt(rep * rep + meter * meter + between_runs * between_runs),
        between_runs=between_runs,
    )


def class_probabilities(
    median_j: float, sigma_log: float, scale: WorkloadScale
) -> dict[str, float]:
    """Probability of each class (A..E) for ln(E) ~ Normal(ln(median), sigma_log)."""
    if not median_j > 0:
        raise ValueError(f"energy per inference must be > 0, got {median_j}")
    centre = math.log(median_j)
    if sigma_log <= 0:
        letter = scale.class_of(median_j)
        return {c: (1.0 if c == letter else 0.0) for c in CLASSES}
    dist = NormalDist(centre, sigma_log)
    probs: dict[str, float] = {}
    for letter, lo, hi in scale.intervals():
        p_hi = 1.0 if math.isinf(hi) else dist.cdf(math.log(hi))
        p_lo = 0.0 if lo <= 0 else dist.cdf(math.log(lo))
        probs[letter] = max(p_hi - p_lo, 0.0)
    return probs


def rounded_percentages(probs: dict[str, float]) -> dict[str, int]:
    """Whole percentages that add up to 100 (largest remainder)."""
    total = sum(probs.values())
    if total <= 0:
        return {c: 0 for c in probs}
    raw = {c: 100.0 * p / total for c, p in probs.items()}
    out = {c: math.floor(v) for c, v in raw.items()}
    short = 100 - sum(out.values())
    for c in sorted(raw, key=lambda c: (out[c] - raw[c], CLASSES.index(c)))[:short]:
        out[c] += 1
    return out


def format_probabilities(probs: dict[str, float]) -> str:
    """``B (84%) / C (16%)``: the classes with at least 1 %, in class order."""
    pct = rounded_percentages(probs)
    shown = [f"{c} ({pct[c]}%)" for c in CLASSES if pct.get(c, 0) >= 1]
    return " / ".join(shown)
