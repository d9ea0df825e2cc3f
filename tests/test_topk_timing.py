"""Table 2's measuring (topk_timing.py) and the command-line benchmarks (benchmarks/bench_topk.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "workflow/scripts"))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import bench_topk  # noqa: E402
import topk_timing  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from test_topk import momentum_sequence  # noqa: E402


def test_table_picks_the_cheapest_setting_that_reaches_rtol():
    frame = topk_timing.table(["decaying", "gaussian"], 120, [1, 4], 1e-2, ["lanczos", "rsvd", "svd", "arpack"], 1,
                             "cpu").set_index(["matrix", "method", "k"])
    for matrix in ("decaying", "gaussian"):
        for k in (1, 4):
            lanczos = frame.loc[(matrix, "lanczos", k)]
            assert lanczos.reached and lanczos.error <= 1e-2 and lanczos.matvecs > 0 and lanczos.time_ms > 0
            assert frame.loc[(matrix, "svd", k)].error < 1e-3  # float32 SVD against the float64 one
    M = topk_timing.sample_matrix("decaying", 120, 0, "cpu")
    P_k, _ = topk_timing.exact_factor(M, 4)
    chosen = topk_timing.RSVD_NITER.index(frame.loc[("decaying", "rsvd", 4)].cost)
    if chosen:  # one setting cheaper must miss rtol, or it would have been chosen
        assert topk_timing.relative_error(topk_timing.rsvd(M, 4, topk_timing.RSVD_NITER[chosen - 1])[0], P_k) > 1e-2


def test_table_counts_every_solvers_products_and_records_the_timing_conditions():
    """scipy's products counted through its operator; the error beside rtol; fastest, median and slowest of the
    repetitions; the load average around them and the thread count."""
    frame = topk_timing.table(["gaussian"], 120, [2], 1e-2, ["lanczos", "arpack", "propack"], 3, "cpu")
    assert set(frame.method) == {"lanczos", "arpack", "propack"}
    for row in frame.itertuples():
        assert row.matvecs > 0 and row.error_to_rtol == row.error / 1e-2
        assert row.time_min_ms <= row.time_ms <= row.time_max_ms
        assert row.load_before >= 0 and row.load_after >= 0 and row.threads == torch.get_num_threads() >= 1
    from scipy.sparse.linalg import svds
    A = topk_timing.counting_operator(torch.randn(30, 20).numpy())
    svds(A, k=2, random_state=0)
    assert A.products > 0


def test_table_2_flags_a_timing_whose_repetitions_spread():
    row = pd.DataFrame([dict(method="lanczos", reached=True, error=1e-3, time_ms=100.0, time_min_ms=90.0,
                             time_max_ms=110.0)]).iloc[0]
    steady = next(pd.DataFrame([row]).itertuples())
    noisy = next(pd.DataFrame([{**row, "time_max_ms": 300.0}]).itertuples())
    assert topk_timing.cell(steady) == "100" and topk_timing.cell(noisy) == r"100$^\dagger$"
    assert topk_timing.cell(row) == "100"  # the table's cells come from a frame's rows (a Series), too
    assert topk_timing.cell(pd.Series({**row, "time_max_ms": 300.0})) == r"100$^\dagger$"


def test_table_2_puts_the_products_beside_the_milliseconds():
    row = dict(method="lanczos", reached=True, error=1e-3, time_ms=41.25, time_min_ms=41.0, time_max_ms=42.0,
               matvecs=140.0)
    assert topk_timing.table_cell(pd.Series(row)) == "41.2/140"
    assert topk_timing.table_cell(pd.Series({**row, "reached": False, "error": 0.031})) == "(0.031)"
    polar = {**row, "method": "newton-schulz", "reached": False, "error": 0.5, "matvecs": float("nan")}
    assert topk_timing.table_cell(pd.Series(polar)) == "41.2 (0.5)"  # no products counted; the error of its UVᵀ


def test_stacks_time_every_lmo_beside_muon(monkeypatch):
    monkeypatch.setattr(bench_topk, "STACKS", {"tiny": [(2, 40, 40), (1, 40, 72)]})
    frame = bench_topk.stacks(["tiny"], bench_topk.STACK_LMOS, steps=2, warmup=2, device="cpu")
    assert list(frame.lmo) == ["muon", "neon", "fanion"]
    assert frame.set_index("lmo").ratio_to_muon["muon"] == 1.0
    assert (frame[frame.lmo != "muon"].factor_error <= 1e-2).all()


def test_warm_start_study_along_saved_momenta(tmp_path):
    """The file train_gpt.py writes: the last momentum is the 'momentum' matrix; along all of them the warm
    start reaches rtol with fewer products than a cold start."""
    momenta = torch.stack(list(momentum_sequence(6)))
    path = tmp_path / "seed0_momentum.pt"
    torch.save({"parameter": "blocks.0.mlp.c_fc.weight", "momenta": momenta, "steps": list(range(5, 11))}, path)
    assert torch.equal(topk_timing.sample_matrix("momentum", 0, 0, "cpu", momentum=path), momenta[-1])
    frame = topk_timing.warm_start(topk_timing.load_momenta(path, "cpu")["momenta"], [1, 4], 1e-2)
    assert len(frame) == 2 * 5  # the first momentum only starts the chain
    assert (frame.error_warm <= 1e-2).all() and (frame.error_cold <= 1e-2).all()
    summary = topk_timing.warm_start_summary(frame)
    assert (summary.ratio > 1).all() and summary.steps.tolist() == [5, 5]


def test_products_times_torch_and_numpy_by_columns():
    frame = bench_topk.products(64, "cpu", reps=1)
    assert sorted(set(frame.library)) == ["numpy", "torch"] and sorted(set(frame["columns"])) == [1, 2, 4, 8, 16, 32, 64]
    assert (frame.ms > 0).all()


def test_table_reports_both_errors_and_pca_lowrank_factors_the_centred_matrix():
    """Each row has the factor error the LMO needs and the rank-k approximation's error, the paper's words read
    literally; torch.pca_lowrank (centre=True) factors M minus its column means, so on a matrix with a mean it
    never reaches the factor of M itself, however many iterations."""
    frame = topk_timing.table(["decaying"], 80, [3], 1e-2, ["svd", "pca", "lanczos", "newton-schulz"], 1, "cpu")
    rows = frame.set_index("method")
    assert rows.loc["svd", "error"] < 1e-5 and rows.loc["svd", "approx_error"] < 1e-5
    assert 0 < rows.loc["lanczos", "approx_error"] < 1  # measured, beside the factor error
    assert torch.isnan(torch.tensor(rows.loc["newton-schulz", "approx_error"]))
    M = topk_timing.sample_matrix("decaying", 80, 0, "cpu") + 0.05
    P, A, _ = topk_timing.pca(M, 3, 32)
    assert topk_timing.relative_error(P, topk_timing.exact_factor(M, 3)[0]) > 1e-2


def test_bound_trace_sets_our_stop_beside_an_oracles():
    """Stopped at growing budgets, the solver's bound stays above its factor error up to our stop; the error
    reaches rtol no later than the bound does, and the bound no later than our stop (which adds the confirmation)."""
    frame = bench_topk.bound_trace(["gaussian"], 200, [1, 3], 1e-2, "cpu")
    summary = bench_topk.oracle_summary(frame).set_index("k")
    for k in (1, 3):
        row = summary.loc[k]
        assert row.oracle <= row.bound <= row.ours and row.ratio_low >= 1
    assert (frame.groupby("k").matvecs.diff().dropna() > 0).all()  # one row per distinct stop
