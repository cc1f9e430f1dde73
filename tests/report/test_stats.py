"""Tests for telepathy.report.stats against hand-computed and published reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from telepathy.report.stats import (
    McNemarResult,
    bonferroni,
    bootstrap_ci,
    cohens_d_paired,
    cohens_d_pooled,
    fisher_combined,
    holm,
    mcnemar_exact,
    mean_std,
    paired_t_test,
    significance_stars,
    wilson_ci,
)

NAN = float("nan")


def _pairs(b: int, c: int, n_both_right: int = 0, n_both_wrong: int = 0) -> tuple[list, list]:
    """Per-item correctness of methods A and B with the given discordant and concordant counts."""
    a = [True] * b + [False] * c + [True] * n_both_right + [False] * n_both_wrong
    other = [False] * b + [True] * c + [True] * n_both_right + [False] * n_both_wrong
    return a, other


# --- wilson_ci ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi", "abs_tol"),
    [
        # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (Wilson score, no correction).
        (81, 263, 0.2553, 0.3662, 5e-5),
        (15, 148, 0.0624, 0.1605, 5e-5),
        (0, 20, 0.0, 0.1611, 5e-5),
        (1, 29, 0.0061, 0.1718, 5e-5),
    ],
)
def test_wilson_ci_matches_published_values(k, n, lo, hi, abs_tol):
    got_lo, got_hi = wilson_ci(k, n)
    assert got_lo == pytest.approx(lo, abs=abs_tol)
    assert got_hi == pytest.approx(hi, abs=abs_tol)


def test_wilson_ci_method_md_example():
    # method.md §7.1: 21.5 % of N = 200 (43/200) -> [16.3, 27.7] %. The exact bounds are
    # 16.372 % and 27.702 %, so the report truncated the lower one to 16.3 rather than rounding
    # it to 16.4; check that truncation reproduces both printed numbers.
    lo, hi = wilson_ci(43, 200)
    assert math.floor(lo * 1000) / 10 == pytest.approx(16.3)
    assert math.floor(hi * 1000) / 10 == pytest.approx(27.7)
    assert lo == pytest.approx(0.163719, abs=1e-6)
    assert hi == pytest.approx(0.277023, abs=1e-6)


def test_wilson_ci_matches_scipy_reference():
    # SciPy's independent implementation: binomtest(k, n).proportion_ci(method="wilson").
    for k, n in [(43, 200), (7, 9), (190, 200), (3, 1000)]:
        ref = sps.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
        assert wilson_ci(k, n, confidence=0.9) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_wilson_ci_all_correct_by_hand():
    # By hand with z = 1.959964, p = 1, n = 10: centre = (1 + z²/20)/(1 + z²/10),
    # half = (z²/20)/(1 + z²/10) -> upper = 1 exactly, lower = 1/(1 + z²/10) = 0.722467.
    lo, hi = wilson_ci(10, 10)
    assert hi == pytest.approx(1.0, abs=1e-12)
    assert lo == pytest.approx(0.722467, abs=1e-6)


def test_wilson_ci_wider_at_higher_confidence():
    lo95, hi95 = wilson_ci(43, 200, 0.95)
    lo99, hi99 = wilson_ci(43, 200, 0.99)
    assert lo99 < lo95 < 0.215 < hi95 < hi99


@pytest.mark.parametrize(
    ("k", "n", "match"),
    [(-1, 10, "n_correct is -1"), (11, 10, "n_correct is 11"), (0, 0, "n is 0")],
)
def test_wilson_ci_rejects_bad_counts(k, n, match):
    with pytest.raises(ValueError, match=match):
        wilson_ci(k, n)


def test_wilson_ci_rejects_non_integer_and_bad_confidence():
    with pytest.raises(TypeError):
        wilson_ci(21.5, 100)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        wilson_ci(5, 10, confidence=1.0)
    with pytest.raises(ValueError, match="confidence"):
        wilson_ci(5, 10, confidence=NAN)


# --- mean_std ----------------------------------------------------------------------------------


def test_mean_std_textbook_population_example():
    # Classic example (Wikipedia "Standard deviation"): 2,4,4,4,5,5,7,9 has mean 5, population
    # SD 2 (Σ(x-5)² = 32, 32/8 = 4) and sample SD √(32/7) = 2.138090.
    values = [2, 4, 4, 4, 5, 5, 7, 9]
    assert mean_std(values, ddof=0) == pytest.approx((5.0, 2.0))
    assert mean_std(values, ddof=1) == pytest.approx((5.0, math.sqrt(32 / 7)))


def test_mean_std_ddof_by_hand():
    # 1,2,3,4: mean 2.5, Σ(x-2.5)² = 5 -> ddof 0: √1.25 = 1.118034; ddof 1: √(5/3) = 1.290994.
    assert mean_std([1, 2, 3, 4], ddof=0) == pytest.approx((2.5, 1.118034), abs=1e-6)
    assert mean_std([1, 2, 3, 4], ddof=1) == pytest.approx((2.5, 1.290994), abs=1e-6)
    assert mean_std([7.0], ddof=0) == (7.0, 0.0)


def test_mean_std_requires_ddof():
    with pytest.raises(TypeError):
        mean_std([1.0, 2.0])  # type: ignore[call-arg]


def test_mean_std_errors():
    with pytest.raises(ValueError, match="empty"):
        mean_std([], ddof=0)
    with pytest.raises(ValueError, match=r"values\[1\] is nan"):
        mean_std([1.0, NAN, 3.0], ddof=1)
    with pytest.raises(ValueError, match="at least 2 values"):
        mean_std([1.0], ddof=1)


# --- bootstrap_ci ------------------------------------------------------------------------------

SKEWED = [0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0, 2.5, 9.0]


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_bootstrap_ci_contains_mean_and_is_deterministic(method):
    values = [81.0, 83.5, 79.0, 86.0, 84.5]
    lo, hi = bootstrap_ci(values, method=method)
    assert lo < float(np.mean(values)) < hi
    assert bootstrap_ci(values, method=method) == (lo, hi)
    assert bootstrap_ci(values, method=method, seed=7) != (lo, hi)


def test_bootstrap_ci_percentile_lies_within_data_range():
    # A percentile interval of the mean is made of resample means, which cannot leave [min, max].
    lo, hi = bootstrap_ci(SKEWED, method="percentile")
    assert min(SKEWED) <= lo < hi <= max(SKEWED)


def test_bootstrap_ci_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    big = rng.normal(50.0, 5.0, size=400)
    small = big[:10]
    lo_s, hi_s = bootstrap_ci(small, n_resamples=2000)
    lo_b, hi_b = bootstrap_ci(big, n_resamples=2000)
    assert (hi_b - lo_b) < 0.5 * (hi_s - lo_s)


def test_bootstrap_ci_bca_differs_from_percentile_on_skewed_data():
    bca = bootstrap_ci(SKEWED, method="BCa")
    pct = bootstrap_ci(SKEWED, method="percentile")
    assert bca != pytest.approx(pct, abs=1e-3)
    # BCa corrects for the right skew by moving the interval up.
    assert bca[1] > pct[1]


def test_bootstrap_ci_degenerate_returns_point():
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


def _bca_by_textbook(values, confidence=0.95, n_resamples=200_000, seed=2024):
    """BCa interval of the mean written out from Efron & Tibshirani (1993), An Introduction to
    the Bootstrap, §14.3 eqs. 14.9-14.15: bias correction z0 from the share of bootstrap means
    below the estimate, acceleration from the jackknife, adjusted percentiles. Own resamples
    (numpy, another seed), so agreement is within Monte Carlo error only."""
    x = np.asarray(values, dtype=float)
    n = x.size
    rng = np.random.default_rng(seed)
    boot = x[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    theta = x.mean()
    # Ties at the estimate (a lattice of means for few values) count half, as scipy does.
    z0 = sps.norm.ppf((np.mean(boot < theta) + np.mean(boot <= theta)) / 2)
    jack = np.array([np.delete(x, i).mean() for i in range(n)])
    d = jack.mean() - jack
    a = np.sum(d**3) / (6.0 * np.sum(d**2) ** 1.5)
    out = []
    for alpha in ((1 - confidence) / 2, (1 + confidence) / 2):
        z = sps.norm.ppf(alpha)
        out.append(np.quantile(boot, sps.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))))
    return tuple(out)


@pytest.mark.parametrize(
    "values",
    [
        [81.0, 83.5, 79.0, 86.0, 84.5],  # five seeds' accuracies, near symmetric
        SKEWED,  # right-skewed: BCa moves the interval up
        [96.0, 97.5, 96.5, 95.0, 98.0, 91.0, 96.5, 97.0],  # one low seed
    ],
)
def test_bootstrap_bca_matches_the_textbook_formula(values):
    got = bootstrap_ci(values, method="BCa", n_resamples=50_000)
    want = _bca_by_textbook(values)
    spread = float(np.std(values, ddof=1) / math.sqrt(len(values)))  # the mean's standard error
    # Monte Carlo error plus one step of the lattice the means of few values lie on
    assert got == pytest.approx(want, abs=0.1 * spread)


@pytest.mark.parametrize(
    "values",
    [
        [81.0, 83.5, 79.0, 86.0, 84.5],
        [0.96, 0.975, 0.965, 0.955, 0.97, 0.96],
        list(np.linspace(10.0, 20.0, 30)),
    ],
)
def test_bootstrap_percentile_matches_the_resampled_quantiles(values):
    # The percentile interval is the 2.5% and 97.5% quantiles of the bootstrap means (Efron &
    # Tibshirani 1993, eq. 13.5); here from numpy's own resamples.
    x = np.asarray(values)
    boot = x[np.random.default_rng(7).integers(0, x.size, (200_000, x.size))].mean(axis=1)
    want = tuple(np.quantile(boot, [0.025, 0.975]))
    got = bootstrap_ci(values, method="percentile", n_resamples=50_000)
    spread = float(np.std(values, ddof=1) / math.sqrt(len(values)))
    assert got == pytest.approx(want, abs=0.05 * spread)


def test_bootstrap_ci_errors():
    with pytest.raises(ValueError, match="at least 3 values"):
        bootstrap_ci([1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match=r"values\[2\] is nan"):
        bootstrap_ci([1.0, 2.0, NAN])
    with pytest.raises(ValueError, match="method"):
        bootstrap_ci([1.0, 2.0, 3.0], method="basic")  # type: ignore[arg-type]


# --- mcnemar_exact -----------------------------------------------------------------------------


def test_mcnemar_exact_hand_binomial():
    # b=1, c=9: p = 2 Σ_{k<=1} C(10,k) / 2^10 = 2 * 11 / 1024 = 0.021484375.
    a, b = _pairs(1, 9, n_both_right=30, n_both_wrong=5)
    res = mcnemar_exact(a, b)
    assert (res.b, res.c) == (1, 9)
    assert res.p_value == pytest.approx(0.021484375, rel=1e-12)
    assert res.method == "exact-binomial"
    assert res.statistic is None


def test_mcnemar_exact_hand_binomial_second_case():
    # b=3, c=12 (15 < 25): p = 2 (C(15,0)+C(15,1)+C(15,2)+C(15,3)) / 2^15
    #                        = 2 (1 + 15 + 105 + 455) / 32768 = 0.03515625.
    res = mcnemar_exact(*_pairs(3, 12))
    assert res.p_value == pytest.approx(0.03515625, rel=1e-12)
    # Symmetric: swapping A and B swaps b and c and keeps p.
    swapped = mcnemar_exact(*reversed(_pairs(3, 12)))
    assert (swapped.b, swapped.c) == (12, 3)
    assert swapped.p_value == pytest.approx(res.p_value, rel=1e-12)


def test_mcnemar_chi_square_with_continuity_by_hand():
    # b=20, c=10 (30 >= 25): χ² = (|20-10| - 1)² / 30 = 81/30 = 2.7; with 1 df,
    # P(χ² > x) = erfc(√(x/2)) = erfc(√1.35) = 0.1003482. Without the correction χ² would be
    # 100/30 and p = 0.0679, so this fails on an uncorrected implementation.
    res = mcnemar_exact(*_pairs(20, 10, n_both_right=50))
    assert res.method == "chi2-continuity"
    assert res.statistic == pytest.approx(2.7, rel=1e-12)
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(1.35)), rel=1e-9)
    assert res.p_value == pytest.approx(0.1003482, abs=1e-7)


def test_mcnemar_switches_at_25_and_can_be_forced_exact():
    # b+c = 24 -> exact; b=12, c=12 is perfectly balanced so p = 1 (binomial median).
    below = mcnemar_exact(*_pairs(12, 12))
    assert below.method == "exact-binomial"
    assert below.p_value == pytest.approx(1.0)
    # b+c = 25 -> chi-square: (|15-10| - 1)² / 25 = 16/25 = 0.64.
    at = mcnemar_exact(*_pairs(15, 10))
    assert at.method == "chi2-continuity"
    assert at.statistic == pytest.approx(0.64)
    # Forced exact on b=20, c=10: p = 2 Σ_{k<=10} C(30,k) / 2^30 (binomial tail by hand).
    forced = mcnemar_exact(*_pairs(20, 10), exact=True)
    tail = sum(math.comb(30, k) for k in range(11)) / 2**30
    assert forced.method == "exact-binomial"
    assert forced.p_value == pytest.approx(2 * tail, rel=1e-12)
    assert forced.p_value == pytest.approx(0.09873714, abs=1e-8)


def test_mcnemar_no_discordant_pairs():
    res = mcnemar_exact([True, False, True], [True, False, True])
    assert res == McNemarResult(b=0, c=0, p_value=1.0, statistic=None, method="exact-binomial")


def test_mcnemar_accepts_zero_one_arrays():
    a, b = _pairs(1, 9)
    res = mcnemar_exact(np.array(a, dtype=int), np.array(b, dtype=float))
    assert res.p_value == pytest.approx(0.021484375)


def test_mcnemar_errors():
    with pytest.raises(ValueError, match="4 items but correct_b has 3"):
        mcnemar_exact([True, True, False, False], [True, False, True])
    with pytest.raises(ValueError, match="empty"):
        mcnemar_exact([], [])
    with pytest.raises(ValueError, match=r"correct_b\[1\] is nan"):
        mcnemar_exact([True, False], [True, NAN])
    with pytest.raises(ValueError, match=r"correct_a\[0\] is 2.0"):
        mcnemar_exact([2, 0], [1, 0])


# --- paired_t_test -----------------------------------------------------------------------------


def test_paired_t_df1_by_hand():
    # d = [2, 1]: mean 1.5, sd √0.5, se = √0.5/√2 = 0.5 -> t = 3. With 1 df (Cauchy),
    # two-sided p = 1 - (2/π) atan(3) = 0.2048328.
    t, p = paired_t_test([10.0, 12.0], [8.0, 11.0])
    assert t == pytest.approx(3.0, rel=1e-12)
    assert p == pytest.approx(1 - 2 / math.pi * math.atan(3.0), rel=1e-9)


def test_paired_t_df2_by_hand():
    # d = [1, 2, 4]: mean 7/3, var = (16+1+25)/9/2 = 7/3, se = √(7/9) -> t = √7 = 2.645751.
    # With 2 df, two-sided p = 1 - |t|/√(t²+2) = 1 - √7/3 = 0.1180829.
    t, p = paired_t_test([5.0, 6.0, 8.0], [4.0, 4.0, 4.0])
    assert t == pytest.approx(math.sqrt(7), rel=1e-12)
    assert p == pytest.approx(1 - math.sqrt(7) / 3, rel=1e-9)


def test_paired_t_df3_by_hand_and_sign():
    # d = [1, 2, 2, 3]: mean 2, sd √(2/3), se = √(2/3)/2 -> t = 4/√(2/3) = √24 = 4.898979.
    # With 3 df, with x = t/√3: two-sided p = 1 - (2/π)(x/(1+x²) + atan x) = 0.0162533.
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]
    x = math.sqrt(24) / math.sqrt(3)
    expected_p = 1 - 2 / math.pi * (x / (1 + x * x) + math.atan(x))
    t, p = paired_t_test(a, b)
    assert t == pytest.approx(math.sqrt(24), rel=1e-12)
    assert p == pytest.approx(expected_p, rel=1e-9)
    t_rev, p_rev = paired_t_test(b, a)
    assert t_rev == pytest.approx(-t)
    assert p_rev == pytest.approx(p)


def test_paired_t_errors():
    with pytest.raises(ValueError, match=r"len\(a\)=3, len\(b\)=2"):
        paired_t_test([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_t_test([1.0], [2.0])
    with pytest.raises(ValueError, match="empty"):
        paired_t_test([], [])
    with pytest.raises(ValueError, match=r"a\[0\] is nan"):
        paired_t_test([NAN, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="zero variance"):
        paired_t_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])


# --- Cohen's d ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # d = [1,2,2,3]: mean 2 / sd √(2/3) = √6 = 2.449490.
        ([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0], math.sqrt(6)),
        # d = [1,2,4]: (7/3) / √(7/3) = √(7/3) = 1.527525.
        ([5.0, 6.0, 8.0], [4.0, 4.0, 4.0], math.sqrt(7 / 3)),
        # d = [-2,-1]: -1.5 / √0.5 = -2.121320 (ddof=0 would give -1.5/0.5 = -3).
        ([8.0, 11.0], [10.0, 12.0], -1.5 / math.sqrt(0.5)),
    ],
)
def test_cohens_d_paired_by_hand(a, b, expected):
    assert cohens_d_paired(a, b) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Both groups have sample variance 1 -> pooled SD 1, d = (2 - 5)/1 = -3.
        ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], -3.0),
        # a: mean 5, s² = 20/3; b: mean 2, s² = 2; pooled = (3·20/3 + 1·2)/4 = 5.5 -> 3/√5.5.
        # (The original √((σ₁²+σ₂²)/2) with ddof 0 gives 3/√3 = 1.732.)
        ([2.0, 4.0, 6.0, 8.0], [1.0, 3.0], 3 / math.sqrt(5.5)),
        # Each s² = 2, pooled SD √2, d = 1/√2.
        ([1.0, 3.0], [0.0, 2.0], 1 / math.sqrt(2)),
    ],
)
def test_cohens_d_pooled_by_hand(a, b, expected):
    assert cohens_d_pooled(a, b) == pytest.approx(expected, rel=1e-12)


def test_cohens_d_errors():
    # Zero variance used to yield ±Infinity in the Era-D output (method.md §7.1).
    with pytest.raises(ValueError, match="zero variance"):
        cohens_d_paired([2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="zero variance"):
        cohens_d_pooled([90.0, 90.0, 90.0], [80.0, 80.0])
    with pytest.raises(ValueError, match="differ in length"):
        cohens_d_paired([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least 2"):
        cohens_d_pooled([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        cohens_d_pooled([], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"b\[1\] is nan"):
        cohens_d_pooled([1.0, 2.0], [1.0, NAN])


# --- Bonferroni and Holm -----------------------------------------------------------------------

# Hand-worked list, m = 4. Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06),
# 0.04 (x1 = 0.04 -> raised to 0.06 by the step-down monotonicity).
P4 = [0.01, 0.04, 0.03, 0.005]


def test_bonferroni_by_hand():
    assert bonferroni(P4) == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert bonferroni([0.5, 0.6]) == [1.0, 1.0]
    assert bonferroni([0.2]) == pytest.approx([0.2])


def test_holm_by_hand_is_monotone():
    assert holm(P4) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_more_hand_cases():
    # m = 5 sorted input: 5·0.01 = 0.05, 4·0.02 = 0.08, 3·0.03 = 0.09, then 2·0.04 = 0.08 and
    # 1·0.05 = 0.05 are both raised to 0.09.
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    # Cap at 1: 2·0.5 = 1.0, then 0.6 -> max(1.0, 0.6) = 1.0.
    assert holm([0.6, 0.5]) == [1.0, 1.0]
    assert holm([0.2]) == pytest.approx([0.2])


def test_holm_never_exceeds_bonferroni_and_never_below_raw():
    p = [0.001, 0.2, 0.04, 0.03, 0.5, 0.0001]
    for raw, h, bf in zip(p, holm(p), bonferroni(p), strict=True):
        assert raw <= h <= bf


@pytest.mark.parametrize("correct", [bonferroni, holm])
def test_multiplicity_errors(correct):
    with pytest.raises(ValueError, match="empty"):
        correct([])
    with pytest.raises(ValueError, match=r"p_values\[1\] is nan"):
        correct([0.1, NAN])
    with pytest.raises(ValueError, match=r"p_values\[0\] is 1.5"):
        correct([1.5, 0.1])
    with pytest.raises(ValueError, match=r"p_values\[1\] is -0.1"):
        correct([0.1, -0.1])


# --- Fisher's method ---------------------------------------------------------------------------


def test_fisher_single_p_returns_itself():
    # k = 1: statistic -2 ln p; χ²(2) survival is exp(-x/2) = p.
    stat, p = fisher_combined([0.3])
    assert stat == pytest.approx(-2 * math.log(0.3), rel=1e-12)
    assert p == pytest.approx(0.3, rel=1e-12)


def test_fisher_two_p_by_hand():
    # [0.05, 0.05]: x = -4 ln 0.05 = 11.982929; χ²(4) survival is exp(-x/2)(1 + x/2)
    # = 0.05² · (1 - 2 ln 0.05) = 0.0025 · 6.991465 = 0.01747866.
    stat, p = fisher_combined([0.05, 0.05])
    assert stat == pytest.approx(-4 * math.log(0.05), rel=1e-12)
    assert p == pytest.approx(0.0025 * (1 - 2 * math.log(0.05)), rel=1e-9)
    assert p == pytest.approx(0.01747866, abs=1e-8)


def test_fisher_three_p_by_hand_and_chi2():
    p_values = [0.1, 0.2, 0.3]
    x = -2 * (math.log(0.1) + math.log(0.2) + math.log(0.3))  # = 10.036760, positive
    # χ²(6) survival: exp(-x/2)(1 + x/2 + (x/2)²/2).
    h = x / 2
    by_hand = math.exp(-h) * (1 + h + h * h / 2)
    stat, p = fisher_combined(p_values)
    assert stat > 0
    assert stat == pytest.approx(x, rel=1e-12)
    assert p == pytest.approx(by_hand, rel=1e-9)
    assert p == pytest.approx(sps.chi2.sf(x, df=6), rel=1e-9)


def test_fisher_errors():
    with pytest.raises(ValueError, match="empty"):
        fisher_combined([])
    with pytest.raises(ValueError, match=r"p_values\[1\] is 0.0"):
        fisher_combined([0.5, 0.0])
    with pytest.raises(ValueError, match=r"p_values\[0\] is nan"):
        fisher_combined([NAN])
    with pytest.raises(ValueError, match=r"p_values\[0\] is 1.2"):
        fisher_combined([1.2])


# --- significance_stars ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "stars"),
    [
        (0.0, "***"),
        (0.0009, "***"),
        (0.001, "**"),  # thresholds are strict: p < .001 for three stars
        (0.0099, "**"),
        (0.01, "*"),
        (0.049, "*"),
        (0.05, ""),
        (1.0, ""),
    ],
)
def test_significance_stars(p, stars):
    assert significance_stars(p) == stars


@pytest.mark.parametrize("p", [NAN, -0.01, 1.01])
def test_significance_stars_errors(p):
    with pytest.raises(ValueError, match="p is"):
        significance_stars(p)
