"""Statistics for comparing runs: intervals, paired tests, effect sizes, multiplicity corrections.

Every function is pure (arrays in, numbers out) and raises on empty, NaN or out-of-range input:
the original code filled in numbers when its inputs or its stats import were missing (method.md
§7.1, §9 pitfalls 18-19), so nothing here ever substitutes a value.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

__all__ = [
    "McNemarResult",
    "bonferroni",
    "bootstrap_ci",
    "cohens_d_paired",
    "cohens_d_pooled",
    "fisher_combined",
    "holm",
    "mcnemar_exact",
    "mean_std",
    "paired_t_test",
    "significance_stars",
    "wilson_ci",
]

# statsmodels' `mcnemar(exact=None)`-style switch used by the original analysis (method.md §7.1).
MCNEMAR_EXACT_BELOW = 25


@dataclass(frozen=True)
class McNemarResult:
    """McNemar test on paired per-item correctness; b = A right & B wrong, c = A wrong & B right."""

    b: int
    c: int
    p_value: float
    statistic: float | None  # chi-square statistic; None for the exact binomial test
    method: str  # "exact-binomial" or "chi2-continuity"


def _float_array(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """Return `values` as a 1-D float array, rejecting empty, NaN and infinite entries."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one value")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}[{i}] is {float(arr[i])!r}; every value must be finite")
    return arr


def _bool_array(values: Sequence[bool] | np.ndarray, name: str) -> np.ndarray:
    """Return per-item correctness as a 1-D bool array; only True/False or 0/1 are accepted."""
    arr = _float_array(values, name)
    bad = np.flatnonzero((arr != 0.0) & (arr != 1.0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}[{i}] is {float(arr[i])!r}; expected a boolean (True/False or 0/1)"
        )
    return arr.astype(bool)


def _p_array(p_values: Sequence[float] | np.ndarray, name: str, allow_zero: bool) -> np.ndarray:
    """Return p-values as a float array after checking each lies in [0, 1] (or (0, 1])."""
    arr = _float_array(p_values, name)
    low_ok = arr >= 0.0 if allow_zero else arr > 0.0
    bad = np.flatnonzero(~low_ok | (arr > 1.0))
    if bad.size:
        i = int(bad[0])
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name}[{i}] is {float(arr[i])!r}; p-values must lie in {interval}")
    return arr


def _check_confidence(confidence: float) -> None:
    """Reject confidence levels outside the open interval (0, 1)."""
    if not (0.0 < confidence < 1.0):  # also catches NaN
        raise ValueError(f"confidence is {confidence!r}; expected a value in (0, 1), e.g. 0.95")


def _paired(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two paired samples (same length, >= 2 pairs) and return them as arrays."""
    x = _float_array(a, "a")
    y = _float_array(b, "b")
    if x.size != y.size:
        raise ValueError(
            f"paired samples differ in length: len(a)={x.size}, len(b)={y.size}; "
            "pair them by seed so both hold the same seeds"
        )
    if x.size < 2:
        raise ValueError(f"need at least 2 pairs, got {x.size}")
    return x, y


def wilson_ci(n_correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, as fractions in [0, 1]."""
    n_correct = operator.index(n_correct)  # TypeError for floats such as 21.5
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"n is {n}; need at least one trial")
    if not 0 <= n_correct <= n:
        raise ValueError(f"n_correct is {n_correct}; expected 0 <= n_correct <= n={n}")
    _check_confidence(confidence)
    z = float(sps.norm.ppf(0.5 + confidence / 2.0))
    p = n_correct / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    # Clip only rounding error: the exact interval always lies inside [0, 1].
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_std(values: Sequence[float] | np.ndarray, ddof: int) -> tuple[float, float]:
    """Mean and standard deviation; `ddof` is required because Era B used 0 and Era D used 1."""
    ddof = operator.index(ddof)
    if ddof < 0:
        raise ValueError(f"ddof is {ddof}; expected 0 or a positive integer")
    arr = _float_array(values, "values")
    if arr.size < ddof + 1:
        raise ValueError(f"std with ddof={ddof} needs at least {ddof + 1} values, got {arr.size}")
    return float(arr.mean()), float(arr.std(ddof=ddof))


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    method: Literal["BCa", "percentile"] = "BCa",
    n_resamples: int = 10_000,
    seed: int = 42,
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean (scipy.stats.bootstrap, seeded)."""
    if method not in ("BCa", "percentile"):
        raise ValueError(f"method is {method!r}; expected 'BCa' or 'percentile'")
    _check_confidence(confidence)
    n_resamples = operator.index(n_resamples)
    if n_resamples < 1:
        raise ValueError(f"n_resamples is {n_resamples}; expected a positive integer")
    arr = _float_array(values, "values")
    if arr.size < 3:
        # method.md §7.1: the bootstrap was only run with >= 3 seeds.
        raise ValueError(f"bootstrap needs at least 3 values, got {arr.size}")
    if np.all(arr == arr[0]):
        # Every resample has the same mean; BCa would divide by zero and return NaN.
        v = float(arr[0])
        return v, v
    res = sps.bootstrap(
        (arr,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method=method,
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(
            f"bootstrap {method} interval is not finite ({lo}, {hi}) for values {arr.tolist()}; "
            "try method='percentile' or more values"
        )
    return lo, hi


def mcnemar_exact(
    correct_a: Sequence[bool] | np.ndarray,
    correct_b: Sequence[bool] | np.ndarray,
    exact: bool | None = None,
) -> McNemarResult:
    """McNemar test of two methods scored on the same items.

    `exact=None` uses the exact binomial test when b + c < 25 and the continuity-corrected
    chi-square test otherwise (statsmodels' convention); True or False forces one of them.
    """
    a = _bool_array(correct_a, "correct_a")
    b_arr = _bool_array(correct_b, "correct_b")
    if a.size != b_arr.size:
        raise ValueError(
            f"correct_a has {a.size} items but correct_b has {b_arr.size}; "
            "both must be scored on the identical item list"
        )
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    n_discordant = b + c
    use_exact = n_discordant < MCNEMAR_EXACT_BELOW if exact is None else bool(exact)
    if n_discordant == 0:
        # No discordant pairs: the methods never disagree, so there is no evidence either way.
        method = "exact-binomial" if use_exact else "chi2-continuity"
        return McNemarResult(b=b, c=c, p_value=1.0, statistic=None, method=method)
    if use_exact:
        p = float(sps.binomtest(b, n_discordant, 0.5, alternative="two-sided").pvalue)
        return McNemarResult(b=b, c=c, p_value=min(1.0, p), statistic=None, method="exact-binomial")
    statistic = (abs(b - c) - 1) ** 2 / n_discordant
    p = float(sps.chi2.sf(statistic, df=1))
    return McNemarResult(b=b, c=c, p_value=p, statistic=float(statistic), method="chi2-continuity")


def paired_t_test(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray
) -> tuple[float, float]:
    """Paired t-test (t, two-sided p) of `a` vs `b`, paired by position (seed order)."""
    x, y = _paired(a, b)
    diff = x - y
    if np.all(diff == diff[0]):
        # scipy returns NaN or ±inf here; neither is a number we should put in a table.
        raise ValueError(
            f"paired differences have zero variance (all {float(diff[0])!r}); t is undefined"
        )
    res = sps.ttest_rel(x, y)
    return float(res.statistic), float(res.pvalue)


def cohens_d_paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Cohen's d for paired samples: mean(a - b) / sd(a - b, ddof=1)."""
    x, y = _paired(a, b)
    diff = x - y
    sd = float(diff.std(ddof=1))
    if sd == 0.0:
        raise ValueError(
            f"paired differences have zero variance (all {float(diff[0])!r}); d is undefined"
        )
    return float(diff.mean()) / sd


def cohens_d_pooled(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Cohen's d for independent samples: (mean(a) - mean(b)) / pooled SD (ddof=1)."""
    x = _float_array(a, "a")
    y = _float_array(b, "b")
    for name, arr in (("a", x), ("b", y)):
        if arr.size < 2:
            raise ValueError(f"{name} has {arr.size} value(s); the pooled SD needs at least 2 each")
    pooled_var = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (
        x.size + y.size - 2
    )
    if pooled_var == 0.0:
        raise ValueError("both samples have zero variance; the pooled SD is 0 and d is undefined")
    return float((x.mean() - y.mean()) / math.sqrt(pooled_var))


def bonferroni(p_values: Sequence[float] | np.ndarray) -> list[float]:
    """Bonferroni-adjusted p-values min(1, p * m), in input order."""
    p = _p_array(p_values, "p_values", allow_zero=True)
    return [float(v) for v in np.minimum(1.0, p * p.size)]


def holm(p_values: Sequence[float] | np.ndarray) -> list[float]:
    """Holm step-down adjusted p-values (monotone, capped at 1), in input order."""
    p = _p_array(p_values, "p_values", allow_zero=True)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    # Running max enforces monotonicity: a larger raw p never gets a smaller adjusted p.
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(v) for v in adjusted]


def fisher_combined(p_values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Fisher's method: statistic -2 Σ ln p and its p-value from chi2 with 2k df."""
    # p = 0 would make -2 ln p infinite; the Era-D bug of a statistic <= 0 is what §7.1 warns about.
    p = _p_array(p_values, "p_values", allow_zero=False)
    res = sps.combine_pvalues(p, method="fisher")
    return float(res.statistic), float(res.pvalue)


def significance_stars(p: float) -> str:
    """Stars for a p-value: *** < .001, ** < .01, * < .05, else an empty string."""
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also catches NaN
        raise ValueError(f"p is {p!r}; expected a p-value in [0, 1]")
    if p < 0.001:
        return "***"
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return ""
