"""The v2 paper's §4 CPU tables (its Tables 2 and 3), the pipeline's jobs.

Dense N(0, 1) matrices in float64 on a CPU. Per row (size n, k) and top-k method, the cheapest setting of the
method's cost parameter that reaches the row's TARGET, the err₁ the paper reports for the corresponding paper
method (power → its power iteration's, rsvd → its RSVD's, lanczos and arpack → its TRLan's), so that times
compare at equal accuracy; then its median time over ``reps`` runs after a warm-up
(``topk_timing.repeated_time``), its matrix–vector products, iterations and errors:

    err₁ = ‖Σ_{i≤k} ũᵢṽᵢᵀ − P_k‖_F / ‖P_k‖_F      (the factor a Fanion needs)
    err₂ = ‖Σ_{i≤k} σ̃ᵢũᵢṽᵢᵀ − A_k‖_F / ‖A_k‖_F    (the rank-k approximation)
    σ-error = maxᵢ |σ̃ᵢ − σᵢ| / σᵢ                    (for "RSVD gets σᵢ right but the matrix wrong")

against the float64 SVD. Products are counted as the paper's numbers imply: one product of M or Mᵀ with one
vector is one matvec, a block of c columns counts c. Its power iteration: 2k per iteration plus k
(2005 = 200·10 + 5); its RSVD: 2q per power step and 2q for the range, q = k + 10 (1170 = 39·30); its TRLan:
2 per Lanczos step on MᵀM (131 in 65 iterations); its Newton–Schulz: 2n per iteration (27 000 in 27 at
n = 500), the two n×n products of the cubic X ← (3X − XXᵀX)/2, each n matvecs. Iterations are each method's
own steps: power iterations (a block of b columns), RSVD's power steps (``niter``), and for the Lanczos methods
(ours, ARPACK) products with MᵀM of one vector, matvecs/2, as the paper counts TRLan's.

Newton–Schulz (the paper's Table 3): iterations until err₁ of UVᵀ is at most the paper's; the count comes from
the spectrum (the iteration acts on each singular value alone, ``newton_schulz_steps``) and one real run checks
it. Rule topk_float64_run measures one row, topk_float64_ns the Newton–Schulz reference at one size,
topk_float64_report writes the table beside the paper's numbers and the values the text quotes; the ours-vs-ARPACK
benchmark (benchmarks/bench_topk_float64.py) reuses these functions.
"""
import itertools
import math
import os
import statistics

import pandas as pd
import torch

from job import device_name, provenance, read_csv, run_rule, write_csv, write_tex
from report import tex_table, tex_values
from topk_timing import counting_operator, relative_error, repeated_time, timed
import fanions  # this commit's lib/fanions (job.py puts it first on the path)
from fanions.polar import NEWTON_SCHULZ_CUBIC

# v2 §4, arxiv_version/main.tex of alexlegeartis/Neon at 421ba1f: (n, k) → paper method → its numbers
PAPER = {
    (500, 5): {"power": (0.062, 2005, 200, 9.2e-3, 9.1e-3), "rsvd": (0.017, 1170, 38, 9.8e-3, 9.6e-3),
               "trlan": (0.018, 131, 65, 9.6e-5, 9.4e-5)},
    (500, 50): {"power": (0.44, 43750, 437, 9.9e-3, 9.0e-3), "rsvd": (0.61, 6120, 50, 9.9e-3, 9.1e-3),
                "trlan": (0.16, 462, 231, 3.3e-7, 3.0e-7)},
    (5000, 5): {"power": (9.6, 9065, 906, 8.6e-3, 8.6e-3), "rsvd": (2.1, 5640, 187, 9.7e-3, 9.7e-3),
                "trlan": (0.70, 205, 102, 7.7e-3, 7.7e-3)},
}
PAPER_COLUMNS = ("time_s", "matvecs", "iterations", "err1", "err2")
PAPER_NS = {500: (0.041, 27000, 27, 4.8e-3), 5000: (26.4, 290000, 29, 6.5e-3)}  # Table 3: err₁ of UVᵀ
ROWS = {f"n{n}_k{k}": (n, k) for n, k in PAPER}  # the config's row ids
PAPER_METHOD = {"power": "power", "rsvd": "rsvd", "lanczos": "trlan", "arpack": "trlan"}
LABEL = {"power": "power (fanions)", "rsvd": "RSVD (fanions)", "lanczos": "Lanczos (fanions)",
         "arpack": "ARPACK (for TRLan)", "trlan": "TRLan", "newton-schulz": "Newton--Schulz",
         "polar-express": "Polar Express (fanions)"}
POWER_LIMIT, RSVD_LIMIT, NS_LIMIT = 8192, 2048, 200  # iterations beyond which a method counts as not reaching


# ---------------------------------------------------------------------------------------------
# matrices, exact references, errors

def gaussian(size, seed):
    """size×size, i.i.d. N(0, 1), float64."""
    return torch.randn(size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def exact(M, k):
    """(P_k = U_kV_kᵀ, A_k = U_kΣ_kV_kᵀ, all of σ) from one float64 SVD (at 5000² it is the job's dearest step:
    topk_timing's exact_factor and exact_approximation would take one each)."""
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    return U[:, :k] @ Vh[:k], (U[:, :k] * S[:k]) @ Vh[:k], S


def errors(U, S, V, P_k, A_k, sigma):
    """err₁, err₂ and the singular values' worst relative error of k triplets (S in any order)."""
    order = torch.argsort(S, descending=True)
    U, S, V = U[:, order], S[order], V[:, order]
    return {"err1": relative_error(U @ V.mT, P_k), "err2": relative_error((U * S) @ V.mT, A_k),
            "sigma_error": float(((S - sigma[:len(S)]).abs() / sigma[:len(S)]).max())}


# ---------------------------------------------------------------------------------------------
# the top-k methods: run(M, k, setting) -> (U, S, V, matvecs, iterations)

POWER_BLOCKS = {}  # (shape, k) → b


def power_block(M, k):
    """The block size of fanions' power iteration for this k and shape (its first iteration costs 2b products),
    found once, outside the timed runs."""
    if (M.shape, k) not in POWER_BLOCKS:
        POWER_BLOCKS[M.shape, k] = fanions.topk(M, k, "power", max_matvecs=1).matvecs // 2
    return POWER_BLOCKS[M.shape, k]


def power(M, k, iterations):
    """fanions' block power iteration with Rayleigh–Ritz, stopped after ``iterations`` (its budget; rtol out of reach)."""
    b = power_block(M, k)
    r = fanions.topk(M, k, "power", rtol=1e-300, max_matvecs=2 * b * iterations)
    return r.U, r.S, r.V, r.matvecs, r.matvecs // (2 * b)


def rsvd(M, k, niter):
    """fanions' rsvd (torch.svd_lowrank, q = k + 10 as the paper's) with ``niter`` power steps; its products
    include the 2(k + 1) of its convergence check, which the paper's RSVD does not make."""
    r = fanions.topk(M, k, "rsvd", niter=niter)
    return r.U, r.S, r.V, r.matvecs, niter


def lanczos(M, k, rtol):
    """fanions' thick-restart block Lanczos, stopped by its own bound at ``rtol``."""
    r = fanions.topk(M, k, "lanczos", rtol=rtol)
    return r.U, r.S, r.V, r.matvecs, r.matvecs / 2


def arpack(M, k, tol):
    """scipy's svds(solver='arpack'): implicitly restarted Lanczos (ARPACK) on MᵀM, the CPU's thick-restart-type
    Lanczos (CuPy's TRLan has no CPU build); products counted through its operator."""
    from scipy.sparse.linalg import svds
    A = counting_operator(M.numpy())
    u, s, vt = svds(A, k=k, tol=tol, solver="arpack", random_state=0)
    return torch.from_numpy(u.copy()), torch.from_numpy(s.copy()), torch.from_numpy(vt.T.copy()), A.products, A.products / 2


def halves(high, low):
    """high, high/√10, ..., down to low: a cost parameter from cheap to dear, in half decades."""
    count = round(2 * math.log10(high / low))
    return [high * 10 ** (-j / 2) for j in range(count + 1)]


# name -> (cost parameter, how its settings are searched, run)
METHODS = {
    "power": ("iterations", ("integer", 1, POWER_LIMIT), power),
    "rsvd": ("niter", ("integer", 0, RSVD_LIMIT), rsvd),
    "lanczos": ("rtol", ("list", lambda target: halves(0.3, target / 1000)), lanczos),
    "arpack": ("tol", ("list", lambda target: halves(0.3, 1e-13)), arpack),
}


# ---------------------------------------------------------------------------------------------
# the cheapest setting that reaches a target

def first_reaching(evaluate, settings, target):
    """(setting, result, reached): the first of ``settings`` (cheap to dear) whose result's err1 ≤ target, else the
    one of least err1. ``evaluate(setting)`` returns a dict with 'err1'."""
    best = None
    for setting in settings:
        result = evaluate(setting)
        if result["err1"] <= target:
            return setting, result, True
        if best is None or result["err1"] < best[1]["err1"]:
            best = (setting, result)
    return (*best, False)


def least_integer_reaching(evaluate, target, start, limit):
    """(setting, result, reached): the least integer in [start, limit] whose err1 ≤ target, for an error that falls
    with the setting, geometrically once it converges (power iteration, RSVD's power steps). Growing from start,
    each next try is where the last two misses' log-linear trend meets the target (5% beyond), at most 4 times as
    far from start, at least one more; then between the last miss and the first hit, tries alternate between
    that trend and bisection. A 5000² run takes a minute: about 5 runs' worth where doubling and bisection took
    10. The largest tried (limit) where none reaches."""
    results = {}

    def error(setting):
        if setting not in results:
            results[setting] = evaluate(setting)
        return results[setting]["err1"]

    def trend(a, b):  # where log err, linear through a and b, meets the target (None where it does not fall)
        ea, eb = max(error(a), 1e-300), max(error(b), 1e-300)
        return None if eb >= ea else b + (math.log(target) - math.log(eb)) / (math.log(eb) - math.log(ea)) * (b - a)

    miss, hit = None, start
    while error(hit) > target:
        if hit >= limit:
            return hit, results[hit], False
        previous, miss = miss, hit
        guess = trend(previous, miss) if previous is not None else None
        further = 4 * (miss - start + 1) + start
        hit = min(limit, max(miss + 1, min(further, math.ceil(1.05 * guess)) if guess else 2 * (miss - start + 1) + start))
    for turn in itertools.count():
        if miss is None or hit - miss <= 1:
            return hit, results[hit], True
        guess = trend(miss, hit) if turn % 2 == 0 else None
        middle = min(hit - 1, max(miss + 1, round(guess) if guess is not None else (miss + hit) // 2))
        if error(middle) <= target:
            hit = middle
        else:
            miss = middle


def cheapest(method, M, k, target, reference):
    """(setting, measured, reached) of a top-k method at its cheapest setting reaching err₁ ≤ target."""
    _, (kind, *search), run = METHODS[method]

    def evaluate(setting):
        U, S, V, matvecs, iterations = run(M, k, setting)
        return {"matvecs": matvecs, "iterations": iterations, **errors(U, S, V, *reference)}
    if kind == "integer":
        return least_integer_reaching(evaluate, target, *search)
    return first_reaching(evaluate, search[0](target), target)


def machine():
    return {"threads": torch.get_num_threads(), "device": device_name("cpu"), "cpus": os.cpu_count()}


def measure_row(size, k, methods, reps, seed=0, paper_row=None):
    """One row of the table: each method at its cheapest setting reaching the paper's err₁ for it, timed.
    ``paper_row`` (paper method → its numbers) stands in for the paper's row of (size, k) (the tests' small rows)."""
    M = gaussian(size, seed)
    reference = exact(M, k)
    paper_row = paper_row or PAPER[size, k]
    rows = []
    for method in methods:
        paper = dict(zip(PAPER_COLUMNS, paper_row[PAPER_METHOD[method]]))
        cost_name, _, run = METHODS[method]
        setting, measured, reached = cheapest(method, M, k, paper["err1"], reference)
        timing = repeated_time(lambda: run(M, k, setting), "cpu", reps)
        rows.append({"size": size, "k": k, "method": method, "paper_method": PAPER_METHOD[method],
                     "target": paper["err1"], "cost_name": cost_name, "cost": setting, "reached": reached,
                     **measured, "time_s": timing.pop("time_ms") / 1e3, **timing, "reps": reps, **machine(),
                     **{f"paper_{key}": value for key, value in paper.items()}})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Newton–Schulz: UVᵀ by an odd polynomial applied to every singular value

PRODUCTS_PER_STEP = {"newton-schulz": 2, "polar-express": 3}  # n×n products per step, each n matvecs


def design(method, steps):
    """(coefficients per step, the safety factor X₀ = M/(f‖M‖_F) is divided by) of a polar method."""
    return ((NEWTON_SCHULZ_CUBIC,) * steps, 1.0) if method == "newton-schulz" else fanions.polar_express_design(steps)


POLAR_RUNS = {"newton-schulz": fanions.newton_schulz_cubic, "polar-express": fanions.polar_express}  # the paper's
# Newton–Schulz is the classical cubic (its counts: 2n products a step, 27 steps at 500²), not Muon's quintic


def polar_error(sigma, method, steps):
    """err₁ of UVᵀ after ``steps``, from the singular values alone: each σᵢ/(f‖M‖_F) goes through the same scalar
    polynomials, and ‖U p(Σ) Vᵀ − UVᵀ‖_F / ‖UVᵀ‖_F = ‖p(σ) − 1‖₂/√n (exact arithmetic)."""
    coefficients, safety = design(method, steps)
    x = sigma / (safety * sigma.norm())
    for a, b, c in coefficients:
        x = a * x + b * x**3 + c * x**5
    return float((x - 1).norm() / math.sqrt(len(sigma)))


def newton_schulz_steps(sigma, method, target, limit=NS_LIMIT):
    """The least number of steps whose err₁ from the spectrum (``polar_error``) is ≤ target; None beyond limit."""
    return next((steps for steps in range(1, limit + 1) if polar_error(sigma, method, steps) <= target), None)


NOT_TIMED = dict.fromkeys(["time_ms", "time_min_ms", "time_max_ms", "load_before", "load_after"], math.nan)


def timed_runs(fn, reps):
    """``repeated_time`` without its warm-up: the run that checked the count was one (at 5000² a run is minutes)."""
    load_before = os.getloadavg()[0]
    times = [timed(fn, "cpu") for _ in range(reps)]
    return {"time_ms": statistics.median(times), "time_min_ms": min(times), "time_max_ms": max(times), "load_before": load_before,
            "load_after": os.getloadavg()[0]}


def measure_newton_schulz(size, methods, reps, seed=0, paper_row=None):
    """Table 3: per method, the steps to the paper's err₁ at this size (the spectrum's count, checked by a run and
    raised while the run misses), its median time over reps after that run, products and err₁."""
    M = gaussian(size, seed)
    U, sigma, Vh = torch.linalg.svd(M, full_matrices=False)
    polar_factor = U @ Vh
    paper = dict(zip(("time_s", "matvecs", "iterations", "err1"), paper_row or PAPER_NS[size]))
    rows = []
    for method in methods:
        steps = newton_schulz_steps(sigma, method, paper["err1"])
        predicted, run = steps, POLAR_RUNS[method]
        err1 = math.inf if steps is None else relative_error(run(M, steps), polar_factor)
        while steps is not None and err1 > paper["err1"] and steps < NS_LIMIT:  # rounding the spectrum does not see
            steps += 1
            err1 = relative_error(run(M, steps), polar_factor)
        timing = timed_runs(lambda: run(M, steps), reps) if steps else NOT_TIMED
        rows.append({"size": size, "method": method, "target": paper["err1"], "predicted": predicted,
                     "iterations": steps, "reached": err1 <= paper["err1"], "err1": err1,
                     "matvecs": PRODUCTS_PER_STEP[method] * size * steps if steps else math.nan,
                     "time_s": timing.pop("time_ms") / 1e3, **timing, "reps": reps, **machine(),
                     **{f"paper_{key}": value for key, value in paper.items()}})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# the performance target of our Lanczos: no more products than the paper's TRLan, at least ARPACK's speed

def lanczos_target(frame):
    """Per row with both: ours' matvecs against the paper's TRLan's and ARPACK's time over ours (≥ 1 meets it)."""
    rows = []
    for (size, k), row in frame.groupby(["size", "k"], sort=False):
        by = row.set_index("method")
        if not {"lanczos", "arpack"} <= set(by.index):
            continue
        ours, theirs = by.loc["lanczos"], by.loc["arpack"]
        rows.append({"size": size, "k": k, "target": ours.target, "ours_matvecs": ours.matvecs,
                     "trlan_matvecs": ours.paper_matvecs, "arpack_matvecs": theirs.matvecs,
                     "ours_s": ours.time_s, "arpack_s": theirs.time_s, "speed_vs_arpack": theirs.time_s / ours.time_s,
                     "ours_err1": ours.err1, "arpack_err1": theirs.err1, "ours_rtol": ours.cost, "arpack_tol": theirs.cost,
                     "reached": bool(ours.reached and theirs.reached),
                     "matvecs_met": bool(ours.reached and ours.matvecs <= ours.paper_matvecs),
                     "speed_met": bool(ours.reached and theirs.time_s >= ours.time_s),
                     "load": max(ours.load_before, ours.load_after, theirs.load_before, theirs.load_after),
                     "threads": ours.threads, "device": ours.device, "reps": ours.reps})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# the table and the values

def sci(x):
    """9.6e-5, 0.018, 2005, 9.6 (two significant digits, a short exponent)."""
    if not math.isfinite(x):
        return "--"
    text = f"{x:.2g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def count(x):
    return "--" if not math.isfinite(x) else f"{x:.0f}"


def ours_cells(r):
    """Time, matvecs, iterations, err₁, err₂ of a measured row; err₁ with a dagger where the target was missed."""
    return [sci(r.time_s), count(r.matvecs), count(r.iterations), sci(r.err1) + ("" if r.reached else r"$^\dagger$"),
            sci(r.err2)]


def table(frame, ns, target):
    header = [r"& & & \multicolumn{5}{c}{ours, at the paper's err$_1$} & \multicolumn{5}{c}{paper (v2)} \\",
              r"\cmidrule(lr){4-8}\cmidrule(lr){9-13}",
              r"$n$ & $k$ & method & s & matvecs & iter. & err$_1$ & err$_2$ & s & matvecs & iter. & err$_1$ & err$_2$ \\"]
    rows = []
    for (size, k), group in frame.groupby(["size", "k"], sort=False):
        for r in group.itertuples():
            paper = [sci(r.paper_time_s), count(r.paper_matvecs), count(r.paper_iterations), sci(r.paper_err1),
                     sci(r.paper_err2)]
            rows.append([size, k, LABEL[r.method], *ours_cells(r), *paper])
        met = target[(target["size"] == size) & (target["k"] == k)]
        if len(met):
            t = met.iloc[0]
            verdict = lambda ok: "met" if ok else r"\textbf{missed}"  # noqa: E731
            rows.append([rf"\multicolumn{{8}}{{l}}{{\emph{{our Lanczos's target: {t.ours_matvecs:.0f} matvecs, TRLan's "
                         rf"{t.trlan_matvecs:.0f}: {verdict(t.matvecs_met)}}}}}",
                         rf"\multicolumn{{5}}{{l}}{{\emph{{{t.speed_vs_arpack:.2f}$\times$ ARPACK's speed: "
                         rf"{verdict(t.speed_met)}}}}}"])
        rows.append(None)
    for r in ns.itertuples():
        rows.append([r.size, "--", LABEL[r.method], sci(r.time_s), count(r.matvecs), count(r.iterations),
                     sci(r.err1) + ("" if r.reached else r"$^\dagger$"), "--", sci(r.paper_time_s), count(r.paper_matvecs),
                     count(r.paper_iterations), sci(r.paper_err1), "--"])
    if rows and rows[-1] is None:
        rows.pop()
    return tex_table("rrl" + "r" * 10, header, rows)


def values(frame, ns, target):
    """The numbers the text quotes: per row and method, per Newton–Schulz size, the claims' ratios."""
    out = {"topkf64.device": (frame if len(frame) else ns).device.iloc[0].replace("_", r"\_"),  # x86_64: TeX text
           "topkf64.threads": int((frame if len(frame) else ns).threads.iloc[0])}
    for r in frame.itertuples():
        key = f"topkf64.n{r.size}.k{r.k}.{r.method}"
        out |= {f"{key}.time": sci(r.time_s), f"{key}.matvecs": count(r.matvecs), f"{key}.iterations": count(r.iterations),
                f"{key}.err1": sci(r.err1), f"{key}.err2": sci(r.err2), f"{key}.sigma": sci(r.sigma_error),
                f"{key}.target": sci(r.target), f"{key}.paper.time": sci(r.paper_time_s),
                f"{key}.paper.matvecs": count(r.paper_matvecs)}
    for r in ns.itertuples():
        key = f"topkf64.ns.n{r.size}.{r.method}"
        out |= {f"{key}.time": sci(r.time_s), f"{key}.iterations": count(r.iterations), f"{key}.err1": sci(r.err1),
                f"topkf64.ns.n{r.size}.paper.iterations": count(r.paper_iterations),
                f"topkf64.ns.n{r.size}.paper.time": sci(r.paper_time_s)}
    for t in target.itertuples():
        key = f"topkf64.n{t.size}.k{t.k}.target"
        out |= {f"{key}.speed": f"{t.speed_vs_arpack:.2f}", f"{key}.matvecs": f"{t.ours_matvecs:.0f}",
                f"{key}.trlan": f"{t.trlan_matvecs:.0f}"}
    out["topkf64.target.matvecs_met"] = int(target.matvecs_met.sum())
    out["topkf64.target.speed_met"] = int(target.speed_met.sum())
    out["topkf64.target.rows"] = len(target)
    return out


# ---------------------------------------------------------------------------------------------
# the pipeline's jobs

def run_job(snakemake):
    settings = snakemake.params.settings
    size, k = ROWS[settings["row"]]
    frame = measure_row(size, k, settings["methods"], settings["reps"][f"n{size}"], settings["seed"])
    write_csv(frame, snakemake.output[0], provenance(snakemake))


def ns_job(snakemake):
    settings = snakemake.params.settings
    size = int(settings["size"])
    frame = measure_newton_schulz(size, settings["polar_methods"], settings["ns_reps"][f"n{size}"], settings["seed"])
    write_csv(frame, snakemake.output[0], provenance(snakemake))


COLUMNS = ["size", "method", "time_s", "matvecs", "iterations", "err1", "reached", "target", "paper_time_s",
           "paper_matvecs", "paper_iterations", "paper_err1", "threads", "device", "load_before", "load_after"]


def report_job(snakemake):
    rows = [read_csv(path, COLUMNS + ["k", "err2", "sigma_error", "paper_err2", "cost"]) for path in snakemake.input.rows]
    ns = [read_csv(path, COLUMNS) for path in snakemake.input.ns]
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)
    ns = pd.concat(ns, ignore_index=True) if ns else pd.DataFrame(columns=COLUMNS)
    target = lanczos_target(frame)
    prov, out = provenance(snakemake), snakemake.output
    write_csv(pd.concat([frame.assign(table="topk"), ns.assign(table="newton-schulz")], ignore_index=True), out.csv, prov)
    write_csv(target, out.target, prov)
    write_tex(table(frame, ns, target), out.table, prov)
    write_tex(tex_values(values(frame, ns, target)), out.values, prov)


if __name__ == "__main__":
    run_rule(snakemake, {"topk_float64_run": run_job, "topk_float64_ns": ns_job,  # noqa: F821
                         "topk_float64_report": report_job})
