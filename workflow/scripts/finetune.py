"""Fine-tuning GPT-2 on TinyStories (the paper's fourth experiment): is F-Muon robust to the learning
rate, does S-Muon match Muon?

Every optimizer runs over a log-spaced grid of learning rates and seeds, one fixed token budget, from
the same starting model: GPT-2 (a Hugging Face checkpoint, gpt/checkpoint.py) or the model that a
NanoGPT pre-training run saved. The hidden matrices take the optimizer's step (fanions.Fanion, or
its AdamW for the AdamW baseline) at the run's learning rate; embeddings, positions, head, gains and
biases take Fanion's AdamW at one fixed rate in every run. The seed picks where in the training
tokens a run starts reading. The report measures, per optimizer, the best mean final validation
loss and its robustness width: the span, in decades of learning rate, of the grid points around
the best whose mean loss stays within `tolerance` (1%) of it.
"""
import itertools
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from job import BadResult, atomic_write, provenance, read_csv, read_json, run_rule, write_csv, write_json, write_tex
import stats
from report import data_mark, data_note, method_label, plural, save_figure, tex_label, tex_number, tex_table, tex_values
import fanions  # this commit's lib/fanions (job.py puts it first on the path)
from gpt.checkpoint import load_gpt2, load_model
from gpt.data import ShardLoader, generated_corpus, gpt2_encoding, hub_download, read_shard, write_shard
from gpt.model import EOT, hidden_matrix


# ---------------------------------------------------------------- data
def stories(path, limit=None):
    """The stories of a text file in TinyStories' format (each followed by <|endoftext|>), stripped, read
    as a stream; the first `limit` of them (None: all)."""
    count, story = 0, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            *ends, rest = line.split("<|endoftext|>")
            for end in ends:
                text = "".join([*story, end]).strip()
                story = []
                if text:
                    yield text
                    count += 1
                    if count == limit:
                        return
            story.append(rest)
    if "".join(story).strip() and count != limit:
        yield "".join(story).strip()


def tokenize(texts, encoding, max_tokens, threads=1, source="the text", batch=4096):
    """The stories as one token array: each is <|endoftext|> and its GPT-2 tokens, cut to max_tokens in all."""
    parts, cut = [], 0
    for chunk in iter(lambda: list(itertools.islice(texts, batch)), []):
        for ids in encoding.encode_ordinary_batch(chunk, num_threads=threads):
            cut += len(ids) + 1 > max_tokens
            parts.append(np.array([EOT, *ids[:max_tokens - 1]], dtype=np.uint16))
    if not parts:
        raise ValueError(f"{source}: no stories (text followed by <|endoftext|>)")
    print(f"{len(parts)} stories, {sum(map(len, parts))} tokens; {cut} cut to {max_tokens} tokens")
    return np.concatenate(parts)


def longest_document(tokens):
    """The most tokens from one <|endoftext|> to the next (or to the end)."""
    starts = np.flatnonzero(tokens == EOT)
    return int(np.diff(np.append(starts, len(tokens))).max(initial=0))


# ---------------------------------------------------------------- the run
def start_model(source, paths):
    """The starting model: GPT-2 from a checkpoint folder (hub, local), or a NanoGPT run's saved model."""
    if source == "nanogpt":
        return load_model(paths[0])
    return load_gpt2(Path(paths[0]).parent)


def warmup_cooldown(step, steps, warmup_steps, cooldown_steps):
    """Linear warm-up from 0, constant, linear to 0 over the last cooldown_steps."""
    return min(1.0, (step + 1) / warmup_steps, (steps - step) / cooldown_steps)


def build_optimizer(model, method, lr, train):
    """fanions.Fanion: the blocks' matrices by `method`'s LMO at lr (by its AdamW when method is None,
    the AdamW baseline); everything else by its AdamW at train.adam.lr, without weight decay."""
    hidden = {name for name, p in model.named_parameters() if name.startswith("blocks.") and p.ndim == 2}
    adam, method = train["adam"], dict(method or {})
    groups = [{"params": [p for name, p in model.named_parameters() if name in hidden], "use_lmo": bool(method),
               "lr": lr, "weight_decay": train["weight_decay"]},
              {"params": [p for name, p in model.named_parameters() if name not in hidden], "use_lmo": False,
               "lr": adam["lr"], "weight_decay": 0.0}]
    return fanions.Fanion(groups, lr=lr, lmo=method.pop("lmo", "muon"), momentum=train["momentum"], nesterov=True,
                          polar="newton-schulz", scale="muon", adam_betas=tuple(adam["betas"]), adam_eps=adam["eps"],
                          **method)


def checked_shards(train_file, val_file, train, model):
    """The token shards, refused (naming the file) when too short for a sequence and the validation set,
    or holding a story longer than the model's learned positions."""
    fix = "rebuild it with --forcerun finetune_tokenize"
    tokens = {path: read_shard(path) for path in (train_file, val_file)}
    if len(tokens[train_file]) < train["seq_len"] + 1:
        raise ValueError(f"{train_file}: {len(tokens[train_file])} tokens, fewer than one sequence of "
                         f"finetune.train.seq_len={train['seq_len']} + 1; {fix}")
    if len(tokens[val_file]) < train["val_tokens"] + 1:
        raise ValueError(f"{val_file}: {len(tokens[val_file])} tokens, fewer than finetune.train.val_tokens="
                         f"{train['val_tokens']} + 1; {fix}")
    if model.config.positions == "learned":
        for path, held in tokens.items():
            if longest_document(held) > model.config.block_size:
                raise ValueError(f"{path}: a story of {longest_document(held)} tokens, more than the model's "
                                 f"{model.config.block_size} positions (finetune.data.max_story_tokens); {fix}")
    return tokens[train_file]


def validate(model, val_file, train, window, device):
    """Mean loss over the first val_tokens tokens of the validation shard: the same tokens for every run."""
    loader = ShardLoader([val_file], train["seq_len"])
    count = train["val_tokens"] // train["seq_len"]
    with autocast(device):
        return sum(model(*loader.next_batch(device), window).item() for _ in range(count)) / count


def autocast(device):
    return torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def exploded(loss, start, factor):
    """A non-finite loss, or one above factor × the step-0 validation loss: the run has diverged."""
    return not math.isfinite(loss) or loss > factor * start


def run(settings, start_paths, train_file, val_file, device):
    """One fine-tuning run: (validation curve rows, summary, spectra rows). Stops at the first non-finite
    or exploding loss (above diverged_above × the step-0 validation loss) and records the step."""
    train = settings["train"]
    torch.manual_seed(settings["seed"])
    model = start_model(settings["model_source"], start_paths).to(device)
    tokens = checked_shards(train_file, val_file, train, model)
    name = train["spectra"]["parameter"]
    watched = {"embedding": model.embed.weight, name: hidden_matrix(model, name, "finetune.train.spectra.parameter")}
    optimizer = build_optimizer(model, settings["method"], settings["lr"], train)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    loader = ShardLoader([train_file], train["seq_len"])
    start = np.random.default_rng(settings["seed"]).integers(len(tokens) - train["seq_len"])
    loader.load_state_dict({"shard": 0, "position": int(start)})
    window = torch.tensor(settings["window"], device=device)
    rows, spectra, diverged_step, t0 = [], [], None, time.perf_counter()
    for step in range(train["steps"] + 1):
        if step % train["val_every"] == 0 or step == train["steps"]:
            rows.append({"step": step, "val_loss": validate(model, val_file, train, window, device)})
            print(f"step {step} val_loss {rows[-1]['val_loss']:.4f}", flush=True)
            if exploded(rows[-1]["val_loss"], rows[0]["val_loss"], train["diverged_above"]):
                diverged_step = step
                break
        if step == train["steps"]:
            break
        loss = 0.0
        for _ in range(train["batch_size"]):
            with autocast(device):
                micro = model(*loader.next_batch(device), window) / train["batch_size"]
            micro.backward()
            loss += micro.item()
        if exploded(loss, rows[0]["val_loss"], train["diverged_above"]):
            print(f"step {step + 1}: train loss {loss:.4g}, diverged")
            diverged_step = step + 1
            break
        if step + 1 in train["spectra"]["steps"]:
            for name, p in watched.items():
                sigma = torch.linalg.svdvals(p.grad.float()).cpu().numpy()
                spectra += [{"step": step + 1, "matrix": name, "index": i + 1, "sigma": s} for i, s in enumerate(sigma)]
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * warmup_cooldown(step, train["steps"], train["warmup_steps"], train["cooldown_steps"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    summary = {"final_val_loss": rows[-1]["val_loss"] if diverged_step is None else math.nan,
               "diverged": diverged_step is not None, "diverged_step": diverged_step,
               "seconds": time.perf_counter() - t0}
    return rows, summary, spectra


# ---------------------------------------------------------------- report
def load_runs(summaries):
    """One row per run: optimizer, lr, seed, final loss (NaN if diverged), the step it diverged at."""
    rows = []
    for path in summaries:
        record = read_json(path, ("final_val_loss", "diverged", "diverged_step", "provenance"), "finetune_run")
        settings = record["provenance"]["settings"]
        if not record["diverged"] and not math.isfinite(record["final_val_loss"]):
            raise BadResult(path, f"a run not marked diverged has loss {record['final_val_loss']}", "finetune_run")
        rows.append({"optimizer": settings["optimizer"], "lr": settings["lr"], "seed": settings["seed"],
                     **{key: record[key] for key in ("final_val_loss", "diverged", "diverged_step")}})
    return pd.DataFrame(rows)


def grid_summary(runs):
    """Per optimizer and lr: seeds, diverged runs, mean and std of the final loss (NaN if any seed diverged)."""
    return runs.groupby(["optimizer", "lr"]).agg(
        seeds=("seed", "size"), diverged=("diverged", "sum"),
        mean=("final_val_loss", lambda x: x.mean(skipna=False)),
        std=("final_val_loss", lambda x: x.std(skipna=False))).reset_index()


def robustness(grid, tolerance):
    """Per optimizer: its best lr and mean loss, and its robustness width: the decades of lr around the best
    over which the mean loss stays within tolerance of it, its edges interpolated between grid points
    (linear in log10 lr); 'censored' when the band reaches the grid's edge, so the width is a lower bound."""
    rows = []
    for name, points in grid.groupby("optimizer", sort=False):
        points = points.sort_values("lr").reset_index(drop=True)
        if points["mean"].isna().all():
            rows.append({"optimizer": name, "best_lr": math.nan, "best": math.nan, "best_std": math.nan,
                         "width": 0.0, "censored": False, "lo": math.nan, "hi": math.nan})
            continue
        x, y = np.log10(points["lr"].to_numpy()), points["mean"].to_numpy()
        best, left, right, censored = stats.robust_band(x, y, tolerance)
        rows.append({"optimizer": name, "best_lr": points["lr"][best], "best": y[best], "best_std": points["std"][best],
                     "width": right - left, "censored": censored, "lo": 10 ** left, "hi": 10 ** right})
    return pd.DataFrame(rows)


def width_interval(runs, optimizer, tolerance):
    """The 95% bootstrap interval of an optimizer's robustness width over seeds (``stats.robust_width_interval``)."""
    losses = runs[runs["optimizer"] == optimizer].pivot(index="seed", columns="lr", values="final_val_loss")
    return stats.robust_width_interval(np.log10(losses.columns.to_numpy(dtype=float)), losses.to_numpy(), tolerance)


def permutation_p(a, b):
    """Two-sided exact permutation test of equal means: the share of the splits of a ∪ b into groups of
    their sizes whose mean difference is at least the observed one (1/C(n, |a|) at the smallest)."""
    pooled, observed = np.concatenate([a, b]), abs(np.mean(a) - np.mean(b))
    splits = list(itertools.combinations(range(len(pooled)), len(a)))
    extreme = sum(abs(pooled[list(s)].mean() - np.delete(pooled, s).mean()) >= observed - 1e-12 for s in splits)
    return extreme / len(splits)


def label(optimizers, name):
    method = optimizers[name]["method"]
    return "AdamW" if method is None else method_label(method)


def table(best, grid, optimizers, note):
    rows = []
    for r in best.itertuples():
        diverged, runs = grid.loc[grid["optimizer"] == r.optimizer, ["diverged", "seeds"]].sum()
        loss = "--" if math.isnan(r.best) else f"${r.best:.4f}$" + ("" if math.isnan(r.best_std) else
                                                                     rf" $\pm$ ${r.best_std:.4f}$")
        width = ("$\\ge$ " if r.censored else "") + f"${r.width:.2f}$" + (
            f" [{r.width_low:.2f}, {r.width_high:.2f}]" if math.isfinite(r.width_low) else "")
        lr = "--" if math.isnan(r.best_lr) else tex_number(r.best_lr, 3)
        name = tex_label(label(optimizers, r.optimizer))
        rows.append([name, lr, loss, width, f"{diverged}/{runs}"])
    return tex_table("lrrrr", [r"optimizer & best lr & final val.\ loss at best lr & width (decades) [95\%] & diverged runs \\"],
                     rows, note)


def decades(row):
    """A robustness width for the text: 'at least' when the band reaches the grid's edge."""
    return f"{'at least ' if row.censored else ''}{row.width:.2f}"


def losses(runs, optimizer, lr):
    """The final losses of one optimizer at one lr, one per seed."""
    return runs[(runs["optimizer"] == optimizer) & (runs["lr"] == lr)]["final_val_loss"].to_numpy()


def claim(best, runs, baseline, tolerance):
    """The paper's claim, stated from the numbers: F-Muon's width against the baseline's, S-Muon's best
    against the baseline's with the permutation p over seeds; whichever way they come out."""
    rows = {r.optimizer: r for r in best.itertuples()}
    if baseline not in rows:
        return {"claim": f"The baseline {baseline} was not run in this build, so the claim is not measured."}
    base, out, sentences = rows[baseline], {}, []
    if "f-muon" in rows:
        f = rows["f-muon"]
        comparison = stats.width_comparison(f, base)
        verdict = (f"{comparison} than Muon's on this grid" if comparison else "not decided on this grid, whose edge "
                   f"cuts {'F-Muon' if f.width <= base.width else 'Muon'}'s band")  # the censored one
        sentences.append(f"F-Muon's robustness width (learning rates whose mean final validation loss is within "
                         f"{100 * tolerance:g}\\% of its best) is {decades(f)} decades against Muon's "
                         f"{decades(base)}: {verdict}")
        out["width_gap"] = f.width - base.width
    else:
        sentences.append("F-Muon was not run in this build")
    if "s-muon" in rows and not math.isnan(rows["s-muon"].best) and not math.isnan(base.best):
        s = rows["s-muon"]
        p = permutation_p(losses(runs, "s-muon", s.best_lr), losses(runs, baseline, base.best_lr))
        gap = s.best - base.best
        verdict = "matches" if abs(gap) <= tolerance * base.best else ("beats" if gap < 0 else "falls short of")
        sentences.append(f"S-Muon's best mean loss {s.best:.4f} is within {abs(gap):.4f} "
                         f"({100 * abs(gap) / base.best:.2f}\\%) of Muon's {base.best:.4f} (exact permutation test "
                         f"over seeds, $p = {p:.2g}$): it {verdict} Muon to {100 * tolerance:g}\\%")
        out |= {"smuon_gap": gap, "smuon_p": p}
    else:
        sentences.append("S-Muon diverged at every learning rate" if "s-muon" in rows else
                         "S-Muon was not run in this build")
    return out | {"claim": "; ".join(sentences) + "."}


DATA_NAMES = {"tinystories": "TinyStories (roneneldan/TinyStories), GPT-2 tokens",  # by config finetune.data.source
              "local": data_note("a local text corpus, not TinyStories"),
              "generated": data_note("a generated corpus of short stories, not TinyStories")}


def values(best, grid, runs, optimizers, settings, note):
    """\\val{finetune.*}: the data, budget, each optimizer's best lr, loss and width, and the claim sentence;
    on data other than TinyStories every number carries the note."""
    mark = lambda text: f"{text}{data_mark(not note)}"  # noqa: E731
    stated = claim(best, runs, settings["baseline"], settings["tolerance"])
    out = {"finetune.data": DATA_NAMES[settings["data_source"]], "finetune.model": settings["model_name"],
           "finetune.seeds": plural(len(settings["seeds"]), "seed"), "finetune.steps": settings["steps"],
           "finetune.tokens": tex_number(settings["tokens"], 3),
           "finetune.tolerance": f"{100 * settings['tolerance']:g}\\%",
           "finetune.grid": f"{grid.groupby('optimizer').size().max()}",
           "finetune.claim": mark(stated["claim"].removesuffix(".")) + "."}
    for r in best.itertuples():
        key = f"finetune.{r.optimizer}"
        out |= {f"{key}.best_lr": mark(tex_number(r.best_lr, 3)), f"{key}.best": mark(tex_number(r.best, 4)),
                f"{key}.width": mark(("$\\ge$ " if r.censored else "") + tex_number(r.width, 3))}
    if "smuon_p" in stated:
        out |= {"finetune.smuon.gap": mark(tex_number(stated["smuon_gap"], 3)),
                "finetune.smuon.p": mark(tex_number(stated["smuon_p"], 2))}
    return out


def figure_lr(grid, optimizers, note, pdf, png, prov):
    """(a) Final validation loss against the learning rate: mean over seeds, min–max band; × a diverged run."""
    import style
    fig, axes = style.figure(1, 1, height=2.8, width=0.8)
    ax, colors = axes[0, 0], style.colors([label(optimizers, name) for name in optimizers])
    top = grid["mean"].max(skipna=True)
    for name, points in grid.groupby("optimizer", sort=False):
        color = colors[label(optimizers, name)]
        ok = points[points["diverged"] == 0]
        ax.plot(ok["lr"], ok["mean"], "o-", color=color, label=label(optimizers, name), lw=1, ms=3)
        ax.fill_between(ok["lr"], ok["mean"] - ok["std"].fillna(0), ok["mean"] + ok["std"].fillna(0), color=color,
                        alpha=0.2, lw=0)
        bad = points[points["diverged"] > 0]
        ax.plot(bad["lr"], [top] * len(bad), "x", color=color, ms=5)
    ax.set(xscale="log", xlabel="learning rate (hidden matrices)", ylabel="final validation loss")
    ax.legend(fontsize="small")
    if note:
        style.note(fig, note)
    save_figure(fig, pdf, png, prov)


def figure_curves(curves, best, optimizers, note, pdf, png, prov):
    """(b) Validation loss against the step at each optimizer's best learning rate: mean over seeds, min–max."""
    import style
    fig, axes = style.figure(1, 1, height=2.8, width=0.8)
    ax, colors = axes[0, 0], style.colors([label(optimizers, name) for name in optimizers])
    for r in best.dropna(subset=["best_lr"]).itertuples():
        name = label(optimizers, r.optimizer)
        seeds = curves[(curves["optimizer"] == r.optimizer) & (curves["lr"] == r.best_lr)].groupby("step")[
            "val_loss"].agg(["mean", "min", "max"])
        ax.plot(seeds.index, seeds["mean"], color=colors[name], label=f"{name}, lr {r.best_lr:.3g}", lw=1)
        ax.fill_between(seeds.index, seeds["min"], seeds["max"], color=colors[name], alpha=0.2, lw=0)
    ax.set(xlabel="step", ylabel="validation loss")
    ax.legend(fontsize="small")
    if note:
        style.note(fig, note)
    save_figure(fig, pdf, png, prov)


def figure_spectra(spectra, best, optimizers, note, pdf, png, prov):
    """(c) Singular values of the embedding's and one hidden matrix's gradient at the recorded steps, in the
    first seed's run at each optimizer's best learning rate, log scale."""
    import matplotlib as mpl
    import style
    chosen = best.dropna(subset=["best_lr"])
    matrices = list(dict.fromkeys(spectra["matrix"]))
    fig, axes = style.figure(len(matrices), len(chosen), height=2.0 * len(matrices))
    steps = sorted(spectra["step"].unique())
    cmap = mpl.colormaps["viridis"]
    for col, r in enumerate(chosen.itertuples()):
        mine = spectra[(spectra["optimizer"] == r.optimizer) & (spectra["lr"] == r.best_lr)]
        mine = mine[mine["seed"] == mine["seed"].min()]
        for row, matrix in enumerate(matrices):
            ax = axes[row, col]
            for i, step in enumerate(steps):
                s = mine[(mine["matrix"] == matrix) & (mine["step"] == step)]
                s = s[s["sigma"] > 1e-6 * s["sigma"].max()]  # below: float32 rounding of a rank-deficient gradient
                ax.plot(s["index"], s["sigma"], color=cmap(i / max(len(steps) - 1, 1)), lw=0.8, label=f"step {step}")
            ax.set(yscale="log", xscale="log", title=f"{label(optimizers, r.optimizer)}: {matrix}")
            ax.title.set_fontsize("small")
    axes[0, 0].legend(fontsize="small")
    for ax in axes[-1]:
        ax.set_xlabel("index i")
    for ax in axes[:, 0]:
        ax.set_ylabel(r"$\sigma_i$ of the gradient")
    if note:
        style.note(fig, note)
    save_figure(fig, pdf, png, prov)


def read_checked(path, columns, finite, rows=True):
    """A run's CSV as common.read_csv checks it (row count, sha256, scale, these columns, the finite ones), and
    at least one row if rows."""
    frame = read_csv(path, columns, finite)
    if rows and frame.empty:
        raise BadResult(path, "it holds no rows", "finetune_run")
    return frame


def report_job(snakemake):
    settings, out, inp = snakemake.params.settings, snakemake.output, snakemake.input
    prov = provenance(snakemake)
    optimizers = settings["optimizers"]
    runs = load_runs(inp.summaries)
    tags = runs[["optimizer", "lr", "seed"]].to_dict("records")
    curves = pd.concat([read_checked(path, ["step", "val_loss"], ["val_loss"]).assign(**tag) for path, tag in zip(inp.curves, tags)])
    spectra = pd.concat([read_checked(path, ["step", "matrix", "index", "sigma"], ["sigma"], rows=False).assign(**tag)
                         for path, tag in zip(inp.spectra, tags)])  # empty when a run diverged before
    grid = grid_summary(runs)
    best = robustness(grid, settings["tolerance"])
    intervals = [width_interval(runs, name, settings["tolerance"]) for name in best["optimizer"]]
    best["width_low"], best["width_high"] = [i[0] for i in intervals], [i[1] for i in intervals]
    note = "" if settings["data_source"] == "tinystories" else DATA_NAMES[settings["data_source"]]
    write_csv(grid.merge(best, on="optimizer"), out.summary, prov)
    write_tex(table(best, grid, optimizers, note), out.table, prov)
    write_tex(tex_values(values(best, grid, runs, optimizers, settings, note)), out.values, prov)
    figure_lr(grid, optimizers, note, out.lr_pdf, out.lr_png, prov)
    figure_curves(curves, best, optimizers, note, out.curves_pdf, out.curves_png, prov)
    figure_spectra(spectra, best, optimizers, note, out.spectra_pdf, out.spectra_png, prov)


# ---------------------------------------------------------------- Snakemake entry
def download_job(snakemake):
    settings, path = snakemake.params.settings, snakemake.output[0]
    hub_download(settings["repo"], Path(path).name, path, settings["sha256"], settings["repo_type"], settings["revision"])


def corpus_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    for path, count, seed in ((out.train, settings["train_stories"], settings["seed"]),
                              (out.val, settings["val_stories"], settings["seed"] + 1)):
        with atomic_write(path) as f:
            f.write(generated_corpus(count, seed))


def tokenize_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    encoding = gpt2_encoding(settings["tiktoken_cache"])
    for text, shard, limit in ((snakemake.input.train, out.train, settings["train_stories"]),
                               (snakemake.input.val, out.val, settings["val_stories"])):
        write_shard(shard, tokenize(stories(text, limit), encoding, settings["max_story_tokens"], snakemake.threads,
                                    text))


def run_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    device = torch.device("cuda" if settings["device"] == "auto" and torch.cuda.is_available() else
                          "cpu" if settings["device"] == "auto" else settings["device"])
    rows, summary, spectra = run(settings, list(snakemake.input.model), snakemake.input.train, snakemake.input.val,
                                 device)
    prov = provenance(snakemake, device)
    write_csv(pd.DataFrame(rows), out.curve, prov)
    write_csv(pd.DataFrame(spectra, columns=["step", "matrix", "index", "sigma"]), out.spectra, prov)
    write_json({**summary, "provenance": prov}, out.summary)


if __name__ == "__main__":
    run_rule(snakemake, {"finetune_download_model": download_job, "finetune_download_data": download_job,  # noqa: F821
                         "finetune_corpus": corpus_job, "finetune_tokenize": tokenize_job, "finetune_run": run_job,
                         "finetune_report": report_job})
