"""The reproduction report: every checkable statement of the paper (workflow/claims.yaml) beside what the
pipeline measured, with a computed verdict.

    reproduced                 the measurement agrees with the paper (an equivalence test, an interval, a tolerance)
    differs                    it disagrees, by how much (and why, where known)
    not reproduced             a qualitative claim that the measurement contradicts
    not checked at this scale  the experiment ran on other data or hardware than the claim needs, or not at
                               all (what it needs)
    paper error                the paper's number contradicts its own formula or a result it cites; both are shown
    superseded                 an early draft's claim that the paper as last published (v2) replaced: which
                               claim replaced it and how (our measurement, if any, beside it)

One function per experiment reads that experiment's outputs and returns {claim id: (ours, verdict, detail)};
the register says where the paper makes each claim, in which words, and what a full-scale check needs. A
claim whose experiment was not built, or that its function does not answer, is "not checked at this scale".
"""
import re
from pathlib import Path

import pandas as pd

import stats
from job import REPO, atomic_write, provenance, read_csv, read_provenance, run_rule, write_csv, write_tex
from report import tex_table, tex_values

NOT_CHECKED = "not checked at this scale"
VERDICTS = ("reproduced", "differs", "not reproduced", NOT_CHECKED, "paper error", "superseded")


def pm(estimate, digits=2):
    """'94.01 ± 0.05 (95% t, n = 10)' for a stats.Estimate."""
    return f"{estimate.mean:.{digits}f} ± {(estimate.high - estimate.low) / 2:.{digits}f} (95% t, n = {estimate.n})"


def agreement(ours, paper, rtol):
    """(verdict, detail) of a number against the paper's: reproduced within ``rtol``, else differs by how much."""
    gap = ours / paper - 1
    return ("reproduced" if abs(gap) <= rtol else "differs"), f"{100 * gap:+.1f}% from the paper's {paper:g}"


def erratum(stated, follows, paper, rtol, why):
    """(verdict, detail) of a paper's number against its own formula (``stated``): reproduced where they agree;
    a paper error where they do not and the number ``follows`` from another formula; else differs."""
    if abs(stated / paper - 1) <= rtol:
        return agreement(stated, paper, rtol)
    return ("paper error" if abs(follows / paper - 1) <= rtol else "differs"), why


# ---------------------------------------------------------------- per experiment
def least_squares_verdicts(errata, tests, settings):
    """§6.1, from the errata the least-squares table rule computes: the paper's L, η and K against its own
    formulas evaluated on our problems (at each size), its theory target at its own η and K, and Neon's lead."""
    from least_squares import PAPER, PAPER_SIZE, STATED_SIZE
    at = errata.set_index(["size", "method", "quantity"])["value"]
    sizes = sorted(errata["size"].unique())
    n = PAPER_SIZE if PAPER_SIZE in sizes else sizes[-1]
    rtol = tests["ls.L.muon"]["rtol"]
    out = {}
    for lmo in ("neon", "nsgd"):
        out[f"ls.L.{lmo}"] = (f"L = {at[n, lmo, 'L_stated']:.1f} (n = {n})",
                              *agreement(at[n, lmo, "L_stated"], PAPER[lmo]["L"], tests[f"ls.L.{lmo}"]["rtol"]))
    gaps = {size: max(abs(at[size, lmo, "L_stated"] / PAPER[lmo]["L"] - 1) for lmo in ("neon", "nsgd")) for size in sizes}
    fits = [size for size, gap in gaps.items() if gap <= tests["ls.size"]["rtol"]]
    out["ls.size"] = (f"agrees at n = {', '.join(map(str, fits)) or 'none'}",
                      "paper error" if fits and STATED_SIZE not in fits else "reproduced" if STATED_SIZE in fits
                      else "differs",
                      "Neon's and NSGD's L by the paper's formulas, " + ", ".join(
                          f"n = {size}: within {100 * gap:.0f}%" for size, gap in gaps.items()))
    paper_L, stated, sqrt_n, rule = (PAPER["muon"]["L"], *(at[n, "muon", q] for q in ("L_stated", "L_sqrt_n", "L_rule")))
    out["ls.L.muon"] = (f"(2/n): {stated:.1f}, (2/√n): {sqrt_n:.1f}", *erratum(
        stated, sqrt_n, paper_L, rtol, f"the paper's {paper_L:g} follows from (2/√n)‖M‖_nuc‖N‖_nuc "
        f"({100 * (sqrt_n / paper_L - 1):+.0f}%), not from its stated (2/n)‖M‖_nuc‖N‖_nuc ({100 * (stated / paper_L - 1):+.0f}%)"))
    out["ls.L.rule"] = (f"Muon: {rule:.1f}", *erratum(
        rule, sqrt_n, paper_L, rtol, f"γ = 2/√n gives (4/n)‖M‖_nuc‖N‖_nuc = {rule:.1f}: neither the stated formula "
        f"({stated:.1f}) nor the paper's {paper_L:g}"))
    products = [at[n, lmo, "lr_times_eps_L"] for lmo in ("muon", "neon", "nsgd")]
    inverse = all(abs(p - 1) <= tests["ls.lr"]["rtol"] for p in products)
    out["ls.lr"] = ("η·ε·L = " + ", ".join(f"{p:.3f}" for p in products), "paper error" if inverse else "differs",
                    "η = 1/(εL), not the stated ε/L" if inverse else "η is neither ε/L nor 1/(εL)")
    implied = [at[n, lmo, "delta0_implied"] for lmo in ("muon", "neon", "nsgd")]
    one = max(implied) / min(implied) - 1 <= tests["ls.K"]["rtol"]
    out["ls.K"] = (f"Δ₀ = {min(implied):.0f}–{max(implied):.0f}", "reproduced" if one else "differs",
                   f"the three K give one Δ₀ = Kε²/L; our problems' Δ₀ = {at[n, 'problem', 'delta0']:.0f}")
    if (n, "muon", "paper_run_mean_grad_dual") in at:
        misses = [lmo for lmo in ("muon", "nsgd") if at[n, lmo, "paper_run_mean_grad_dual"] > at[n, lmo, "paper_run_target"]]
        out["ls.target"] = ("missed by " + (", ".join(misses) or "none"), "not reproduced" if misses else "reproduced",
                            "the paper's η and K run on our problems: mean ‖∇F‖† against 3ε/2")
    dual, window, op = (at[n, "neon", q] for q in ("lead_dual", "lead_dual_window", "lead_op"))
    out["ls.neon_grad"] = (f"own dual norm {100 * dual:.0f}% (first {100 * window:.0f}%), ‖·‖_op {100 * op:.0f}%",
                           "reproduced" if op >= tests["ls.neon_grad"]["share"] else "not reproduced",
                           "the share of iterations at which Neon's gradient norm is the smallest of all methods")
    return out


def least_squares_tuned_verdicts(tuned, tests, settings):
    """v2 §6.1, from the tuned table at the paper's size (500; a smaller problem is a plumbing check): each method's
    row (its iterations to the threshold within rtol of the paper's and its lr within lr_rtol; the momentum, flat at
    the optimum, is shown), and the claim that F- and S-Muon beat NSGD, Muon and SignSGD in speed, loss and ‖∇F‖_F."""
    from least_squares_tuned import PAPER, PAPER_SIZE, claim_holds
    if tuned.empty or int(tuned["size"].iloc[0]) != PAPER_SIZE:
        return {}
    rows, out = tuned.set_index("method"), {}
    for method, (lr, momentum, iterations) in PAPER.items():
        claim = f"lst.tuned.{method}"
        if method not in rows.index or claim not in tests:
            continue
        r, test = rows.loc[method], tests[claim]
        ours = f"lr {r.lr:g}, momentum {r.momentum:g}, " + (f"{r.iterations:.0f} iterations" if r.reached == r.seeds
                                                           else f"reached on {r.reached:.0f} of {r.seeds:.0f} draws")
        if r.reached < r.seeds:
            out[claim] = (ours, "differs", "not reached on every problem draw within the cap")
            continue
        gap, lr_gap = r.iterations / iterations - 1, r.lr / lr - 1
        same = abs(gap) <= test["rtol"] and abs(lr_gap) <= test.get("lr_rtol", 0.15)
        out[claim] = (ours, "reproduced" if same else "differs",
                      f"iterations {100 * gap:+.0f}%, lr {100 * lr_gap:+.0f}% from the paper's, momentum {r.momentum:g} "
                      f"against {momentum:g} (mean over {r.seeds:.0f} draws)")
    if "lst.claim" in tests and set(PAPER) <= set(rows.index):
        summary = rows.assign(iterations=rows["iterations"].where(rows["reached"] == rows["seeds"]))
        holds = claim_holds(summary[["iterations", "loss", "grad_fro"]])
        out["lst.claim"] = (", ".join(f"{aspect}: {'yes' if ok else 'no'}" for aspect, ok in holds.items()),
                            "reproduced" if all(holds.values()) else "not reproduced",
                            "F- and S-Muon against each of NSGD, Muon and SignSGD at their tuned settings: iterations "
                            "to the threshold, final loss and final ‖∇F‖_F of the traced runs")
    return out


def asymptotics_verdicts(limits, tests, settings):
    """§5, for square Gaussian matrices: each ratio at the largest n against the paper's constant and the true
    Marchenko–Pastur limit: reproduced where it is the paper's, paper error where it is the other (the
    extrapolation n → ∞ beside it; it is noisier than the largest n with few seeds)."""
    square = limits[limits["aspect"] == 1].set_index("quantity")
    out = {}
    for claim, quantity in (("asym.nuclear", "nuclear"), ("asym.frobenius", "frobenius"), ("asym.spectral", "spectral"),
                            ("asym.nuc_op", "nuclear_over_spectral"), ("asym.fro_op", "frobenius_over_spectral")):
        r, rtol = square.loc[quantity], tests[claim]["rtol"]
        ours = f"{r.measured:.4f} at n = {r.n:.0f} ({r.extrapolated:.4f} extrapolated)"
        if abs(r.measured / r.paper - 1) <= rtol:
            out[claim] = (ours, "reproduced", f"the paper's {r.paper:g}")
        elif abs(r.measured / r.true - 1) <= rtol:
            out[claim] = (ours, "paper error", f"the limit is {r.true:.4f} (Marchenko–Pastur), not the paper's {r.paper:g}")
        else:
            out[claim] = (ours, "differs", f"neither the paper's {r.paper:g} nor the limit {r.true:.4f}")
    return out


def norm_ball_verdicts(checks, tests, settings):
    """Appendix C and Table 1, from norm_ball_checks: which ball F-Muon's LMO points lie on, the ℓ₁ radius of
    the Ky Fan dual ball, and every LMO attaining its dual norm."""
    value = checks.groupby("check")["value"].max()
    lemma, text, radius = value["fmuon_ball_lemma"], value["fmuon_ball_text"], value["ky_fan_dual_l1_radius"]
    ball = ("paper error" if lemma < 1e-6 < text else "differs",
            f"F-Muon's LMO points are {lemma:.1e} from the boundary of α·B_op + (1−α)·B_F (the Lemma; drawn in "
            f"the figure) and up to {text:.2f} from that of α·B_nuc + (1−α)·B_F (the text)")
    l1 = ("paper error" if radius != 0.5 else "reproduced",
          f"the dual ball is the ℓ∞ ball cut by ‖x‖₁ ≤ {radius:g}: an ℓ₁ bound of radius {radius:g}, not ½")
    rows = value[value.index.str.startswith("table1_p")]
    tolerance = 64 * 2.0**-52 * 12  # 64ε·max(m, n): the SVD's backward error on the 12×8 float64 check matrix
    worst, gap = rows.max(), value["lmo_dual_gap"]
    table = ("reproduced" if worst <= tolerance and gap <= tolerance else "differs",
             f"rule: each of the {len(rows)} rows' two LMOs (registry) within 64ε·max(m, n) = {tolerance:.1e} of the "
             f"paper's formula, entrywise (float64). Measured: {worst:.1e}; every registered LMO attains its dual "
             f"norm to {gap:.1e}")
    return {"appc.fmuon_ball": ("α·B_op + (1−α)·B_F", *ball), "appc.l1_radius": (f"radius {radius:g}", *l1),
            "table1.registry": (f"{int(value['lmo_count'])} LMOs", *table)}


def airbench_verdicts(runs, tests, settings):
    """§6.2 on the runs of the airbench experiments (CIFAR-10 only): each method's mean with its t interval against
    the paper's 200-run figure (TOST within the claim's margin; Welch beside it), and the two α-sweep statements."""
    from airbench_report import PAPER
    if set(runs["data"]) != {"cifar10"}:
        return {}
    runs = runs[~runs["diverged"]].assign(accuracy=100 * runs["accuracy"])
    out = {}
    for method, claim in (("muon", "ab.muon"), ("f-muon", "ab.fmuon"), ("s-muon", "ab.smuon")):
        ours = runs[(runs.experiment == "table") & (runs.method == method)]["accuracy"].to_numpy()
        paper = stats.Moments(*PAPER[method]["v2"], 200)
        margin = tests[claim]["margin"]
        equivalent, different = stats.tost_p(ours, paper, margin), stats.welch_p(ours, paper)
        verdict = "reproduced" if equivalent < 0.05 else "differs"
        out[claim] = (pm(stats.mean_ci(ours)), verdict,
                      f"TOST p = {equivalent:.2g} (±{margin:g} points), Welch p = {different:.2g}")
    sweep = runs[runs.experiment == "alpha_tuned"].groupby("method")["accuracy"]
    nsgd, alpha01, muon = (sweep.get_group(f"f-muon_alpha{a}").to_numpy() for a in ("0", "0.1", "1"))
    higher = alpha01.mean() - nsgd.mean()
    out["ab.alpha01"] = (f"{higher:+.2f} points", "reproduced" if higher > tests["ab.alpha01"]["points"]
                         and stats.welch_p(alpha01, nsgd) < 0.05
                         else "not reproduced", f"α = 0.1 against α = 0 (NSGD), Welch p = {stats.welch_p(alpha01, nsgd):.2g}")
    above = [sweep.get_group(m).to_numpy() for m in sweep.groups if m.startswith("f-muon_alpha1.")]
    worst, margin = min(above, key=lambda x: x.mean()), tests["ab.alpha_gt1"]["margin"]
    p = stats.tost_p(worst, muon, margin)
    out["ab.alpha_gt1"] = (f"{worst.mean() - muon.mean():+.2f} points", "reproduced" if p < 0.05 else "differs",
                           f"the lowest α > 1 against α = 1, TOST p = {p:.2g} (±{margin:g} points)")
    return out


def nanogpt_verdicts(summary, tests, settings):
    """§6.3: each run's mean final loss with its t interval against the paper's number (on FineWeb only), and
    the seeds a difference of the paper's size needs at the record's seed-to-seed spread, whatever the scale."""
    from nanogpt import PAPER, RECORD
    spread, seeds, difference = RECORD[1], int(summary["seeds"].max()), tests["ng.muon"]["difference"]
    needed = stats.seeds_needed(difference, spread)
    resolves = (f"{seeds} seeds per arm resolve {stats.detectable(spread, seeds):.4f} and more" if seeds > 1
                else "one seed per arm resolves nothing")
    power = (f"a {difference:g} difference needs {needed} seeds per arm for 80% power at the record's spread "
             f"σ = {spread}; {resolves}")
    paper_data = set(summary["source"]) <= {"fineweb", "local"}
    out = {"ng.alpha_neg_vs_03": negative_alpha_verdict(summary)} if paper_data else {}
    for (lmo, alpha, lr), number in PAPER.items():
        claim = {("muon", None): "ng.muon", ("f-muon", 0.5): "ng.fmuon", ("f-muon", -0.1): "ng.fmuon_neg"}[lmo, alpha]
        row = summary[(summary.lmo == lmo) & (summary.lr == lr) & (summary.alpha.isna() if alpha is None
                                                                   else summary.alpha == alpha)]
        if not paper_data or row.empty:
            out[claim] = ("", NOT_CHECKED, power)
            continue
        r = row.iloc[0]
        if r["seeds"] < 2:
            out[claim] = (f"{r['mean']:.4f} (one seed)", "differs" if r["mean"] != number else "reproduced", power)
            continue
        ours = stats.mean_ci(stats.Moments(r["mean"], r["std"], int(r["seeds"])))
        out[claim] = (pm(ours, 4), "reproduced" if ours.low <= number <= ours.high else "differs", power)
    return out


def negative_alpha_verdict(summary):
    """§6.3's "(α = −0.1) not higher than for α = 0.3": F-Muon's two runs at lr 0.07, Welch's test of a higher loss."""
    runs = {alpha: summary[(summary.lmo == "f-muon") & (summary.alpha == alpha)] for alpha in (-0.1, 0.3)}
    if any(run.empty or run.iloc[0]["seeds"] < 2 for run in runs.values()):
        return ("", NOT_CHECKED, "needs both runs with at least two seeds each")
    a, b = (stats.Moments(r["mean"], r["std"], int(r["seeds"])) for r in (run.iloc[0] for run in runs.values()))
    p = stats.welch_p(a, b)
    higher = a.mean > b.mean and p < 0.05
    return (f"{a.mean - b.mean:+.4f}", "not reproduced" if higher else "reproduced", f"Welch p = {p:.2g}")


def finetune_verdicts(summary, tests, settings):
    """§6.4: F-Muon's robustness width against Muon's, S-Muon's best loss against Muon's (on TinyStories)."""
    if settings["data_source"] != "tinystories":
        return {}
    best = summary.drop_duplicates("optimizer").set_index("optimizer")
    base, out = best.loc[settings["baseline"]], {}
    if "f-muon" in best.index:
        f = best.loc["f-muon"]
        comparison = stats.width_comparison(f, base)
        verdict = ("not reproduced" if comparison == "no wider" else NOT_CHECKED if comparison is None else
                   "reproduced" if f.width_low > base.width_high else "differs")
        how = ("robustness widths with 95% bootstrap intervals over seeds; reproduced only where the intervals "
               "separate" if comparison else "the edge of the learning-rate grid cuts a band: widen finetune.lr_grid.decades")
        out["ft.fmuon_robust"] = (f"{f.width:.2f} [{f.width_low:.2f}, {f.width_high:.2f}] against {base.width:.2f} "
                                  f"[{base.width_low:.2f}, {base.width_high:.2f}] decades", verdict, how)
    if "s-muon" in best.index:
        s = best.loc["s-muon"]
        gap, margin = s.best / base.best - 1, settings["tolerance"] * base.best
        seeds = summary.set_index(["optimizer", "lr"])["seeds"]
        if seeds[("s-muon", s.best_lr)] > 1 and seeds[(settings["baseline"], base.best_lr)] > 1:
            p = stats.tost_p(stats.Moments(s.best, s.best_std, int(seeds[("s-muon", s.best_lr)])),
                             stats.Moments(base.best, base.best_std, int(seeds[(settings["baseline"], base.best_lr)])), margin)
            verdict, how = ("reproduced" if p < 0.05 else "differs"), f"TOST p = {p:.2g} within ±{margin:.4f}"
        else:
            verdict, how = ("reproduced" if abs(gap) * base.best <= margin else "differs"), "one seed: no test"
        out["ft.smuon_matches"] = (f"{100 * gap:+.2f}%", verdict, f"best mean loss against Muon's; {how}")
    return out


def topk_verdicts(timing, tests, settings):
    """Table 2's orderings, on the paper's hardware only (a GPU, 5000² float32): Lanczos the fastest of the
    top-k solvers that reach rtol, and faster than Newton–Schulz."""
    if timing["device"].str.startswith("cpu").any() or timing["m"].max() < 5000:
        return {}
    reached = timing[timing.reached | timing.method.isin(["newton-schulz", "polar-express"])]
    cells = reached.pivot_table(index=["matrix", "k"], columns="method", values="time_ms")
    rivals = [m for m in ("power", "rsvd", "svd", "cupy") if m in cells]
    fastest = (cells["lanczos"] <= cells[rivals].min(axis=1)).mean()
    beats_ns = (cells["lanczos"] < cells["newton-schulz"]).mean()
    return {"t2.lanczos_fastest": (f"fastest in {100 * fastest:.0f}% of cells", "reproduced" if fastest == 1
                                   else "not reproduced", f"against {', '.join(rivals)}"),
            "t2.lanczos_vs_ns": (f"faster in {100 * beats_ns:.0f}% of cells", "reproduced" if beats_ns == 1
                                 else "not reproduced", "Lanczos against 5 Newton–Schulz steps")}


def topk_float64_verdicts(summary, tests, settings):
    """v2 §4, from the float64 CPU table: ARPACK stands for TRLan (CuPy's has no CPU build), each method at the
    paper's err₁ for it. A claim whose rows were not run (the quick profile has no 5000² row) is not answered."""
    topk, ns = summary[summary["table"] == "topk"], summary[summary["table"] == "newton-schulz"]
    at = {(int(r.size), int(r.k), r.method): r for r in topk.itertuples()}
    out = {}
    large = [(n, k) for n, k, method in at if n >= 5000 and method == "arpack" and (n, k, "rsvd") in at]
    if large:
        test, parts, agree = tests["f64.trlan_vs_rsvd"], [], True
        for n, k in large:
            trlan, rsvd = at[n, k, "arpack"], at[n, k, "rsvd"]
            speed, fewer = rsvd.time_s / trlan.time_s, rsvd.matvecs / trlan.matvecs
            agree &= bool(trlan.reached and rsvd.reached and speed >= test["speedup"] and fewer >= test["matvec_ratio"])
            parts.append(f"{speed:.1f}× faster, {fewer:.0f}× fewer matvecs ({n}², k = {k})")
            if (n, k, "lanczos") in at:
                ours = at[n, k, "lanczos"]
                parts[-1] += f"; our Lanczos {rsvd.time_s / ours.time_s:.1f}×, {rsvd.matvecs / ours.matvecs:.0f}×"
        out["f64.trlan_vs_rsvd"] = ("; ".join(parts), "reproduced" if agree else "differs",
                                    "ARPACK (TRLan's CPU stand-in) against fanions' RSVD, each at the paper's err₁ for it")
    small = [(n, k) for n, k, method in at if n < 5000 and method == "arpack" and (n, k, "rsvd") in at]
    if small:
        test, parts, agree = tests["f64.trlan_error"], [], True
        for n, k in small:
            trlan, rsvd = at[n, k, "arpack"], at[n, k, "rsvd"]
            lower, slower = rsvd.err1 / trlan.err1, trlan.time_s / rsvd.time_s
            agree &= bool(lower >= 10 ** test["orders"] and slower <= test["time_ratio"])
            parts.append(f"k = {k}: err₁ {lower:.0f}× lower in {slower:.2f}× RSVD's time")
        out["f64.trlan_error"] = ("; ".join(parts), "reproduced" if agree else "differs",
                                  f"ARPACK against RSVD at {small[0][0]}²: err₁ at least {10 ** test['orders']:g}× lower in "
                                  f"at most {test['time_ratio']}× the time")
    rsvd = [r for (n, k, method), r in at.items() if method == "rsvd"]
    if rsvd:
        ratio = tests["f64.rsvd_sigma"]["ratio"]
        worst = max(r.sigma_error / r.err2 for r in rsvd)
        lanczos = max((r.sigma_error / r.err2 for (n, k, method), r in at.items() if method in ("lanczos", "arpack")),
                      default=float("nan"))
        contrast = ("they get σ right too: the paper's contrast, TRLan's σ less accurate, does not show" if lanczos <= ratio
                    else "theirs is less accurate, as the paper says of TRLan")
        out["f64.rsvd_sigma"] = (f"σ error ≤ {worst:.1e} × err₂", "reproduced" if worst <= ratio else "not reproduced",
                                 f"RSVD's worst relative σ error over its err₂, every row (at most {ratio:g}); the "
                                 f"Lanczos methods': up to {lanczos:.1e}, so {contrast}")
    cubic = ns[ns["method"] == "newton-schulz"]
    if len(cubic):
        test = tests["f64.ns_iterations"]
        inside = cubic["reached"].astype(bool).all() and cubic["iterations"].between(test["low"], test["high"]).all()
        out["f64.ns_iterations"] = (", ".join(f"{r.iterations:.0f} ({r.size:.0f}²)" for r in cubic.itertuples()),
                                    "reproduced" if inside else "differs",
                                    "the cubic Newton–Schulz's iterations to the paper's err₁ of UVᵀ, from X₀ = M/‖M‖_F")
    return out


# ---------------------------------------------------------------- the register and its outputs
def verdicts(register, answers, authors=None):
    """One row per registered claim: its answer, or 'not checked at this scale' with what it needs; the authors'
    runs (``authors``: their evidence, by claim id) beside it, and deciding the verdict where ours did not run."""
    unknown = sorted(set(answers) - {claim["id"] for claim in register})
    if unknown:
        raise ValueError(f"verdicts for claims not in workflow/claims.yaml: {unknown}")
    authors = {} if authors is None else authors.set_index("id").to_dict("index")
    rows, by_id = [], {claim["id"]: claim for claim in register}
    for claim in register:
        ours, verdict, detail = answers.get(claim["id"], ("", NOT_CHECKED, f"needs {claim['needs']}"))
        theirs = authors.get(claim["id"], {"authors": "", "verdict": "", "detail": ""})
        if verdict == NOT_CHECKED and theirs["verdict"]:
            verdict, detail = theirs["verdict"], (f"from the authors' runs, not ours: {theirs['authors']} "
                                                  f"({theirs['detail']}); ours {detail}")
        elif theirs["authors"] or theirs["detail"]:
            detail = f"{detail}; the authors' runs: {theirs['authors']} ({theirs['detail']})"
        if "superseded_by" in claim:
            later = by_id[claim["superseded_by"]["id"]]
            verdict, detail = "superseded", (f"v2 has instead {later['where']} {later['words']}: {later['paper']} "
                                             f"({claim['superseded_by']['why']}); ours: {detail}")
        assert verdict in VERDICTS, verdict
        rows.append({"id": claim["id"], "version": ", ".join(claim["version"]), "where": claim["where"],
                     "claim": claim["words"], "paper": claim["paper"], "ours": ours, "authors": theirs["authors"],
                     "verdict": verdict, "detail": detail})
    return pd.DataFrame(rows)


TEX = {"\\": r"\textbackslash{}", "%": r"\%", "&": r"\&", "#": r"\#", "_": r"\_", "$": r"\$", "^": r"\^{}",
       "§": "Sec.~", "±": r"$\pm$", "²": r"$^2$", "·": r"$\cdot$", "½": r"$\frac12$", "Δ": r"$\Delta$",
       "α": r"$\alpha$", "γ": r"$\gamma$", "ε": r"$\varepsilon$", "η": r"$\eta$", "σ": r"$\sigma$", "–": "--",
       "‖": r"$\|$", "†": r"$^\dagger$", "…": r"\dots{}", "₀": r"$_0$", "₁": r"$_1$", "₂": r"$_2$", "ᵀ": r"$^\top$", "ℓ": r"$\ell$", "→": r"$\to$",
       "∇": r"$\nabla$", "−": r"$-$", "√": r"$\surd$", "∞": r"$\infty$", "≈": r"$\approx$", "≤": r"$\le$",
       "≥": r"$\ge$", "⟨": r"$\langle$", "⟩": r"$\rangle$", "÷": r"$\div$", "×": r"$\times$", "~": r"$\sim$",
       "<": r"$<$", ">": r"$>$", "|": r"$|$"}


SUBSCRIPT = re.compile(r"(?<=‖|\b[A-Z])_(\w+)")  # ‖M‖_nuc, B_F; not a key such as topk_timing.device


def tex_text(text):
    """Plain text with the register's Unicode math, for a LaTeX cell: a norm's or a ball's subscript set as one
    (‖M‖_nuc), other underscores kept; a character with no TeX here is an error that names it (pdflatex would
    stop on it)."""
    unknown = sorted({c for c in text if ord(c) > 127 and c not in TEX})
    if unknown:
        raise ValueError(f"no TeX for {unknown} in {text!r}: add it to verdicts.TEX")
    parts = SUBSCRIPT.split(text)  # text, subscript, text, ...
    return "".join(rf"$_{{\mathrm{{{part}}}}}$" if i % 2 else "".join(TEX.get(c, c) for c in part)
                   for i, part in enumerate(parts))


def table(frame):
    rows = [[tex_text(r.where) + rf"\newline\emph{{{r.version}}}", tex_text(r.claim), tex_text(r.paper), tex_text(r.ours), rf"\textbf{{{r.verdict}}}",
             tex_text(r.detail)] for r in frame.itertuples()]
    return tex_table("".join(rf">{{\raggedright\arraybackslash}}p{{{width}}}" for width in
                             ("1.1cm", "3.2cm", "1.8cm", "2.4cm", "1.7cm", "4.3cm")),
                     [r"where & the paper says & paper & ours & verdict & how it was checked \\"], rows,
                     environment="longtable")


def markdown(frame, prov):
    """The register as a Markdown table, for the README, under the build it comes from."""
    lines = [f"Scale **{prov['scale']}**, commit `{prov['git_commit']}`:", "",
             "| where | version | the paper says | paper | ours | the authors' runs | verdict |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.where} | {r.version} | {r.claim} | {r.paper} | {r.ours} | {r.authors} | **{r.verdict}** |"
              for r in frame.itertuples()]
    return "\n".join(lines) + "\n"


def rst(frame, intro):
    """The HTML report's front page: ``intro``, then the verdicts as a reStructuredText list table."""
    lines = [intro.rstrip(), "", "Verdicts", "--------", "", ".. list-table::", "   :header-rows: 1", "",
             "   * - where", "     - version", "     - the paper says", "     - paper", "     - ours", "     - verdict"]
    for r in frame.itertuples():
        lines += [f"   * - {r.where}", f"     - {r.version}", f"     - {r.claim}", f"     - {r.paper}", f"     - {r.ours or '–'}",
                  f"     - **{r.verdict}**"]
    return "\n".join(lines) + "\n"


def values(frame):
    counts = frame["verdict"].value_counts()
    out = {f"verdict.{r.id}": r.verdict for r in frame.itertuples()}
    return out | {f"verdicts.{v.replace(' ', '_')}": int(counts.get(v, 0)) for v in VERDICTS} | {"verdicts.claims": len(frame)}


# ---------------------------------------------------------------- Snakemake entry
READS = {  # experiment: (the columns of its output that the verdicts read, the verdict function)
    "least_squares": (["size", "method", "quantity", "value"], least_squares_verdicts),
    "least_squares_tuned": (["method", "lr", "momentum", "iterations", "reached", "seeds", "loss", "grad_fro", "size"],
                            least_squares_tuned_verdicts),
    "norm_asymptotics": (["aspect", "quantity", "n", "measured", "extrapolated", "paper", "true"], asymptotics_verdicts),
    "norm_balls": (["check", "alpha", "value"], norm_ball_verdicts),
    "airbench": (["experiment", "method", "data", "accuracy", "diverged"], airbench_verdicts),
    "nanogpt": (["lmo", "alpha", "lr", "source", "seeds", "mean", "std"], nanogpt_verdicts),
    "finetune": (["optimizer", "width", "censored", "width_low", "width_high", "best"], finetune_verdicts),
    "topk_timing": (["matrix", "k", "m", "method", "reached", "time_ms", "device"], topk_verdicts),
    "topk_float64": (["table", "size", "k", "method", "time_s", "matvecs", "iterations", "err1", "err2", "sigma_error",
                      "reached"], topk_float64_verdicts),
}


def answers(inputs, tests):
    """Every experiment's verdicts: its function of the output the rule was given, the claims' tests and the
    settings that output was made with."""
    out = {}
    for experiment, (columns, verdict) in READS.items():
        path = inputs[experiment]
        out |= verdict(read_csv(path, columns), tests, read_provenance(path)["settings"])
    return out


def verdicts_job(snakemake):
    settings, out = snakemake.params.settings, snakemake.output
    tests = {claim["id"]: claim.get("test", {}) for claim in settings["claims"]}
    inputs = dict(snakemake.input.items())
    authors = read_csv(inputs.pop("authors"), ["id", "authors", "verdict", "detail"]).fillna("")
    frame = verdicts(settings["claims"], answers(inputs, tests), authors)
    prov = provenance(snakemake)
    write_csv(frame, out.csv, prov)
    write_tex(table(frame), out.table, prov)
    write_tex(tex_values(values(frame)), out.values, prov)
    with atomic_write(out.markdown) as f:
        f.write(markdown(frame, prov))
    with atomic_write(out.front) as f:
        f.write(rst(frame, Path(snakemake.input.intro).read_text()))


README_START, README_END = "<!-- verdicts: written by `snakemake readme`; do not edit -->", "<!-- /verdicts -->"


def readme_job(snakemake):
    """The register's Markdown table into README.md, between its two markers (the rest of the file as it was)."""
    readme = REPO / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme}: no {README_START!r} … {README_END!r} block to write the verdicts into")
    head, rest = text.split(README_START, 1)
    table = Path(snakemake.input[0]).read_text()
    with atomic_write(readme) as f:
        f.write(f"{head}{README_START}\n{table}{README_END}{rest.split(README_END, 1)[1]}")


if __name__ == "__main__":
    run_rule(snakemake, {"verdicts": verdicts_job, "readme": readme_job})  # noqa: F821 (set by Snakemake)
