"""Our Lanczos against ARPACK on the v2 paper's float64 CPU rows, side by side in one run, and the performance
target: at every row, the paper's TRLan err₁ with no more products than the paper's TRLan, and at least ARPACK's
speed (the pipeline's table is workflow/scripts/topk_float64.py, whose functions these are).

    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    python benchmarks/bench_topk_float64.py --rows n500_k5 n500_k50 n5000_k5 --reps 5 \\
        --out benchmarks/topk_float64_cpu-x86_64-1thread.csv

One line per row: each method's cheapest setting reaching the paper's TRLan err₁ (our rtol, ARPACK's tol: the
loosest that does), its products, err₁, median time after a warm-up, ARPACK's time over ours, whether each
target is met, and the machine's load average around the timings and the thread count.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from topk_float64 import ROWS, lanczos_target, measure_row, pd  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=sorted(ROWS), default=sorted(ROWS))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="CSV to write")
    args = parser.parse_args(argv)
    frame = pd.concat([measure_row(*ROWS[row], ["lanczos", "arpack"], args.reps, args.seed) for row in args.rows])
    target = lanczos_target(frame)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    target.to_csv(args.out, index=False)
    print(target.to_string())


if __name__ == "__main__":
    main()
