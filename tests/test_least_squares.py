"""The least-squares experiment's math (workflow/scripts/least_squares.py), in float64."""
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
import least_squares as ls  # noqa: E402
from job import lmo_options  # noqa: E402
from report import method_label  # noqa: E402
import fanions  # noqa: E402

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


def test_a_user_lmo_shows_its_label_in_legends_and_its_mixtures_too():
    """A user's LMO once showed its raw id in every legend: register_lmo(label=...) names it, and a mixture of it."""
    fanions.register_lmo("my-cols", dual_norm=lambda M: M.norm(dim=-2).sum(-1), label="Columns")(
        lambda M: M / M.norm(dim=-2, keepdim=True))
    fanions.register_mixture("f-my-cols", "my-cols", "nsgd")
    try:
        assert method_label({"lmo": "my-cols"}) == "Columns"
        assert method_label({"lmo": "f-my-cols", "alpha": 0.3}) == "F-Columns α=0.3"
    finally:
        del fanions.LMOS["my-cols"], fanions.LMOS["f-my-cols"]


# ---------------------------------------------------------------- the paper's §6.1 numbers (errata)
def test_smoothness_formulas_against_traces_and_eigenvalues():
    """M, N are PSD: ‖M‖_nuc = tr M, ‖M‖_op = λ_max, ‖M‖_F² = Σλ²; each formula recomputed from those."""
    M, N, _ = ls.problem(9, [0, 1])
    trace, top = (lambda A: A.diagonal(dim1=-2, dim2=-1).sum(-1)), (lambda A: torch.linalg.eigvalsh(A)[..., -1])
    muon, neon, nsgd = (ls.smoothness_formulas(lmo, M, N) for lmo in ("muon", "neon", "nsgd"))
    assert torch.allclose(muon["stated"], 2 / 9 * trace(M) * trace(N))
    assert torch.allclose(muon["sqrt_n"], 2 / 3 * trace(M) * trace(N))
    assert torch.allclose(muon["rule"], 4 / 9 * trace(M) * trace(N))  # γ = 2/√n: (4/n)‖M‖_nuc‖N‖_nuc
    assert torch.allclose(neon["rule"], 9 * top(M) * top(N)) and torch.allclose(neon["rule"], neon["stated"])
    frob = torch.linalg.eigvalsh(M).pow(2).sum(-1).sqrt() * torch.linalg.eigvalsh(N).pow(2).sum(-1).sqrt()
    assert torch.allclose(nsgd["rule"], frob) and torch.allclose(nsgd["stated"], frob)


def test_the_papers_L_are_for_n50_and_muons_follows_two_over_root_n():
    """Over 20 problems, the paper's 171.4, 47.7 and 16.2 lie inside the spread of (2/√n)‖M‖_nuc‖N‖_nuc,
    n‖M‖_op‖N‖_op and ‖M‖_F‖N‖_F at n = 50, and far outside every formula's values at n = 10; the stated
    (2/n)‖M‖_nuc‖N‖_nuc (≈ 25) and the rule's (4/n)‖M‖_nuc‖N‖_nuc (≈ 50) never reach Muon's."""
    seeds = list(range(20))
    def inside(values, paper):
        return abs(paper - values.mean()) < 3 * values.std()
    at50 = {lmo: ls.smoothness_formulas(lmo, *ls.problem(50, seeds)[:2]) for lmo in ls.PAPER}
    at10 = {lmo: ls.smoothness_formulas(lmo, *ls.problem(10, seeds)[:2]) for lmo in ls.PAPER}
    assert inside(at50["muon"]["sqrt_n"], 171.4) and inside(at50["neon"]["stated"], 47.7)
    assert inside(at50["nsgd"]["stated"], 16.2)
    assert at50["muon"]["stated"].max() < 50 and at50["muon"]["rule"].max() < 100  # Muon's is 171.4
    for lmo, values in at10.items():
        assert all(formula.max() < ls.PAPER[lmo]["L"] / 2 for formula in values.values()), lmo


def test_the_papers_rates_are_one_over_eps_L_and_its_K_imply_one_delta0():
    n = 50
    eps = {"muon": n / 2, "neon": 1.0, "nsgd": math.sqrt(n) / 2}
    for lmo, paper in ls.PAPER.items():
        rates = ls.paper_rates(lmo, n)
        assert rates["lr_times_eps_L"][0] == pytest.approx(paper["lr"] * eps[lmo] * paper["L"])
        assert rates["lr_times_eps_L"][0] == pytest.approx(1, abs=0.003)  # η = 1/(εL), to the paper's digits
        assert rates["lr_inverse_eps_L"][0] == pytest.approx(paper["lr"], rel=0.003)
        assert rates["delta0_implied"][0] == pytest.approx(paper["K"] * eps[lmo] ** 2 / paper["L"])
    assert ls.paper_rates("muon", n)["lr_eps_over_L"][0] > 100 * ls.PAPER["muon"]["lr"]  # ε/L is not its η
    implied = [ls.paper_rates(lmo, n)["delta0_implied"][0] for lmo in ls.PAPER]
    assert max(implied) / min(implied) < 1.01  # the three K agree on one Δ₀ (≈ 249)
    at10 = [ls.paper_rates(lmo, 10)["lr_times_eps_L"][0] for lmo in ("muon", "nsgd")]
    assert all(abs(value - 1) > 0.5 for value in at10)  # at n = 10, which the text names, nothing fits


def test_leads_count_strict_leads_and_the_leading_window():
    frame = pd.DataFrame({"size": 5, "seed": 0, "iteration": list(range(5)) * 2, "method": ["a"] * 5 + ["b"] * 5,
                          "grad_op": [1.0, 0.5, 0.4, 0.9, 0.1] + [1.0, 0.6, 0.5, 0.3, 0.2]})
    result = ls.leads(frame, "grad_op").set_index(["method", "rival"])
    assert result.loc["a", "all"].share == pytest.approx(3 / 5) and result.loc["a", "all"].window == 0.0  # a tie: no
    assert result.loc["b", "all"].share == pytest.approx(1 / 5) and result.loc["b", "all"].window == 0.0
    assert result.loc["a", "b"].share == result.loc["a", "all"].share  # with one rival, "all" is that rival
    frame.loc[0, "grad_op"] = 0.9
    assert ls.leads(frame, "grad_op").set_index(["method", "rival"]).loc["a", "all"].window == pytest.approx(3 / 5)
    third = pd.DataFrame({"size": 5, "seed": 0, "iteration": range(5), "method": "c", "grad_op": [2, 2, 2, 2, 0.0]})
    result = ls.leads(pd.concat([frame, third]), "grad_op").set_index(["method", "rival"])
    assert result.loc["a", "c"].share == pytest.approx(4 / 5) and result.loc["a", "all"].share == pytest.approx(3 / 5)


def test_errata_rows_hold_every_quantity_with_the_papers_number_beside_ours():
    theory = ls.theory_rows(6, [0, 1], op_target=1.0, defaults=EXACT)
    M, N, S = ls.problem(6, [0, 1])
    frames = []
    for lmo in ("nsgd", "neon"):
        frame = ls.trace_frame(ls.descend(M, N, S, lmo, lmo_options({"lmo": lmo}, EXACT), 0.05, 20), [0, 1])
        frames.append(frame.assign(size=6, method=lmo))
    table = ls.errata(theory, pd.concat(frames), [0, 1]).set_index(["method", "quantity"])
    assert table.loc[("muon", "L_sqrt_n")].paper == 171.4 and table.loc[("muon", "L_sqrt_n")].seeds == 2
    delta0 = table.loc[("problem", "delta0")]
    assert delta0.value == pytest.approx(ls.loss(torch.zeros_like(S), M, N, S).mean().item())
    assert delta0.low < delta0.value < delta0.high
    assert table.loc[("neon", "lead_dual")].value + table.loc[("nsgd", "lead_dual")].value <= 1
    assert table.loc[("neon", "lead_dual")].value <= table.loc[("neon", "lead_dual_over_nsgd")].value


def test_the_true_smoothness_constant_is_the_supremum_over_directions_and_is_attained():
    """sup_H ‖MHN‖†/‖H‖ in each LMO's norm: no random H exceeds ``true_smoothness`` (float64), and the H of its
    docstring attains it."""
    M, N, _ = ls.problem(7, [0])
    M, N = M[0], N[0]
    H = torch.randn(2000, 7, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    norm = {"nsgd": fanions.norms.frobenius, "neon": fanions.norms.nuclear, "muon": fanions.norms.spectral}
    UM, _, VMh = torch.linalg.svd(M)
    UN, _, VNh = torch.linalg.svd(N)
    best = {"nsgd": VMh[0][:, None] * UN[:, 0][None], "neon": VMh[0][:, None] * UN[:, 0][None], "muon": VMh.mT @ UN.mT}
    for lmo in ("nsgd", "neon", "muon"):
        L = ls.true_smoothness(lmo, M, N).item()
        ratio = fanions.dual_norm(M @ H @ N, lmo) / norm[lmo](H)
        assert ratio.max().item() <= L * (1 + 1e-12)
        attained = (fanions.dual_norm(M @ best[lmo] @ N, lmo) / norm[lmo](best[lmo])).item()
        assert attained == pytest.approx(L, rel=1e-12), lmo
        assert ls.smoothness(lmo, M, N).item() >= L  # the paper's formulas are valid bounds


def test_two_methods_with_one_label_are_drawn_apart(tmp_path):
    """A user LMO's option c = 1 and c = 2 both read "scaled": the figure once drew one line, their average."""
    rows = [{"size": 10, "method": method, "label": "scaled", "seed": 0, "iteration": it, "loss_gap": gap / (1 + it),
             "grad_op": 1.0, "grad_dual": 1.0} for method, gap in (("c1", 20.0), ("c2", 0.05)) for it in range(3)]
    fig = ls.plot(pd.DataFrame(rows), tmp_path / "f.pdf", tmp_path / "f.png", {"rule": "test"})
    assert sorted(fig.legends[0].get_texts()[i].get_text() for i in range(2)) == ["scaled [c1]", "scaled [c2]"]
