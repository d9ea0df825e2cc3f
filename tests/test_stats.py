"""The verdicts' statistics (workflow/scripts/stats.py) on distributions whose answers are known."""
import doctest
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
import stats  # noqa: E402


def test_the_docstring_examples_hold():
    assert doctest.testmod(stats).failed == 0


def test_the_t_interval_covers_the_mean_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = [(est.low < 3.0 < est.high) for est in (stats.mean_ci(rng.normal(3.0, 2.0, 8)) for _ in range(4000))]
    assert abs(np.mean(hits) - 0.95) < 0.015  # binomial sd 0.0034
    est = stats.mean_ci([1.0, 2.0, 3.0])
    assert est.n == 3 and est.mean == 2.0 and est.high - est.mean == pytest.approx(st.t.ppf(0.975, 2) / np.sqrt(3))


def test_the_bootstrap_interval_covers_the_mean_and_is_reproducible():
    rng = np.random.default_rng(1)
    hits = [(est.low < 0.0 < est.high)
            for est in (stats.bootstrap_ci(rng.normal(0.0, 1.0, 30), resamples=800, seed=i) for i in range(400))]
    assert 0.90 < np.mean(hits) < 0.98  # percentile bootstrap: close to 95%, a little under at n = 30
    x = rng.exponential(size=20)
    assert stats.bootstrap_ci(x, seed=5) == stats.bootstrap_ci(x, seed=5)
    assert stats.bootstrap_ci(x, np.median, seed=5).mean == np.median(x)


def test_welch_p_is_uniform_under_the_null_and_small_under_a_shift():
    rng = np.random.default_rng(2)
    null = [stats.welch_p(rng.normal(1.0, 1.0, 5), rng.normal(1.0, 3.0, 12)) for _ in range(2000)]
    assert st.kstest(null, "uniform").pvalue > 0.01
    assert abs(np.mean(np.array(null) < 0.05) - 0.05) < 0.015
    assert stats.welch_p(rng.normal(0.0, 1.0, 10), rng.normal(3.0, 1.0, 10)) < 1e-4
    x, y = rng.normal(0, 1, 7), rng.normal(0.5, 2, 9)
    assert stats.welch_p(x, y) == pytest.approx(st.ttest_ind(x, y, equal_var=False).pvalue, rel=1e-10)


def test_tost_declares_equal_means_equivalent_and_a_shift_beyond_the_margin_not():
    rng = np.random.default_rng(3)
    assert stats.tost_p(rng.normal(0.0, 0.01, 20), rng.normal(0.0, 0.01, 20), margin=0.02) < 0.001
    assert stats.tost_p(rng.normal(0.0, 0.01, 20), rng.normal(0.05, 0.01, 20), margin=0.02) > 0.5
    at_margin = [stats.tost_p(rng.normal(0.0, 1.0, 10), rng.normal(0.5, 1.0, 10), margin=0.5) for _ in range(2000)]
    assert np.mean(np.array(at_margin) < 0.05) < 0.05 + 0.015  # at the margin itself it rejects at most α
    with pytest.raises(ValueError, match="margin"):
        stats.tost_p([0, 1], [0, 1], margin=0)


def test_power_matches_a_simulation_of_the_t_test():
    rng = np.random.default_rng(4)
    for d, n in ((1.0, 10), (0.5, 30), (0.3, 8)):
        x, y = rng.normal(0.0, 2.0, (20000, n)), rng.normal(2 * d, 2.0, (20000, n))
        simulated = np.mean(st.ttest_ind(x, y, axis=1).pvalue < 0.05)
        assert abs(stats.power(2 * d, 2.0, n) - simulated) < 0.012, (d, n)  # binomial sd ≤ 0.0035


def test_seeds_needed_gives_the_textbook_sample_sizes():
    assert stats.seeds_needed(1.0, 1.0) == 17  # Cohen's d = 1: 17 per group for 80% power at α = 0.05
    assert stats.seeds_needed(0.5, 1.0) == 64  # d = 0.5: 64 per group
    assert stats.seeds_needed(-0.8, 1.0) == 26  # d = 0.8: 26 per group; the sign does not matter
    n = stats.seeds_needed(0.3, 1.0, target=0.9, alpha=0.01)
    assert stats.power(0.3, 1.0, n, 0.01) >= 0.9 > stats.power(0.3, 1.0, n - 1, 0.01)


def test_robust_band_of_a_v_shaped_loss_is_twice_the_tolerance():
    x = np.linspace(0.0, 1.0, 21)
    y = 1 + np.abs(x - 0.45)  # lowest 1 at 0.45; within 12% of it on [0.33, 0.57]
    assert stats.robust_band(x, y, tolerance=0.12) == (9, pytest.approx(0.33), pytest.approx(0.57), False)
    assert stats.robust_band(x, y, tolerance=0.5)[3]  # reaches the grid's left end (x = 0): a lower bound
    y[5] = np.nan  # a diverged point ends the band there
    assert stats.robust_band(x, y, tolerance=0.5)[1:] == (pytest.approx(0.3), pytest.approx(0.95), False)


def test_robust_width_interval_covers_the_true_width_and_narrows_with_seeds():
    x = np.linspace(0.0, 1.0, 41)
    rng = np.random.default_rng(5)
    def noisy(seeds):
        return 1 + np.abs(x - 0.5)[None, :] + rng.normal(0.0, 0.02, (seeds, len(x)))  # true width 0.2
    few = stats.robust_width_interval(x, noisy(4), tolerance=0.1, resamples=500)
    many = stats.robust_width_interval(x, noisy(64), tolerance=0.1, resamples=500)
    assert many[0] < 0.2 < many[1]
    assert many[1] - many[0] < few[1] - few[0]
    assert np.isnan(stats.robust_width_interval(x, noisy(1), tolerance=0.1)).all()  # one seed: no interval


def test_moments_give_the_same_tests_as_their_samples_and_detectable_inverts_power():
    """A published mean ± sd over n runs enters Welch and TOST as the sample it summarizes would; detectable(s, n)
    is the difference at which power reaches 80%."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(94.0, 0.13, 200), rng.normal(94.05, 0.15, 12)
    paper = stats.Moments(x.mean(), x.std(ddof=1), 200)
    assert stats.welch_p(y, paper) == pytest.approx(stats.welch_p(y, x), rel=1e-12)
    assert stats.tost_p(y, paper, 0.1) == pytest.approx(stats.tost_p(y, x, 0.1), rel=1e-12)
    assert stats.mean_ci(paper) == pytest.approx(tuple(stats.mean_ci(x)), rel=1e-12)
    d = stats.detectable(0.004, 3)
    assert stats.power(d, 0.004, 3) == pytest.approx(0.8, abs=0.01) and stats.power(0.9 * d, 0.004, 3) < 0.8
