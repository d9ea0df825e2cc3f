"""The statistics behind every verdict: a mean with its interval and n, a difference with its p-value, an
equivalence with its margin, the seeds a comparison needs, and a robustness width with its uncertainty.

Samples are 1-D arrays of per-seed results x₁ … xₙ, with mean x̄ = Σxᵢ/n and sample standard deviation
s = √(Σ(xᵢ − x̄)²/(n − 1)); t_ν is Student's t with ν degrees of freedom and t_{ν,q} its q-quantile.

    >>> speedrun = [3.2745, 3.2733, 3.2810, 3.2833, 3.2759, 3.2735, 3.2773]  # the record's published final losses
    >>> round(float(np.std(speedrun, ddof=1)), 4)
    0.0039
    >>> seeds_needed(0.002, float(np.std(speedrun, ddof=1)))  # per arm, to see a 0.002 difference 80% of the time
    60
"""
import math
from collections import namedtuple

import numpy as np
from scipy import stats as st

Estimate = namedtuple("Estimate", "mean low high n")
Moments = namedtuple("Moments", "mean sd n")  # a sample known only by its summary (a paper's mean ± sd over n runs)


def sample(x):
    """x as a float64 array, checked: one dimension, at least two finite values (an interval needs a spread)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
        raise ValueError(f"a sample is at least two finite numbers in one dimension, got {x!r}")
    return x


def moments(x):
    """The mean, sample standard deviation and size of x: a sample, or Moments as they are."""
    if isinstance(x, Moments):
        return x
    x = sample(x)
    return Moments(x.mean(), x.std(ddof=1), len(x))


def mean_ci(x, level=0.95):
    """The mean and its t interval: x̄ ± t_{n−1,(1+level)/2}·s/√n (exact for normal samples); x a sample or
    Moments."""
    mean, sd, n = moments(x)
    half = st.t.ppf((1 + level) / 2, n - 1) * sd / np.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def bootstrap_ci(x, statistic=np.mean, level=0.95, resamples=10_000, seed=0):
    """The percentile bootstrap interval of ``statistic``: its (1−level)/2 and (1+level)/2 quantiles over
    ``resamples`` resamples of x with replacement (numpy's generator seeded by ``seed``: reproducible). The
    rows of a 2-D x (seeds × grid points) are resampled whole; x may hold NaN where the statistic handles it
    (a diverged run), and a statistic that is not finite on x itself is refused."""
    x = np.asarray(x, dtype=np.float64)
    estimate = statistic(x) if len(x) >= 2 else math.nan
    if not np.isfinite(estimate):
        raise ValueError(f"a bootstrap needs at least two rows and a finite statistic on them, got {x!r}")
    draws = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    values = np.array([statistic(x[row]) for row in draws])
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(estimate, low, high, len(x))


def welch(x, y):
    """Welch's statistic for μ₁ − μ₂: the difference x̄ − ȳ, its standard error se = √(s₁²/n₁ + s₂²/n₂) and the
    Welch–Satterthwaite degrees of freedom ν = se⁴ / ((s₁²/n₁)²/(n₁−1) + (s₂²/n₂)²/(n₂−1)); x and y samples
    or Moments (a published mean ± sd over n runs)."""
    x, y = moments(x), moments(y)
    vx, vy = x.sd**2 / x.n, y.sd**2 / y.n
    se = np.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (x.n - 1) + vy**2 / (y.n - 1)) if se > 0 else np.inf
    return x.mean - y.mean, se, df


def welch_p(x, y):
    """Two-sided p-value of Welch's t-test of μ₁ = μ₂: 2·P(t_ν > |x̄ − ȳ|/se)."""
    difference, se, df = welch(x, y)
    if se == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * st.t.sf(abs(difference) / se, df))


def difference_ci(x, y, level=0.95):
    """Welch's interval for μ₁ − μ₂: x̄ − ȳ ± t_{ν,(1+level)/2}·se (``welch``); x and y samples or Moments."""
    difference, se, df = welch(x, y)
    half = st.t.ppf((1 + level) / 2, df) * se if se > 0 else 0.0
    return float(difference - half), float(difference + half)


def tost_p(x, y, margin):
    """p-value of the equivalence |μ₁ − μ₂| < margin by two one-sided Welch tests (TOST): the larger of
    P(t_ν > (x̄ − ȳ + margin)/se) (H₀: μ₁ − μ₂ ≤ −margin) and P(t_ν < (x̄ − ȳ − margin)/se) (H₀: μ₁ − μ₂ ≥ margin).
    Below α, the means are equivalent within the margin at level α (the 1 − 2α interval lies inside it)."""
    if margin <= 0:
        raise ValueError(f"an equivalence margin is > 0, got {margin}")
    difference, se, df = welch(x, y)
    if se == 0:
        return 0.0 if abs(difference) < margin else 1.0
    return float(max(st.t.sf((difference + margin) / se, df), st.t.cdf((difference - margin) / se, df)))


def power(d, s, n, alpha=0.05):
    """Power of the two-sided two-sample t-test (equal variances, n per arm) at a true difference d and
    standard deviation s: P(|T| > t_{ν,1−α/2}) for T noncentral t with ν = 2n − 2 and noncentrality
    δ = d / (s·√(2/n)), that is 1 − F(t_c; ν, δ) + F(−t_c; ν, δ). Exact, not the normal approximation."""
    df, delta = 2 * n - 2, abs(d) / (s * np.sqrt(2 / n))
    critical = st.t.ppf(1 - alpha / 2, df)
    return float(st.nct.sf(critical, df, delta) + st.nct.cdf(-critical, df, delta))


def seeds_needed(d, s, target=0.8, alpha=0.05, most=100_000):
    """The fewest seeds per arm n ≥ 2 at which ``power(d, s, n, alpha)`` reaches ``target``; a start from the
    normal approximation n ≈ 2(z_{1−α/2} + z_target)²(s/d)², then exact steps (power grows with n)."""
    if d == 0 or s <= 0:
        raise ValueError(f"a difference d ≠ 0 and a standard deviation s > 0 are needed, got d={d}, s={s}")
    n = max(2, int(2 * (st.norm.ppf(1 - alpha / 2) + st.norm.ppf(target)) ** 2 * (s / d) ** 2) - 2)
    while power(d, s, n, alpha) >= target and n > 2:
        n -= 1
    while power(d, s, n, alpha) < target:
        n += 1
        if n > most:
            raise ValueError(f"more than {most} seeds per arm for d={d}, s={s}")
    return n


def detectable(s, n, target=0.8, alpha=0.05):
    """The smallest difference d that n seeds per arm detect with ``power`` ≥ ``target`` at standard deviation s
    (power grows with d: bisection to 0.1% of s)."""
    low, high = 0.0, s
    while power(high, s, n, alpha) < target:
        low, high = high, 2 * high
    while high - low > 1e-3 * s:
        low, high = (low, (low + high) / 2) if power((low + high) / 2, s, n, alpha) >= target else ((low + high) / 2, high)
    return high


def robust_band(x, y, tolerance):
    """The band of a 1-D grid ``x`` (increasing: α, or log10 lr) around the lowest mean loss y over which the loss
    stays within a relative ``tolerance`` of it, y ≤ (1 + tolerance)·min y: the grid points left and right of
    the argmin while inside, each edge moved to where the straight line to the next point crosses that level
    (a NaN loss, a diverged point, is outside, and the edge stays at the last point inside). Returns
    (best index, left, right, censored): censored when the band reaches an end of the grid (its width a lower
    bound)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    best = int(np.nanargmin(y))
    level = (1 + tolerance) * y[best]
    lo = hi = best
    while lo > 0 and y[lo - 1] <= level:
        lo -= 1
    while hi < len(y) - 1 and y[hi + 1] <= level:
        hi += 1

    def edge(inner, outer):
        if np.isnan(y[outer]):
            return x[inner]
        return x[inner] + (level - y[inner]) / (y[outer] - y[inner]) * (x[outer] - x[inner])
    left = x[0] if lo == 0 else edge(lo, lo - 1)
    right = x[-1] if hi == len(y) - 1 else edge(hi, hi + 1)
    return best, left, right, lo == 0 or hi == len(y) - 1


def width_comparison(f, base):
    """One robustness width against another's (rows with ``width`` and ``censored``, as ``robust_band`` gives),
    where the grid decides it: 'wider' or 'no wider', or None where the band that would decide it reaches the
    grid's edge (its width is then only a lower bound)."""
    if f.width > base.width and not base.censored:
        return "wider"
    if f.width <= base.width and not f.censored:
        return "no wider"
    return None


def robust_width_interval(x, losses, tolerance, level=0.95, resamples=2000, seed=0):
    """The ``bootstrap_ci`` interval of the width right − left of ``robust_band`` over seeds: the rows of
    ``losses`` (seeds × grid points; NaN where a run diverged) resampled whole and the band recomputed on their
    means (a resample in which a diverged seed leaves no grid point has width 0). (low, high); NaN with fewer
    than two seeds or no loss at all."""
    losses = np.asarray(losses, dtype=np.float64)
    if len(losses) < 2 or np.isnan(losses).all():
        return math.nan, math.nan

    def width(sample):
        y = sample.mean(0)
        if np.isnan(y).all():
            return 0.0
        _, left, right, _ = robust_band(x, y, tolerance)
        return right - left
    estimate = bootstrap_ci(losses, width, level, resamples, seed)
    return float(estimate.low), float(estimate.high)
