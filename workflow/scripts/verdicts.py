"""The reproduction report: every checkable statement of the paper (workflow/claims.yaml) beside what the
pipeline measured, with a computed verdict and the rule that decided it.

    reproduced                 the measurement agrees with the paper (an equivalence test, an interval, a tolerance)
    differs                    the data exclude the paper's value, by how much (and why, where known)
    not reproduced             a qualitative claim that the measurement contradicts
    inconclusive               the data neither agree nor exclude: the interval is wider than the paper's effect
                               (how many runs would decide it)
    not checked at this scale  the experiment ran on other data or hardware than the claim needs, or not at
                               all (what it needs)
    paper error                the paper's number contradicts its own formula or a result it cites; both are shown
    superseded                 an early draft's claim that the paper as last published (v2) replaced: which
                               claim replaced it and how (our measurement, if any, beside it)

One function per experiment reads that experiment's outputs and returns {claim id: Answer}: ours, the verdict,
the detail (the measured numbers behind it) and the rule (the quantity, the tolerance and where the tolerance
comes from: the register's ``basis`` of the claim's test is printed after it). A claim whose experiment was not
built, or that its function does not answer, is "not checked at this scale".
"""
import math
import re
from collections import namedtuple
from pathlib import Path

import pandas as pd

import stats
from job import REPO, atomic_write, provenance, read_csv, read_provenance, run_rule, write_csv, write_tex
from report import tex_table, tex_values

NOT_CHECKED = "not checked at this scale"
VERDICTS = ("reproduced", "differs", "not reproduced", "inconclusive", NOT_CHECKED, "paper error", "superseded")
Answer = namedtuple("Answer", "ours verdict detail rule")
ALPHA = 0.05  # every test's level
COMPARE = (f"reproduced if two one-sided Welch tests put the difference within ±{{margin}} (TOST, α = {ALPHA}); "
           f"differs if Welch's two-sided test excludes the paper's value (α = {ALPHA}); else inconclusive")


def pm(estimate, digits=2):
    """'94.01 ± 0.05 (95% t, n = 10)' for a stats.Estimate."""
    return f"{estimate.mean:.{digits}f} ± {(estimate.high - estimate.low) / 2:.{digits}f} (95% t, n = {estimate.n})"


def compare(ours, paper, margin):
    """(verdict, detail) of our runs against the paper's value, decided three ways (``COMPARE``): reproduced when
    TOST puts |μ_ours − μ_paper| < margin, differs when Welch's test excludes μ_paper, inconclusive when neither
    (then the runs per arm that give TOST 80% power at our spread are named). ``ours`` a sample or Moments;
    ``paper`` Moments (a published mean ± sd over n runs) or a number (exact)."""
    ours = stats.moments(ours) if isinstance(ours, stats.Moments) or len(ours) > 1 else None
    if ours is None or ours.n < 2:
        return "inconclusive", "one run: no spread, so no test can decide"
    paper = paper if isinstance(paper, stats.Moments) else stats.Moments(float(paper), 0.0, 2)
    equivalent, different = stats.tost_p(ours, paper, margin), stats.welch_p(ours, paper)
    verdict = "reproduced" if equivalent < ALPHA else "differs" if different < ALPHA else "inconclusive"
    detail = f"{ours.mean - paper.mean:+.4g} from the paper's {paper.mean:g}; TOST p = {equivalent:.2g}, Welch p = {different:.2g}"
    if verdict == "inconclusive" and ours.sd > 0:
        detail += f"; about {stats.seeds_needed(margin, ours.sd)} runs would decide ±{margin:g} at our spread"
    return verdict, detail


def rounding(x, digits):
    """Half a unit of the last of ``digits`` significant digits of x, relative to x: how far the printed number
    may be from the one computed."""
    return 0.5 * 10 ** (math.floor(math.log10(abs(x))) - digits + 1) / abs(x)


def one_draw(row, paper=None, digits=None):
    """Where one draw of a quantity on our problems falls: the 95% prediction interval x̄ ± t·s·√(1 + 1/n) =
    x̄ ± h·√(n + 1), h the half width of the mean's t interval in the errata row; compared with a number the paper
    prints to ``digits`` significant digits, widened by half a unit of its last. (nan, nan) from a single draw."""
    half = (row.high - row.low) / 2 * math.sqrt(row.seeds + 1) + (rounding(paper, digits) * paper if paper else 0.0)
    return row.value - half, row.value + half


def erratum(stated, follows, paper, why):
    """(verdict, detail) of a paper's number against its own formula: reproduced where the number is in the
    ``stated`` formula's one-draw interval; a paper error where it is not but in that of the formula it
    ``follows``; else differs."""
    if stated[0] <= paper <= stated[1]:
        return "reproduced", f"the paper's {paper:g} in [{stated[0]:.1f}, {stated[1]:.1f}]"
    return ("paper error" if follows[0] <= paper <= follows[1] else "differs"), why


# ---------------------------------------------------------------- per experiment
def least_squares_verdicts(errata, tests, settings):
    """§6.1 of the drafts, from the errata the least-squares table rule computes: the paper's L against its own
    formulas on our problems (one draw's interval, at each size) and against the true constant, its η and K
    against its own rules (to its rounding), and Neon's lead in the gradient norm."""
    from least_squares import PAPER, PAPER_SIZE, STATED_SIZE
    rows = errata.set_index(["size", "method", "quantity"])
    sizes = sorted(errata["size"].unique())
    n = PAPER_SIZE if PAPER_SIZE in sizes else sizes[-1]
    seeds = int(rows.loc[(n, "neon", "L_stated"), "seeds"])
    digits = {"muon": 4, "neon": 3, "nsgd": 3}  # 171.4, 47.7, 16.2
    draw = {(size, lmo, q): one_draw(rows.loc[(size, lmo, q)], PAPER[lmo]["L"], digits[lmo])
            for size in sizes for lmo in PAPER for q in ("L_stated", "L_rule", "L_sqrt_n") if (size, lmo, q) in rows.index}
    inside = {key: low <= PAPER[key[1]]["L"] <= high for key, (low, high) in draw.items()}
    interval = (f"the 95% prediction interval of one draw of the formula on our problems at n = {n} (from {seeds} "
                "draws), widened by half a unit of the paper's last printed digit")
    out = {}
    for lmo in ("neon", "nsgd"):
        paper, (low, high), true = PAPER[lmo]["L"], draw[n, lmo, "L_stated"], rows.loc[(n, lmo, "L_true"), "value"]
        verdict = ("inconclusive" if seeds < 2 else "reproduced" if inside[n, lmo, "L_stated"] and paper >= true
                   else "differs")
        out[f"ls.L.{lmo}"] = Answer(
            f"L = {rows.loc[(n, lmo, 'L_stated'), 'value']:.1f} [{low:.1f}, {high:.1f}] (n = {n})", verdict,
            f"the true constant sup‖MHN‖†/‖H‖ = ‖M‖_op‖N‖_op is {true:.2f}: the paper's L is "
            + (f"a valid bound, {paper / true:.0f}× too loose" if paper >= true else "below it, not a bound"),
            f"reproduced if the paper's L lies in {interval}, and is at least the true constant; differs otherwise; "
            "inconclusive from one draw")
    fits = [size for size in sizes if inside[size, "neon", "L_stated"] and inside[size, "nsgd", "L_stated"]]
    out["ls.size"] = Answer(
        f"agrees at n = {', '.join(map(str, fits)) or 'none'}",
        "paper error" if fits and STATED_SIZE not in fits else "reproduced" if STATED_SIZE in fits else "differs",
        "Neon's and NSGD's L by the paper's formulas, " + "; ".join(
            f"n = {size}: " + ", ".join(f"[{draw[size, lmo, 'L_stated'][0]:.1f}, {draw[size, lmo, 'L_stated'][1]:.1f}]"
                                        for lmo in ("neon", "nsgd")) for size in sizes),
        f"the sizes at which both of the paper's L lie in {interval.replace(f' at n = {n}', '')}: reproduced if "
        f"n = {STATED_SIZE} (the text's) is one, a paper error if only others are, differs if none")
    paper_L = PAPER["muon"]["L"]
    stated, sqrt_n, rule = (draw[n, "muon", q] for q in ("L_stated", "L_sqrt_n", "L_rule"))
    value = {q: rows.loc[(n, "muon", f"L_{q}"), "value"] for q in ("stated", "sqrt_n", "rule")}
    muon_rule = (f"the paper's L in {interval}: reproduced for the stated formula, a paper error if only for "
                 "(2/√n)‖M‖_nuc‖N‖_nuc, else differs")
    out["ls.L.muon"] = Answer(f"(2/n): {value['stated']:.1f}, (2/√n): {value['sqrt_n']:.1f}", *erratum(
        stated, sqrt_n, paper_L, f"the paper's {paper_L:g} follows from (2/√n)‖M‖_nuc‖N‖_nuc [{sqrt_n[0]:.0f}, "
        f"{sqrt_n[1]:.0f}], not from its stated (2/n)‖M‖_nuc‖N‖_nuc [{stated[0]:.0f}, {stated[1]:.0f}]"), muon_rule)
    out["ls.L.rule"] = Answer(f"Muon: {value['rule']:.1f}", *erratum(
        rule, sqrt_n, paper_L, f"γ = 2/√n gives (4/n)‖M‖_nuc‖N‖_nuc [{rule[0]:.0f}, {rule[1]:.0f}]: neither the "
        f"stated formula nor the paper's {paper_L:g}"), muon_rule.replace("the stated formula", "the rule's formula"))
    # η·ε·L from the paper's own numbers: 1 within their rounding (η to 3 significant digits, L to its printed ones)
    products = {lmo: rows.loc[(n, lmo, "lr_times_eps_L"), "value"] for lmo in ("muon", "neon", "nsgd")}
    slack = {lmo: rounding(PAPER[lmo]["lr"], 3) + rounding(PAPER[lmo]["L"], digits[lmo]) for lmo in products}
    inverse = all(abs(p - 1) <= slack[lmo] for lmo, p in products.items())
    out["ls.lr"] = Answer("η·ε·L = " + ", ".join(f"{p:.4f}" for p in products.values()),
                          "paper error" if inverse else "differs",
                          "η = 1/(εL), not the stated ε/L" if inverse else "η is neither ε/L nor 1/(εL)",
                          "η·ε·L from the paper's η, ε and L: a paper error if it is 1 (η = 1/(εL), not ε/L) within "
                          "the paper's rounding of η and L (" + ", ".join(f"±{100 * x:.2f}%" for x in slack.values())
                          + "), else differs")
    # K = ⌈LΔ₀/ε²⌉ puts each method's Δ₀ in ((K − 1)ε²/L, Kε²/L], L to its rounding: one Δ₀ must fit all three
    implied = {lmo: rows.loc[(n, lmo, "delta0_implied"), "value"] for lmo in ("muon", "neon", "nsgd")}
    spans = [(d * (PAPER[lmo]["K"] - 1) / PAPER[lmo]["K"] * (1 - rounding(PAPER[lmo]["L"], digits[lmo])),
              d * (1 + rounding(PAPER[lmo]["L"], digits[lmo]))) for lmo, d in implied.items()]
    low, high = max(a for a, _ in spans), min(b for _, b in spans)
    drawn = rows.loc[(n, "problem", "delta0")]
    ours = one_draw(drawn)  # Δ₀ of one draw of our problems
    fits = low <= high and low <= ours[1] and ours[0] <= high
    out["ls.K"] = Answer(f"Δ₀ = {min(implied.values()):.0f}–{max(implied.values()):.0f}", "reproduced" if fits else "differs",
                         (f"the three K admit one Δ₀ in [{low:.1f}, {high:.1f}]" if low <= high else
                          f"no one Δ₀ fits all three K: they need Δ₀ ≥ {low:.2f} and ≤ {high:.2f}, "
                          f"{100 * (low / high - 1):.1f}% apart") + f"; one draw of our problems has Δ₀ in [{ours[0]:.0f}, {ours[1]:.0f}]",
                         "reproduced if one Δ₀ fits all three K = ⌈LΔ₀/ε²⌉ (each puts Δ₀ in ((K−1)ε²/L, Kε²/L], L to its "
                         f"rounding) and lies in the 95% prediction interval of one draw of our problems' Δ₀ ({seeds} draws); "
                         "differs otherwise")
    dual, window, op = (rows.loc[(n, "neon", q), "value"] for q in ("lead_dual", "lead_dual_window", "lead_op"))
    share = tests["ls.neon_grad"]["share"]
    final = errata[(errata["size"] == n) & (errata["quantity"] == "final_loss_gap")].set_index("method")["value"]
    worst = final.idxmax()
    out["ls.neon_grad"] = Answer(f"worst in loss: {worst}; Neon's ‖·‖_op the smallest at {100 * op:.0f}% of iterations "
                                 f"(own dual norm {100 * dual:.0f}%, first {100 * window:.0f}%)",
                                 "reproduced" if worst == "neon" and op >= share else "not reproduced",
                                 "final F − F*: " + ", ".join(f"{m} {v:.2g}" for m, v in final.sort_values().items()),
                                 f"reproduced if Neon's final F − F* is the largest of all methods' and its ‖∇F‖_op the "
                                 f"smallest at ≥ {100 * share:.0f}% of the iterations (means over draws); else not reproduced")
    return out


def least_squares_tuned_verdicts(tuned, tests, settings):
    """v2 §6.1, from the tuned table at the paper's size (500; a smaller problem is a plumbing check): each method's
    row (its iterations to the threshold within rtol of the paper's and its lr within lr_rtol; the momentum, flat at
    the optimum, is shown), and the claim that F- and S-Muon beat NSGD, Muon and SignSGD in speed, loss and ‖∇F‖_F."""
    from least_squares_tuned import BASELINES, PAPER, PAPER_SIZE, claim_holds
    if tuned.empty or int(tuned["size"].iloc[0]) != PAPER_SIZE:
        return {}
    rows, out = tuned.set_index("method"), {}
    for method, (lr, momentum, iterations) in PAPER.items():
        claim = f"lst.tuned.{method}"
        if method not in rows.index or claim not in tests:
            continue
        r, test = rows.loc[method], tests[claim]
        rule = (f"reproduced if our best grid cell's iterations to 0.001 (mean over {r.seeds:.0f} problem draws) are "
                f"within ±{100 * test['rtol']:.0f}% of the paper's and its lr within ±{100 * test['lr_rtol']:.0f}%; "
                "differs otherwise, or where a draw does not reach 0.001 within the cap")
        ours = f"lr {r.lr:g}, momentum {r.momentum:g}, " + (f"{r.iterations:.0f} iterations" if r.reached == r.seeds
                                                           else f"reached on {r.reached:.0f} of {r.seeds:.0f} draws")
        if r.reached < r.seeds:
            out[claim] = Answer(ours, "differs", "not reached on every problem draw within the cap", rule)
            continue
        gap, lr_gap = r.iterations / iterations - 1, r.lr / lr - 1
        same = abs(gap) <= test["rtol"] and abs(lr_gap) <= test["lr_rtol"]
        out[claim] = Answer(ours, "reproduced" if same else "differs",
                            f"iterations {100 * gap:+.0f}%, lr {100 * lr_gap:+.0f}% from the paper's, momentum "
                            f"{r.momentum:g} against {momentum:g}", rule)
    if set(PAPER) <= set(rows.index):
        summary = rows.assign(iterations=rows["iterations"].where(rows["reached"] == rows["seeds"]))
        for claim, baselines, names in (("lst.claim", BASELINES, "NSGD, Muon and SignSGD"), ("lst.abstract", ["muon"], "Muon")):
            holds = claim_holds(summary[["iterations", "loss", "grad_fro"]], baselines)
            out[claim] = Answer(", ".join(f"{aspect}: {'yes' if ok else 'no'}" for aspect, ok in holds.items()),
                                "reproduced" if all(holds.values()) else "not reproduced",
                                f"F- and S-Muon against {names} at their tuned settings",
                                f"reproduced if each of F- and S-Muon beats {'each of ' * (len(baselines) > 1)}{names} in all "
                                "of: iterations to 0.001, final loss and final ‖∇F‖_F (means over draws); else not reproduced")
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
        rule = (f"the ratio at n = {r.n:.0f} within ±{100 * rtol:g}% of the paper's constant: reproduced; else within "
                "it of the Marchenko–Pastur limit: paper error; else differs")
        if abs(r.measured / r.paper - 1) <= rtol:
            out[claim] = Answer(ours, "reproduced", f"the paper's {r.paper:g}", rule)
        elif abs(r.measured / r.true - 1) <= rtol:
            out[claim] = Answer(ours, "paper error", f"the limit is {r.true:.4f} (Marchenko–Pastur), not the paper's "
                                f"{r.paper:g}", rule)
        else:
            out[claim] = Answer(ours, "differs", f"neither the paper's {r.paper:g} nor the limit {r.true:.4f}", rule)
    return out


def norm_ball_verdicts(checks, tests, settings):
    """Appendix C and Table 1, from norm_ball_checks: which ball F-Muon's and F-Neon's LMO points lie on, the ℓ₁
    radius of the Ky Fan dual ball, and every LMO attaining its dual norm."""
    value = checks.groupby("check")["value"].max()
    radius, alphas = value["ky_fan_dual_l1_radius"], ", ".join(f"{a:g}" for a in sorted(checks["alpha"].dropna().unique()))

    def ball(name, method, lemma_ball, text_ball):
        lemma, text, on_ball = value[f"{name}_ball_lemma"], value[f"{name}_ball_text"], tests[f"appc.{name}_ball"]["gauge"]
        return Answer(lemma_ball, "paper error" if lemma < on_ball < text else "reproduced" if text < on_ball else "differs",
                      f"{method}'s LMO points are {lemma:.1e} from the boundary of {lemma_ball} (the Lemma; drawn in "
                      f"the figure) and up to {text:.2f} from that of {text_ball} (the text)",
                      f"the gauge of each ball at {method}'s LMO points (α ∈ {{{alphas}}}): on the text's ball "
                      f"(|gauge − 1| ≤ {on_ball:g}) reproduced; only on the Lemma's, a paper error; else differs")
    k, rtol = settings["ky_fan_k"], tests["appc.l1_radius"]["rtol"]
    near = {name: abs(radius / r - 1) <= rtol for name, r in (("paper", 1 / k), ("k", k))}
    l1 = Answer(f"radius {radius:.3f}", "reproduced" if near["paper"] else "paper error" if near["k"] else "differs",
                f"the largest ℓ₁ norm on the dual ball's boundary is {radius:.3f} ≈ k = {k}, not 1/k",
                f"the largest ℓ₁ norm on the boundary of the Ky Fan {k}-norm's dual ball in ℝ³, measured from the library's "
                f"Ky Fan norm: within ±{100 * rtol:g}% of 1/k reproduced, of k a paper error, else differs")
    rows = value[value.index.str.startswith("table1_p")]
    tolerance = 64 * 2.0**-52 * 12  # 64ε·max(m, n): the SVD's backward error on the 12×8 float64 check matrix
    worst, gap = rows.max(), value["lmo_dual_gap"]
    table = Answer(f"{int(value['lmo_count'])} LMOs", "reproduced" if worst <= tolerance and gap <= tolerance else "differs",
                   f"measured: {worst:.1e} ({len(rows)} rows); every registered LMO attains its dual norm to {gap:.1e}",
                   f"each row's two LMOs (registry) within 64ε·max(m, n) = {tolerance:.1e} of the paper's formula, "
                   "entrywise (float64): reproduced; else differs")
    return {"appc.fmuon_ball": ball("fmuon", "F-Muon", "α·B_op + (1−α)·B_F", "α·B_nuc + (1−α)·B_F"),
            "appc.fneon_ball": ball("fneon", "F-Neon", "α·B_nuc + (1−α)·B_F", "α·B_op + (1−α)·B_F"),
            "appc.l1_radius": l1, "table1.registry": table}


def airbench_verdicts(runs, tests, settings):
    """§6.2 on the runs of the airbench experiments (CIFAR-10 only): each method's runs against the paper's
    200-run mean ± sd and against v2's appendix table (``compare``: TOST within the claim's margin, Welch), and the
    two α-sweep statements."""
    from airbench_report import APPENDIX, PAPER
    if set(runs["data"]) != {"cifar10"}:
        return {}
    runs = runs[~runs["diverged"]].assign(accuracy=100 * runs["accuracy"])
    out = {}
    for method, claim in (("muon", "ab.muon"), ("f-muon", "ab.fmuon"), ("s-muon", "ab.smuon")):
        ours = runs[(runs.experiment == "table") & (runs.method == method)]["accuracy"].to_numpy()
        margin = tests[claim]["margin"]
        out[claim] = Answer(pm(stats.mean_ci(ours)), *compare(ours, stats.Moments(*PAPER[method]["v2"], 200), margin),
                            COMPARE.format(margin=f"{margin:g} accuracy points"))
    for method, (mean, _) in APPENDIX.items():  # v2's appendix table: its run count unstated, its mean taken as exact
        ours, claim = runs[(runs.experiment == "appendix") & (runs.method == method)]["accuracy"].to_numpy(), f"ab.table.{method}"
        if len(ours) and claim in tests:
            margin = tests[claim]["margin"]
            out[claim] = Answer(pm(stats.mean_ci(ours)), *compare(ours, mean, margin),
                                COMPARE.format(margin=f"{margin:g} accuracy points")
                                + "; the paper's mean as exact, as v2 does not say over how many runs")
    sweep = runs[runs.experiment == "alpha_tuned"].groupby("method")["accuracy"]
    nsgd, alpha01, muon = (sweep.get_group(f"f-muon_alpha{a}").to_numpy() for a in ("0", "0.1", "1"))
    points = tests["ab.alpha01"]["points"]
    low, high = stats.difference_ci(alpha01, nsgd)
    out["ab.alpha01"] = Answer(f"{alpha01.mean() - nsgd.mean():+.2f} [{low:+.2f}, {high:+.2f}] points",
                               "reproduced" if low > points else "not reproduced" if high < points else "inconclusive",
                               "α = 0.1 against α = 0 (NSGD), Welch's 95% interval of the difference",
                               f"reproduced if the 95% interval of the gain lies above {points:g} points ('much higher'); "
                               "not reproduced if below; else inconclusive")
    above = [sweep.get_group(m).to_numpy() for m in sweep.groups if m.startswith("f-muon_alpha1.")]
    worst, margin = min(above, key=lambda x: x.mean()), tests["ab.alpha_gt1"]["margin"]
    verdict, detail = compare(worst, stats.moments(muon), margin)
    out["ab.alpha_gt1"] = Answer(f"{worst.mean() - muon.mean():+.2f} points",
                                 "not reproduced" if verdict == "differs" else verdict,
                                 f"the lowest α > 1 against α = 1: {detail}",
                                 COMPARE.format(margin=f"{margin:g} points").replace("differs", "not reproduced"))
    return out


def grad_norm_verdicts(summary, tests, settings):
    """v2's "without weight normalization the gradient norms fall by at most an order of magnitude while train
    accuracy reaches 100%", on our CIFAR-10 runs (the summary's rows of our source; the authors' are their
    evidence): every total norm's fall at most 10× and every method's best batch accuracy 100%."""
    ours = summary[summary["source"] == "cifar10"]
    if ours.empty:
        return {}
    falls = ours[[f"fall_{norm}" for norm in ("frobenius", "spectral", "nuclear")]]
    reached = ours["best_train_acc"] >= 0.9995
    worst = ours.loc[falls.max(axis=1).idxmax()]
    ok = falls.to_numpy().max() <= 10 and reached.all()
    return {"ab.grad_norms": Answer(
        f"falls {falls.to_numpy().min():.1f}–{falls.to_numpy().max():.1f}×, train accuracy "
        f"{100 * ours['best_train_acc'].min():.2f}–{100 * ours['best_train_acc'].max():.2f}%",
        "reproduced" if ok else "not reproduced",
        f"the largest fall {falls.to_numpy().max():.1f}× ({worst['method']}); "
        f"{int((~reached).sum())} of {len(ours)} methods short of 100% train accuracy",
        f"reproduced if every total gradient norm's fall (the mean of the first {settings['window']} logged steps over "
        f"the mean of the last {settings['window']}) is at most 10× and every method's best train accuracy is ≥ 99.95%; "
        "else not reproduced")}


def nanogpt_verdicts(summary, tests, settings):
    """§6.3: each run's final losses against the paper's number (``compare``, on FineWeb only), and the seeds a
    difference of the paper's size needs at the record's seed-to-seed spread, whatever the scale."""
    from nanogpt import PAPER, RECORD
    spread, seeds, difference = RECORD[1], int(summary["seeds"].max()), tests["ng.muon"]["difference"]
    needed = stats.seeds_needed(difference, spread)
    resolves = (f"{seeds} seeds per arm resolve {stats.detectable(spread, seeds):.4f} and more" if seeds > 1
                else "one seed per arm resolves nothing")
    power = (f"a {difference:g} difference needs {needed} seeds per arm for 80% power at the record's spread "
             f"σ = {spread}; {resolves}")
    paper_data = set(summary["source"]) <= {"fineweb", "local"}
    out = {"ng.alpha_neg_vs_03": negative_alpha_verdict(summary, difference)} if paper_data else {}
    for (lmo, alpha, lr), number in PAPER.items():
        claim = {("muon", None): "ng.muon", ("f-muon", 0.5): "ng.fmuon", ("f-muon", -0.1): "ng.fmuon_neg"}[lmo, alpha]
        margin = tests[claim]["difference"]
        rule = COMPARE.format(margin=f"{margin:g} in loss")
        row = summary[(summary.lmo == lmo) & (summary.lr == lr) & (summary.alpha.isna() if alpha is None
                                                                   else summary.alpha == alpha)]
        if not paper_data or row.empty:
            out[claim] = Answer("", NOT_CHECKED, power, rule)
            continue
        r = row.iloc[0]
        ours = stats.Moments(r["mean"], r["std"] if r["seeds"] > 1 else 0.0, int(r["seeds"]))
        verdict, detail = compare(ours, number, margin)
        shown = pm(stats.mean_ci(ours), 4) if r["seeds"] > 1 else f"{r['mean']:.4f} (one seed)"
        out[claim] = Answer(shown, verdict, f"{detail}; {power}", rule)
        if claim == "ng.muon":
            out["ng.muon_target"] = below_target(ours, tests["ng.muon_target"]["target"])
    out.setdefault("ng.muon_target", Answer("", NOT_CHECKED, power, BELOW.format(target=tests["ng.muon_target"]["target"])))
    return out


BELOW = ("reproduced if the 95% t interval of our mean final loss lies below {target:g}; not reproduced if above; "
         "else inconclusive")


def below_target(ours, target):
    """Whether Muon's runs end below the record's target loss: the t interval of their mean against it."""
    rule = BELOW.format(target=target)
    if ours.n < 2:
        return Answer(f"{ours.mean:.4f} (one seed)", "inconclusive", "one seed: no interval", rule)
    estimate = stats.mean_ci(ours)
    verdict = "reproduced" if estimate.high < target else "not reproduced" if estimate.low > target else "inconclusive"
    return Answer(pm(estimate, 4), verdict, f"the mean's 95% interval [{estimate.low:.4f}, {estimate.high:.4f}] "
                  f"against the target {target:g}", rule)


def negative_alpha_verdict(summary, margin):
    """§6.3's "(α = −0.1) not higher than for α = 0.3": F-Muon's two runs at lr 0.07, Welch's 95% interval of the
    difference of their mean losses against ``margin`` (the paper's gaps)."""
    rule = (f"reproduced if the 95% interval of the loss at α = −0.1 minus that at α = 0.3 lies below +{margin:g}; "
            "not reproduced if it lies above 0; else inconclusive")
    runs = {alpha: summary[(summary.lmo == "f-muon") & (summary.alpha == alpha)] for alpha in (-0.1, 0.3)}
    if any(run.empty or run.iloc[0]["seeds"] < 2 for run in runs.values()):
        return Answer("", NOT_CHECKED, "needs both runs with at least two seeds each", rule)
    a, b = (stats.Moments(r["mean"], r["std"], int(r["seeds"])) for r in (run.iloc[0] for run in runs.values()))
    low, high = stats.difference_ci(a, b)
    verdict = "reproduced" if high < margin else "not reproduced" if low > 0 else "inconclusive"
    return Answer(f"{a.mean - b.mean:+.4f}", verdict, f"95% interval [{low:+.4f}, {high:+.4f}], Welch p = "
                  f"{stats.welch_p(a, b):.2g}", rule)


BOOTSTRAP_SEEDS = 5  # C(2n − 1, n) distinct resamples: 10 at n = 3, 126 at n = 5


def finetune_verdicts(summary, tests, settings):
    """§6.4: F-Muon's robustness width against Muon's (bootstrap intervals over seeds), S-Muon's best loss against
    Muon's (``compare``), on TinyStories."""
    if settings["data_source"] != "tinystories":
        return {}
    best = summary.drop_duplicates("optimizer").set_index("optimizer")
    base, out = best.loc[settings["baseline"]], {}
    seeds = summary.set_index(["optimizer", "lr"])["seeds"]
    if "f-muon" in best.index:
        f = best.loc["f-muon"]
        fewest = int(min(seeds[("f-muon", f.best_lr)], seeds[(settings["baseline"], base.best_lr)]))
        how = "robustness widths with 95% bootstrap intervals over seeds"
        if fewest < BOOTSTRAP_SEEDS:
            verdict, how = "inconclusive", (f"{fewest} seeds give {math.comb(2 * fewest - 1, fewest)} distinct bootstrap "
                                            f"resamples: at least {BOOTSTRAP_SEEDS} seeds are needed")
        elif f.width_low > base.width_high and not base.censored:  # a censored F-Muon band is only wider
            verdict = "reproduced"
        elif f.width_high < base.width_low and not f.censored:
            verdict = "not reproduced"
        elif f.censored or base.censored:
            verdict, how = NOT_CHECKED, "the edge of the learning-rate grid cuts a band: widen finetune.lr_grid.decades"
        else:
            verdict = "inconclusive"
        out["ft.fmuon_robust"] = Answer(
            f"{f.width:.2f} [{f.width_low:.2f}, {f.width_high:.2f}] against {base.width:.2f} "
            f"[{base.width_low:.2f}, {base.width_high:.2f}] decades", verdict, how,
            f"reproduced if F-Muon's band's 95% bootstrap interval lies above Muon's, not reproduced if below, else "
            f"inconclusive; fewer than {BOOTSTRAP_SEEDS} seeds are inconclusive, a band cut by the grid not checked")
    if "s-muon" in best.index:
        s = best.loc["s-muon"]
        margin = settings["tolerance"] * base.best
        n_s, n_base = int(seeds[("s-muon", s.best_lr)]), int(seeds[(settings["baseline"], base.best_lr)])
        verdict, how = compare(stats.Moments(s.best, s.best_std if n_s > 1 else 0.0, n_s),
                               stats.Moments(base.best, base.best_std if n_base > 1 else 0.0, max(n_base, 2)), margin)
        out["ft.smuon_matches"] = Answer(f"{100 * (s.best / base.best - 1):+.2f}%", verdict,
                                         f"best mean loss against Muon's; {how}",
                                         COMPARE.format(margin=f"{margin:.4f} ({settings['tolerance']:g} of Muon's loss)"))
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
    return {"t2.lanczos_fastest": Answer(f"fastest in {100 * fastest:.0f}% of cells",
                                         "reproduced" if fastest == 1 else "not reproduced", f"against {', '.join(rivals)}",
                                         "reproduced if Lanczos's median time is the least of the top-k solvers that "
                                         "reach the row's rtol in every cell; else not reproduced"),
            "t2.lanczos_vs_ns": Answer(f"faster in {100 * beats_ns:.0f}% of cells",
                                       "reproduced" if beats_ns == 1 else "not reproduced",
                                       "Lanczos against 5 Newton–Schulz steps",
                                       "reproduced if Lanczos's median time is below Newton–Schulz's in every cell; "
                                       "else not reproduced")}


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
        out["f64.trlan_vs_rsvd"] = Answer("; ".join(parts), "reproduced" if agree else "differs",
                                          "ARPACK (TRLan's CPU stand-in) against fanions' RSVD, each at the paper's err₁ for it",
                                          f"reproduced if ARPACK is at least {test['speedup']:g}× RSVD's speed with at "
                                          f"least {test['matvec_ratio']:g}× fewer matvecs at every 5000² row; else differs")
    small = [(n, k) for n, k, method in at if n < 5000 and method == "arpack" and (n, k, "rsvd") in at]
    if small:
        test, parts, agree = tests["f64.trlan_error"], [], True
        for n, k in small:
            trlan, rsvd = at[n, k, "arpack"], at[n, k, "rsvd"]
            lower, slower = rsvd.err1 / trlan.err1, trlan.time_s / rsvd.time_s
            agree &= bool(lower >= 10 ** test["orders"] and slower <= test["time_ratio"])
            parts.append(f"k = {k}: err₁ {lower:.0f}× lower in {slower:.2f}× RSVD's time")
        out["f64.trlan_error"] = Answer("; ".join(parts), "reproduced" if agree else "differs",
                                        f"ARPACK against RSVD at {small[0][0]}²",
                                        f"reproduced if ARPACK's err₁ is at least {10 ** test['orders']:g}× below RSVD's "
                                        f"in at most {test['time_ratio']:g}× its time at every 500² row; else differs")
    rsvd = [r for (n, k, method), r in at.items() if method == "rsvd"]
    if rsvd:
        ratio = tests["f64.rsvd_sigma"]["ratio"]
        worst = max(r.sigma_error / r.err2 for r in rsvd)
        lanczos = max((r.sigma_error / r.err2 for (n, k, method), r in at.items() if method in ("lanczos", "arpack")),
                      default=float("nan"))
        contrast = ("they get σ right too: the paper's contrast, TRLan's σ less accurate, does not show" if lanczos <= ratio
                    else "theirs is less accurate, as the paper says of TRLan")
        out["f64.rsvd_sigma"] = Answer(f"σ error ≤ {worst:.1e} × err₂", "reproduced" if worst <= ratio else "not reproduced",
                                       f"the Lanczos methods': up to {lanczos:.1e}, so {contrast}",
                                       f"reproduced if RSVD's relative σ error is at most {ratio:g} × its err₂ at every "
                                       "row (σ good, the matrix off); else not reproduced")
    cubic = ns[ns["method"] == "newton-schulz"]
    polar = {int(r.size): r for r in cubic.itertuples()}
    large = [(n, k) for n, k, method in at if method == "arpack" and n >= 5000 and n in polar]
    if large:
        speedup = tests["f64.lanczos_vs_ns"]["speedup"]
        ratios = {(n, k, m): polar[n].time_s / at[n, k, m].time_s for n, k in large for m in ("arpack", "lanczos")
                  if (n, k, m) in at}
        out["f64.lanczos_vs_ns"] = Answer(
            "; ".join(f"{'ARPACK' if m == 'arpack' else 'our Lanczos'} {r:.0f}× ({n}², k = {k})" for (n, k, m), r in ratios.items()),
            "reproduced" if all(ratios[n, k, "arpack"] >= speedup for n, k in large) else "differs",
            "Newton–Schulz's time to its err₁ of UVᵀ over each Lanczos method's to its err₁ of the top k",
            f"reproduced if ARPACK (TRLan's stand-in) is at least {speedup:g}× faster than the cubic Newton–Schulz at "
            "every 5000² row; else differs")
    if len(cubic):
        test = tests["f64.ns_iterations"]
        inside = cubic["reached"].astype(bool).all() and cubic["iterations"].between(test["low"], test["high"]).all()
        out["f64.ns_iterations"] = Answer(", ".join(f"{r.iterations:.0f} ({r.size:.0f}²)" for r in cubic.itertuples()),
                                          "reproduced" if inside else "differs",
                                          "the cubic Newton–Schulz from X₀ = M/‖M‖_F, to the paper's err₁ of UVᵀ",
                                          f"reproduced if its iterations lie in [{test['low']}, {test['high']}] at every "
                                          "size; else differs")
    return out


# ---------------------------------------------------------------- the register and its outputs
def verdicts(register, answers, authors=None):
    """One row per registered claim and version of the paper that makes it: its answer, or 'not checked at this scale' with what it needs; the authors'
    runs (``authors``: their evidence, by claim id) beside it, and deciding the verdict where ours did not run. The
    rule is the answer's, then where its tolerance comes from (the register's ``basis``)."""
    unknown = sorted(set(answers) - {claim["id"] for claim in register})
    if unknown:
        raise ValueError(f"verdicts for claims not in workflow/claims.yaml: {unknown}")
    authors = {} if authors is None else authors.set_index("id").to_dict("index")
    rows, by_id = [], {claim["id"]: claim for claim in register}
    for claim in register:
        ours, verdict, detail, rule = answers.get(claim["id"], Answer("", NOT_CHECKED, f"needs {claim['needs']}",
                                                                      "not run at this scale"))
        if "basis" in claim["test"] and verdict != NOT_CHECKED:  # our test's tolerance, and where it comes from
            rule = f"{rule}. Tolerance: {claim['test']['basis']}"
        theirs = authors.get(claim["id"], {"authors": "", "verdict": "", "detail": "", "rule": ""})
        if verdict == NOT_CHECKED and theirs["verdict"]:
            verdict, detail, rule = (theirs["verdict"], f"from the authors' runs, not ours: {theirs['authors']} "
                                     f"({theirs['detail']}); ours {detail}", f"on the authors' runs: {theirs['rule']}")
        elif theirs["authors"] or theirs["detail"]:
            detail = f"{detail}; the authors' runs: {theirs['authors']} ({theirs['detail']})"
        if "code" in claim:  # a setting the paper states, against the one the authors' script ran
            ours, verdict = f"their script ran {claim['code']['ran']}", "paper error"
            detail = f"the paper says {paper_in(claim, claim['version'][-1])}; {claim['code']['source']} ran {claim['code']['ran']}"
            rule = ("read in the authors' code, not measured: a paper error where the setting their script passes is "
                    "not the one the paper states; our runs follow the script")
        if "superseded_by" in claim:
            later = by_id[claim["superseded_by"]["id"]]
            verdict, detail = "superseded", (f"v2 has instead {later['where']} {later['words']}: {later['paper']} "
                                             f"({claim['superseded_by']['why']}); ours: {detail}")
            rule = f"superseded by v2's {later['id']}; {rule}"
        assert verdict in VERDICTS, verdict
        for version in claim["version"]:
            rows.append({"id": claim["id"], "version": version, "where": claim["where"], "claim": claim["words"],
                         "paper": paper_in(claim, version), "ours": ours, "authors": theirs["authors"],
                         **dict(zip(("verdict", "detail", "rule"), changed_later(claim, version, verdict, detail, rule)))})
    return pd.DataFrame(rows)


def paper_in(claim, version):
    """The claim's number as ``version`` of the paper gives it (the register's paper: one text, or one per version)."""
    return claim["paper"][version] if isinstance(claim["paper"], dict) else claim["paper"]


def changed_later(claim, version, verdict, detail, rule):
    """(verdict, detail, rule) of a claim in one version: as measured, unless a later version of the paper changed
    its number; then superseded by it (our runs follow the last version)."""
    last = claim["version"][-1]
    if version == last or paper_in(claim, version) == paper_in(claim, last):
        return verdict, detail, rule
    return ("superseded", f"{last} gives {paper_in(claim, last)}; ours: {detail}",
            f"superseded by the same claim in {last}, with another number")


TEX = {"\\": r"\textbackslash{}", "%": r"\%", "&": r"\&", "#": r"\#", "_": r"\_", "$": r"\$", "^": r"\^{}",
       "§": "Sec.~", "±": r"$\pm$", "²": r"$^2$", "·": r"$\cdot$", "½": r"$\frac12$", "Δ": r"$\Delta$",
       "α": r"$\alpha$", "γ": r"$\gamma$", "ε": r"$\varepsilon$", "η": r"$\eta$", "σ": r"$\sigma$", "–": "--",
       "‖": r"$\|$", "†": r"$^\dagger$", "…": r"\dots{}", "₀": r"$_0$", "₁": r"$_1$", "₂": r"$_2$", "ᵀ": r"$^\top$", "ℓ": r"$\ell$", "→": r"$\to$",
       "∇": r"$\nabla$", "−": r"$-$", "√": r"$\surd$", "∞": r"$\infty$", "≈": r"$\approx$", "≤": r"$\le$",
       "≥": r"$\ge$", "∈": r"$\in$", "³": r"$^3$", "ℝ": r"$\mathbb{R}$", "⌈": r"$\lceil$", "⌉": r"$\rceil$", "⟨": r"$\langle$", "⟩": r"$\rangle$", "÷": r"$\div$", "×": r"$\times$", "~": r"$\sim$",
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
             tex_text(r.detail) + rf"\newline\emph{{Rule:}} {tex_text(r.rule)}"] for r in frame.itertuples()]
    return tex_table("".join(rf">{{\raggedright\arraybackslash}}p{{{width}}}" for width in
                             ("1.1cm", "2.8cm", "1.6cm", "2.1cm", "1.75cm", "5.15cm")),
                     [r"where & the paper says & paper & ours & verdict & what was measured, and the rule \\"], rows,
                     environment="longtable")


def markdown(frame, prov):
    """The register as a Markdown table, for the README, under the build it comes from."""
    lines = [f"Scale **{prov['scale']}**, commit `{prov['git_commit']}`:", "",
             "| where | version | the paper says | paper | ours | the authors' runs | verdict | rule |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.where} | {r.version} | {r.claim} | {r.paper} | {r.ours} | {r.authors} | **{r.verdict}** | {r.rule} |"
              for r in frame.itertuples()]
    return "\n".join(lines) + "\n"


def rst(frame, intro):
    """The HTML report's front page: ``intro``, then the verdicts as a reStructuredText list table."""
    lines = [intro.rstrip(), "", "Verdicts", "--------", "", ".. list-table::", "   :header-rows: 1", "",
             "   * - where", "     - version", "     - the paper says", "     - paper", "     - ours", "     - verdict", "     - rule"]
    for r in frame.itertuples():
        lines += [f"   * - {r.where}", f"     - {r.version}", f"     - {r.claim}", f"     - {r.paper}", f"     - {r.ours or '–'}",
                  f"     - **{r.verdict}**", f"     - {r.rule}"]
    return "\n".join(lines) + "\n"


def values(frame):
    """verdict.<id> (in the last version that makes it); the counts of each verdict, verdicts.<verdict>, over all
    (claim, version) rows and, as verdicts.<version>.<verdict>, over those of each version of the paper."""
    out = {f"verdict.{r.id}": r.verdict for r in frame.itertuples()}
    for prefix, rows in [("verdicts", frame)] + [(f"verdicts.{v}", frame[frame["version"] == v]) for v in ("drafts", "v2")]:
        counts = rows["verdict"].value_counts()
        out |= {f"{prefix}.{v.replace(' ', '_')}": int(counts.get(v, 0)) for v in VERDICTS} | {f"{prefix}.claims": len(rows)}
    return out


# ---------------------------------------------------------------- Snakemake entry
READS = {  # experiment: (the columns of its output that the verdicts read, the verdict function)
    "least_squares": (["size", "method", "quantity", "value"], least_squares_verdicts),
    "least_squares_tuned": (["method", "lr", "momentum", "iterations", "reached", "seeds", "loss", "grad_fro", "size"],
                            least_squares_tuned_verdicts),
    "norm_asymptotics": (["aspect", "quantity", "n", "measured", "extrapolated", "paper", "true"], asymptotics_verdicts),
    "norm_balls": (["check", "alpha", "value"], norm_ball_verdicts),
    "airbench": (["experiment", "method", "data", "accuracy", "diverged"], airbench_verdicts),
    "airbench_grad_norms": (["source", "method", "fall_frobenius", "fall_spectral", "fall_nuclear", "best_train_acc"],
                            grad_norm_verdicts),
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
    authors = read_csv(inputs.pop("authors"), ["id", "authors", "verdict", "detail", "rule"]).fillna("")
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
