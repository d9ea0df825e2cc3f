"""The paper authors' own runs as evidence (github alexlegeartis/Neon at 421ba1f; the numbers parsed from their
logs, never their code): for each claim of the register that names its runs (key ``authors``), what stands
behind the paper's number, and whether the number is what the runs show.

  gpt runs     one row per training log (``gpt_runs.csv``): the claim's filter (steps, optimizer, settings) picks
               its runs, each log once; the paper's number against them, to the digits it prints:
               "one run", "the best of n runs" (a selection: the best of n against another method's single run)
  grad norms   v2's "the gradient norms fall by at most an order of magnitude while train accuracy reaches 100%",
               on their CIFAR-10 logs without weight normalization: per optimizer, the mean of each total gradient
               norm over the first ``window`` logged steps over its mean over the last ``window``, and the best
               train accuracy

Every file is read only if its sha256 is the one pinned in the config (``gpt_runs.csv``, derived) or listed in
their ``SOURCES.csv`` (a byte copy of their file); anything else is refused, naming the file.
"""
import hashlib
import re
from pathlib import Path

import pandas as pd

from job import REPO, BadResult, provenance, run_rule, write_csv

EVIDENCE_COLUMNS = ["id", "authors", "verdict", "detail", "rule"]
NORMS = ["frobenius", "spectral", "nuclear"]


def checked_csv(path, sha256s):
    """The CSV at ``path`` if its sha256 is one of ``sha256s``, else BadResult naming the file and the digests."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest not in sha256s:
        raise BadResult(path, f"its sha256 {digest[:12]}… is not the authors' ({', '.join(s[:12] for s in sha256s)}…): "
                              "a changed or corrupted copy")
    return pd.read_csv(path)


def source_sha256s(folder):
    """{file name: sha256} of the authors' files as their repository holds them (SOURCES.csv)."""
    sources = pd.read_csv(Path(folder) / "SOURCES.csv")
    return dict(zip(sources["path"].map(lambda p: Path(p).name), sources["sha256"]))


def settings_of(row):
    """A gpt_runs row's constructor settings, 'lr=0.05;sgd_coeff=0.5' → {'lr': 0.05, 'sgd_coeff': 0.5}."""
    pairs = [item.split("=", 1) for item in str(row).split(";") if "=" in item] if isinstance(row, str) else []
    return {key: float(value) if re.fullmatch(r"-?[\d.]+(e-?\d+)?", value) else value for key, value in pairs}


def select_runs(runs, want):
    """The completed runs (each log once, by file name) that match the filter ``want``: steps, optimizer (a list),
    name (a regex on the log's file name) and any constructor setting by its name."""
    runs = runs.assign(name=runs["log"].map(lambda p: Path(p).name)).drop_duplicates("name")
    runs = runs[runs["last_step"] == runs["steps_planned"]]
    keep = pd.Series(True, index=runs.index)
    for key, value in want.items():
        if key == "steps":
            keep &= runs["steps_planned"] == value
        elif key == "optimizer":
            keep &= runs["optimizer"].isin(value)
        elif key == "name":
            keep &= runs["name"].str.contains(value, regex=True)
        else:
            keep &= runs["settings"].map(lambda s: settings_of(s).get(key) == value)
    return runs[keep]


def printed(number):
    """(value, decimals) of a number as the paper prints it: '3.2818' → (3.2818, 4)."""
    text = re.search(r"-?\d+(\.\d+)?", number).group(0)
    return float(text), len(text.partition(".")[2])


def gpt_evidence(claim, runs):
    """(authors, verdict, detail, rule) for a claim whose number is one final validation loss."""
    chosen = select_runs(runs, claim["authors"])
    paper, digits = printed(str(claim["paper"]))
    if chosen.empty:
        return ("no log of theirs", "", f"none of their {runs['log'].map(lambda p: Path(p).name).nunique()} logs "
                f"matches {claim['authors']}", "")
    losses = chosen.sort_values("final_val_loss")["final_val_loss"].to_numpy()
    what = (f"one run, {losses[0]:g}" if len(losses) == 1 else
            f"the best of {len(losses)} runs ({losses[0]:g}–{losses[-1]:g})")
    rule = (f"reproduced if one of their runs' final losses, rounded to the paper's {digits} decimals, is the paper's "
            f"{paper:g}; else differs")
    if round(losses[0], digits) == paper:
        return what, "reproduced", f"it is their {'run' if len(losses) == 1 else 'best run'}", rule
    if any(round(loss, digits) == paper for loss in losses):
        return what, "reproduced", "it is one of their runs, not the best", rule
    return what, "differs", f"no run of theirs prints as {paper:g}", rule


def grad_norm_evidence(claim, logs, window):
    """(authors, verdict, detail, rule) of "the gradient norms fall by at most an order of magnitude while train accuracy
    reaches 100%": per optimizer, each total norm's fall (mean of the first ``window`` logged values over the mean
    of the last ``window``) at most 10, and the best train accuracy 100% to the log's resolution (one batch)."""
    from airbench_report import grad_norm_fall
    parts, falls, reached = [], [], []
    for optimizer, log in logs.items():
        summary = grad_norm_fall(log, window)
        fall = {norm: summary[f"fall_{norm}"] for norm in NORMS}
        falls += list(fall.values())
        reached.append(summary["best_train_acc"] >= 0.9995)
        parts.append(f"{optimizer} " + "/".join(f"{fall[n]:.1f}" for n in NORMS) + f"× ({100 * log['train_acc'].max():.2f}%)")
    ok = max(falls) <= 10 and all(reached)
    return (f"falls {min(falls):.1f}–{max(falls):.1f}× (Frobenius/spectral/nuclear): " + "; ".join(parts),
            "reproduced" if ok else "not reproduced", f"the largest fall {max(falls):.1f}×",
            f"reproduced if every total gradient norm's fall (the mean of the first {window} logged steps over the mean "
            f"of the last {window}) is at most 10× and train accuracy reaches ≥ 99.95%; else not reproduced")


def evidence_job(snakemake):
    settings = snakemake.params.settings["authors_runs"]
    folder = Path(settings["dir"]) if Path(settings["dir"]).is_absolute() else REPO / settings["dir"]
    rows = []
    if not folder.is_dir():
        rows = [{"id": claim["id"], "authors": "", "verdict": "", "rule": "",
                 "detail": f"the authors' data not found at {settings['dir']} (config key authors_runs.dir)"}
                for claim in snakemake.params.settings["claims"] if "authors" in claim]
    else:
        runs = checked_csv(folder / settings["gpt_runs"]["file"], {settings["gpt_runs"]["sha256"]})
        sources = source_sha256s(folder)
        logs = {optimizer: checked_csv(folder / "cifar_grad_norms" / name, {sources.get(name, "")})
                for optimizer, name in settings["grad_norms"]["files"].items()}
        for claim in snakemake.params.settings["claims"]:
            if claim.get("authors") == "grad_norms":
                rows.append(dict(zip(EVIDENCE_COLUMNS, (claim["id"], *grad_norm_evidence(claim, logs, settings["grad_norms"]["window"])))))
            elif "authors" in claim:
                rows.append(dict(zip(EVIDENCE_COLUMNS, (claim["id"], *gpt_evidence(claim, runs)))))
    write_csv(pd.DataFrame(rows, columns=EVIDENCE_COLUMNS), snakemake.output[0], provenance(snakemake))


if __name__ == "__main__":
    run_rule(snakemake, {"authors_runs": evidence_job}, uses_torch=False)  # noqa: F821 (set by Snakemake)
