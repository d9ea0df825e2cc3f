"""The airbench report (paper §6.2): all runs as one CSV, Figures 2a and 2b, accuracy vs k, the
200-run table beside the paper's numbers, and the values the paper's text quotes.

Accuracies are means ± std over the runs that did not diverge, in percent; diverged runs are
counted. Results on any other data (the quick profile's digits, synthetic images) are marked as such on
every figure, table and value: they check the plumbing and are never CIFAR-10 accuracies. Runs on mixed data sources are an error.
"""
from pathlib import Path

import pandas as pd

from job import provenance, read_csv, run_rule, write_csv, write_tex
from report import data_mark, data_note, plural, save_figure, tex_label, tex_table, tex_values

# §6.2, mean ± std (%) over 200 runs: the first version, and the later one. v2: F-Muon at lr 0.4, momentum 0.6,
# S-Muon at 0.42, 0.63; Muon's is airbench94_muon.py's own figure (lr 0.24, momentum 0.6).
PAPER = {"muon": {"v1": (94.00, 0.13), "v2": (94.01, 0.13)},
         "f-muon": {"v1": (94.01, 0.14), "v2": (94.02, 0.13)},
         "s-muon": {"v1": None, "v2": (94.03, 0.13)}}
# v2's appendix table, mean ± std (%) over an unstated number of runs: each method at v2's settings (config
# airbench.experiments.appendix), Neon, F-Neon and the 5-Fanions at Muon's and F-Muon's.
APPENDIX = {"nsgd": (91.6, 0.52), "sign": (91.54, 0.26), "muon": (94.01, 0.10), "f-muon": (94.01, 0.13),
            "s-muon": (94.03, 0.13), "neon": (69.8, 0.5), "f-neon": (87.15, 0.24), "fanion5": (80.69, 1.25),
            "f-fanion5": (86.66, 0.65)}
PAPER_FIGURE = {"alpha_reference": "2a", "alpha_tuned": "2b"}
RUN_COLUMNS = ["experiment", "method", "lmo", "alpha", "k", "label", "lr", "momentum", "data", "seed", "accuracy",
               "diverged", "train_seconds", "eval_seconds", "topk_fallbacks"]
SYNTHETIC_NOTE = data_note("synthetic CIFAR-shaped images, not CIFAR-10")
NOTES = {"synthetic": SYNTHETIC_NOTE, "digits": data_note("scikit-learn's 8-by-8 handwritten digits, not CIFAR-10")}


def data_source(runs):
    sources = runs["data"].unique()
    if len(sources) != 1:
        raise ValueError(f"airbench runs on several data sources {sorted(sources)}; rerun them on one")
    return sources[0]


def summarize(runs):
    """Per experiment and method: runs, diverged, accuracy mean and std (%) of the others, median seconds, and the
    top-k solves redone by the exact SVD."""
    runs = runs.assign(accuracy=100 * runs["accuracy"])
    keys = ["experiment", "method", "label", "lmo", "alpha", "k", "lr", "momentum"]
    grouped = runs.groupby(keys, sort=False, dropna=False)
    return grouped.agg(runs=("seed", "size"), diverged=("diverged", "sum"), mean=("accuracy", "mean"),
                       std=("accuracy", "std"), train_seconds=("train_seconds", "median"),
                       eval_seconds=("eval_seconds", "median"), topk_fallbacks=("topk_fallbacks", "sum")).reset_index()


# ---------------------------------------------------------------- figures
def mark_data(fig, source):
    import style
    if source != "cifar10":
        style.note(fig, NOTES[source])


def errorbars(ax, rows, x, color, label):
    ax.errorbar(rows[x], rows["mean"], yerr=rows["std"], color=color, label=label, marker="o", ms=3, capsize=2, lw=1)
    for _, row in rows[rows["diverged"] > 0].iterrows():  # at the bottom: a sweep point may have no finite run
        ax.text(row[x], 0.02, f"{row.diverged:.0f}/{row.runs:.0f}\ndiverged", transform=ax.get_xaxis_transform(),
                fontsize="small", ha="center", color=color)


def alpha_figure(summary, experiment, title, source, pdf, png, prov):
    """Figures 2a and 2b: accuracy vs α (mean ± std over runs), one line per mixture."""
    import style
    rows = summary[summary["experiment"] == experiment]
    fig, axes = style.figure(1, 1, height=2.4, width=0.49)
    ax = axes[0, 0]
    colors = style.colors(rows["lmo"].unique())
    for lmo, line in rows.groupby("lmo", sort=False):
        errorbars(ax, line.sort_values("alpha"), "alpha", colors[lmo], line["label"].iloc[0].split(" ")[0])
    ax.set(xlabel=r"$\alpha$", ylabel="test accuracy (%)", title=title)
    ax.legend()
    mark_data(fig, source)
    save_figure(fig, pdf, png, prov)


def k_figure(summary, source, pdf, png, prov):
    """Accuracy and time per run vs k for the k-Fanions, Neon and F-Neon as reference lines."""
    import style
    rows = summary[summary["experiment"] == "fanions"]
    fanion = rows[rows["lmo"] == "fanion"].sort_values("k")
    others = rows[rows["lmo"] != "fanion"]
    fig, axes = style.figure(1, 2, height=2.4, width=0.7)
    ax_acc, ax_time = axes[0]
    colors = style.colors(["k-Fanion", *others["label"]])
    errorbars(ax_acc, fanion, "k", colors["k-Fanion"], "k-Fanion")
    ax_time.plot(fanion["k"], fanion["train_seconds"], color=colors["k-Fanion"], marker="o", ms=3, lw=1)
    for _, row in others.iterrows():
        ax_acc.axhline(row["mean"], color=colors[row["label"]], ls="--", lw=1, label=row["label"])
        ax_time.axhline(row["train_seconds"], color=colors[row["label"]], ls="--", lw=1)
    for ax in (ax_acc, ax_time):
        ax.set_xscale("log", base=2)
        ax.set_xticks(fanion["k"], [f"{k:.0f}" for k in fanion["k"]])
        ax.set_xlabel("k")
    ax_acc.set(ylabel="test accuracy (%)", title="accuracy vs k")
    ax_time.set(ylabel="s / run (training)", title="time vs k")
    fig.legend(*ax_acc.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize="small")
    mark_data(fig, source)
    save_figure(fig, pdf, png, prov)


# ---------------------------------------------------------------- table and values
def pm(pair):
    return "--" if pair is None else f"${pair[0]:.2f} \\pm {pair[1]:.2f}$"


def table(summary, source, experiment="table"):
    """An experiment's table: ours (mean ± std, runs, diverged, seconds per run) beside the paper's numbers, the
    200-run table's in both versions, the appendix table's in v2."""
    papers = ({"paper v1": {m: p["v1"] for m, p in PAPER.items()}, "paper v2": {m: p["v2"] for m, p in PAPER.items()}}
              if experiment == "table" else {"paper v2": APPENDIX})
    rows = []
    for _, row in summary[summary["experiment"] == experiment].iterrows():
        rows.append([tex_label(row["label"]), f"{row['lr']:g}, {row['momentum']:g}", pm((row["mean"], row["std"])),
                     f"{row['runs']} ({row['diverged']})", f"{row['train_seconds']:.2f}",
                     *(pm(paper.get(row["method"])) for paper in papers.values())])
    header = r"method & lr, $\mu$ & ours & runs (diverged) & s / run & " + " & ".join(papers) + r" \\"
    return tex_table("lrrrr" + "r" * len(papers), [header], rows, None if source == "cifar10" else NOTES[source])


def values(summary, source, settings):
    """``\\val{airbench.…}`` keys: the data, run counts, each method's numbers, the best α of each sweep."""
    out = {"airbench.data": "CIFAR-10" if source == "cifar10" else NOTES[source],
           "airbench.mark": data_mark(source == "cifar10"),
           "airbench.epochs": plural(settings["train"]["epochs"], "epoch"),
           "airbench.batch_size": settings["train"]["batch_size"]}
    for experiment, spec in settings["experiments"].items():
        out[f"airbench.{experiment}.runs"] = plural(spec["runs"], "run")
    for _, row in summary.iterrows():
        key = f"airbench.{row['experiment']}.{row['method']}"
        out |= {f"{key}.mean": f"{row['mean']:.2f}", f"{key}.std": f"{row['std']:.2f}",
                f"{key}.diverged": row["diverged"], f"{key}.seconds": f"{row['train_seconds']:.2f}"}
    fallbacks = int(summary["topk_fallbacks"].sum())
    out["airbench.fallbacks"] = ("No top-k solve fell back on the exact SVD." if not fallbacks else
                                 f"{plural(fallbacks, 'top-k solve')} fell back on the exact SVD, timed with the runs.")
    seconds = summary[summary["experiment"] == "table"].set_index("method")["train_seconds"]
    if {"f-muon", "muon"} <= set(seconds.index):  # the paper's pair, unless a user removed one
        out["airbench.table.time_ratio"] = f"{seconds['f-muon'] / seconds['muon']:.3f}"  # F-Muon / Muon per run
    sweeps = summary[summary["experiment"].isin(PAPER_FIGURE) & summary["alpha"].notna()]
    for (experiment, lmo), rows in sweeps.groupby(["experiment", "lmo"]):
        best = rows.loc[rows["mean"].idxmax()]
        out[f"airbench.{experiment}.{lmo}.best_alpha"] = f"{best['alpha']:g}"
        out[f"airbench.{experiment}.{lmo}.best_mean"] = f"{best['mean']:.2f}"
    return out


# ---------------------------------------------------------------- the rules
NORMS = ("frobenius", "spectral", "nuclear")


def grad_norm_fall(log, window):
    """{'fall_<norm>': the mean of a total gradient norm over the first ``window`` logged steps over its mean over
    the last ``window``, 'best_train_acc': the best logged batch accuracy} of one run's log."""
    return {f"fall_{norm}": log[f"total_{norm}"].head(window).mean() / log[f"total_{norm}"].tail(window).mean()
            for norm in NORMS} | {"best_train_acc": log["train_acc"].max()}


def grad_norm_curves(ours, theirs):
    """[(label, log, dashed)]: each of our runs (the first seed), then the authors' logs, dashed; x is the
    fraction of training done, so runs of other lengths share the axis."""
    curves = []
    for _, log in ours.groupby("method", sort=False):
        log = log[log["seed"] == log["seed"].min()]
        curves.append((log["label"].iloc[0], log.assign(progress=log["step"] / log["step"].max()), False))
    for optimizer, log in theirs.items():
        curves.append((f"{optimizer} (authors, CIFAR-10)", log.assign(progress=log["step"] / log["step"].max()), True))
    return curves


def grad_norm_figures(curves, source):
    """v2's three gradient-norm figures: layer 2's conv1 and conv2 gradients in three norms, the whole gradient in
    three norms, train and test accuracy; ours solid, the authors' dashed."""
    import style
    colors = style.colors([label for label, _, _ in curves])
    panels = {"layer2": [f"layers.2.{conv}.weight_{norm}" for conv in ("conv1", "conv2") for norm in NORMS],
              "total": [f"total_{norm}" for norm in NORMS], "accuracy": ["train_acc", "val_acc"]}
    for name, columns in panels.items():
        rows = 2 if name == "layer2" else 1
        fig, axes = style.figure(rows, len(columns) // rows, height=2.2)
        for ax, column in zip(axes.flat, columns):
            for label, log, dashed in curves:
                if column in log:
                    ax.plot(log["progress"], log[column], color=colors[label], ls="--" if dashed else "-", lw=1,
                            label=label)
            ax.set(title=column.replace("_", " "), xlabel="fraction of training",
                   yscale="linear" if name == "accuracy" else "log")
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize="small")
        mark_data(fig, source)
        yield name, fig


def grad_norms_job(snakemake):
    from authors_runs import checked_csv, source_sha256s
    settings, out = snakemake.params.settings, snakemake.output
    ours = pd.concat(read_csv(path) for path in snakemake.input.logs)
    source = data_source(ours)
    theirs = {}
    for optimizer, path in zip(settings["authors"], snakemake.input.authors):
        theirs[optimizer] = checked_csv(path, {source_sha256s(Path(path).parents[1]).get(Path(path).name, "")})
    rows = [{"source": source, "method": method, "seeds": log["seed"].nunique()}
            | grad_norm_fall(log[log["seed"] == log["seed"].min()], settings["window"])
            for method, log in ours.groupby("method", sort=False)]
    rows += [{"source": "authors", "method": optimizer, "seeds": 1} | grad_norm_fall(log, settings["window"])
             for optimizer, log in theirs.items()]
    prov = provenance(snakemake) | {"data": source}
    write_csv(pd.DataFrame(rows), out.summary, prov)
    paths = {(Path(path).stem.removeprefix("airbench_grad_norms_"), Path(path).suffix): path for path in out.figures}
    for name, fig in grad_norm_figures(grad_norm_curves(ours, theirs), source):
        save_figure(fig, paths[name, ".pdf"], paths[name, ".png"], prov)


def load(snakemake):
    """All runs, their data source, and the provenance that names it."""
    runs = pd.concat(read_csv(path, RUN_COLUMNS, finite=["train_seconds", "eval_seconds"])
                     for path in snakemake.input.runs)
    source = data_source(runs)
    return runs, source, provenance(snakemake) | {"data": source}


def figure_job(snakemake):
    runs, source, prov = load(snakemake)
    summary, out, figure = summarize(runs), snakemake.output, snakemake.wildcards.figure
    if figure == "fanions":
        k_figure(summary, source, out.pdf, out.png, prov)
        return
    settings = snakemake.params.settings
    hyper = settings["hyper"][settings["experiments"][figure]["hyper"]]
    title = f"lr {hyper['lr']:g}, momentum {hyper['momentum']:g} (paper Figure {PAPER_FIGURE[figure]})"
    alpha_figure(summary, figure, title, source, out.pdf, out.png, prov)


def table_job(snakemake):
    runs, source, prov = load(snakemake)
    summary = summarize(runs)
    write_csv(runs, snakemake.output.runs, prov)
    write_csv(summary, snakemake.output.summary, prov)
    write_tex(table(summary, source), snakemake.output.table, prov)
    write_tex(table(summary, source, "appendix"), snakemake.output.appendix, prov)
    write_tex(tex_values(values(summary, source, snakemake.params.settings)), snakemake.output.values, prov)


if __name__ == "__main__":
    run_rule(snakemake, {"airbench_figure": figure_job, "airbench_table": table_job,  # noqa: F821 (set by Snakemake)
                         "airbench_grad_norms_report": grad_norms_job})
