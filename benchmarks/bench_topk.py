"""Command-line top-k benchmarks, beside the CSVs they write (the pipeline's Table 2 jobs are in
workflow/scripts/topk_timing.py, whose functions these reuse).

    python benchmarks/bench_topk.py --device cpu --size 2000 --ks 1 10 50 --out benchmarks/topk_table_cpu.csv
    python benchmarks/bench_topk.py --device cuda --out benchmarks/topk_table_h100.csv          # Table 2, with cupy
    python benchmarks/bench_topk.py --stacks --device cuda --out benchmarks/topk_stacks_h100.csv  # Neon/Fanion vs Muon step
    python benchmarks/bench_topk.py --products --device cpu --size 2000 --out benchmarks/products_cpu.csv
    python benchmarks/bench_topk.py --warm-start results/nanogpt/runs/.../seed0_momentum.pt --out warm.csv
    python benchmarks/bench_topk.py --bound-trace --device cpu --size 2000 --ks 1 10 50 --out bound_trace_cpu.csv

Table: see topk_timing.py. Stacks: one ``fanions.Fanion`` step on GPT-2-small and airbench layer
stacks, Neon and k-Fanions (batched, warm-started Lanczos) beside Muon (Newton–Schulz), in one run.
Products: the cost of one product M X by its number of columns, torch and numpy side by side.
"""
import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from topk_timing import device_name, exact_factor, fanions, load_momenta, pd, relative_error, repeated_time  # noqa: E402
from topk_timing import sample_matrix, table, timed, torch, warm_start, warm_start_summary  # noqa: E402


def median_time(fn, device, reps):
    """Median of ``timed`` over reps calls after one warm-up call."""
    return repeated_time(fn, device, reps)["time_ms"]


def products(size, device, reps, seed=0):
    """Milliseconds of one product M X, M size×size float32, X with 1 to 64 columns: torch as our solver
    computes it, and on a CPU numpy's BLAS too (what scipy's ARPACK and PROPACK call)."""
    M = sample_matrix("gaussian", size, seed, device)
    rows = []
    for columns in (1, 2, 4, 8, 16, 32, 64):
        X = torch.randn(size, columns, device=device)
        runs = {"torch": lambda: (X.mT.contiguous() @ M.mT).mT}  # as fanions.topk computes M X
        if device == "cpu":
            A, Xn = M.numpy(), X.numpy()
            runs["numpy"] = lambda: A @ Xn
        for library, run in runs.items():
            rows.append({"library": library, "columns": columns, "size": size,
                         "ms": median_time(run, device, reps), "device": device_name(device)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# stacks: the optimizer step on real layer shapes

STACKS = {  # name -> [(count, rows, cols)]
    "gpt2-small": [(48, 768, 768), (12, 768, 3072), (12, 3072, 768)],
    "airbench": [(1, 64, 216), (1, 64, 576), (1, 256, 576), (3, 256, 2304)],
}


def gradient_like(count, m, n, generator, device, decay=1.0):
    """Matrices with a decaying spectrum σᵢ = i^−decay, like a layer's momentum."""
    r = min(m, n)
    U = torch.linalg.qr(torch.randn(count, m, r, generator=generator, device=device)).Q
    V = torch.linalg.qr(torch.randn(count, n, r, generator=generator, device=device)).Q
    s = torch.arange(1, r + 1, device=device, dtype=torch.float32) ** -decay
    return (U * s.unsqueeze(-2)) @ V.mT


def stacks(stack_names, lmos, steps, warmup, device, seed=0, noise=0.1):
    """Median ms of one Fanion step per (stack, LMO); each step's gradient is a fixed gradient-like
    matrix plus fresh noise, so the momentum drifts as in training. The factor error is measured
    on the last step's momentum against an exact SVD."""
    rows, mu = [], 0.95
    g = torch.Generator(device=device).manual_seed(seed)

    def noisy(target):
        """target plus Gaussian noise of RMS ``noise`` × the target's RMS."""
        scale = noise * target.norm() / math.sqrt(target.numel())
        return target + scale * torch.randn(target.shape, generator=g, device=device)

    for stack in stack_names:
        bases = [gradient_like(c, m, n, g, device) for c, m, n in STACKS[stack]]
        for spec in lmos:
            params = [torch.nn.Parameter(torch.zeros_like(b)) for base in bases for b in base]
            targets = [b for base in bases for b in base]
            options = {key: value for key, value in spec.items() if key != "lmo"}
            opt = fanions.Fanion(params, lr=0.0, lmo=spec["lmo"], momentum=mu, **options)
            times = []
            for step in range(warmup + steps):
                for p, target in zip(params, targets):
                    p.grad = noisy(target)
                if step < warmup:
                    opt.step()
                else:
                    times.append(timed(opt.step, device))
            k = spec.get("k", 1 if spec["lmo"] == "neon" else None)
            error, warm_cost, cold_cost = math.nan, math.nan, math.nan
            if k is not None:  # one more step's momentum of the first matrix, solved cold and warm
                p, target = params[0], targets[0]
                G = noisy(target)
                M = G.lerp(opt.state[p]["momentum_buffer"].lerp(G, 1 - mu), mu)  # Nesterov, as the step
                warm = fanions.WarmStart(opt.state[p]["subspace"])
                P = fanions.lmo(M, "fanion", k=k, backend=options.get("backend", "lanczos"),
                                rtol=options.get("rtol", 1e-2), warm=warm)
                error = relative_error(P, exact_factor(M, k)[0])
                warm_cost = warm.matvecs
                cold_cost = fanions.topk(M, k, "lanczos", rtol=options.get("rtol", 1e-2)).matvecs
            rows.append(dict(stack=stack, lmo=spec["lmo"], k=k, step_ms=statistics.median(times), factor_error=error,
                             matvecs_warm=warm_cost, matvecs_cold=cold_cost, device=device_name(device)))
            print(rows[-1])
    frame = pd.DataFrame(rows)
    muon = frame[frame.lmo == "muon"].set_index("stack").step_ms
    frame["ratio_to_muon"] = frame.step_ms / frame["stack"].map(muon)
    return frame


def bound_trace(matrices, size, ks, rtol, device, seed=0):
    """How far above the error our stopping bound is, and what that costs: Lanczos stopped at growing budgets of
    products (``max_matvecs``, rtol 1e-12 so that only the budget stops it) reports its bound, beside the factor
    error its answer has then. Per (matrix, k), the products at which the error first falls below rtol (an oracle
    stop) and at which the bound does (our stop) come out of the rows."""
    rows = []
    for kind in matrices:
        M = sample_matrix(kind, size, seed, device)
        for k in ks:
            P_k = exact_factor(M, k)[0]
            cold = fanions.topk(M, k, "lanczos", rtol=rtol)
            for budget in range(2 * k + 2, int(1.2 * cold.matvecs) + 1, 2 * k + 2):  # a block of k + 1 or more
                if rows and rows[-1]["k"] == k and rows[-1]["matrix"] == kind and rows[-1]["matvecs"] >= budget:
                    continue  # the last run stopped at its first check past this budget: the same answer
                r = fanions.topk(M, k, "lanczos", rtol=1e-12, max_matvecs=budget)
                rows.append(dict(matrix=kind, k=k, budget=budget, matvecs=r.matvecs, bound=r.error,
                                 error=relative_error(r.U @ r.V.mT, P_k), rtol=rtol, stop_matvecs=cold.matvecs,
                                 device=device_name(device)))
            print(rows[-1])
    return pd.DataFrame(rows)


def oracle_summary(frame):
    """Per (matrix, k): products at our stop, at the first budget whose error is ≤ rtol (an oracle's stop) and
    whose bound is; the bound over the error (its range over the budgets up to our stop where the bound is
    finite: past it the error of a float32 answer meets its rounding floor, which only the confirmation sees)."""
    def first(rows, column):
        reached = rows[rows[column] <= rows.rtol]
        return reached.matvecs.min() if len(reached) else math.nan
    out = []
    for (kind, k), rows in frame.groupby(["matrix", "k"], sort=False):
        ratio = (rows.bound / rows.error)[(rows.bound < math.inf) & (rows.matvecs <= rows.stop_matvecs)]
        out.append(dict(matrix=kind, k=k, ours=rows.stop_matvecs.iloc[0], oracle=first(rows, "error"),
                        bound=first(rows, "bound"), ratio_low=ratio.min(), ratio_high=ratio.max()))
    return pd.DataFrame(out)


STACK_LMOS = [
    {"lmo": "muon", "polar": "newton-schulz"},
    {"lmo": "neon", "backend": "lanczos", "rtol": 1e-2},
    {"lmo": "fanion", "k": 8, "backend": "lanczos", "rtol": 1e-2},
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", required=True, help="CSV to write")
    parser.add_argument("--stacks", action="store_true", help="the optimizer step on layer stacks")
    parser.add_argument("--products", action="store_true", help="the cost of one product M X by columns")
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rtol", type=float, default=1e-2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--matrices", nargs="+", default=["gaussian", "decaying"])
    parser.add_argument("--methods", nargs="+", default=["lanczos", "power", "rsvd", "svd", "arpack", "propack",
                                                          "cupy", "newton-schulz", "polar-express"])
    parser.add_argument("--momentum", help="momenta saved by train_gpt.py (.pt), for the 'momentum' matrix kind")
    parser.add_argument("--warm-start", metavar="MOMENTA", help="the warm-start study on these saved momenta")
    parser.add_argument("--steps", type=int, default=20, help="stacks: timed optimizer steps")
    parser.add_argument("--bound-trace", action="store_true", help="our stopping bound beside the error, by budget")
    args = parser.parse_args(argv)
    if args.bound_trace:
        frame = bound_trace(args.matrices, args.size, args.ks, args.rtol, args.device)
        print(oracle_summary(frame).to_string())
    elif args.stacks:
        frame = stacks(list(STACKS), STACK_LMOS, args.steps, 5, args.device)
    elif args.products:
        frame = products(args.size, args.device, args.reps)
    elif args.warm_start:
        frame = warm_start(load_momenta(args.warm_start, args.device)["momenta"], args.ks, args.rtol)
        print(warm_start_summary(frame).to_string())
    else:
        frame = table(args.matrices, args.size, args.ks, args.rtol, args.methods, args.reps, args.device,
                      momentum=args.momentum)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(frame.to_string())




if __name__ == "__main__":
    main()
