"""NanoGPT speedrun (paper §6.3): the token shards, the training jobs (train_gpt.py under torchrun), the report.

Shards come from one of four sources (config nanogpt.data.source): `fineweb`, the GPT-2 tokens of
FineWeb-10B that modded-nanogpt trains on, downloaded from Hugging Face and checked; `local`,
shards already on disk; `corpus`, a text file (or a generated one) tokenized here with GPT-2's
tokenizer; `synthetic`, random tokens in the real format, for timing only: their losses are
marked as such everywhere and are never the paper's results.
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from job import BadResult, REPO, atomic_write, die_with_parent, provenance, read_csv, read_json, run_rule, write_csv, write_json, write_tex
from report import (data_mark, data_note, distinct_labels, method_label, plural, save_figure, tex_escape, tex_label,
                    tex_number, tex_table, tex_values)
from gpt.data import generated_corpus, gpt2_encoding, hub_download, read_shard, write_shard
from gpt.model import EOT

# §6.3: final validation loss after 1750 steps (lr, momentum 0.95); α = 0.3 is only "not lower than α = −0.1".
PAPER = {("muon", None, 0.05): 3.279, ("f-muon", 0.5, 0.07): 3.281, ("f-muon", -0.1, 0.07): 3.2818}
RECORD = (3.2770, 0.0038, 7)  # the 2024-11-24 record's logs: mean, std over its 7 runs with its own Muon
PAPER_DATA = ("fineweb", "local")  # FineWeb shards, downloaded or on disk
DATA_NOTES = {"corpus": data_note("a text corpus tokenized here, not FineWeb"),
              "synthetic": data_note("random tokens, not FineWeb")}


# ---------------------------------------------------------------- data
def convert(text, val_documents, encoding):
    """A corpus (documents separated by <|endoftext|>) as (train, val) token arrays: each document is
    <|endoftext|> followed by its GPT-2 tokens, as in modded-nanogpt's fineweb shards; the first
    val_documents documents are the validation split."""
    documents = [doc.strip() for doc in text.split("<|endoftext|>") if doc.strip()]
    if len(documents) <= val_documents:
        raise ValueError(f"the corpus holds {len(documents)} documents, not more than val_documents={val_documents}")
    tokens = [np.array([EOT, *encoding.encode_ordinary(doc)], dtype=np.uint16) for doc in documents]
    return np.concatenate(tokens[val_documents:]), np.concatenate(tokens[:val_documents])


def synthetic_tokens(count, seed, mean_document=512):
    """Uniform random GPT-2 ids with <|endoftext|> at random document starts (format only: nothing to learn)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, EOT, count, dtype=np.uint16)
    tokens[rng.random(count) < 1 / mean_document] = EOT
    tokens[0] = EOT
    return tokens


# ---------------------------------------------------------------- training
def launch(settings, processes, threads, curve, summary, checkpoint, momentum, model):
    """train_gpt.py under torchrun with this interpreter: one process per GPU (one on a CPU), its output to the
    log, its settings in a file beside the checkpoint (removed with it when the run completes). The workers
    watch this process (TRAIN_GPT_PARENT) and stop when it is gone."""
    settings_file = f"{checkpoint}.settings.json"  # beside the checkpoint: what the workers read
    write_json(settings, settings_file)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(REPO / "workflow/scripts/train_gpt.py"), settings_file, curve, summary, checkpoint, momentum, model]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=sys.stdout, stderr=sys.stdout, preexec_fn=die_with_parent,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads), "TRAIN_GPT_PARENT": str(os.getpid())})
    Path(settings_file).unlink()


# ---------------------------------------------------------------- report
SUMMARY_KEYS = ("final_val_loss", "ms_per_step", "compile_s", "provenance")


def load_runs(curves, summaries):
    """All runs as two frames: the validation curves, and one row per run (final loss, timing)."""
    frames, rows = [], []
    for curve, summary in zip(curves, summaries):
        record = read_json(summary, SUMMARY_KEYS, "nanogpt_train")
        settings = record["provenance"]["settings"]
        run = {"run": Path(curve).parent.name, "seed": settings["seed"], "lmo": settings["method"]["lmo"],
               "alpha": settings["method"].get("alpha"), "lr": settings["lr"], "source": settings["data_source"]}
        points = len(range(0, settings["steps"], settings["val_every"])) + 1  # every val_every steps and the last
        frame = read_csv(curve, ["step", "val_loss", "train_time_s"])
        if len(frame) != points:
            raise BadResult(curve, f"it holds {len(frame)} validation points, not {points}", "nanogpt_train")
        frames.append(frame.assign(**run))
        rows.append({**run, **{key: record[key] for key in SUMMARY_KEYS[:-1]}})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows)


def label(row):
    """"F-Muon $\\alpha=0.5$, lr 0.07"."""
    method = {"lmo": row.lmo, **({} if pd.isna(row.alpha) else {"alpha": row.alpha})}
    return f"{tex_label(method_label(method))}, lr {row.lr:g}"


def summarize(runs, baseline):
    """Per run id: seeds, final loss mean ± std, ms/step (and its ratio to the baseline run), compile s, paper."""
    keys = ["run", "lmo", "alpha", "lr", "source"]
    summary = runs.groupby(keys, sort=False, dropna=False).agg(
        seeds=("seed", "size"), mean=("final_val_loss", "mean"), std=("final_val_loss", "std"),
        ms_per_step=("ms_per_step", "mean"), compile_s=("compile_s", "mean")).reset_index()
    base = summary.loc[summary["run"] == baseline, "ms_per_step"]
    summary["time_ratio"] = summary["ms_per_step"] / base.iloc[0] if len(base) else math.nan
    summary["paper"] = [PAPER.get((r.lmo, None if pd.isna(r.alpha) else r.alpha, r.lr)) for r in summary.itertuples()]
    summary["label"] = distinct_labels(summary["run"].map(tex_escape), [label(r) for r in summary.itertuples()])
    return summary


def table(summary, source):
    rows = []
    for r in summary.itertuples():
        loss = f"${r.mean:.4f}$" + ("" if pd.isna(r.std) else rf" $\pm$ ${r.std:.4f}$")
        paper = "--" if r.paper is None or pd.isna(r.paper) else f"${r.paper:g}$"
        rows.append([r.label, r.seeds, loss, paper, f"${r.ms_per_step:.0f}$", f"${r.time_ratio:.3f}$"])
    mean, std, count = RECORD
    rows += [None, ["record 2024-11-24 (its Muon, lr 0.05)", count, rf"${mean:.4f}$ $\pm$ ${std:.4f}$", "", "", ""]]
    return tex_table("lrrrrr", [r"method & seeds & final val.\ loss & paper & ms/step & $\times$ baseline \\"], rows,
                     None if source in PAPER_DATA else DATA_NOTES[source])


def figure(curves, summary, source, pdf, png, prov):
    """Validation loss vs step, mean over seeds per run with the min–max band: every step on a log scale
    (left), and the last quarter of training zoomed in on the runs that end below twice the best loss (right;
    the others, which did not train, are named in its title)."""
    import style
    fig, axes = style.figure(1, 2, height=2.6)
    colors = style.colors(summary["label"])
    steps = curves["step"].drop_duplicates().sort_values()
    zoom_start = steps[steps <= 0.75 * steps.max()].max()  # the last evaluation at or before the last quarter
    close = summary["mean"] < 2 * summary["mean"].min()
    for ax, start in zip(axes[0], (0, zoom_start)):
        for r in summary.itertuples():
            stats = curves[(curves["run"] == r.run) & (curves["step"] >= start)].groupby("step")["val_loss"].agg(
                ["mean", "min", "max"])
            ax.plot(stats.index, stats["mean"], color=colors[r.label], label=r.label, lw=1)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=colors[r.label], alpha=0.2, lw=0)
        ax.set(xlabel="step", ylabel="validation loss")
    shown = curves[curves["run"].isin(summary["run"][close]) & (curves["step"] >= zoom_start)]["val_loss"].dropna()
    off = ", ".join(summary["label"][~close])
    axes[0, 0].set(yscale="log", title="all steps")
    axes[0, 1].set_title("the last quarter" + (f"\n(above it: {off})" if off else ""), fontsize="small")
    if len(shown):
        pad = 0.05 * (shown.max() - shown.min()) or 0.01 * shown.max()
        axes[0, 1].set_ylim(shown.min() - pad, shown.max() + pad)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(summary), 4),
               fontsize="small")
    if source not in PAPER_DATA:
        style.note(fig, DATA_NOTES[source])
    save_figure(fig, pdf, png, prov)


DATA_NAMES = {"fineweb": "FineWeb-10B (GPT-2 tokens)", "local": "FineWeb shards on disk", **DATA_NOTES}


def values(summary, source, baseline):
    """\\val{nanogpt.<run>.loss} (mean over seeds), .ms (ms/step) and .ratio (to the baseline) for the text,
    and the same under nanogpt.baseline; nanogpt.mark follows them in the text; nanogpt.sign_note, a sentence on
    each run of a sign mixture (S-Muon), whose steps are far longer than Muon's at the same learning rate."""
    out = {"nanogpt.data": DATA_NAMES[source], "nanogpt.mark": data_mark(source in PAPER_DATA),
           "nanogpt.seeds": plural(int(summary["seeds"].max()), "seed")}
    for r in summary.itertuples():
        for run in (r.run, "baseline") if r.run == baseline else (r.run,):
            out[f"nanogpt.{run}.loss"] = tex_number(r.mean, 4)
            out[f"nanogpt.{run}.ms"] = tex_number(r.ms_per_step, 3)
            out[f"nanogpt.{run}.ratio"] = tex_number(r.time_ratio, 3)
    out["nanogpt.sign_note"] = "".join(
        f" {label(r)}, ends at ${r.mean:.4f}${out['nanogpt.mark']}: its sign part $(1-\\alpha)\\operatorname{{sign}}(M)$ has "
        r"Frobenius norm $(1-\alpha)\sqrt{mn}$ against $\sqrt{\min(m,n)}$ for Muon's $UV^\top$, so at a learning "
        r"rate that suits Muon its step is about $(1-\alpha)\sqrt{\max(m,n)}$ times as long."
        for r in summary.itertuples() if r.lmo.startswith("s-"))
    return out


# ---------------------------------------------------------------- Snakemake entry
def download_job(snakemake):
    settings, path = snakemake.params.settings, snakemake.output[0]
    hub_download(settings["repo"], Path(path).name, path, settings["sha256"].get(Path(path).name), check=read_shard)


def corpus_job(snakemake):
    settings = snakemake.params.settings
    with atomic_write(snakemake.output[0]) as f:
        f.write(generated_corpus(settings["generated_documents"], settings["seed"]))


def convert_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    text = Path(snakemake.input[0]).read_text(encoding="utf-8")
    train, val = convert(text, settings["val_documents"], gpt2_encoding(settings["tiktoken_cache"]))
    write_shard(out.train, train)
    write_shard(out.val, val)
    print(f"{len(train)} train and {len(val)} validation tokens")


def synthetic_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    write_shard(out.train, synthetic_tokens(settings["train_tokens"], 1))
    write_shard(out.val, synthetic_tokens(settings["val_tokens"], 2))


def train_job(snakemake):
    out = snakemake.output
    launch(snakemake.params.settings, max(snakemake.resources.gpu, 1), snakemake.resources.cpus_per_gpu, out.curve,
           out.summary, snakemake.params.checkpoint, out.momentum, out.model)


def report_job(snakemake):
    settings, out, prov = snakemake.params.settings, snakemake.output, provenance(snakemake)
    curves, runs = load_runs(snakemake.input.curves, snakemake.input.summaries)
    source = runs["source"].iloc[0]
    summary = summarize(runs, settings["baseline"])
    write_csv(summary, out.summary, prov)
    write_tex(table(summary, source), out.table, prov)
    write_tex(tex_values(values(summary, source, settings["baseline"])), out.values, prov)
    figure(curves, summary, source, out.pdf, out.png, prov)


if __name__ == "__main__":
    run_rule(snakemake, {"nanogpt_download": download_job, "nanogpt_corpus": corpus_job,  # noqa: F821
                         "nanogpt_convert": convert_job, "nanogpt_synthetic": synthetic_job,
                         "nanogpt_train": train_job, "nanogpt_report": report_job})
