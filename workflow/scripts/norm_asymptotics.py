"""Norms of Gaussian matrices (paper §5): the asymptotics the paper compares norms with, measured.

X ∈ ℝ^{m×n}, m = aspect·n ≥ n, entries iid N(0, σ²). As n grows with y = n/m fixed, the eigenvalues of
XᵀX/(σ²m) follow the Marchenko–Pastur law, density √((b − x)(x − a))/(2πyx) on [a, b] = [(1 − √y)², (1 + √y)²],
so that
    ‖X‖_F / (σ√(mn))      → 1,
    ‖X‖_op / (σ(√m + √n)) → 1                       (the law's edge √b; Geman, Bai–Yin),
    ‖X‖_nuc / (σn√m)      → μ(y) = E_MP[√x] ≤ 1,     μ(y) → 1 as y → 0, μ(1) = 8/(3π) ≈ 0.8488.
The paper takes ‖X‖_nuc ~ σn√m (μ = 1, right only for m ≫ n) and, for square X, ‖·‖_F ~ (√n/2)‖·‖_op (right)
and ‖·‖_nuc ~ (n/2)‖·‖_op; the latter is really μ(1)/2·n = (4/(3π))·n ≈ 0.4244·n.
"""
import math

import numpy as np
import pandas as pd
import torch
from scipy.integrate import quad

import stats
from job import provenance, read_csv, run_rule, write_csv, write_tex
from report import plural, save_figure, tex_number, tex_values


def mp_mean_sqrt(y):
    """μ(y) = E[√x] under Marchenko–Pastur with ratio y ∈ (0, 1]: ∫_a^b √x·√((b − x)(x − a))/(2πyx) dx."""
    a, b = (1 - math.sqrt(y)) ** 2, (1 + math.sqrt(y)) ** 2
    return quad(lambda x: math.sqrt((b - x) * (x - a) / x) / (2 * math.pi * y), a, b)[0]


# Each ratio: its normalization, the paper's limit, the true limit as a function of y = n/m, and the order p of
# its finite-size correction n^−p (1/n for sums over the spectrum, n^(−2/3) at its edge, Tracy–Widom).
RATIOS = {
    "nuclear": (r"$\|X\|_{\rm nuc} / (\sigma n\sqrt{m})$", lambda y: 1.0, mp_mean_sqrt, 1.0),
    "frobenius": (r"$\|X\|_F / (\sigma\sqrt{mn})$", lambda y: 1.0, lambda y: 1.0, 1.0),
    "spectral": (r"$\|X\|_{\rm op} / (\sigma(\sqrt{m} + \sqrt{n}))$", lambda y: 1.0, lambda y: 1.0, 2 / 3),
    "frobenius_over_spectral": (r"$\|X\|_F / (\sqrt{n}\,\|X\|_{\rm op})$", lambda y: 0.5, lambda y: 0.5, 2 / 3),
    "nuclear_over_spectral": (r"$\|X\|_{\rm nuc} / (n\|X\|_{\rm op})$", lambda y: 0.5,
                              lambda y: mp_mean_sqrt(1.0) / 2, 2 / 3),
}
SQUARE_ONLY = {"frobenius_over_spectral", "nuclear_over_spectral"}  # the paper states them for m = n
COLUMNS = ["aspect", "m", "n", "seed", "quantity", "ratio"]
LIMIT_COLUMNS = ["aspect", "quantity", "n", "seeds", "measured", "low", "high", "extrapolated", "paper", "true"]


# ---------------------------------------------------------------- the measurement
def gaussian(m, n, sigma, seed):
    """An m×n matrix of iid N(0, σ²) entries in float64, its own stream per (seed, m, n)."""
    state = int(np.random.SeedSequence([seed, m, n]).generate_state(1)[0])
    return sigma * torch.randn(m, n, generator=torch.Generator().manual_seed(state), dtype=torch.float64)


def norm_ratios(X, sigma):
    """The ratios of RATIOS for one m×n matrix X (m ≥ n), from its singular values."""
    m, n = X.shape
    s = torch.linalg.svdvals(X)
    nuclear, frobenius, spectral = s.sum().item(), torch.linalg.norm(X).item(), s[0].item()
    return {"nuclear": nuclear / (sigma * n * math.sqrt(m)), "frobenius": frobenius / (sigma * math.sqrt(m * n)),
            "spectral": spectral / (sigma * (math.sqrt(m) + math.sqrt(n))),
            "frobenius_over_spectral": frobenius / spectral / math.sqrt(n),
            "nuclear_over_spectral": nuclear / spectral / n}


def measure(sizes, aspects, seeds, sigma):
    """Every ratio of every (aspect·n)×n Gaussian matrix, one row per (aspect, n, seed, quantity)."""
    rows = []
    for aspect in aspects:
        for n in sizes:
            for seed in seeds:
                for quantity, ratio in norm_ratios(gaussian(aspect * n, n, sigma, seed), sigma).items():
                    if aspect == 1 or quantity not in SQUARE_ONLY:
                        rows.append({"aspect": aspect, "m": aspect * n, "n": n, "seed": seed, "quantity": quantity,
                                     "ratio": ratio})
    return pd.DataFrame(rows, columns=COLUMNS)


# ---------------------------------------------------------------- the limits
def extrapolate(n, ratio, order):
    """c of the least-squares fit ratio ≈ c + b·n^−order over the sizes (the limit n → ∞)."""
    design = np.stack([np.ones(len(n)), np.asarray(n, dtype=np.float64) ** -order], 1)
    return float(np.linalg.lstsq(design, np.asarray(ratio, dtype=np.float64), rcond=None)[0][0])


def limits(norms, level):
    """Per aspect and ratio: the mean at the largest n with its t interval over seeds, the extrapolation
    n → ∞ of the means over seeds, the paper's limit and the true one."""
    rows = []
    for (aspect, quantity), group in norms.groupby(["aspect", "quantity"], sort=False):
        _, paper, true, order = RATIOS[quantity]
        largest = group[group.n == group.n.max()].ratio
        estimate = stats.mean_ci(largest, level)
        means = group.groupby("n").ratio.mean()
        rows.append({"aspect": aspect, "quantity": quantity, "n": group.n.max(), "seeds": estimate.n,
                     "measured": estimate.mean, "low": estimate.low, "high": estimate.high,
                     "extrapolated": extrapolate(means.index, means.to_numpy(), order),
                     "paper": paper(1 / aspect), "true": true(1 / aspect)})
    return pd.DataFrame(rows, columns=LIMIT_COLUMNS)


def values(norms, table, level):
    """\\val{asym.*}: the sizes, seeds and level, and per ratio and aspect the measured, extrapolated, paper's
    and true limits, e.g. asym.nuclear.a1.measured."""
    out = {"asym.nmax": norms.n.max(), "asym.nmin": norms.n.min(), "asym.seeds": plural(norms.seed.nunique(), "seed"),
           "asym.level": f"{100 * level:g}\\%", "asym.aspects": ", ".join(map(str, sorted(norms.aspect.unique())))}
    for row in table.itertuples():
        key = f"asym.{row.quantity}.a{row.aspect}"
        for column in ("measured", "low", "high", "extrapolated", "paper", "true"):
            out[f"{key}.{column}"] = tex_number(getattr(row, column), 4)
    return out


def shape(aspect):
    return "m = n" if aspect == 1 else f"m = {aspect}n"


def plot(norms, table):
    """Each ratio against n (log x), one line per aspect (mean over seeds, range as a band), the paper's limit
    dashed and the true limit dotted."""
    import style
    fig, axes = style.figure(2, 3, height=2.2)
    colors = style.colors([shape(aspect) for aspect in sorted(norms.aspect.unique())])
    for ax, (quantity, (title, *_)) in zip(axes.flat, RATIOS.items()):
        for aspect, group in norms[norms.quantity == quantity].groupby("aspect"):
            stats_n = group.groupby("n").ratio.agg(["mean", "min", "max"])
            color, limit = colors[shape(aspect)], table[(table.quantity == quantity) & (table.aspect == aspect)]
            ax.plot(stats_n.index, stats_n["mean"], "o-", color=color, ms=3, lw=1, label=f"measured, {shape(aspect)}")
            ax.fill_between(stats_n.index, stats_n["min"], stats_n["max"], color=color, alpha=0.2, lw=0)
            ax.axhline(limit.true.item(), color=color, ls=":", lw=1.2, label=f"true limit, {shape(aspect)}")
            ax.axhline(limit.paper.item(), color="black", ls="--", lw=0.8, label="the paper's constant")
        sizes = sorted(map(int, norms.n.unique()))
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [f"$2^{{{n.bit_length() - 1}}}$" if n & (n - 1) == 0 else str(n) for n in sizes],
                      minor=False)
        ax.minorticks_off()
        ax.set(xlabel="$n$", title=title)
    handles = dict(zip(*reversed(axes[0, 0].get_legend_handles_labels())))
    axes[1, 2].axis("off")
    axes[1, 2].legend(handles.values(), handles.keys(), loc="center", fontsize="small")
    return fig


# ---------------------------------------------------------------- the rules
def run_job(snakemake):
    settings = snakemake.params.settings
    norms = measure(settings["sizes"], settings["aspects"], settings["seeds"], settings["sigma"])
    write_csv(norms, snakemake.output[0], provenance(snakemake))


def report_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    norms = read_csv(snakemake.input[0], COLUMNS, finite=["ratio"])
    table = limits(norms, settings["level"])
    prov = provenance(snakemake)
    write_csv(table, out.limits, prov)
    save_figure(plot(norms, table), out.pdf, out.png, prov)
    write_tex(tex_values(values(norms, table, settings["level"])), out.values, prov)


if __name__ == "__main__":
    run_rule(snakemake, {"norm_asymptotics_run": run_job, "norm_asymptotics_report": report_job})  # noqa: F821
