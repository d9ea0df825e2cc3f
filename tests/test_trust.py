"""What makes the PDF trustworthy: a changed setting reruns exactly its jobs, a cut or stale result is
refused by whoever reads it, the full scale does not start on a laptop, and outputs are reproducible."""
import os
import stat
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, copy_build, job_counts, snakemake

sys.path.insert(0, str(REPO / "workflow/scripts"))
import job  # noqa: E402

QUICK = ("--profile", "profiles/quick", "--cores", "2")

# One setting per rule (or group of rules that share it), and the rules whose jobs read it directly: a dry
# run with the change must plan exactly what `--forcerun <those rules>` plans, their dependents included.
SETTING_CHANGES = [
    ("least_squares={lr: 0.02}", ["least_squares_run", "least_squares_table"]),
    ("least_squares={op_target: 2.0}", ["least_squares_theory", "least_squares_table"]),
    ("norm_balls={grid: 60}", ["norm_balls"]),
    ("norm_balls={ky_fan_k: 3}", ["norm_balls", "norm_ball_checks"]),
    ("norm_asymptotics={seeds: [0, 1]}", ["norm_asymptotics_run", "norm_asymptotics_report"]),
    ("norm_asymptotics={level: 0.9}", ["norm_asymptotics_report"]),
    ("topk_timing={size: 200}", ["topk_timing_run"]),
    ("topk_timing={reps: 3}", ["topk_timing_run"]),
    ("topk_timing={warm_ks: [1, 4]}", ["topk_warm_start"]),
    ("topk_float64={reps: {n500: 2}}", ["topk_float64_run", "topk_float64_report"]),
    ("topk_float64={ns_reps: {n500: 2}}", ["topk_float64_ns", "topk_float64_report"]),
    ("least_squares_tuned={check_every: 20}", ["least_squares_tuned_grid", "least_squares_tuned_report"]),
    ("least_squares_tuned={iterations: 200}", ["least_squares_tuned_curves", "least_squares_tuned_report"]),
    ("authors_runs={grad_norms: {window: 3}}", ["authors_runs"]),
    ("airbench={data: {synthetic: {train_per_class: 70, test_per_class: 30}}}", ["airbench_data"]),
    ("airbench={train: {label_smoothing: 0.1}}", ["airbench_run", "airbench_grad_norms_run", "airbench_figure",
                                                 "airbench_table"]),
    ("airbench={grad_norms: {window: 2}}", ["airbench_grad_norms_report", "airbench_figure", "airbench_table"]),
    ("norm_balls={lr_balls: [muon]}", ["norm_balls"]),
    ("nanogpt={data: {corpus: {generated_documents: 300}}}", ["nanogpt_corpus"]),
    ("nanogpt={data: {corpus: {val_documents: 50}}}", ["nanogpt_convert"]),
    ("nanogpt={train: {steps: 60}}", ["nanogpt_train"]),
    ("nanogpt={baseline: muon-lr0.07}", ["nanogpt_report"]),
    ("finetune={data: {generated: {train_stories: 250, val_stories: 60}}}", ["finetune_corpus"]),
    ("finetune={data: {max_story_tokens: 100}}", ["finetune_tokenize", "finetune_run"]),
    ("finetune={train: {warmup_steps: 3}}", ["finetune_run"]),
    ("finetune={tolerance: 0.02}", ["finetune_report"]),
]
# The scale label is every computing job's setting (no result of one scale is reused at another); it comes with
# the config files (common.smk refuses --config scale=...), so a file relabels the quick settings here.
EVERY_COMPUTING_RULE = [
    "least_squares_run", "least_squares_theory", "least_squares_figure", "least_squares_table", "norm_balls",
    "lmo_table", "norm_ball_checks", "norm_asymptotics_run", "norm_asymptotics_report", "topk_timing_run",
    "topk_timing_report", "topk_warm_start", "topk_float64_run", "topk_float64_ns", "topk_float64_report",
    "least_squares_tuned_grid", "least_squares_tuned_curves", "least_squares_tuned_report", "authors_runs",
    "airbench_run", "airbench_figure", "airbench_table", "airbench_grad_norms_run", "airbench_grad_norms_report",
    "nanogpt_train",
    "nanogpt_report", "finetune_run", "finetune_report", "verdicts", "macros", "paper"]


def planned(build, *args):
    result = snakemake(build, "-n", *QUICK, *args)
    return {} if "Nothing to be done" in result.stdout else job_counts(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("change, rules", SETTING_CHANGES, ids=[change for change, _ in SETTING_CHANGES])
def test_a_changed_setting_reruns_exactly_its_rules_jobs_and_their_dependents(quick_build, change, rules):
    assert planned(quick_build, "--config", change) == planned(quick_build, "--forcerun", *rules)


@pytest.mark.slow
def test_another_scale_label_reruns_every_computing_job(quick_build, tmp_path):
    label = tmp_path / "full_scale_label.yaml"
    label.write_text("scale: full\n")
    relabelled = planned(quick_build, "--configfiles", "config.yaml", "profiles/quick/overrides.yaml", str(label))
    assert relabelled == planned(quick_build, "--forcerun", *EVERY_COMPUTING_RULE)


@pytest.mark.slow
def test_every_rule_of_the_quick_build_has_a_setting_change_tested(quick_build):
    assert planned(quick_build) == {}  # the build is complete: what the changes plan is theirs alone
    every_rule = set(planned(quick_build, "--forceall")) - {"all"}
    assert every_rule == {rule for _, rules in SETTING_CHANGES for rule in rules} | set(EVERY_COMPUTING_RULE)


def cut(path, keep):
    """Keep the first ``keep`` bytes of a file, as a disk-full or a killed copy would."""
    data = path.read_bytes()
    path.write_bytes(data[:keep])


# The rules that carry settings and whose script runs the GPT (finetune.py, nanogpt.py; verdicts.py imports
# nanogpt.py), and those whose script imports fanions too (least_squares.py, norm_balls.py, airbench.py,
# topk_timing.py; nanogpt.py through the train_gpt.py it runs; verdicts.py through least_squares.py).
GPT_RULES = ["finetune_corpus", "finetune_tokenize", "finetune_run", "finetune_report", "nanogpt_corpus",
             "nanogpt_convert", "nanogpt_train", "nanogpt_report", "verdicts"]
LIBRARY_RULES = GPT_RULES + ["least_squares_run", "least_squares_theory", "least_squares_figure",
                             "least_squares_table", "norm_ball_checks", "lmo_table", "norm_balls", "airbench_run",
                             "airbench_grad_norms_run",
                             "topk_timing_run", "topk_timing_report", "topk_warm_start", "topk_float64_run",
                             "topk_float64_ns", "topk_float64_report", "least_squares_tuned_grid",
                             "least_squares_tuned_curves", "least_squares_tuned_report"]  # not authors_runs: no torch


@pytest.mark.slow
def test_a_library_change_reruns_the_jobs_that_use_it_and_a_docstring_does_not(quick_build, tmp_path):
    """Snakemake's own code trigger sees a job's script only; the code version in its params (job.code_version)
    covers what the script imports from this repository."""
    build = copy_build(quick_build, tmp_path / "build")
    expected = {name: planned(build, "--forcerun", *rules)
                for name, rules in (("gpt", GPT_RULES), ("library", LIBRARY_RULES))}

    def edit(path, old, new):
        source = build / path
        assert old in source.read_text(), path
        source.write_text(source.read_text().replace(old, new, 1))

    edit("lib/fanions/topk.py", '"""Top-k singular triplets', '# a comment\n"""Top-k singular triplets (reworded)')
    assert planned(build) == {}
    edit("workflow/scripts/gpt/model.py", "import torch\n", "import torch\n\nUNUSED_HERE = 0\n")  # the GPT's code
    assert planned(build) == expected["gpt"]
    edit("workflow/scripts/gpt/model.py", "import torch\n\nUNUSED_HERE = 0\n", "import torch\n")
    assert planned(build) == {}
    edit("lib/fanions/polar.py", "import torch\n", "import torch\n\nA_NEW_CONSTANT = 1\n")
    assert planned(build) == expected["library"]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["row boundary", "mid-line", "digit"])
def test_a_cut_result_stops_its_readers_before_they_write(quick_build, tmp_path, where):
    build = copy_build(quick_build, tmp_path / "build")
    runs = build / "results/least_squares/runs/n10/muon.csv"
    text = runs.read_text()
    if where == "row boundary":  # half of the last seed's rows gone: the mean of what is left looks fine
        lines = text.splitlines(keepends=True)
        keep = len("".join(lines[:len(lines) - len(lines) // 4]))
    elif where == "mid-line":
        keep = len(text) - 7
    else:  # one digit of the last number gone: every row still parses
        keep = len(text.rstrip("\n")) - 1
    cut(runs, keep)
    outputs = [build / "results/tables/least_squares_table.tex", build / "results/figures/least_squares_figure.pdf"]
    before = {path: path.stat().st_mtime_ns for path in outputs}
    result = snakemake(build, *QUICK, check=False)
    assert result.returncode != 0
    assert "snakemake --cores all --forcerun results/least_squares/runs/n10/muon.csv" in result.stdout
    assert "--forcerun least_squares_run redoes every job of its rule" in result.stdout
    for path, mtime in before.items():  # Snakemake clears a job's outputs before it runs; none was written anew
        assert not path.exists() or path.stat().st_mtime_ns == mtime, path
    fix = planned(build, "--forcerun", "results/least_squares/runs/n10/muon.csv")  # the command it names: that one job
    assert fix["least_squares_run"] == 1 and fix["least_squares_table"] == 1, fix


def test_reading_checks_rows_content_columns_values_and_scale(tmp_path, monkeypatch):
    path = tmp_path / "result.csv"
    frame = pd.DataFrame({"seed": [0, 0, 1, 1], "loss": [1.0, 0.5, 1.0, 0.25]})
    job.write_csv(frame, path, {"rule": "some_rule", "scale": "quick"})
    assert job.read_csv(path, ["seed", "loss"], finite=["loss"]).equals(frame)
    with pytest.raises(job.BadResult, match=r"lacks the columns \['grad'\].*--forcerun some_rule"):
        job.read_csv(path, ["seed", "grad"])
    monkeypatch.setitem(job.JOB, "scale", "full")
    with pytest.raises(job.BadResult, match="built at scale 'quick', this job runs at 'full'"):
        job.read_csv(path)
    monkeypatch.setitem(job.JOB, "scale", "quick")
    job.write_csv(frame.assign(loss=[1.0, float("nan"), 1.0, 0.25]), path, {"rule": "some_rule", "scale": "quick"})
    with pytest.raises(job.BadResult, match=r"columns \['loss'\] hold NaN"):
        job.read_csv(path, finite=["loss"])
    path.write_text(path.read_text().replace("0.25", "0.26"))
    with pytest.raises(job.BadResult, match="sha256 differs"):
        job.read_csv(path)
    path.write_text("seed,loss\n0,1.0\n")  # no record of its rule: the fix still names the file to rebuild
    with pytest.raises(job.BadResult, match=f"not a provenance record.*snakemake --cores all --forcerun {path} "):
        job.read_csv(path)


def test_an_edited_json_result_is_refused_like_an_edited_csv(tmp_path):
    """A JSON summary once had no sha256: an edited loss was read and blessed by the tables made from it."""
    path = tmp_path / "seed0.json"
    job.write_json({"final_val_loss": 0.568, "provenance": {"rule": "r", "settings": {"scale": "quick"}}}, path)
    assert job.read_json(path, ["final_val_loss"], "r")["final_val_loss"] == 0.568
    path.write_text(path.read_text().replace("0.568", "0.068"))
    with pytest.raises(job.BadResult, match="seed0.json: its content is not what its producer wrote"):
        job.read_json(path, ["final_val_loss"], "r")


def test_a_result_is_stale_once_an_input_it_was_made_from_changes_content(tmp_path, monkeypatch):
    """A table records the sha256 of each result it read; re-stamping its input with other content (a valid
    result, or an edit restored with its old time) makes the table stale, and the original content does not."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    source, table = "results/runs.csv", tmp_path / "results/table.tex"
    job.write_csv(pd.DataFrame({"loss": [0.5]}), source, {"rule": "run", "scale": "quick"})
    job.write_tex("x\n", table, {"rule": "table", "scale": "quick", "inputs": job.input_sha256s([source, "data.bin"])})
    assert job.stale_results("results") == []
    original = (tmp_path / source).read_bytes()
    paper = tmp_path / "results/macros.tex"  # made from the table: stale with it
    job.write_tex("y\n", paper, {"rule": "macros", "scale": "quick", "inputs": job.input_sha256s(["results/table.tex"])})
    job.write_csv(pd.DataFrame({"loss": [0.05]}), source, {"rule": "run", "scale": "quick"})
    assert sorted(job.stale_results("results")) == [(paper.relative_to(tmp_path), "results/table.tex"),
                                                    (table.relative_to(tmp_path), source)]
    (tmp_path / source).write_bytes(original)
    assert job.stale_results("results") == []


@pytest.mark.slow
def test_an_edited_input_is_never_blessed_by_the_results_made_from_it(quick_build, tmp_path):
    """The case as a tester found it: an edited NanoGPT run summary, dated back. The report that read it is rebuilt
    and stops on it, naming the file; restored, the build completes, the table is what it was, and no result made
    from other content is left."""
    build = copy_build(quick_build, tmp_path / "build")
    summary = next((build / "results/nanogpt/runs").rglob("seed0.json"))
    table = build / "results/tables/nanogpt_table.tex"
    original, stamp, before = summary.read_text(), summary.stat().st_mtime_ns, table.read_text()
    loss = job.json.loads(original)["final_val_loss"]
    summary.write_text(original.replace(repr(loss), repr(loss / 8), 1))
    os.utime(summary, ns=(stamp, stamp))  # its old time: Snakemake's mtime sees nothing
    result = snakemake(build, *QUICK, check=False)
    assert result.returncode != 0 and "was made from" in result.stdout  # (stderr goes to stdout)
    assert f"{summary.relative_to(build)}: its content is not what its producer wrote" in result.stdout
    summary.write_text(original)
    os.utime(summary, ns=(stamp, stamp))
    snakemake(build, *QUICK)
    body = lambda text: text.split("\n", 1)[1]  # noqa: E731 (the provenance line names the copy's commit: none)
    assert body(table.read_text()) == body(before)  # made again from the restored summary: no trace of the edit
    os.chdir(build)  # stale_results reads the recorded input paths relative to the build
    try:
        assert job.stale_results("results") == []
    finally:
        os.chdir(REPO)


def test_a_job_dies_with_its_parent_even_when_the_parent_is_killed_hard(tmp_path):
    """kill -9 of Snakemake's own pid once left the job (and the trainer it launched) running: a parent process
    starts a child that calls die_with_parent, and is killed with SIGKILL; the child must be gone."""
    import signal
    import subprocess
    import time
    pid_file = tmp_path / "child.pid"
    child = (f"import os, sys, time; sys.path.insert(0, {str(REPO / 'workflow/scripts')!r}); import job; "
             f"job.die_with_parent(); open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys, time; "
                               f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"])
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    status = Path(f"/proc/{pid}/status")
    for _ in range(100):  # gone, or a zombie its new parent has not reaped yet
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the child outlived its SIGKILLed parent")


def test_tex_results_are_ascii_and_a_stray_character_is_named_by_its_writer(tmp_path):
    with pytest.raises(ValueError, match=r"characters \['×'\] in TeX"):
        job.write_tex("8×8 digits", tmp_path / "t.tex", {"rule": "r", "scale": "quick"})
    assert not (tmp_path / "t.tex").exists()


def test_results_are_written_whole_and_readable_by_the_group(tmp_path):
    path = tmp_path / "out.tex"
    old = os.umask(0o022)
    try:
        job.write_tex("text\n", path, {"rule": "r", "scale": "quick"})
        with pytest.raises(ZeroDivisionError), job.atomic_write(path) as f:
            f.write("half")
            1 / 0
    finally:
        os.umask(old)
    assert job.read_result(path)[1] == "text\n"  # the failed write left the old file whole
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tex"]


def test_values_files_are_byte_identical_between_identical_runs(workdir):
    target = "results/values/least_squares.tex"
    settings = "least_squares={iterations: 10, seeds: [0], sizes: [4, 6], methods: {muon: {lmo: muon}}}"
    snakemake(workdir, "--cores", "1", target, "--config", settings, env={"PYTHONHASHSEED": "0"})
    first = (workdir / target).read_bytes()
    snakemake(workdir, "--cores", "1", target, "--config", settings, "--forcerun", "least_squares_table",
              env={"PYTHONHASHSEED": "1"})
    assert (workdir / target).read_bytes() == first


def test_the_full_scale_on_a_machine_without_gpu_stops_before_any_job(workdir):
    result = snakemake(workdir, "--cores", "1", check=False)
    assert result.returncode != 0 and "Nothing was run" in result.stdout and 'File "' not in result.stdout
    for fragment in ("ask for a GPU", "--profile profiles/quick", "--profile profiles/slurm", "gpu_jobs_on_cpu=true",
                     "airbench.data.local_copy", "nanogpt.data.source: local"):
        assert fragment in result.stdout, f"{fragment!r} not in:\n{result.stdout}"
    assert not (workdir / "results").exists()


def test_offline_without_the_tokenizer_files_stops_before_any_job_naming_the_key(workdir):
    result = snakemake(workdir, *QUICK, "--config", "nanogpt={data: {corpus: {tiktoken_cache: no/such/folder}}}",
                       check=False, env={"TIKTOKEN_CACHE_DIR": None})
    assert result.returncode != 0 and "Nothing was run" in result.stdout
    assert "GPT-2's tokenizer files" in result.stdout and "nanogpt.data.corpus.tiktoken_cache" in result.stdout
    assert not (workdir / "results").exists()


def test_a_user_lmo_file_outside_the_repository_is_part_of_the_code_version(tmp_path):
    """extra_lmos may name a file by an absolute path outside the clone: its content enters the job's code
    version like a repo-relative one's (the path once made the dry run die in relative_to)."""
    norms = tmp_path / "my_norms.py"
    norms.write_text("x = 1\n")
    before = job.code_version("workflow/scripts/norm_balls.py", str(norms))
    norms.write_text("x = 2\n")
    job._file_version.cache_clear()  # both cached once per Snakemake start
    job.code_version.cache_clear()
    assert job.code_version("workflow/scripts/norm_balls.py", str(norms)) != before


def test_the_paper_refuses_a_cut_figure_or_table_before_latex_reads_it(tmp_path):
    """A cut PDF figure made the paper job fail with pdfTeX's 'reading PDF image failed', naming no way to rebuild
    it; now it names the file and the command, as a cut table does."""
    import matplotlib.pyplot as plt
    import paper
    figure, table = tmp_path / "figure.pdf", tmp_path / "table.tex"
    plt.figure().savefig(figure)
    job.write_tex("a & b \\\\\n", table, {"rule": "some_rule", "scale": "quick"})
    paper.check_results([str(figure), str(table)])
    figure.write_bytes(figure.read_bytes()[:-200])
    with pytest.raises(job.BadResult, match=f"{figure}: it is not a whole PDF.*--forcerun {figure} "):
        paper.check_results([str(figure), str(table)])
    table.write_text(table.read_text()[:-3])
    with pytest.raises(job.BadResult, match="sha256 differs.*--forcerun some_rule"):
        paper.check_results([str(table)])
