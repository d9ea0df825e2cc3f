"""Synthetic least squares (paper §6.1, Figure 1 and the theory table).

    F(X) = ½⟨X − S, M(X − S)N⟩,   ∇F(X) = M(X − S)N,   F* = F(S) = 0,

X, S ∈ ℝ^{n×n}, S Gaussian, M and N symmetric PSD with eigenvalues uniform in (0, 1) and
Haar-random eigenvectors. Each method is the LMO step X ← X − η·lmo(∇F(X)) from X₀ = 0,
run for all seeds at once (the seeds are a batch dimension of every tensor).

Theory (Kovalev 2025, Cor. 1): if ∇F is L-Lipschitz from ‖·‖ to its dual ‖·‖†, the LMO step
with η = ε/L for K = LΔ₀/ε² iterations has mean ‖∇F‖† ≤ Δ₀/(ηK) + Lη/2 = 3ε/2.
"""
import math

import numpy as np
import pandas as pd
import torch

import stats
from job import BadResult, lmo_options, provenance, read_csv, read_provenance, run_rule, write_csv, write_tex
from report import distinct_labels, method_label, plural, save_figure, tex_number, tex_table, tex_values
import fanions  # this commit's lib/fanions (job.py puts it first on the path)

# The paper's §6.1 numbers at n = 50, for the table beside ours.
PAPER = {"muon": {"L": 171.4, "lr": 2.33e-4, "K": 68},
         "neon": {"L": 47.7, "lr": 2.10e-2, "K": 11919},
         "nsgd": {"L": 16.2, "lr": 1.75e-2, "K": 323}}
PAPER_OP_TARGET = 1.0  # the paper's ε₂: its ε are then 1 (Neon), n/2 (Muon), √n/2 (NSGD)
PAPER_SIZE = 50  # the size the paper's numbers are for (its text says STATED_SIZE, its figure and its numbers 50)
STATED_SIZE = 10  # m = n as §6.1's text states it


# ---------------------------------------------------------------- the problem
def random_psd(n, generator, batch):
    """Q diag(λ) Qᵀ with λ ~ U(0, 1) and Q Haar-orthogonal (QR of a Gaussian, signs fixed)."""
    Q, R = torch.linalg.qr(torch.randn(batch, n, n, generator=generator, dtype=torch.float64))
    Q = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)
    eigenvalues = torch.rand(batch, n, generator=generator, dtype=torch.float64)
    return (Q * eigenvalues.unsqueeze(-2)) @ Q.mT


def problem(n, seeds):
    """M, N, S for each seed, stacked: (seeds, n, n) each."""
    parts = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        M, N = random_psd(n, generator, 1), random_psd(n, generator, 1)
        parts.append((M, N, torch.randn(1, n, n, generator=generator, dtype=torch.float64)))
    return tuple(torch.cat(tensors) for tensors in zip(*parts))


def loss(X, M, N, S):
    """F(X) − F* = ½⟨X − S, M(X − S)N⟩."""
    E = X - S
    return 0.5 * (E * (M @ E @ N)).sum((-2, -1))


def gradient(X, M, N, S):
    return M @ (X - S) @ N


def descend(M, N, S, lmo, options, lr, iterations):
    """Run X ← X − lr·lmo(∇F(X)); per iteration 0..iterations: F − F*, ‖∇F‖_op and the LMO's own ‖∇F‖†."""
    X = torch.zeros_like(S)
    trace = torch.empty(iterations + 1, 3, S.size(0), dtype=S.dtype)
    for t in range(iterations + 1):
        G = gradient(X, M, N, S)
        trace[t] = torch.stack([loss(X, M, N, S), fanions.norms.spectral(G), fanions.dual_norm(G, lmo, **options)])
        if t < iterations:
            X = X - lr * fanions.lmo(G, lmo, **options)
    return trace


RUN_COLUMNS = ["size", "method", "label", "seed", "iteration", "loss_gap", "grad_op", "grad_dual"]
THEORY_COLUMNS = ["size", "seed", "lmo", "L", "eps", "lr", "K", "delta0", "mean_grad_dual", "bound", "min_grad_op",
                  "final_loss_gap"]


def trace_frame(trace, seeds):
    """The trace (iterations, 3, seeds) as a long table: seed, iteration, loss_gap, grad_op, grad_dual."""
    iterations, _, count = trace.shape
    frame = pd.DataFrame(trace.permute(2, 0, 1).reshape(-1, 3).numpy(), columns=["loss_gap", "grad_op", "grad_dual"])
    frame.insert(0, "iteration", list(range(iterations)) * count)
    frame.insert(0, "seed", [seed for seed in seeds for _ in range(iterations)])
    return frame


# ---------------------------------------------------------------- theory
def smoothness(lmo, M, N):
    """L of ∇F between the LMO's norm and its dual (the paper's estimates), per seed."""
    n = M.size(-1)
    if lmo == "nsgd":  # Frobenius: ‖M‖_F‖N‖_F
        return fanions.norms.frobenius(M) * fanions.norms.frobenius(N)
    if lmo == "muon":  # spectral: (2/n)‖M‖_nuc‖N‖_nuc
        return 2 / n * fanions.norms.nuclear(M) * fanions.norms.nuclear(N)
    if lmo == "neon":  # nuclear: n‖M‖_op‖N‖_op
        return n * fanions.norms.spectral(M) * fanions.norms.spectral(N)
    raise ValueError(f"no smoothness constant for lmo {lmo!r}; theory covers {sorted(PAPER)}")


def target(lmo, n, op_target):
    """ε in the LMO's dual norm that stands for ε₂ = op_target in ‖·‖_op: ε₂ (Neon), n/2·ε₂ (Muon), √n/2·ε₂ (NSGD)."""
    return op_target * {"neon": 1.0, "muon": n / 2, "nsgd": math.sqrt(n) / 2}[lmo]


def theory_rows(n, seeds, op_target, defaults):
    """Per method and seed: L, ε, η = ε/L, K = LΔ₀/ε², and a run at η for K iterations."""
    M, N, S = problem(n, seeds)
    delta0 = loss(torch.zeros_like(S), M, N, S)
    rows = []
    for lmo in PAPER:
        options = lmo_options({"lmo": lmo}, defaults)
        eps = target(lmo, n, op_target)
        for i, seed in enumerate(seeds):
            L = smoothness(lmo, M[i], N[i]).item()
            lr, K = eps / L, math.ceil(L * delta0[i].item() / eps**2)
            trace = descend(M[i:i + 1], N[i:i + 1], S[i:i + 1], lmo, options, lr, K)[:, :, 0]
            rows.append({"size": n, "seed": seed, "lmo": lmo, "L": L, "eps": eps, "lr": lr, "K": K,
                         "delta0": delta0[i].item(), "mean_grad_dual": trace[:-1, 2].mean().item(),
                         "bound": delta0[i].item() / (lr * K) + L * lr / 2, "min_grad_op": trace[:, 1].min().item(),
                         "final_loss_gap": trace[-1, 0].item()})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the paper's §6.1 numbers, checked (errata)
# γ of ‖X‖ ~ γ‖X‖_F for a Gaussian X by the paper's §5 ratios (‖·‖_F ~ (√n/2)‖·‖_op, ‖·‖_nuc ~ (n/2)‖·‖_op):
# 1 for the Frobenius norm, 2/√n for the spectral norm, √n for the nuclear norm.
GAMMA = {"nsgd": lambda n: 1.0, "muon": lambda n: 2 / math.sqrt(n), "neon": lambda n: math.sqrt(n)}
ERRATA_COLUMNS = ["size", "method", "quantity", "value", "low", "high", "seeds", "paper"]


def smoothness_formulas(lmo, M, N):
    """Per seed, the paper's formulas for L on (M, N): "stated", as §6.1 states it (``smoothness``); "rule", its
    general rule L ~ γ²‖M‖†‖N‖† (‖·‖† the LMO's dual norm, γ from GAMMA), which gives the stated formula for NSGD
    (‖M‖_F‖N‖_F) and Neon (n‖M‖_op‖N‖_op) but (4/n)‖M‖_nuc‖N‖_nuc for Muon; and for Muon "sqrt_n",
    (2/√n)‖M‖_nuc‖N‖_nuc, the formula whose value is the paper's 171.4 (its stated one has 2/n)."""
    n = M.size(-1)
    formulas = {"stated": smoothness(lmo, M, N),
                "rule": GAMMA[lmo](n) ** 2 * fanions.dual_norm(M, lmo) * fanions.dual_norm(N, lmo)}
    if lmo == "muon":
        formulas["sqrt_n"] = 2 / math.sqrt(n) * fanions.norms.nuclear(M) * fanions.norms.nuclear(N)
    return formulas


def paper_rates(lmo, n):
    """The paper's η, L and K at size n with its ε = target(lmo, n, PAPER_OP_TARGET): η·ε·L (1 if η = 1/(εL); ε²
    if η = ε/L, the rule it states), ε/L and 1/(εL) beside its η, and Δ₀ = Kε²/L that its K implies."""
    paper, eps = PAPER[lmo], target(lmo, n, PAPER_OP_TARGET)
    return {"lr_times_eps_L": (paper["lr"] * eps * paper["L"], math.nan),
            "lr_eps_over_L": (eps / paper["L"], paper["lr"]), "lr_inverse_eps_L": (1 / (eps * paper["L"]), paper["lr"]),
            "delta0_implied": (paper["K"] * eps**2 / paper["L"], math.nan)}


def true_smoothness(lmo, M, N):
    """Per seed, the smallest L with ‖∇F(X) − ∇F(Y)‖† ≤ L‖X − Y‖ in the LMO's norm: sup_H ‖MHN‖† / ‖H‖ for the
    Hessian H ↦ MHN. For the Frobenius norm (NSGD) and the nuclear norm (Neon, dual ‖·‖_op) it is ‖M‖_op‖N‖_op
    (attained at H = u₁v₁ᵀ of M's and N's top singular vectors); for the spectral norm (Muon, dual ‖·‖_nuc) it is
    Σᵢ σᵢ(M)σᵢ(N) (von Neumann's trace inequality, attained at H = V_M U_Nᵀ up to the pairing of singular vectors)."""
    if lmo in ("nsgd", "neon"):
        return fanions.norms.spectral(M) * fanions.norms.spectral(N)
    if lmo == "muon":
        return (torch.linalg.svdvals(M) * torch.linalg.svdvals(N)).sum(-1)
    raise ValueError(f"no smoothness constant for lmo {lmo!r}; theory covers {sorted(PAPER)}")


def leads(traces, metric):
    """Per size, seed, method and rival ("all" the other methods, or each one): the share of iterations at which the
    method's ``metric`` is strictly below the rival's on the same problem ("share"), and the share of the run
    before it first is not ("window")."""
    rows = []
    for (size, seed), runs in traces.groupby(["size", "seed"]):
        table = runs.pivot(index="iteration", columns="method", values=metric)
        values = table.to_numpy()
        for j, method in enumerate(table.columns):
            rivals = {"all": np.delete(values, j, axis=1).min(1)}
            rivals.update((rival, values[:, k]) for k, rival in enumerate(table.columns) if k != j)
            for rival, value in rivals.items():
                lead = values[:, j] < value
                window = len(lead) if lead.all() else int(np.argmin(lead))
                rows.append({"size": size, "seed": seed, "method": method, "rival": rival, "share": lead.mean(),
                             "window": window / len(lead)})
    return pd.DataFrame(rows)


def erratum(size, method, quantity, values, paper=math.nan):
    """One row of the errata: the mean of ``values`` over seeds with its 95% t interval (none for one value)."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    est = stats.mean_ci(values) if len(values) > 1 else stats.Estimate(values[0], math.nan, math.nan, 1)
    return {"size": size, "method": method, "quantity": quantity, "value": est.mean, "low": est.low,
            "high": est.high, "seeds": est.n, "paper": paper}


def errata(theory, traces, seeds):
    """The paper's §6.1 numbers against its own formulas on our problems, at each size: L by each formula and the
    true constant (L_true), the rates and Δ₀ its numbers imply, our Δ₀, each method's final F − F*, and its lead in its own dual norm
    and in ‖·‖_op (over all the others, lead_dual, and over each, lead_dual_over_<method>)."""
    rows = []
    for n in sorted(theory["size"].unique()):
        M, N, S = problem(int(n), seeds)
        for lmo in PAPER:
            for name, values in smoothness_formulas(lmo, M, N).items():
                rows.append(erratum(n, lmo, f"L_{name}", values.numpy(), PAPER[lmo]["L"]))
            rows.append(erratum(n, lmo, "L_true", true_smoothness(lmo, M, N).numpy(), PAPER[lmo]["L"]))
            for name, (value, paper) in paper_rates(lmo, int(n)).items():
                rows.append(erratum(n, lmo, name, [value], paper))
        problems = theory[theory["size"] == n].drop_duplicates("seed")  # Δ₀ = F(0) − F* is the problem's
        rows.append(erratum(n, "problem", "delta0", problems["delta0"].to_numpy()))
    for (n, method), runs in traces.groupby(["size", "method"]):  # F − F* at the last iteration, per seed
        rows.append(erratum(n, method, "final_loss_gap", runs[runs["iteration"] == runs["iteration"].max()]["loss_gap"]))
    for metric, name in (("grad_dual", "dual"), ("grad_op", "op")):
        for (n, method, rival), group in leads(traces, metric).groupby(["size", "method", "rival"], sort=False):
            over = "" if rival == "all" else f"_over_{rival}"  # lead_dual: over every other method at once
            rows.append(erratum(n, method, f"lead_{name}{over}", group["share"].to_numpy()))
            rows.append(erratum(n, method, f"lead_{name}_window{over}", group["window"].to_numpy()))
    return pd.DataFrame(rows, columns=ERRATA_COLUMNS)


# ---------------------------------------------------------------- report
def summarize(traces):
    """Mean over seeds at the last iteration, per size and method."""
    last = traces[traces.iteration == traces.iteration.max()]
    return last.groupby(["size", "method", "label"], sort=False)[["loss_gap", "grad_op", "grad_dual"]].mean()


def plot(traces, path_pdf, path_png, prov):
    """Figure 1: F − F*, ‖∇F‖_op and the own dual norm vs iteration; geometric mean and min–max band over seeds."""
    import style
    metrics = {"loss_gap": r"$F(X_t) - F^\star$", "grad_op": r"$\|\nabla F(X_t)\|_{\mathrm{op}}$",
               "grad_dual": r"$\|\nabla F(X_t)\|_\dagger$ (own dual)"}
    methods = traces[["method", "label"]].drop_duplicates()
    names = dict(zip(methods["method"], distinct_labels(methods["method"], methods["label"])))
    traces = traces.assign(label=traces["method"].map(names))
    sizes = sorted(traces["size"].unique())
    colors = style.colors(traces["label"].unique())
    fig, axes = style.figure(len(sizes), len(metrics), sharex=True)
    for row, size in zip(axes, sizes):
        for ax, (metric, title) in zip(row, metrics.items()):
            for label, runs in traces[traces["size"] == size].groupby("label", sort=False):
                stats = runs.groupby("iteration")[metric].agg(["min", "max", lambda v: v.clip(lower=1e-300).map(math.log).mean()])
                ax.plot(stats.index, stats.iloc[:, 2].map(math.exp), color=colors[label], label=label, lw=1)
                ax.fill_between(stats.index, stats["min"], stats["max"], color=colors[label], alpha=0.2, lw=0)
            ax.set(yscale="log", title=f"{title}, $n = {size}$")
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(colors), 4))
    save_figure(fig, path_pdf, path_png, prov)
    return fig


def theory_table(theory, n):
    """The theory table at size n (mean over seeds), ours beside the paper's."""
    mean = theory[theory["size"] == n].groupby("lmo", sort=False).mean(numeric_only=True)
    header = [r" & \multicolumn{3}{c}{ours} & \multicolumn{3}{c}{paper} & \\", r"\cmidrule(lr){2-4}\cmidrule(lr){5-7}",
              r"method & $L$ & $\eta = \varepsilon/L$ & $K$ & $L$ & $\eta$ & $K$ & mean $\|\nabla F\|_\dagger$ / bound \\"]
    rows = [[method_label({"lmo": lmo}), tex_number(row.L), tex_number(row.lr), f"{row.K:.0f}",
             tex_number(PAPER[lmo]["L"]), tex_number(PAPER[lmo]["lr"]), f"{PAPER[lmo]['K']}",
             f"{tex_number(row.mean_grad_dual)} / {tex_number(row.bound)}"] for lmo, row in mean.iterrows()]
    return tex_table("lrrrrrrr", header, rows)


def values(summary, theory, errors, settings):
    """The numbers the paper's text quotes, as ``\\val`` keys; "max" stands for the largest size; the errata as
    ls.<size>.errata.<method>.<quantity> (the mean over seeds)."""
    largest = max(settings["sizes"])
    out = {"ls.iterations": settings["iterations"], "ls.lr": tex_number(settings["lr"]),
           "ls.seeds": plural(len(settings["seeds"]), "seed"), "ls.sizes": ", ".join(map(str, settings["sizes"])),
           "ls.largest": largest, "ls.op_target": tex_number(settings["op_target"])}
    def names(size):  # in a fixed order: the values file is the same bytes on every run
        return [f"n{size}", "max"] if size == largest else [f"n{size}"]

    for (size, method, _), row in summary.iterrows():
        for name in names(size):
            out[f"ls.{name}.{method}.loss_gap"] = tex_number(row.loss_gap)
            out[f"ls.{name}.{method}.grad_op"] = tex_number(row.grad_op)
    mean = theory.groupby(["size", "lmo"]).mean(numeric_only=True)
    for (size, lmo), row in mean.iterrows():
        for name in names(size):
            out[f"ls.{name}.theory.{lmo}.L"] = tex_number(row.L)
            out[f"ls.{name}.theory.{lmo}.lr"] = tex_number(row.lr)
            out[f"ls.{name}.theory.{lmo}.K"] = f"{row.K:.0f}"
            out[f"ls.{name}.theory.{lmo}.mean_grad_dual"] = tex_number(row.mean_grad_dual)
            out[f"ls.{name}.theory.{lmo}.bound"] = tex_number(row.bound)
            out[f"ls.{name}.theory.{lmo}.paper_lr_times_eps_L"] = f"{PAPER[lmo]['lr'] * row.eps * PAPER[lmo]['L']:.3f}"
    for row in errors[~errors["quantity"].str.contains("_over_")].itertuples():  # pairwise leads: in the CSV only
        for name in names(row.size):
            out[f"ls.{name}.errata.{row.method}.{row.quantity}"] = tex_number(row.value)
    return out


# ---------------------------------------------------------------- the rules
def run_job(snakemake):
    settings = snakemake.params.settings
    n, seeds = int(snakemake.wildcards.size), settings["seeds"]
    spec = settings["method"]
    options = lmo_options(spec, settings["lmo_options"])
    trace = descend(*problem(n, seeds), spec["lmo"], options, settings["lr"], settings["iterations"])
    frame = trace_frame(trace, seeds)
    frame.insert(0, "method", snakemake.wildcards.method)
    frame.insert(1, "label", method_label(spec))
    frame.insert(0, "size", n)
    write_csv(frame, snakemake.output[0], provenance(snakemake))


def theory_job(snakemake):
    settings = snakemake.params.settings
    rows = theory_rows(int(snakemake.wildcards.size), settings["seeds"], settings["op_target"],
                       settings["lmo_options"])
    write_csv(rows, snakemake.output[0], provenance(snakemake))


def read_runs(paths):
    """The runs' traces, each file checked: its columns, finite values, and every seed's every iteration."""
    frames = []
    for path in paths:
        frame = read_csv(path, RUN_COLUMNS, finite=RUN_COLUMNS[-3:])
        settings = read_provenance(path)["settings"]
        if len(frame) != len(settings["seeds"]) * (settings["iterations"] + 1):
            raise BadResult(path, f"it holds {len(frame)} rows, not {len(settings['seeds'])} seeds × "
                            f"{settings['iterations'] + 1} iterations", "least_squares_run")
        frames.append(frame)
    return pd.concat(frames)


def read_theory(paths):
    return pd.concat(read_csv(path, THEORY_COLUMNS, finite=THEORY_COLUMNS[3:]) for path in paths)


def figure_job(snakemake):
    traces = read_runs(snakemake.input.runs)
    plot(traces, snakemake.output.pdf, snakemake.output.png, provenance(snakemake))


def table_job(snakemake):
    settings = snakemake.params.settings
    traces = read_runs(snakemake.input.runs)
    theory = read_theory(snakemake.input.theory)
    summary = summarize(traces)
    prov = provenance(snakemake)
    write_csv(summary.reset_index(), snakemake.output.summary, prov)
    write_csv(theory, snakemake.output.theory, prov)
    errors = errata(theory, traces, settings["seeds"])
    write_csv(errors, snakemake.output.errata, prov)
    write_tex(theory_table(theory, max(settings["sizes"])), snakemake.output.table, prov)
    write_tex(tex_values(values(summary, theory, errors, settings)), snakemake.output.values, prov)


if __name__ == "__main__":
    run_rule(snakemake, {"least_squares_run": run_job, "least_squares_theory": theory_job,  # noqa: F821
              "least_squares_figure": figure_job, "least_squares_table": table_job})
