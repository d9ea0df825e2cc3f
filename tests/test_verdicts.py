"""The reproduction report's verdicts: each computed from measurements, on inputs whose answer is known."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
import norm_balls  # noqa: E402
import verdicts  # noqa: E402
from nanogpt import RECORD  # noqa: E402
import fanions  # noqa: E402

REGISTER = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/claims.yaml").read_text())
TESTS = {claim["id"]: claim["test"] for claim in REGISTER}


def test_every_claim_gets_a_verdict_and_an_unregistered_answer_is_refused():
    frame = verdicts.verdicts(REGISTER, {"ls.size": ("n = 50", "paper error", "the numbers are n = 50's")})
    assert list(frame["id"]) == [claim["id"] for claim in REGISTER]
    assert frame.set_index("id").loc["ls.size", "verdict"] == "paper error"
    unanswered = frame.set_index("id").loc["ab.muon"]
    assert unanswered.verdict == "not run at this scale" and "CIFAR-10" in unanswered.detail
    with pytest.raises(ValueError, match="not in workflow/claims.yaml"):
        verdicts.verdicts(REGISTER, {"made.up": ("", "reproduced", "")})
    markdown = verdicts.markdown(frame, {"scale": "quick", "git_commit": "abc1234"})
    assert markdown.startswith("Scale **quick**, commit `abc1234`:") and "| §6.1 | the theory table is for m = n = 10 |" in markdown
    assert "   * - §6.1\n     - the theory table is for m = n = 10" in verdicts.rst(frame, "intro")
    assert r"\textbf{paper error}" in verdicts.table(frame)


def test_appendix_c_and_table_1_verdicts_come_from_the_measured_checks():
    checks = pd.concat([norm_balls.appendix_c_checks([0.5], 400, 2), norm_balls.registry_checks(fanions.LMOS)])
    answers = verdicts.norm_ball_verdicts(checks, TESTS, {})
    assert answers["appc.fmuon_ball"][1] == "paper error" and answers["appc.l1_radius"][1] == "paper error"
    assert answers["table1.registry"][1] == "reproduced"


def airbench_runs(muon_mean, data="cifar10", runs=40, seed=0):
    """Runs of the table and the tuned α sweep, accuracies drawn around the given means (fractions)."""
    rng, rows = np.random.default_rng(seed), []
    means = {("table", "muon"): muon_mean, ("table", "f-muon"): 94.02, ("table", "s-muon"): 94.03,
             ("alpha_tuned", "f-muon_alpha0"): 90.0, ("alpha_tuned", "f-muon_alpha0.1"): 93.5,
             ("alpha_tuned", "f-muon_alpha1"): 94.0, ("alpha_tuned", "f-muon_alpha1.1"): 94.0,
             ("alpha_tuned", "f-muon_alpha1.25"): 93.98}
    for (experiment, method), mean in means.items():
        rows += [{"experiment": experiment, "method": method, "data": data, "accuracy": x / 100, "diverged": False}
                 for x in rng.normal(mean, 0.13, runs)]
    return pd.DataFrame(rows)


def test_airbench_verdicts_test_equivalence_and_say_when_the_data_are_not_cifar10():
    answers = verdicts.airbench_verdicts(airbench_runs(94.01), TESTS, {})
    assert answers["ab.muon"][1] == "reproduced" and "TOST p" in answers["ab.muon"][2]
    assert answers["ab.alpha01"][1] == "reproduced" and answers["ab.alpha_gt1"][1] == "reproduced"
    assert verdicts.airbench_verdicts(airbench_runs(93.6), TESTS, {})["ab.muon"][1] == "differs"
    assert verdicts.airbench_verdicts(airbench_runs(94.01, "synthetic"), TESTS, {}) == {}


def test_nanogpt_verdicts_say_how_many_seeds_the_papers_gap_needs():
    summary = pd.DataFrame([{"lmo": "muon", "alpha": np.nan, "lr": 0.05, "source": "corpus", "seeds": 3,
                             "mean": 0.6, "std": 0.01}])
    answers = verdicts.nanogpt_verdicts(summary, TESTS, {})
    needed = verdicts.stats.seeds_needed(0.002, RECORD[1])
    assert answers["ng.muon"][1] == "not run at this scale"
    assert f"needs {needed} seeds per arm" in answers["ng.muon"][2] and needed > 3
    fineweb = summary.assign(source="fineweb", mean=3.2795, std=0.004)
    assert verdicts.nanogpt_verdicts(fineweb, TESTS, {})["ng.muon"][1] == "reproduced"
    assert verdicts.nanogpt_verdicts(fineweb.assign(mean=3.30), TESTS, {})["ng.muon"][1] == "differs"


def test_table_2_orderings_are_judged_only_on_the_papers_hardware():
    cpu = pd.DataFrame([{"matrix": "gaussian", "k": 1, "m": 5000, "method": "lanczos", "reached": True,
                         "time_ms": 1.0, "device": "cpu: x86_64, 2 threads"}])
    assert verdicts.topk_verdicts(cpu, TESTS, {}) == {}
    gpu = pd.DataFrame([{"matrix": "gaussian", "k": k, "m": 5000, "method": method, "reached": True,
                         "time_ms": time * k, "device": "NVIDIA H100"}
                        for k in (1, 10) for method, time in (("lanczos", 1.0), ("rsvd", 3.0), ("newton-schulz", 2.0))])
    answers = verdicts.topk_verdicts(gpu, TESTS, {})
    assert answers["t2.lanczos_fastest"][1] == "reproduced" and answers["t2.lanczos_vs_ns"][1] == "reproduced"
