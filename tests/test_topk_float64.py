"""The v2 §4 float64 CPU table (topk_float64.py): the cheapest setting reaching a target, err₁ and err₂ against
torch.linalg.svd, the Newton–Schulz count, the paper's product counts, the config and a real quick-profile run."""
import math
import re
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "workflow/scripts"))
import topk_float64 as tf  # noqa: E402
from conftest import matrix_with_spectrum, snakemake  # noqa: E402

SPECTRUM = [1.0, 0.9, 0.6, 0.5, 0.45, 0.4, 0.3, 0.2, 0.1, 0.05]


@pytest.fixture(autouse=True)
def one_thread():
    """Small matrices on one thread: two threads on a loaded shared machine took 20 times longer (60², Lanczos)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def brute_force(method, M, k, target, settings):
    """The first of ``settings`` whose err₁ ≤ target, trying every one."""
    reference = tf.exact(M, k)
    for setting in settings:
        U, S, V, _, _ = tf.METHODS[method][2](M, k, setting)
        if tf.errors(U, S, V, *reference)["err1"] <= target:
            return setting
    return None


@pytest.mark.parametrize("rate, target", [(0.9, 1e-3), (0.5, 1e-6), (0.99, 0.5)])
def test_the_integer_search_finds_the_least_setting_that_reaches(rate, target):
    tried = []

    def evaluate(setting):
        tried.append(setting)
        return {"err1": rate**setting}
    setting, result, reached = tf.least_integer_reaching(evaluate, target, 1, 10_000)
    least = math.ceil(math.log(target) / math.log(rate) - 1e-12)
    assert reached and setting == least and result["err1"] <= target < rate ** (setting - 1)
    assert len(tried) < 4 * math.log2(least + 2) + 4  # a search, not a scan


def test_the_integer_search_says_when_nothing_reaches_and_a_list_takes_the_first_that_does():
    setting, result, reached = tf.least_integer_reaching(lambda s: {"err1": 1.0 / (s + 1)}, 1e-3, 0, 50)
    assert not reached and setting == 50 and result["err1"] == 1 / 51
    step = tf.least_integer_reaching(lambda s: {"err1": 1.0 if s < 300 else 1e-9}, 1e-3, 0, 2048)
    assert step[0] == 300 and step[2]
    errors = {0.3: 0.2, 0.1: 0.05, 0.03: 0.004, 0.01: 0.0009, 0.003: 0.0001}
    assert tf.first_reaching(lambda s: {"err1": errors[s]}, list(errors), 1e-3)[0] == 0.01
    assert tf.first_reaching(lambda s: {"err1": errors[s]}, list(errors), 1e-9) == (0.003, {"err1": 1e-4}, False)


@pytest.mark.parametrize("method, target", [("power", 1e-2), ("power", 1e-6), ("rsvd", 3e-2), ("lanczos", 1e-8),
                                            ("arpack", 1e-8)])
def test_the_cheapest_setting_on_a_small_matrix_is_what_trying_every_setting_finds(method, target):
    M = (matrix_with_spectrum(SPECTRUM, 40, 30, seed=1) if method == "power"
         else tf.gaussian(60, 0))  # rsvd is exact on a matrix of rank ≤ k + 10
    k = 2
    setting, measured, reached = tf.cheapest(method, M, k, target, tf.exact(M, k))
    assert reached and measured["err1"] <= target and measured["matvecs"] > 0
    _, (kind, *search), _ = tf.METHODS[method]
    settings = range(search[0], search[1] + 1) if kind == "integer" else search[0](target)
    assert brute_force(method, M, k, target, settings) == setting


def test_err1_and_err2_are_the_relative_errors_of_the_factor_and_the_approximation():
    M = tf.gaussian(30, 3)
    k = 3
    U, S, Vh = torch.linalg.svd(M)
    P_k, A_k, sigma = tf.exact(M, k)
    assert torch.allclose(P_k, U[:, :k] @ Vh[:k]) and torch.allclose(A_k, U[:, :k] @ torch.diag(S[:k]) @ Vh[:k])
    exact = tf.errors(U[:, :k], S[:k], Vh[:k].mT, P_k, A_k, sigma)
    assert max(exact.values()) < 1e-13
    swap = [0, 1, k]  # the k-th triplet replaced by the (k+1)-th: known errors
    wrong = tf.errors(U[:, swap], S[swap], Vh[swap].mT, P_k, A_k, sigma)
    assert wrong["err1"] == pytest.approx(math.sqrt(2 / k), rel=1e-12)
    assert wrong["err2"] == pytest.approx(float(S[[k - 1, k]].norm() / S[:k].norm()), rel=1e-12)
    assert wrong["sigma_error"] == pytest.approx(float((S[k - 1] - S[k]) / S[k - 1]), rel=1e-12)
    shuffled = tf.errors(U[:, [2, 0, 1]], S[[2, 0, 1]], Vh[[2, 0, 1]].mT, P_k, A_k, sigma)  # ARPACK's ascending order
    assert max(shuffled.values()) < 1e-13


@pytest.mark.parametrize("method", ["newton-schulz", "polar-express"])
def test_newton_schulz_steps_from_the_spectrum_are_the_least_that_reach_the_target(method):
    M = tf.gaussian(40, 1)
    U, sigma, Vh = torch.linalg.svd(M)
    polar = U @ Vh
    run = tf.POLAR_RUNS[method]
    for steps in (3, 8, 15):
        assert tf.polar_error(sigma, method, steps) == pytest.approx(tf.relative_error(run(M, steps), polar),
                                                                    rel=1e-6, abs=1e-13)
    for target in (1e-1, 5e-3, 1e-6):
        steps = tf.newton_schulz_steps(sigma, method, target)
        assert tf.relative_error(run(M, steps), polar) <= target < tf.relative_error(run(M, steps - 1), polar)
    assert tf.newton_schulz_steps(sigma, method, 1e-30, limit=3) is None


def test_the_paper_counts_products_per_column_and_iterations_as_we_do():
    """The counting rules the module states, derived from the paper's own numbers."""
    for (n, k), row in tf.PAPER.items():
        time, matvecs, iterations, *_ = row["power"]
        assert matvecs == 2 * k * iterations + k  # a block of k, with M and with Mᵀ, per iteration
        time, matvecs, iterations, *_ = row["rsvd"]
        assert matvecs == 2 * (k + 10) * (iterations + 1)  # q = k + 10; the range and each power step
        time, matvecs, iterations, *_ = row["trlan"]
        assert matvecs - 2 * iterations in (0, 1)  # one product with MᵀM per Lanczos step
    for n, (time, matvecs, iterations, err1) in tf.PAPER_NS.items():
        assert matvecs == 2 * n * iterations  # two n×n products per cubic step
    M = tf.gaussian(50, 0)
    assert tf.rsvd(M, 3, 4)[3] == 2 * 13 * 5 + 2 * 4  # ours adds its check: 2(k + 1)
    b = tf.power_block(M, 3)
    assert tf.power(M, 3, 7)[3:] == (2 * b * 7, 7)


def test_a_small_row_is_measured_with_its_timing_conditions_and_the_lanczos_target():
    paper_row = {"power": (1.0, 100, 10, 1e-2, 1e-2), "rsvd": (1.0, 100, 10, 1e-2, 1e-2),
                 "trlan": (1.0, 10_000, 5000, 1e-6, 1e-6)}
    frame = tf.measure_row(80, 2, ["power", "rsvd", "lanczos", "arpack"], 2, paper_row=paper_row)
    for r in frame.itertuples():
        assert r.reached and r.err1 <= r.target == dict(zip(tf.PAPER_COLUMNS, paper_row[r.paper_method]))["err1"]
        assert r.time_min_ms <= r.time_s * 1e3 <= r.time_max_ms and r.load_before >= 0 and r.threads >= 1
        assert r.matvecs > 0 and r.iterations > 0 and r.err2 > 0
    target = tf.lanczos_target(frame).iloc[0]
    assert target.matvecs_met == (target.ours_matvecs <= 10_000) and target.speed_vs_arpack > 0
    assert "Lanczos (fanions)" in tf.table(frame, frame.iloc[:0], tf.lanczos_target(frame))


@pytest.mark.parametrize("overrides, expected", [
    (["topk_float64={rows: [n500_k7]}"], ["config key topk_float64.rows.0", "n500_k5", "n5000_k5"]),
    (["topk_float64={reps: {n500: 0}}"], ["config key topk_float64.reps.n500", "allowed: >= 1"]),
    (["topk_float64={methods: [lanczos, cupy]}"], ["config key topk_float64.methods.1", "arpack"]),
])
def test_a_bad_topk_float64_value_is_refused_before_any_job(workdir, overrides, expected):
    result = snakemake(workdir, "-n", "--cores", "1", "--config", *overrides, check=False)
    assert result.returncode != 0 and "Invalid config" in result.stdout
    for fragment in expected:
        assert fragment in result.stdout, f"{fragment!r} not in:\n{result.stdout}"
    assert not (workdir / "results").exists()


def test_the_full_scale_jobs_ask_for_no_gpu(workdir):
    out = snakemake(workdir, "-n", "--cores", "2", "results/tables/topk_float64_table.tex").stdout
    rules = re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M)
    assert sorted(rules) == ["topk_float64_ns"] * 2 + ["topk_float64_report"] + ["topk_float64_run"] * 3
    resources = re.findall(r"^\s+resources: (.*)$", out, flags=re.M)
    assert len(resources) == len(rules) and not any("gpu" in line for line in resources)


@pytest.mark.slow
def test_the_quick_profile_builds_the_500_rows_table_and_values(quick_build):
    """Read from the quick build (CI's first command)."""
    workdir = quick_build
    targets = ["results/tables/topk_float64_table.tex", "results/values/topk_float64.tex"]
    table = (workdir / targets[0]).read_text()
    assert table.count("Lanczos (fanions)") == 2 and "5000" not in table and "Newton--Schulz" in table
    values = (workdir / targets[1]).read_text()
    for key in ("n500.k5.lanczos.err1", "n500.k50.arpack.time", "ns.n500.newton-schulz.iterations",
                "n500.k5.target.speed"):
        assert f"\\defval{{topkf64.{key}}}" in values
    summary = (workdir / "results/topk_float64/summary.csv").read_text()
    assert "newton-schulz" in summary and "n5000" not in summary
