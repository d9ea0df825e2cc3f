"""Top-k timing (paper Table 2) and the warm-start study, the pipeline's jobs.

Table: for each matrix (Gaussian = flat spectrum, the hard case; power-law decaying; a saved
momentum), each k and each method, the cheapest setting of the method's cost parameter that brings
the factor P = Σ_{i≤k} uᵢvᵢᵀ within ``rtol`` of the exact one (‖P − P_k‖_F / ‖P_k‖_F, the paper's
metric), then its time over ``reps`` runs after a warm-up, with device synchronisation. Newton–Schulz
and Polar Express compute UVᵀ (every k at once) and are timed for reference at their usual 5 steps.
Every solver is the library's (``fanions.topk``, ``fanions.newton_schulz``, ...) or the reference it is
compared with (scipy's ARPACK and PROPACK, cupy's svds); none is re-implemented here.

Warm start: along the momenta a training run saved (train_gpt.py's momentum snapshots), the
products per step of Lanczos started cold and started from the previous step's subspace.

Rule topk_timing_run runs the table for one matrix kind (config section ``topk_timing``), rule
topk_timing_report turns its CSVs into Table 2, the figure and the paper's values, rule
topk_warm_start runs the warm-start study. The command-line benchmarks that reuse these functions
are in benchmarks/bench_topk.py.
"""
import math
import os
import statistics
import time

from numpy.linalg import LinAlgError

from job import BadResult, device_name, provenance, read_csv, run_rule, write_csv, write_tex
from report import save_figure, tex_number, tex_table, tex_values
import fanions  # this commit's lib/fanions (job.py puts it first on the path)
import pandas as pd
import torch

PAPER = {  # paper Table 2 (Colab GPU, 5000², rtol 0.01): seconds, by method and k
    "power": {1: 7.7},
    "cupy": {1: 0.18, 10: 0.47, 100: 1.96},
    "rsvd": {1: 1.15, 10: 19.4, 100: 170.0},
}
TOLERANCES = [10.0**-e for e in range(1, 9)]  # scipy and cupy svds
RSVD_NITER = [0, 1, 2, 4, 8, 16, 32]


# ---------------------------------------------------------------------------------------------
# matrices

def sample_matrix(kind, size, seed, device, decay=1.0, momentum=None):
    """size×size float32: 'gaussian' (flat spectrum), 'decaying' (σᵢ = i^−decay, Haar singular
    vectors) or 'momentum' (the last of the momenta in the file given, its own shape)."""
    g = torch.Generator(device=device).manual_seed(seed)
    if kind == "gaussian":
        return torch.randn(size, size, generator=g, device=device)
    if kind == "decaying":
        U, V = (torch.linalg.qr(torch.randn(size, size, generator=g, device=device)).Q for _ in range(2))
        s = torch.arange(1, size + 1, device=device, dtype=torch.float32) ** -decay
        return (U * s) @ V.mT
    if kind == "momentum":
        return load_momenta(momentum, device)["momenta"][-1]
    raise ValueError(f"matrix kind {kind!r}: allowed gaussian, decaying, momentum")


def load_momenta(path, device):
    """What train_gpt.py saved: the parameter's name, the steps and the momenta (steps, m, n), these
    as float32 on device."""
    try:
        record = torch.load(path, map_location=device)
        assert record["momenta"].ndim == 3 and len(record["steps"]) == len(record["momenta"])
    except Exception as error:  # a cut or foreign file: say which and how to rebuild it
        raise BadResult(path, f"not the momenta a training run saves ({error!r})", "nanogpt_train") from None
    return {**record, "momenta": record["momenta"].float()}


def exact_factor(M, k):
    U, S, Vh = torch.linalg.svd(M.double(), full_matrices=False)
    return U[:, :k] @ Vh[:k], U @ Vh


def exact_approximation(M, k):
    """A_k = U_k Σ_k V_kᵀ in float64, the best rank-k approximation of M."""
    U, S, Vh = torch.linalg.svd(M.double(), full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def relative_error(P, exact):
    return float((P.double() - exact).norm() / exact.norm())


# ---------------------------------------------------------------------------------------------
# methods: name -> (cost parameter, its settings from cheap to dear, run(M, k, setting) -> (P, A, matvecs)):
# the factor P = U_k V_kᵀ the LMO needs, the rank-k approximation A = U_k Σ_k V_kᵀ the paper's words
# describe (None for the polar methods), and the products with vectors where they are counted

def solved(U, S, V, matvecs=None):
    """(U Vᵀ, U diag(S) Vᵀ, matvecs) of k singular triplets."""
    return U @ V.mT, (U * S.unsqueeze(-2)) @ V.mT, matvecs


def ours(backend):
    def run(M, k, rtol):
        r = fanions.topk(M, k, backend, rtol=rtol)
        return solved(r.U, r.S, r.V, r.matvecs)
    return "rtol", lambda rtol: [rtol, rtol / 10, rtol / 100], run


def rsvd(M, k, niter):
    r = fanions.topk(M, k, "rsvd", niter=niter)  # torch.svd_lowrank, q = k + 10, seeded
    return solved(r.U, r.S, r.V, r.matvecs)


def pca(M, k, niter):
    """torch.pca_lowrank, the "PCA low rank" the paper names: the SVD of M with its column means removed
    (center=True), q = k + 10; its factor is of that centred matrix, not of M."""
    torch.manual_seed(0)
    U, S, V = torch.pca_lowrank(M, q=min(k + 10, *M.shape), center=True, niter=niter)
    return solved(U[:, :k], S[:k], V[:, :k])


def full_svd(M, k, _):
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    return solved(U[:, :k], S[:k], Vh[:k].mT)


def counting_operator(A):
    """A as a scipy LinearOperator that counts its products with vectors (a block of c columns: c)."""
    from scipy.sparse.linalg import LinearOperator

    def product(B):
        def apply(X):
            operator.products += 1 if X.ndim == 1 else X.shape[1]
            return B @ X
        return apply
    operator = LinearOperator(A.shape, matvec=product(A), rmatvec=product(A.T), matmat=product(A),
                              rmatmat=product(A.T), dtype=A.dtype)
    operator.products = 0
    return operator


def scipy_svds(solver):
    def run(M, k, tol):
        from scipy.sparse.linalg import svds
        A = counting_operator(M.cpu().numpy())
        u, s, vt = svds(A, k=k, tol=tol, solver=solver, random_state=0)
        return solved(*(torch.from_numpy(x.copy()) for x in (u, s, vt.T)), A.products)
    return run


def cupy_svds(M, k, tol):
    import cupy
    from cupyx.scipy.sparse.linalg import svds
    u, s, vt = svds(cupy.from_dlpack(M), k=k, tol=tol)
    return solved(*(torch.from_dlpack(x) for x in (u, s, vt.T.copy())))


POLAR = ("newton-schulz", "polar-express")  # UVᵀ in a fixed number of steps, whatever error that leaves


def polar(method):
    def run(M, k, steps):
        factor = fanions.polar_express(M, steps) if method == "polar-express" else fanions.newton_schulz(M, steps)
        return factor, None, None
    return run


def methods(device):
    table = {
        "lanczos": ours("lanczos"),
        "power": ours("power"),
        "rsvd": ("niter", lambda rtol: RSVD_NITER, rsvd),
        "pca": ("niter", lambda rtol: RSVD_NITER, pca),
        "svd": ("-", lambda rtol: [None], full_svd),
        "newton-schulz": ("steps", lambda rtol: [5], polar("newton-schulz")),
        "polar-express": ("steps", lambda rtol: [5], polar("polar-express")),
    }
    if device == "cpu":
        table["arpack"] = ("tol", lambda rtol: TOLERANCES, scipy_svds("arpack"))
        table["propack"] = ("tol", lambda rtol: TOLERANCES, scipy_svds("propack"))
    else:
        try:
            import cupy  # noqa: F401
            table["cupy"] = ("tol", lambda rtol: TOLERANCES, cupy_svds)
        except ImportError:
            print("cupy not installed: no cupy svds row (pip install 'fanions[gpu]')")
    return table


def timed(fn, device):
    """Wall time of one call of fn in ms, the device synchronised before and after."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return 1e3 * (time.perf_counter() - start)


def repeated_time(fn, device, reps):
    """``timed`` over reps calls after one warm-up call: the median, the fastest and the slowest, and
    the machine's load average (1 minute) before and after, for a machine shared with other work."""
    load_before = os.getloadavg()[0]
    fn()
    times = [timed(fn, device) for _ in range(reps)]
    return {"time_ms": statistics.median(times), "time_min_ms": min(times), "time_max_ms": max(times),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


NOT_RUN = dict.fromkeys(["time_ms", "time_min_ms", "time_max_ms", "load_before", "load_after"], math.nan)


def table(matrices, size, ks, rtol, method_names, reps, device, seed=0, decay=1.0, momentum=None):
    """One row per (matrix, k, method): the cheapest setting that reaches rtol, the factor error it reached
    (‖P − P_k‖_F/‖P_k‖_F, what the LMO needs) and its ratio to rtol, the error of its rank-k approximation
    read as the paper's words say (‖U_kΣ_kV_kᵀ − A_k‖_F/‖A_k‖_F), its products with vectors (scipy's counted through its operator), and its
    repeated time (``repeated_time``) on the device named with its thread count."""
    available = methods(device)
    rows = []
    for kind in matrices:
        M = sample_matrix(kind, size, seed, device, decay, momentum)
        for k in ks:
            P_k, polar_factor = exact_factor(M, k)
            A_k = exact_approximation(M, k)
            for name in method_names:
                if name not in available:
                    continue
                cost_name, settings, run = available[name]
                is_polar = name in POLAR
                reached, best = False, (math.inf, None, None, math.nan)
                for setting in settings(rtol):
                    try:
                        P, A, matvecs = run(M, k, setting)
                    except (LinAlgError, RuntimeError) as error:  # PROPACK's "did not converge", ARPACK's, OOM
                        print(f"{kind} k={k} {name} {cost_name}={setting}: {type(error).__name__}: {error}")
                        continue
                    error = relative_error(P, polar_factor if is_polar else P_k)
                    approx_error = math.nan if A is None else relative_error(A, A_k)
                    best = min(best, (error, setting, matvecs, approx_error), key=lambda t: t[0])
                    if error <= rtol:
                        reached, best = True, (error, setting, matvecs, approx_error)
                        break
                error, setting, matvecs, approx_error = best
                ran = setting is not None or name == "svd"
                timing = repeated_time(lambda: run(M, k, setting), device, reps) if ran else NOT_RUN
                rows.append(dict(matrix=kind, m=M.size(0), n=M.size(1), k=k, method=name, cost_name=cost_name,
                                 cost=setting, reached=reached and not is_polar, error=error,
                                 error_to_rtol=error / rtol, approx_error=approx_error, matvecs=matvecs, **timing, rtol=rtol,
                                 device=device_name(device), threads=torch.get_num_threads()))
                print(rows[-1])
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# warm start along a training run's momenta

def warm_start(momenta, ks, rtol):
    """Per k and step: Lanczos products started cold and started from the previous step's subspace
    (what fanions.Fanion keeps in its state), and the factor error of each against an exact SVD.
    The first momentum only starts the chain."""
    rows = []
    for k in ks:
        warm = fanions.WarmStart()
        for step, M in enumerate(momenta):
            P_k = exact_factor(M, k)[0]
            cold = fanions.topk(M, k, "lanczos", rtol=rtol)
            P = fanions.lmo(M, "fanion", k=k, backend="lanczos", rtol=rtol, warm=warm)
            if step:
                rows.append({"k": k, "step": step, "matvecs_cold": cold.matvecs, "matvecs_warm": warm.matvecs,
                             "error_cold": relative_error(cold.U @ cold.V.mT, P_k), "error_warm": relative_error(P, P_k),
                             "rtol": rtol, "m": M.size(0), "n": M.size(1)})
    return pd.DataFrame(rows)


def warm_start_summary(frame):
    """Per k: mean products per step cold and warm, their ratio, the worst factor errors."""
    summary = frame.groupby("k").agg(steps=("step", "size"), cold=("matvecs_cold", "mean"),
                                     warm=("matvecs_warm", "mean"), error_cold=("error_cold", "max"),
                                     error_warm=("error_warm", "max")).reset_index()
    summary["ratio"] = summary.cold / summary.warm
    return summary


def warm_start_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    prov = provenance(snakemake, "cpu")
    record = load_momenta(snakemake.input[0], "cpu")
    frame = warm_start(record["momenta"], settings["ks"], settings["rtol"])
    write_csv(frame, out.csv, prov)
    summary = warm_start_summary(frame)
    rows = [[r.k, f"{r.cold:.0f}", f"{r.warm:.0f}", f"{r.ratio:.2f}", tex_number(r.error_warm)]
            for r in summary.itertuples()]
    header = r"$k$ & products, cold & products, warm & cold / warm & worst error, warm \\"
    write_tex(tex_table("rrrrr", [header], rows), out.table, prov)
    m, n = record["momenta"].shape[-2:]
    values = {"topk.warm.parameter": record["parameter"].replace("_", r"\_"), "topk.warm.shape": f"${m}\\times {n}$",
              "topk.warm.steps": len(record["steps"]), "topk.warm.rtol": tex_number(settings["rtol"])}
    for end, r in (("low", summary.iloc[0]), ("high", summary.iloc[-1])):  # the smallest and largest k
        values.update({f"topk.warm.{end}.k": int(r.k), f"topk.warm.{end}.cold": f"{r.cold:.0f}",
                       f"topk.warm.{end}.warm": f"{r.warm:.0f}", f"topk.warm.{end}.ratio": f"{r.ratio:.1f}"})
    write_tex(tex_values(values), out.values, prov)


# ---------------------------------------------------------------------------------------------
# the pipeline's jobs: one matrix kind per run job, then Table 2, its figure and values

def run_job(snakemake):
    settings = snakemake.params.settings
    frame = table([settings["matrix"]], settings["size"], settings["ks"], settings["rtol"], settings["methods"],
                  settings["reps"], settings["device"], settings["seed"], settings["decay"],
                  snakemake.input[0] if snakemake.input else None)  # the saved momenta, for the momentum matrix
    write_csv(frame, snakemake.output[0], provenance(snakemake, settings["device"]))


def milliseconds(x):
    """3 significant digits, no exponent: 0.0123, 4.56, 789, 12345."""
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


SPREAD = 0.25  # a timing whose repetitions spread over more than this fraction of the median is flagged


def spread(row):
    """(slowest − fastest) / median of the repetitions (a table row or a frame's row); 0 where none ran."""
    if not math.isfinite(row.time_max_ms):
        return 0.0
    return (row.time_max_ms - row.time_min_ms) / row.time_ms


def cell(row):
    """Milliseconds where the method reached rtol (the polar methods: always, after their fixed steps), with a
    dagger where the repetitions spread widely (``SPREAD``); else '(0.031)', the error it stopped at, or 'fails'
    where no setting ran."""
    if row.reached or row.method in ("svd", *POLAR):
        return milliseconds(row.time_ms) + (r"$^\dagger$" if spread(row) > SPREAD else "")
    return f"({row.error:.2g})" if math.isfinite(row.error) else "fails"


def table_cell(row):
    """``cell``, and beside the milliseconds the products with vectors where they are counted: '41.3/140'; a
    polar method's the error of its UVᵀ: '6.51 (0.2)'."""
    text = cell(row)
    if row.reached and math.isfinite(row.matvecs):
        text += f"/{row.matvecs:.0f}"
    if row.method in POLAR:
        text += f" ({row.error:.2g})"
    return text


def report_job(snakemake):
    from style import colors, figure

    columns = ["matrix", "method", "k", "m", "rtol", "device", "reached", "time_ms", "time_min_ms", "time_max_ms",
               "error", "error_to_rtol", "matvecs"]
    frame = pd.concat([read_csv(path, columns) for path in snakemake.input])
    prov = provenance(snakemake)  # the measurements name their own device in the CSV
    write_csv(frame, snakemake.output.csv, prov)
    ks = sorted(frame.k.unique())
    rows = []
    for matrix, group in frame.groupby("matrix", sort=False):
        for method, by_k in group.groupby("method", sort=False):
            by_k = by_k.set_index("k")
            rows.append([matrix, method, *(table_cell(by_k.loc[k]) for k in ks)])
        rows.append(None)
    rows += [["paper (Colab)", method, *(milliseconds(1e3 * times[k]) if k in times else "--" for k in ks)]
             for method, times in PAPER.items()]
    text = tex_table("ll" + "r" * len(ks), ["matrix & method & " + " & ".join(f"$k={k}$" for k in ks) + r" \\"], rows)
    if any(spread(row) > SPREAD for row in frame.itertuples()):
        text += (rf"\par\footnotesize $^\dagger$ the repetitions spread over more than {SPREAD:.0%} of the median"
                 .replace("%", r"\%"))
    write_tex(text, snakemake.output.table, prov)

    matrices, methods = list(frame.matrix.unique()), list(frame.method.unique())
    color = colors(methods)
    style = {method: (marker, dashes) for method, marker, dashes in  # lines that coincide stay visible
             zip(methods, "osD^vP*Xph", [(None, None), (4, 2), (1, 1), (6, 2, 1, 2)] * 3)}
    fig, axes = figure(1, len(matrices), height=2.5)
    for ax, matrix in zip(axes[0], matrices):
        rows = frame[(frame.matrix == matrix) & frame.reached]
        for method, by_k in rows.groupby("method", sort=False):
            marker, dashes = style[method]
            ax.plot(by_k.k, by_k.time_ms, marker=marker, markersize=4, label=method, color=color[method],
                    **({"dashes": dashes} if dashes[0] else {}))
        ax.set(xscale="log", yscale="log", xlabel="k", ylabel="ms to reach rtol", title=matrix)
    handles = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 5))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, prov)

    values = {"topk.size": int(frame.m.iloc[0]), "topk.rtol": tex_number(frame.rtol.iloc[0]),
              "topk.device": frame.device.iloc[0].replace("_", r"\_")}  # x86_64: TeX text
    for row in frame.itertuples():
        values[f"topk.{row.matrix}.{row.method}.k{row.k}"] = cell(row)
        if row.method in POLAR:
            values[f"topk.{row.matrix}.{row.method}.k{row.k}.error"] = tex_number(row.error, 2)
    ours = frame[(frame.method == "lanczos") & frame.reached].error_to_rtol
    values.update({f"topk.lanczos.error_{end}": tex_number(x, 2) if len(ours) else "--"
                   for end, x in (("low", ours.min()), ("high", ours.max()))})
    write_tex(tex_values(values), snakemake.output.values, prov)


if __name__ == "__main__":
    run_rule(snakemake, {"topk_timing_run": run_job, "topk_timing_report": report_job,  # noqa: F821
                         "topk_warm_start": warm_start_job})
