"""Least squares at 500 × 500, tuned (paper v2 §6.1).

    F(X) = ½⟨X − S, M(X − S)N⟩,   ∇F(X) = M(X − S)N,   S = 0,   X⁰ with entries N(0, init_std²),

M, N symmetric PSD with eigenvalues uniform on (0, 1) (least_squares.random_psd), one problem per seed.
Each method steps

    B ← μB + ∇F(X),   D = ∇F(X) + μB,   X ← X − lr·lmo(D)

(Nesterov momentum summed, as the authors' code: the same direction as the EMA form of fanions.Fanion, since every
LMO here is scale-invariant). For each method the (lr, μ) pair reaching F < threshold in the fewest iterations is
chosen over a grid run as one batch (every cell a batch element, finished cells dropped); the loss is looked at
every ``check_every`` iterations, as the authors did (their counts are multiples of 10). Then the tuned runs and
the Fanion-k runs at their family's tuned pair are traced: loss, ‖∇F‖_F, ‖∇F‖_op, ‖∇F‖_nuc and time.
"""
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from authors_runs import checked_csv, source_sha256s
from job import lmo_options, provenance, read_csv, run_rule, write_csv, write_tex
from least_squares import gradient, random_psd
from report import (data_mark, data_note, distinct_labels, method_label, plural, save_figure, tex_label, tex_number, tex_table,
                    tex_values)
import fanions  # this commit's lib/fanions (job.py puts it first on the path)

# v2's Table (tbl:lls_lrs): lr (SignSGD's as the effective step 0.016 × 0.01), momentum, iterations to 0.001.
PAPER = {"muon": (0.007, 0.5, 1060), "nsgd": (0.08, 0.95, 1020), "f-muon": (0.015, 0.7, 910),
         "sign": (0.016 * 0.01, 0.95, 2650), "s-muon": (0.011, 0.9, 890)}
PAPER_SIZE = 500
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
GRID_COLUMNS = ["method", "seed", "lr", "momentum", "iterations", "final_loss", "seconds"]
CURVE_COLUMNS = ["run", "label", "family", "k", "seed", "iteration", "time", "loss", "grad_fro", "grad_op", "grad_nuc"]


# ---------------------------------------------------------------- the problem and the grid
def problem(n, seed, init_std, dtype, device="cpu"):
    """M, N, S = 0 and X⁰ of one seed, in ``dtype`` on ``device`` (drawn in float64 on the CPU: the same problem on
    every device)."""
    generator = torch.Generator().manual_seed(seed)
    M, N = random_psd(n, generator, 1)[0], random_psd(n, generator, 1)[0]
    X0 = init_std * torch.randn(n, n, generator=generator, dtype=torch.float64)
    return tuple(A.to(device, dtype) for A in (M, N, torch.zeros(n, n, dtype=torch.float64), X0))


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def lr_grid(grid):
    """The learning rates start, start + step, …, stop of ``{start, stop, step}`` (12 significant digits: 0.007, not
    0.0070000000000000001)."""
    count = round((grid["stop"] - grid["start"]) / grid["step"]) + 1
    return [float(f"{grid['start'] + i * grid['step']:.12g}") for i in range(count)]


def grid_cells(lrs, momenta):
    """(lr, μ) pairs in the authors' order: lr outer, momentum inner."""
    return [(lr, mu) for lr in lrs for mu in momenta]


def method_options(spec, defaults, polar_dtype):
    """The LMO options of a method spec: its own, the section's ``lmo_options`` its LMO takes, and the polar
    iteration's dtype where it takes one."""
    options = lmo_options(spec, defaults)
    if "polar_dtype" in fanions.LMOS[spec["lmo"]].options and polar_dtype:
        options["polar_dtype"] = DTYPES[polar_dtype]
    return options


def iterations_to_threshold(M, N, S, X0, lmo, options, lrs, momenta, threshold, check_every, max_iterations):
    """Every (lrs[i], momenta[i]) cell stepped from X0 together, as one batch: per cell the first iteration t (a
    multiple of ``check_every``, below ``max_iterations``) with F(X_t) < threshold (-1: never), and the loss at the
    last check. A cell leaves the batch when it passes."""
    cells = len(lrs)
    X = X0.expand(cells, *X0.shape).clone()
    B = torch.zeros_like(X)
    lr = torch.tensor(lrs, dtype=X.dtype, device=X.device).view(-1, 1, 1)
    mu = torch.tensor(momenta, dtype=X.dtype, device=X.device).view(-1, 1, 1)
    alive = torch.arange(cells, device=X.device)
    reached = torch.full((cells,), -1, dtype=torch.long, device=X.device)
    last_loss = torch.full((cells,), math.nan, dtype=torch.float64, device=X.device)
    for t in range(max_iterations):
        G = gradient(X, M, N, S)
        if t % check_every == 0:
            loss = 0.5 * ((X - S) * G).sum((-2, -1))  # F = ½⟨X − S, ∇F(X)⟩
            last_loss[alive] = loss.double()
            done = loss < threshold
            if done.any():
                reached[alive[done]] = t
                keep = ~done
                X, B, G, lr, mu, alive = X[keep], B[keep], G[keep], lr[keep], mu[keep], alive[keep]
                if not len(alive):
                    break
        B = mu * B + G
        X = X - lr * fanions.lmo(G + mu * B, lmo, **options)
    return reached.cpu(), last_loss.cpu()


def select(grid):
    """The tuned cell of one method's grid (rows: seed, lr, momentum, iterations (-1: not reached), final_loss):
    the cell reached on the most seeds, then the fewest iterations (mean over the seeds that reached it), then the
    lowest mean final loss, then the smallest lr and momentum (the authors' first-in-grid tie-break). Returns
    (lr, momentum, mean iterations or NaN, seeds reached, seeds)."""
    cells = grid.assign(hit=grid["iterations"] >= 0, reached_iterations=grid["iterations"].where(grid["iterations"] >= 0))
    summary = cells.groupby(["lr", "momentum"]).agg(reached=("hit", "sum"), seeds=("seed", "nunique"),
                                                   mean=("reached_iterations", "mean"), loss=("final_loss", "mean"))
    summary = summary.reset_index().assign(order=lambda s: -s["reached"], mean_key=lambda s: s["mean"].fillna(math.inf))
    best = summary.sort_values(["order", "mean_key", "loss", "lr", "momentum"]).iloc[0]
    return float(best.lr), float(best.momentum), float(best["mean"]), int(best.reached), int(best.seeds)


# ---------------------------------------------------------------- the traced runs
def trace(M, N, S, X0, lmo, options, lr, momentum, iterations, record_every):
    """One run: every ``record_every`` iterations the loss and ‖∇F‖_F, ‖∇F‖_op, ‖∇F‖_nuc (one SVD, not timed), and
    the time spent stepping so far (seconds)."""
    X, B, rows, elapsed = X0.clone(), torch.zeros_like(X0), [], 0.0
    for t in range(iterations + 1):
        synchronize(X.device)
        start = time.perf_counter()
        G = gradient(X, M, N, S)
        synchronize(X.device)
        elapsed += time.perf_counter() - start
        if t % record_every == 0 or t == iterations:
            sigma = torch.linalg.svdvals(G.double())
            rows.append({"iteration": t, "time": elapsed, "loss": 0.5 * float(((X - S) * G).sum()),
                         "grad_fro": float(sigma.norm()), "grad_op": float(sigma[0]), "grad_nuc": float(sigma.sum())})
        if t == iterations:
            break
        start = time.perf_counter()
        B = momentum * B + G
        X = X - lr * fanions.lmo(G + momentum * B, lmo, **options)
        synchronize(X.device)
        elapsed += time.perf_counter() - start
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the authors' grids
def authors_grids(folder, files):
    """The authors' grid searches (``files``: {method: {file, algorithm, lr_scale}}) from ``folder``, each file's
    sha256 checked against their SOURCES.csv (authors_runs.checked_csv): rows method, lr (the effective step:
    lr × lr_scale), momentum, iterations (-1: not reached)."""
    sources, frames = source_sha256s(folder), []
    for method, entry in files.items():
        grid = checked_csv(Path(folder) / entry["file"], {sources.get(Path(entry["file"]).name, "")})
        grid = grid[grid["algorithm_name"] == entry["algorithm"]]
        frames.append(pd.DataFrame({"method": method, "lr": (grid["learning_rate"] * entry["lr_scale"]).round(12),
                                    "momentum": grid["momentum"], "iterations": grid["below_thresh_iter"]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "lr", "momentum", "iterations"])


def authors_best(grid):
    """Their rule (finetune_lrs.print_summary): the first cell in file order with the fewest iterations reached."""
    reached = grid[grid["iterations"] >= 0]
    if reached.empty:
        return math.nan, math.nan, math.nan
    best = reached.loc[reached["iterations"].idxmin()]
    return float(best.lr), float(best.momentum), float(best.iterations)


def compare_grids(ours, theirs):
    """Over the cells of both grids (lr to 12 digits, momentum) that both reached (ours: every seed): how many,
    Spearman's rank correlation of the iteration counts and the median of ours / theirs; and how many each
    reached alone."""
    from scipy.stats import spearmanr
    mine = ours.assign(hit=ours["iterations"] >= 0).groupby(["lr", "momentum"]).agg(
        hit=("hit", "all"), iterations=("iterations", "mean")).reset_index()
    mine["lr"] = mine["lr"].round(12)
    both = mine.merge(theirs.assign(lr=theirs["lr"].round(12)), on=["lr", "momentum"], suffixes=("_ours", "_theirs"))
    ours_hit, theirs_hit = both["hit"], both["iterations_theirs"] >= 0
    shared = both[ours_hit & theirs_hit]
    rho = spearmanr(shared["iterations_ours"], shared["iterations_theirs"]).statistic if len(shared) > 2 else math.nan
    ratio = float((shared["iterations_ours"] / shared["iterations_theirs"]).median()) if len(shared) else math.nan
    return {"cells_common": len(both), "reached_both": len(shared), "reached_ours_only": int((ours_hit & ~theirs_hit).sum()),
            "reached_theirs_only": int((~ours_hit & theirs_hit).sum()), "spearman": rho, "median_ratio": ratio}


# ---------------------------------------------------------------- report
def tuned_table(tuned, note=None):
    """Ours beside v2's Table: lr, momentum, iterations to the threshold."""
    header = [r" & \multicolumn{3}{c}{ours} & \multicolumn{3}{c}{paper (v2)} \\",
              r"\cmidrule(lr){2-4}\cmidrule(lr){5-7}",
              r"method & lr & momentum & iterations & lr & momentum & iterations \\"]
    rows = []
    for r in tuned.itertuples():
        paper = PAPER.get(r.method)
        iterations = (f"{r.iterations:.0f}" if r.reached == r.seeds else
                      f"{r.iterations:.0f} ({r.reached}/{r.seeds} seeds)" if r.reached else "not reached")
        rows.append([tex_label(r.label), tex_number(r.lr), f"{r.momentum:g}", iterations,
                     *((tex_number(paper[0]), f"{paper[1]:g}", paper[2]) if paper else ("", "", ""))])
    return tex_table("lrrrrrr", header, rows, note)


def authors_table(comparison, note=None):
    """Per method: their best cell, ours, and how the iteration counts of the cells both reached compare."""
    header = [r" & \multicolumn{2}{c}{their best} & \multicolumn{2}{c}{our best} & \multicolumn{3}{c}{cells both reached} \\",
              r"\cmidrule(lr){2-3}\cmidrule(lr){4-5}\cmidrule(lr){6-8}",
              r"method & lr, $\mu$ & iter. & lr, $\mu$ & iter. & cells & $\rho_s$ & ours/theirs \\"]
    def cell(lr, mu):
        return "--" if math.isnan(lr) else f"{tex_number(lr)}, {mu:g}"
    def number(x, fmt):
        return "--" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)
    rows = [[tex_label(r.label), cell(r.their_lr, r.their_momentum), number(r.their_iterations, ".0f"),
             cell(r.lr, r.momentum), number(r.iterations, ".0f"), f"{r.reached_both}/{r.cells_common}",
             number(r.spearman, ".2f"), number(r.median_ratio, ".2f")] for r in comparison.itertuples()]
    return tex_table("lrrrrrrr", header, rows, note)


METRICS = {"loss": r"$F(X_t)$", "grad_fro": r"$\|\nabla F\|_F$", "grad_op": r"$\|\nabla F\|_{\mathrm{op}}$",
           "grad_nuc": r"$\|\nabla F\|_{\mathrm{nuc}}$"}


def plot(curves, rows, pdf, png, prov, note=None):
    """Loss, ‖∇F‖_F, ‖∇F‖_op, ‖∇F‖_nuc against iteration and loss against time (s), one row per group of
    ``rows`` ({title: run ids}); the geometric mean over seeds."""
    import style
    labels = dict(zip(curves["run"], curves["label"]))
    colors = style.colors(list(dict.fromkeys(labels[run] for runs in rows.values() for run in runs)))
    fig, axes = style.figure(len(rows), 5, height=1.9)
    for row, (title, runs) in zip(axes, rows.items()):
        for run in runs:
            mean = curves[curves["run"] == run].groupby("iteration")[["time", *METRICS]].agg(
                lambda v: math.exp(np.log(np.clip(v, 1e-300, None)).mean()))
            for ax, metric in zip(row, METRICS):
                ax.plot(mean.index, mean[metric], color=colors[labels[run]], label=labels[run], lw=1)
            row[4].plot(mean["time"], mean["loss"], color=colors[labels[run]], lw=1)
        for ax, name in zip(row, [*METRICS.values(), METRICS["loss"]]):
            ax.set(yscale="log", title=name)
        for ax in row[:4]:
            ax.set_xlabel("iteration")
        row[4].set_xlabel("time (s)")
        row[0].set_ylabel(title)
        row[4].legend(*row[0].get_legend_handles_labels(), fontsize="x-small", loc="center left",
                      bbox_to_anchor=(1.02, 0.5))  # beside the row, not over the curves
    if note:
        style.note(fig, note)
    save_figure(fig, pdf, png, prov)
    return fig


def values(settings, tuned, comparison, cost):
    """The numbers the text quotes (\\val{lst.…})."""
    out = {"lst.size": settings["size"], "lst.seeds": plural(len(settings["seeds"]), "seed"),
           "lst.threshold": tex_number(settings["threshold"]), "lst.check_every": settings["check_every"],
           "lst.iterations": settings["iterations"], "lst.ks": ", ".join(map(str, settings["ks"])),
           "lst.cells": int(sum(len(lr_grid(e["lr"])) for e in settings["tuned"].values()) * len(settings["momenta"])),
           "lst.step_ms": f"{cost:.1f}", "lst.init_var": tex_number(settings["init_std"] ** 2),
           "lst.polar_steps": settings["lmo_options"].get("polar_steps", 5),
           "lst.polar_dtype": settings["polar_dtype"] or settings["dtype"], "lst.dtype": settings["dtype"]}
    for method, entry in settings["tuned"].items():
        out[f"lst.{method}.caps"] = entry["max_iterations"]
        for option in ("alpha", "sign_lr_coeff"):
            if option in entry["method"]:
                out[f"lst.{method}.{option}"] = f"{entry['method'][option]:g}"
    for r in tuned.itertuples():
        out[f"lst.{r.method}.lr"] = tex_number(r.lr)
        out[f"lst.{r.method}.momentum"] = f"{r.momentum:g}"
        out[f"lst.{r.method}.iterations"] = "not reached" if not r.reached else f"{r.iterations:.0f}"
        out[f"lst.{r.method}.final_loss"] = tex_number(r.loss)
        out[f"lst.{r.method}.final_grad_fro"] = tex_number(r.grad_fro)
    for r in comparison.itertuples():
        out[f"lst.{r.method}.spearman"] = "--" if math.isnan(r.spearman) else tex_number(round(r.spearman, 2))
        out[f"lst.{r.method}.median_ratio"] = "--" if math.isnan(r.median_ratio) else tex_number(round(r.median_ratio, 2))
        out[f"lst.{r.method}.reached_both"] = f"{r.reached_both}"
    out["lst.claim"] = claim_sentence(summary_for_claim(tuned), settings)
    out["lst.mark"] = data_mark(settings["size"] == PAPER_SIZE)  # after each quoted result: n = 64 is no result
    return out


MIXED, BASELINES = ("f-muon", "s-muon"), ("nsgd", "muon", "sign")


def summary_for_claim(tuned):
    """Per tuned method: iterations to the threshold (NaN: not reached on every seed), and the mean final loss
    and ‖∇F‖_F of its traced run."""
    frame = tuned.set_index("method")
    return frame.assign(iterations=frame["iterations"].where(frame["reached"] == frame["seeds"]))[
        ["iterations", "loss", "grad_fro"]]


def claim_holds(summary, baselines=BASELINES):
    """v2: "F-Muon and S-Muon converge faster, to lower loss and lower ‖∇F‖_F than NSGD, Muon and SignSGD" (its
    abstract: "even better than vanilla Muon", ``baselines`` = [muon]): each of F-/S-Muon needs fewer iterations to
    the threshold (a method that never reached it is slowest), a lower final loss and a lower final ‖∇F‖_F than each
    of the ``baselines``. {aspect: holds} over 'faster', 'loss', 'grad_fro'."""
    speed = summary["iterations"].fillna(math.inf)
    return {"faster": all(speed[a] < speed[b] for a in MIXED for b in baselines),
            "loss": all(summary.loc[a, "loss"] < summary.loc[b, "loss"] for a in MIXED for b in baselines),
            "grad_fro": all(summary.loc[a, "grad_fro"] < summary.loc[b, "grad_fro"] for a in MIXED for b in baselines)}


def claim_sentence(summary, settings):
    if not set(MIXED + BASELINES) <= set(summary.index):
        return "[the claim needs F-Muon, S-Muon, NSGD, Muon and SignSGD in least_squares_tuned.tuned]"
    holds = claim_holds(summary)
    said = {"faster": "converge faster", "loss": "reach a lower loss", "grad_fro": r"reach a lower $\|\nabla F\|_F$"}
    yes = [said[k] for k, v in holds.items() if v]
    no = [said[k] for k, v in holds.items() if not v]
    return (f"F-Muon and S-Muon {' and '.join(yes) or 'do not beat all three'} than NSGD, Muon and SignSGD"
            + (f", but do not {' or '.join(no)}" if yes and no else ""))


# ---------------------------------------------------------------- the rules
def grid_job(snakemake):
    settings = snakemake.params.settings
    method, entry = snakemake.wildcards.method, settings["entry"]
    dtype, options = DTYPES[settings["dtype"]], method_options(entry["method"], settings["lmo_options"], settings["polar_dtype"])
    lrs, momenta = zip(*grid_cells(lr_grid(entry["lr"]), settings["momenta"]))
    frames = []
    for seed in settings["seeds"]:
        start = time.perf_counter()
        reached, last = iterations_to_threshold(*problem(settings["size"], seed, settings["init_std"], dtype,
                                                         settings["device"]),
                                                entry["method"]["lmo"], options, lrs, momenta, settings["threshold"],
                                                settings["check_every"], entry["max_iterations"])
        seconds = time.perf_counter() - start
        print(f"{method} seed {seed}: {len(lrs)} cells, {int((reached >= 0).sum())} reached, {seconds:.1f} s")
        frames.append(pd.DataFrame({"method": method, "seed": seed, "lr": lrs, "momentum": momenta,
                                    "iterations": reached.numpy(), "final_loss": last.numpy(), "seconds": seconds}))
    write_csv(pd.concat(frames), snakemake.output[0], provenance(snakemake, settings["device"]))


def read_grid(path):
    return read_csv(path, GRID_COLUMNS, finite=["lr", "momentum", "iterations", "seconds"])


def curve_job(snakemake):
    """The traced runs of one group, each at its tuned method's selected (lr, momentum), every seed."""
    settings = snakemake.params.settings
    grids = {Path(path).stem: read_grid(path) for path in snakemake.input.grids}
    dtype, frames = DTYPES[settings["dtype"]], []
    for run, (tuned, spec, k) in settings["runs"].items():
        lr, momentum, *_ = select(grids[tuned])
        options = method_options(spec, settings["lmo_options"], settings["polar_dtype"])
        for seed in settings["seeds"]:
            with warnings.catch_warnings(record=True) as fallbacks:  # top-k solves the exact SVD redid, counted
                warnings.simplefilter("always", RuntimeWarning)
                frame = trace(*problem(settings["size"], seed, settings["init_std"], dtype, settings["device"]),
                              spec["lmo"], options, lr, momentum, settings["iterations"], settings["record_every"])
            frames.append(frame.assign(run=run, label=method_label(spec), family=tuned, k=-1 if k is None else k,
                                       seed=seed))
            print(f"{run} seed {seed}: lr {lr:g}, momentum {momentum:g}, final loss {frame['loss'].iloc[-1]:.3g}, "
                  f"{len(fallbacks)} top-k solves redone by the exact SVD")
    write_csv(pd.concat(frames)[CURVE_COLUMNS], snakemake.output[0], provenance(snakemake, settings["device"]))


def step_cost(grids):
    """Milliseconds per cell-step of the grid jobs ([(grid, cap)]): their wall time over the cell-iterations they
    ran (a cell that passed at t ran t steps, one that did not ran the cap)."""
    seconds = sum(g.groupby("seed")["seconds"].first().sum() for g, _ in grids)
    steps = sum(int(g["iterations"].where(g["iterations"] >= 0, cap).sum()) for g, cap in grids)
    return 1e3 * seconds / steps if steps else math.nan


def report_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    prov = provenance(snakemake)
    paper_data = settings["size"] == PAPER_SIZE
    note = None if paper_data else data_note(f"n = {settings['size']}, not the paper's 500")
    grids = {Path(path).stem: read_grid(path) for path in snakemake.input.grids}
    rows = []
    for method, entry in settings["tuned"].items():
        lr, momentum, iterations, reached, seeds = select(grids[method])
        rows.append({"method": method, "label": method_label(entry["method"]), "lr": lr, "momentum": momentum,
                     "iterations": iterations, "reached": reached, "seeds": seeds})
    tuned = pd.DataFrame(rows)
    tuned["label"] = distinct_labels(tuned["method"], tuned["label"])
    theirs = (authors_grids(Path(snakemake.input.sources[0]).parent, settings["authors"]["grids"])
              if snakemake.input.sources else None)
    comparison = []
    for r in tuned.itertuples():
        mine = grids[r.method]
        theirs_m = theirs[theirs["method"] == r.method] if theirs is not None else pd.DataFrame(columns=["lr", "momentum", "iterations"])
        their_lr, their_mu, their_it = authors_best(theirs_m)
        comparison.append({"method": r.method, "label": r.label, "their_lr": their_lr, "their_momentum": their_mu,
                           "their_iterations": their_it, "lr": r.lr, "momentum": r.momentum, "iterations": r.iterations,
                           **compare_grids(mine, theirs_m)})
    comparison = pd.DataFrame(comparison)
    curves = pd.concat(read_csv(path, CURVE_COLUMNS, finite=CURVE_COLUMNS[5:]) for path in snakemake.input.curves)
    last = curves[curves["iteration"] == curves["iteration"].max()].groupby("run")[["loss", "grad_fro"]].mean()
    tuned = tuned.join(last, on="method").assign(size=settings["size"])
    cost = step_cost([(grids[m], e["max_iterations"]) for m, e in settings["tuned"].items()])
    write_csv(tuned, out.tuned, prov)
    write_csv(comparison, out.authors, prov)
    authors_note = note if theirs is not None else [  # two lines: one would run into the margin
        r"the authors' grids: not found (config key least\_squares\_tuned.authors.dir)",
        note]
    write_tex(tuned_table(tuned, note), out.table, prov)
    write_tex(authors_table(comparison, authors_note), out.authors_table, prov)
    write_tex(tex_values(values(settings, tuned, comparison, cost)), out.values, prov)
    families = {"tuned": list(settings["tuned"])}
    families |= {family: [f"{family}-{k}" for k in settings["ks"]] + [entry["tuned"]]
                 for family, entry in settings["k_runs"].items()}
    plot(curves, {"tuned": families["tuned"]}, out.pdf, out.png, prov, note)
    plot(curves, {f: runs for f, runs in families.items() if f != "tuned"}, out.k_pdf, out.k_png, prov, note)


if __name__ == "__main__":
    run_rule(snakemake, {"least_squares_tuned_grid": grid_job, "least_squares_tuned_curves": curve_job,  # noqa: F821
              "least_squares_tuned_report": report_job})
