"""The least-squares experiment's math (workflow/scripts/least_squares.py), in float64."""
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
import least_squares as ls  # noqa: E402
from job import lmo_options  # noqa: E402
from report import method_label  # noqa: E402

EXACT = {"polar": "svd", "backend": "svd"}


def test_problem_matrices_are_psd_with_spectrum_in_unit_interval():
    M, N, S = ls.problem(12, [0, 1, 2])
    assert M.shape == N.shape == S.shape == (3, 12, 12)
    for A in (M, N):
        assert torch.allclose(A, A.mT)
        eigenvalues = torch.linalg.eigvalsh(A)
        assert eigenvalues.min() > 0 and eigenvalues.max() < 1
    again = ls.problem(12, [1])
    assert all(torch.equal(a[1:2], b) for a, b in zip((M, N, S), again))  # a seed's problem is its own


def test_gradient_is_the_gradient_of_the_loss_and_the_minimum_is_zero_at_S():
    M, N, S = ls.problem(7, [3])
    X = torch.randn_like(S, requires_grad=True)
    ls.loss(X, M, N, S).sum().backward()
    assert torch.allclose(X.grad, ls.gradient(X.detach(), M, N, S))
    assert ls.loss(S, M, N, S).abs().max() == 0 and ls.loss(X.detach(), M, N, S).min() > 0


@pytest.mark.parametrize("spec", [{"lmo": "nsgd"}, {"lmo": "muon"}, {"lmo": "f-muon", "alpha": 0.5}, {"lmo": "neon"},
                                  {"lmo": "f-neon", "alpha": 0.5}, {"lmo": "sign"}, {"lmo": "s-muon", "alpha": 0.5}])
def test_descend_records_loss_and_norms_and_decreases_the_loss(spec):
    lmo, options = spec["lmo"], lmo_options(spec, EXACT)
    M, N, S = ls.problem(8, [0, 1])
    trace = ls.descend(M, N, S, lmo, options, lr=1e-3, iterations=30)
    assert trace.shape == (31, 3, 2)
    assert torch.allclose(trace[0, 0], ls.loss(torch.zeros_like(S), M, N, S))
    G0 = ls.gradient(torch.zeros_like(S), M, N, S)
    assert torch.allclose(trace[0, 1], torch.linalg.matrix_norm(G0, ord=2))
    assert (trace[1:, 0] < trace[:-1, 0]).all()  # a small LMO step is a descent step


def test_frobenius_smoothness_bounds_the_nsgd_step():
    """F(X − ηD) ≤ F(X) − η‖∇F‖_F + Lη²/2 for D = ∇F/‖∇F‖_F and L = ‖M‖_F‖N‖_F."""
    M, N, S = ls.problem(10, [5])
    L = ls.smoothness("nsgd", M[0], N[0])
    X = torch.randn_like(S)
    G = ls.gradient(X, M, N, S)
    for eta in (0.1, 1.0, 10.0):
        lhs = ls.loss(X - eta * G / G.norm(), M, N, S)
        assert lhs <= ls.loss(X, M, N, S) - eta * G.norm() + L * eta**2 / 2


def test_theory_step_and_iterations_follow_eps_over_L_and_L_delta_over_eps_squared():
    rows = ls.theory_rows(6, [0], op_target=1.0, defaults=EXACT)
    assert list(rows.lmo) == ["muon", "neon", "nsgd"]
    for row in rows.itertuples():
        assert row.eps == ls.target(row.lmo, 6, 1.0)
        assert math.isclose(row.lr, row.eps / row.L)
        assert row.K == math.ceil(row.L * row.delta0 / row.eps**2)
    assert rows.set_index("lmo").eps.to_dict() == {"muon": 3.0, "neon": 1.0, "nsgd": math.sqrt(6) / 2}


def test_method_labels():
    assert method_label({"lmo": "f-muon", "alpha": 0.5}) == "F-Muon α=0.5"
    assert method_label({"lmo": "s-neon", "alpha": 0.25}) == "S-Neon α=0.25"
    assert method_label({"lmo": "fanion", "k": 4}) == "4-Fanion"
    assert method_label({"lmo": "sign"}) == "SignSGD"
    assert method_label({"lmo": "columns"}) == "columns"
