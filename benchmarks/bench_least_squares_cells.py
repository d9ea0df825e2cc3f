"""Full-scale (n = 500) least-squares cells on a CPU: per method the authors' three best cells of their grid, run
on our problem draw 0 by the experiment's own batched runner (workflow/scripts/least_squares_tuned.py), Newton–Schulz
in float32 (bfloat16 is ~20× slower on a CPU), to the authors' caps. A spot check of the full grid, not the grid.

    python benchmarks/bench_least_squares_cells.py --authors ../shared/data/authors \\
        --out benchmarks/least_squares_cells_cpu-x86_64-1thread.csv nsgd sign muon f-muon s-muon
"""
import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow/scripts"), str(REPO / "lib")]
import least_squares_tuned as lst  # noqa: E402
import yaml  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("methods", nargs="+")
parser.add_argument("--authors", default=str(REPO.parent / "shared/data/authors"))
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--cells", type=int, default=3)
parser.add_argument("--out", required=True)
args = parser.parse_args()
torch.set_num_threads(1)
section = yaml.safe_load((REPO / "config.yaml").read_text())["least_squares_tuned"]
theirs = lst.authors_grids(args.authors, section["authors"]["grids"], "SOURCES.csv")
M, N, S, X0 = lst.problem(section["size"], args.seed, section["init_std"], torch.float32)
rows = []
for method in args.methods:
    entry = section["tuned"][method]
    best = theirs[(theirs.method == method) & (theirs.iterations >= 0)].sort_values("iterations", kind="stable")
    best = best.head(args.cells)
    options = lst.method_options(entry["method"], section["lmo_options"], None)
    start = time.perf_counter()
    reached, last = lst.iterations_to_threshold(M, N, S, X0, entry["method"]["lmo"], options, list(best.lr),
                                                list(best.momentum), section["threshold"], section["check_every"],
                                                entry["max_iterations"])
    seconds = time.perf_counter() - start
    steps = int(reached.where(reached >= 0, torch.tensor(entry["max_iterations"])).sum())
    for cell, ours, loss in zip(best.itertuples(), reached.tolist(), last.tolist()):
        rows.append({"method": method, "lr": cell.lr, "momentum": cell.momentum, "theirs": cell.iterations,
                     "ours_seed": args.seed, "ours": ours, "last_loss": loss, "ms_per_cell_step": 1e3 * seconds / steps})
    print(pd.DataFrame(rows[-len(best):]).to_string(), flush=True)
pd.DataFrame(rows).to_csv(args.out, index=False)
