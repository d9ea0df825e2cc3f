"""The authors' own runs as evidence: the selection of their logs, the paper's number against them, the gradient-norm
rule, the checked read (a changed copy is refused, naming the file), and how the report uses them."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
import authors_runs as ar  # noqa: E402
import verdicts  # noqa: E402
from job import BadResult  # noqa: E402

REGISTER = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/claims.yaml").read_text())


def runs(*rows):
    """gpt_runs rows: (log, steps_planned, last_step, final_val_loss, optimizer, settings)."""
    return pd.DataFrame([dict(zip(["log", "steps_planned", "last_step", "final_val_loss", "optimizer", "settings"], row))
                         for row in rows])


LOGS = runs(("a/base.txt", 1750, 1750, 3.2786, "Muon", "lr=0.05"),
            ("a/f1.txt", 1750, 1750, 3.2841, "NormMuon", "lr=0.05;sgd_coeff=0.5"),
            ("a/f2.txt", 1750, 1750, 3.2809, "NormMuon", "lr=0.07;sgd_coeff=0.5"),
            ("b/f2.txt", 1750, 1750, 3.2809, "NormMuon", "lr=0.07;sgd_coeff=0.5"),   # the same log, copied
            ("a/cut.txt", 1750, 750, 3.6, "NormMuon", "lr=0.07;sgd_coeff=0.5"),     # cut short
            ("a/neg.txt", 1750, 1750, 3.2818, "NormMuon", "lr=0.05;sgd_coeff=-0.1"))


def test_the_papers_number_is_their_best_run_or_one_run_and_a_number_no_run_prints_differs():
    claim = {"paper": "3.281", "authors": {"steps": 1750, "optimizer": ["NormMuon"], "sgd_coeff": 0.5}}
    assert ar.gpt_evidence(claim, LOGS)[:2] == ("the best of 2 runs (3.2809–3.2841)", "reproduced")
    assert ar.gpt_evidence({"paper": "3.279", "authors": {"optimizer": ["Muon"]}}, LOGS)[:2] == ("one run, 3.2786", "reproduced")
    assert ar.gpt_evidence({"paper": "3.2818", "authors": {"sgd_coeff": -0.1}}, LOGS)[1] == "reproduced"
    assert ar.gpt_evidence({**claim, "paper": "3.284"}, LOGS)[2].endswith("it is one of their runs, not the best")
    assert ar.gpt_evidence({**claim, "paper": "3.275"}, LOGS)[1] == "differs"        # no run prints as 3.275
    assert ar.gpt_evidence({"paper": "3.288", "authors": {"scale_sgd": "False"}}, LOGS)[:2] == ("no log of theirs", "")


def grad_log(fall, accuracy, steps=40):
    norms = np.geomspace(fall, 1.0, steps)
    return pd.DataFrame({"train_acc": np.linspace(0.1, accuracy, steps),
                         **{f"total_{n}": norms for n in ar.NORMS}})


def test_the_gradient_norm_rule_fails_a_fall_over_ten_or_an_accuracy_short_of_100():
    ok = ar.grad_norm_evidence({}, {"Muon": grad_log(6.0, 1.0), "F-Muon": grad_log(8.0, 1.0)}, 5)
    assert ok[1] == "reproduced"
    assert ar.grad_norm_evidence({}, {"Muon": grad_log(6.0, 1.0), "F-Muon": grad_log(40.0, 1.0)}, 5)[1] == "not reproduced"
    assert ar.grad_norm_evidence({}, {"Muon": grad_log(6.0, 0.99)}, 5)[1] == "not reproduced"


def test_a_changed_copy_of_their_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "gpt_runs.csv"
    LOGS.to_csv(path, index=False)
    good = ar.hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(ar.checked_csv(path, {good})) == len(LOGS)
    path.write_text(path.read_text().replace("3.2786", "3.2686"))
    with pytest.raises(BadResult, match=r"gpt_runs.csv.*not the authors'"):
        ar.checked_csv(path, {good})


def test_the_report_takes_the_authors_verdict_where_ours_did_not_run_and_marks_it():
    evidence = pd.DataFrame([{"id": "ng.muon", "authors": "one run, 3.2786", "verdict": "reproduced", "detail": "best",
                              "rule": "the paper's number among theirs"},
                             {"id": "ls.size", "authors": "x", "verdict": "differs", "detail": "theirs", "rule": "r"}])
    frame = verdicts.verdicts(REGISTER, {"ls.size": verdicts.Answer("n = 50", "paper error", "ours", "r")}, evidence).drop_duplicates("id", keep="last").set_index("id")
    assert frame.loc["ng.muon", "verdict"] == "reproduced"
    assert "from the authors' runs, not ours: one run, 3.2786" in frame.loc["ng.muon", "detail"]  # the table shows what
    assert frame.loc["ls.size", "verdict"] == "paper error" and "the authors' runs: x" in frame.loc["ls.size", "detail"]
    assert frame.loc["ng.muon", "authors"] == "one run, 3.2786"
    assert frame.loc["ng.muon", "rule"] == "on the authors' runs: the paper's number among theirs"  # not our margin
