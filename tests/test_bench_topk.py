"""The timing benchmark's measuring: each method's cheapest setting that reaches rtol, with the error it reached."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "workflow/scripts"))
import bench_topk  # noqa: E402


def test_table_picks_the_cheapest_setting_that_reaches_rtol():
    frame = bench_topk.table(["decaying", "gaussian"], 120, [1, 4], 1e-2, ["lanczos", "rsvd", "svd", "arpack"], 1,
                             "cpu").set_index(["matrix", "method", "k"])
    for matrix in ("decaying", "gaussian"):
        for k in (1, 4):
            lanczos = frame.loc[(matrix, "lanczos", k)]
            assert lanczos.reached and lanczos.error <= 1e-2 and lanczos.matvecs > 0 and lanczos.time_ms > 0
            assert frame.loc[(matrix, "svd", k)].error < 1e-3  # float32 SVD against the float64 one
    M = bench_topk.test_matrix("decaying", 120, 0, "cpu")
    P_k, _ = bench_topk.exact_factor(M, 4)
    chosen = bench_topk.RSVD_NITER.index(frame.loc[("decaying", "rsvd", 4)].cost)
    if chosen:  # one setting cheaper must miss rtol, or it would have been chosen
        assert bench_topk.relative_error(bench_topk.rsvd(M, 4, bench_topk.RSVD_NITER[chosen - 1])[0], P_k) > 1e-2


def test_stacks_time_every_lmo_beside_muon(monkeypatch):
    monkeypatch.setattr(bench_topk, "STACKS", {"tiny": [(2, 40, 40), (1, 40, 72)]})
    frame = bench_topk.stacks(["tiny"], bench_topk.STACK_LMOS, steps=2, warmup=2, device="cpu")
    assert list(frame.lmo) == ["muon", "neon", "fanion"]
    assert frame.set_index("lmo").ratio_to_muon["muon"] == 1.0
    assert (frame[frame.lmo != "muon"].factor_error <= 1e-2).all()
