"""Norms of Gaussian matrices (workflow/scripts/norm_asymptotics.py) against the Marchenko–Pastur limits."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
import norm_asymptotics as na  # noqa: E402


def test_the_marchenko_pastur_mean_of_the_singular_values():
    assert na.mp_mean_sqrt(1.0) == pytest.approx(8 / (3 * math.pi), rel=1e-10)  # the quarter-circle law's mean
    for y in (1e-3, 1e-2):  # E√x ≈ 1 − Var(x)/8 = 1 − y/8 for a law concentrated at 1
        assert na.mp_mean_sqrt(y) == pytest.approx(1 - y / 8, abs=y**2)
    assert na.mp_mean_sqrt(0.25) < na.mp_mean_sqrt(0.1) < 1


def test_the_ratios_of_one_matrix_are_its_norms_divided_as_stated():
    X = na.gaussian(12, 5, 0.5, seed=3)
    assert torch.equal(X, na.gaussian(12, 5, 0.5, seed=3)) and not torch.equal(X, na.gaussian(12, 5, 0.5, seed=4))
    s = np.linalg.svd(X.numpy(), compute_uv=False)
    ratios = na.norm_ratios(X, 0.5)
    assert ratios["nuclear"] == pytest.approx(s.sum() / (0.5 * 5 * math.sqrt(12)))
    assert ratios["spectral"] == pytest.approx(s[0] / (0.5 * (math.sqrt(12) + math.sqrt(5))))
    assert ratios["nuclear_over_spectral"] == pytest.approx(s.sum() / s[0] / 5)


def test_the_ratios_approach_the_true_limits_not_the_papers_at_moderate_n():
    torch.set_num_threads(1)
    norms = na.measure([256], [1, 4], [0, 1, 2, 3], sigma=0.02)
    mean = norms.groupby(["aspect", "quantity"]).ratio.mean()
    assert mean[1, "nuclear"] == pytest.approx(8 / (3 * math.pi), abs=0.01)
    assert mean[4, "nuclear"] == pytest.approx(na.mp_mean_sqrt(0.25), abs=0.005)
    assert mean[1, "frobenius"] == pytest.approx(1, abs=0.005) and mean[4, "frobenius"] == pytest.approx(1, abs=0.005)
    assert mean[1, "spectral"] == pytest.approx(1, abs=0.04) and mean[4, "spectral"] == pytest.approx(1, abs=0.03)
    assert mean[1, "frobenius_over_spectral"] == pytest.approx(0.5, abs=0.02)
    assert mean[1, "nuclear_over_spectral"] == pytest.approx(4 / (3 * math.pi), abs=0.015)
    assert mean[1, "nuclear"] < 0.9 and mean[1, "nuclear_over_spectral"] < 0.45  # the paper's 1 and 1/2: refuted
    assert (4, "nuclear_over_spectral") not in mean  # stated by the paper for square matrices only


def test_extrapolation_recovers_the_limit_of_a_known_finite_size_law():
    n = np.array([32, 64, 128, 256, 512])
    assert na.extrapolate(n, 0.42 + 3.0 * n ** (-2 / 3), 2 / 3) == pytest.approx(0.42, abs=1e-12)


def test_limits_put_the_measurement_beside_the_papers_constant_and_the_true_one():
    norms = na.measure([16, 32, 64], [1], [0, 1, 2], sigma=1.0)
    table = na.limits(norms, level=0.95).set_index("quantity")
    row = table.loc["nuclear_over_spectral"]
    assert (row.n, row.seeds, row.paper) == (64, 3, 0.5) and row.true == pytest.approx(2 / (3 * math.pi) * 2)
    assert row.low < row.measured < row.high
    at_64 = norms[(norms.n == 64) & (norms.quantity == "nuclear_over_spectral")].ratio
    assert row.measured == pytest.approx(at_64.mean())
