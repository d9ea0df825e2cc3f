"""The Snakemake pipeline end to end, each test in a fresh copy of the workflow (results/ is never touched):
the full-scale DAG, config validation, a user-registered LMO, the quick profile to the PDF, resume after a kill."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from PIL import Image

from conftest import REPO, copy_build, job_counts, snakemake

SCRIPTS = REPO / "workflow/scripts"


def test_full_scale_dry_run_has_every_experiments_jobs(workdir):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["scale"] == "full"
    ls = config["least_squares"]
    counts = job_counts(snakemake(workdir, "-n", "--cores", "1").stdout)
    assert counts.items() >= {
        "least_squares_run": len(ls["sizes"]) * len(ls["methods"]),
        "least_squares_theory": len(ls["sizes"]),
        "least_squares_figure": 1, "least_squares_table": 1, "norm_balls": 4, "norm_asymptotics_run": 1,
        "norm_asymptotics_report": 1, "macros": 1, "paper": 1, "all": 1,
    }.items()
    for smk in set((workdir / "workflow/rules").glob("*.smk")) - {workdir / "workflow/rules/common.smk"}:  # later ones too
        rules = re.findall(r"^rule (\w+):", smk.read_text(), flags=re.M)
        assert any(rule in counts for rule in rules), f"no job of {smk.name} in the full DAG"


@pytest.mark.parametrize("overrides, expected", [
    (["scale=medium"], ["config key scale", "['full', 'quick']"]),
    (["least_squares={lr: -1}"], ["config key least_squares.lr", "allowed: > 0"]),
    (["least_squares={iterations: many}"], ["config key least_squares.iterations", "allowed: type integer"]),
    (["norm_balls={alphas: [0.5, 2]}"], ["config key norm_balls.alphas.1", "allowed: <= 1"]),
    (["norm_asymptotics={seeds: [0]}"], ["config key norm_asymptotics.seeds", "allowed: at least 2 items"]),
    (["least_sqares={lr: 1}"], ["least_sqares", "'least_squares'", "'norm_balls'"]),
    (["least_squares={methods: {bad: {lmo: adam}}}"], ["config key least_squares.methods.bad", "'adam'", "'muon'",
                                                        "list its file in the config key extra_lmos"]),
    (["least_squares={methods: {fm: {lmo: f-muon, k: 3}}}"], ["config key least_squares.methods.fm", "['k']", "alpha"]),
    (["least_squares={methods: {fm: {lmo: f-muon, alpha: [1]}}}"], ["least_squares.methods.fm.alpha", "number"]),
    (["least_squares={methods: {sm: {lmo: s-muon, sign_lr_coeff: 0}}}"],
     ["config key least_squares.methods.sm.sign_lr_coeff", "allowed: > 0"]),
    (["least_squares={methods: {sm: {lmo: s-muon, sign_lr_coeff: [0.01]}}}"],
     ["config key least_squares.methods.sm.sign_lr_coeff", "number"]),
    (["least_squares={methods: {sp: {lmo: schatten, p: 1}}}"], ["config key least_squares.methods.sp.p", "allowed: > 1"]),
    (["least_squares={methods: {fm: {lmo: f-muon, sign_lr_coeff: 0.01}}}"],
     ["config key least_squares.methods.fm", "['sign_lr_coeff']", "alpha"]),
    (["least_squares={lmo_options: {polar: foo}}"], ["config key least_squares.lmo_options.polar", "'foo'", "'newton-schulz'"]),
    (["least_squares={lmo_options: {polr: svd}}"], ["config key least_squares.lmo_options.polr", "'polar'"]),
    (["topk_timing={momentum_run: adam}"], ["config key topk_timing.momentum_run", "'adam'", "'muon-lr0.05'"]),
    (["nanogpt={train: {momentum_snapshot: {parameter: blocks.12.mlp.c_fc.weight, steps: 4}}}"],
     ["config key nanogpt.train.momentum_snapshot.parameter", "blocks.0 to blocks.11"]),
    (["extra_lmos=[no_such_file.py]"], ["config key extra_lmos", "no_such_file.py", "register_lmo"]),
    ([f"least_squares={{methods: {{{'m' * 65}: {{lmo: muon}}}}}}"], ["config key least_squares.methods", "{0,63}"]),
    (["airbench={experiments: {table: {hyper: nonexistent}}}"],
     ["config key airbench.experiments.table.hyper", "'nonexistent'", "['f-muon_v2', 'nsgd_v2', 'reference', 's-muon_v2', 'sign_v2', 'tuned']"]),
    (["airbench={experiments: {fanions: {sweep: {fanon: {k: [1, 2]}}}}}"],
     ["config key airbench.experiments.fanions.sweep.fanon", "['f-neon', 'fanion', 'neon']"]),
    (["airbench={experiments: {fanions: {sweep: {neon: {k: [1, 2]}}}}}"],
     ["config key airbench.experiments.fanions.sweep.neon_k1", "['k']"]),
    (["topk_timing={size: 50, ks: [1, 100]}"], ["config key topk_timing.ks", "allowed: 1 to 49"]),
    (["airbench={experiments: {alpha_reference: {sweep: {f-muon: {alpha: [0.3, 0.30000000000000004]}}}}}"],
     ["config key airbench.experiments.alpha_reference.sweep.f-muon.alpha", "6 significant digits"]),
    (["nanogpt={model: {n_head: 5}}"], ["config key nanogpt.model.n_embd", "2 × n_head = 10"]),
    (["nanogpt={train: {val_tokens: 1000}}"], ["config key nanogpt.train.val_tokens", "seq_len × GPUs = 524288"]),
    (["nanogpt={train: {window: {start: 2048, end: 1792, block: 64}}}"],
     ["config key nanogpt.train.window.start", "allowed: start <= end"]),
    (["norm_asymptotics={sigma: .inf}"], ["config key norm_asymptotics.sigma", "allowed: type number, finite"]),
    (["nanogpt={train: {steps: 1e3}}"], ["config key nanogpt.train.steps", "allowed: type integer, in digits"]),
    (["extra_lmos=[my_norms.py, my_norms.py]"], ["config key extra_lmos", "allowed: no repeated items"]),
    (["nanogpt={train: {momentum_snapshot: {parameter: blocks.1.mlp.c_fc.weight, steps: 2000}}}"],
     ["config key nanogpt.train.momentum_snapshot.steps", "nanogpt.train.steps = 1750", "allowed: at most 1750"]),
])
def test_bad_config_stops_before_any_job_naming_key_and_allowed(workdir, overrides, expected):
    result = snakemake(workdir, "-n", "--cores", "1", "--config", *overrides, check=False)
    assert result.returncode != 0
    assert "Invalid config" in result.stdout and 'File "' not in result.stdout  # the config's fault: no traceback
    for fragment in expected:
        assert fragment in result.stdout, f"{fragment!r} not in:\n{result.stdout}"
    assert not (workdir / "results").exists()


@pytest.mark.parametrize("scale", ["full", "quick"])
def test_the_scale_label_is_not_set_on_the_command_line(workdir, scale):
    # --config scale=full on the quick profile once built quick settings and printed "full scale" on the paper
    result = snakemake(workdir, "-n", "--profile", "profiles/quick", "--cores", "1", "--config", f"scale={scale}",
                       check=False)
    assert result.returncode != 0 and "Invalid config" in result.stdout
    for fragment in ["config key scale", "--config", "drop --profile profiles/quick"]:
        assert fragment in result.stdout, f"{fragment!r} not in:\n{result.stdout}"
    assert not (workdir / "results").exists()


def test_a_yaml_syntax_error_in_the_config_names_its_line(workdir):
    config = workdir / "config.yaml"
    config.write_text(config.read_text().replace("  lr: 0.01\n", "  lr: [0.01\n", 1))
    result = snakemake(workdir, "-n", "--cores", "1", check=False)
    assert result.returncode != 0
    line = 1 + config.read_text().splitlines().index("  lr: [0.01")
    assert "Invalid config:\n  config.yaml, line" in result.stdout and f"line {line + 1}" in result.stdout


def test_a_method_set_to_null_is_removed(workdir):
    out = snakemake(workdir, "-n", "--cores", "1", "--config", "least_squares={methods: {sign: null}}").stdout
    assert "results/least_squares/runs/n50/muon.csv" in out and "n50/sign.csv" not in out


@pytest.mark.slow
def test_the_readme_removal_builds_the_paper_marking_what_it_no_longer_has(quick_build, tmp_path):
    """README's own example once stopped the paper job, the last of the run, on the values its text quotes."""
    removal = re.search(r"\(`'(least_squares=\{methods: \{[^`]*)'`\)", (REPO / "README.md").read_text()).group(1)
    build = copy_build(quick_build, tmp_path / "build")
    snakemake(build, "--profile", "profiles/quick", "--cores", "2", "--config", removal)
    latex = (build / "results/logs/paper.log").read_text()
    marked = re.search(r"The paper marks \d+ values as not in this build: (\[.*\])", latex).group(1)
    keys = set(re.findall(r"'([^']+)'", marked))
    assert {"ls.max.sign.loss_gap", "ls.max.s-muon.loss_gap"} <= keys and "ls.max.muon.loss_gap" not in keys


def test_command_line_alpha_is_a_number_and_adds_a_method(workdir):
    out = snakemake(workdir, "-n", "--cores", "1", "--config",
                    "least_squares={methods: {f-muon-0.3: {lmo: f-muon, alpha: 0.3}}}").stdout
    assert "results/least_squares/runs/n50/f-muon-0.3.csv" in out
    assert "results/least_squares/runs/n50/muon.csv" in out  # merged into the configured methods


def test_a_number_in_scientific_notation_is_a_number(workdir):
    """PyYAML reads 1e-3 (no dot) as a string: it was refused as "not of type 'number'"."""
    out = snakemake(workdir, "-n", "--cores", "1", "--config",
                    "least_squares={lr: 1e-3, methods: {fm: {lmo: f-muon, alpha: 1e-3}}}").stdout
    assert "results/least_squares/runs/n50/fm.csv" in out


USER_LMO = """import fanions
@fanions.register_lmo('columns', dual_norm=lambda M: M.norm(dim=-2).sum(-1))
def columns(M):
    return M / M.norm(dim=-2, keepdim=True).clamp_min(1e-30)
"""
# Every experiment that takes methods, with a user's LMO in its method list: (target, --config), quick profile.
USER_LMO_RUNS = {
    "least_squares": ("results/least_squares/runs/n10/cols.csv",
                      "least_squares={iterations: 20, seeds: [0], methods: {cols: {lmo: columns}}}"),
    "airbench": ("results/airbench/runs/table/cols/block0.csv",
                 "airbench={experiments: {table: {runs: 1, methods: {cols: {lmo: columns}}}}}"),
    "nanogpt": ("results/nanogpt/runs/corpus/cols/seed0.csv",
                "nanogpt={runs: {cols: {method: {lmo: columns}, lr: 0.05}}, train: {steps: 4, val_every: 2, "
                "cooldown_steps: 2, checkpoint_every: 2, momentum_snapshot: {steps: 2}}}"),
    "finetune": ("results/finetune/runs/cols/lr0.02_seed0.csv",
                 "finetune={compare: [cols], baseline: cols, optimizers: {cols: {method: {lmo: columns}, lr: 0.02}}, "
                 "lr_grid: {points: 1, decades: 0}, train: {steps: 4, val_every: 2, cooldown_steps: 2, "
                 "spectra: {steps: [2, 4]}}}"),
}


@pytest.mark.parametrize("experiment", USER_LMO_RUNS)
def test_a_user_registered_lmo_runs_in_every_experiment_that_takes_methods(workdir, experiment):
    (workdir / "my_norms.py").write_text(USER_LMO)
    target, settings = USER_LMO_RUNS[experiment]
    snakemake(workdir, "--profile", "profiles/quick", "--cores", "1", target, "--config", "extra_lmos=[my_norms.py]",
              settings)
    sys.path.insert(0, str(SCRIPTS))
    from job import read_csv, read_provenance
    assert len(read_csv(workdir / target)) > 0
    assert read_provenance(workdir / target)["settings"]["method"] == {"lmo": "columns"}
    if experiment == "least_squares":
        trace = read_csv(workdir / target)
        assert len(trace) == 21 and trace.loss_gap.iloc[-1] < trace.loss_gap.iloc[0]


@pytest.mark.slow
def test_quick_profile_builds_the_paper(quick_build):
    workdir = quick_build
    pdf = workdir / "results/paper/paper.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 50_000
    macros = (workdir / "results/macros.tex").read_text()
    assert r"\newcommand\Scale{quick}" in macros and r"\defval{ls.n50.muon.loss_gap}" in macros
    figures = list((workdir / "results/figures").glob("*.pdf"))
    drawn = re.findall(r"\\includegraphics(?:\[[^]]*\])?\{(\w+)\}", (REPO / "paper/main.tex").read_text())
    assert {figure.stem for figure in figures} == set(drawn)  # every figure the paper draws, and no other
    for figure in figures:
        assert b"git_commit" in figure.read_bytes()  # provenance in the PDF's metadata
        assert "git_commit" in Image.open(figure.with_suffix(".png")).text["provenance"]
    latex = (workdir / "results/logs/paper.log").read_text()
    assert "Overfull \\hbox" not in latex  # no table or line runs into the margin
    assert "not in this build" not in latex  # every value the text quotes (a key mistyped in main.tex shows here)
    sys.path.insert(0, str(SCRIPTS))
    from job import read_provenance
    record = read_provenance(workdir / "results/least_squares/summary.csv")
    quick = yaml.safe_load((REPO / "profiles/quick/overrides.yaml").read_text())
    assert record["scale"] == "quick" and record["settings"]["iterations"] == quick["least_squares"]["iterations"]
    assert record["packages"]["torch"] and record["device"].startswith("cpu")
    jobs = len(list((workdir / "results/benchmarks").rglob("*.tsv")))
    assert jobs == len(list((workdir / "results/logs").rglob("*.log"))) >= 20


def test_killed_run_resumes_without_redoing_finished_jobs(workdir):
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["least_squares"].update(sizes=[10], seeds=[0], iterations=300,
                                   methods={name: {"lmo": name} for name in ("nsgd", "muon", "sign")})
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/figures/least_squares_figure.pdf"
    runs = workdir / "results/least_squares/runs/n10"
    process = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", target], cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(list(runs.glob("*.csv"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    snakemake(workdir, "--unlock", target)  # a SIGKILL leaves the lock behind
    plan = snakemake(workdir, "-n", "--rerun-incomplete", target).stdout
    planned = {line.split("output:")[1].strip() for line in plan.splitlines() if "output:" in line}
    finished = {path: path.stat().st_mtime_ns for path in runs.glob("*.csv")
                if str(path.relative_to(workdir)) not in planned}
    assert 1 <= len(finished) < 3, f"the kill came too late to test anything:\n{plan}"
    snakemake(workdir, "--cores", "1", "--rerun-incomplete", target)
    assert len(list(runs.glob("*.csv"))) == 3 and (workdir / target).exists()
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in finished.items())


def test_lint_is_clean(workdir):
    assert "Congratulations, your workflow is in a good condition!" in snakemake(workdir, "--lint").stdout


def test_the_slurm_profile_does_not_restate_the_resources_config_sets():
    """One source of truth: a GPT job's GPUs, CPUs, memory and time are its config section's `resources`; the SLURM
    profile adds only where it runs (partition, GPU model)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["set-resources"]
    for rule, section in (("nanogpt_train", "nanogpt"), ("finetune_run", "finetune")):
        assert not set(profile[rule]) & set(config[section]["resources"]), rule


def test_the_slurm_profile_gives_gpu_jobs_their_cpus_per_gpu():
    """The CPU request the SLURM plugin's own code makes (sbatch and the job step alike) from the profile's
    resources and, for the GPT jobs, config.yaml's: a GPU job gets its cpus_per_gpu (a profile-wide cpus_per_task
    would win over it: 8 GPUs on one CPU); a CPU job gets its rule's threads."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm_jobstep import get_cpu_setting

    class Resources(dict):
        __getattr__ = dict.__getitem__

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    gpu_rules = {rule: dict(profile["set-resources"][rule]) for rule in ("airbench_run", "topk_timing_run")}
    gpu_rules["nanogpt_train"] = profile["set-resources"]["nanogpt_train"] | config["nanogpt"]["resources"]
    gpu_rules["finetune_run"] = profile["set-resources"]["finetune_run"] | config["finetune"]["resources"]
    for rule, resources in gpu_rules.items():
        job = SimpleNamespace(threads=1, resources=Resources(profile["default-resources"] | resources))
        assert get_cpu_setting(job, gpu=True) == f"--cpus-per-gpu={resources['cpus_per_gpu']}", rule
    job = SimpleNamespace(threads=3, resources=Resources(profile["default-resources"]))
    assert get_cpu_setting(job, gpu=False) == "--cpus-per-task=3"


def test_the_paper_job_runs_without_torch_or_pandas(tmp_path):
    """envs/latex.yaml has no PyTorch and no pandas: paper.py and job.py must import without them."""
    blocker = tmp_path / "sitecustomize.py"  # the interpreter refuses the heavy packages before anything runs
    blocker.write_text("import sys\nclass Refuse:\n    def find_spec(self, name, path=None, target=None):\n"
                       "        if name.split('.')[0] in ('torch', 'pandas', 'numpy', 'fanions'):\n"
                       "            raise ImportError(f'{name} is not in envs/latex.yaml')\n"
                       "sys.meta_path.insert(0, Refuse())\n")
    result = subprocess.run([sys.executable, "-c", "import paper, job"], cwd=SCRIPTS, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr


def readme_files(section):
    """The code blocks of a README section that begin with '# <path>': {path: the rest of the block}."""
    text = (REPO / "README.md").read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\w*\n# (\S+)\n(.*?)```", text, re.S)
    return {path: body for path, body in blocks}


@pytest.mark.slow
def test_a_norm_added_for_one_experiment_reruns_only_what_uses_it(quick_build, tmp_path):
    """README 'Add a norm' on a built paper: its file and one least-squares method plan that method's runs, the
    least-squares report, Table 1 with its checks, the verdicts and the paper; no other experiment's job (the
    user's LMO files are part of a job's code version only where its settings name one of their LMOs)."""
    build = copy_build(quick_build, tmp_path / "build")
    (build / "my_norms.py").write_text(readme_files("Add a norm")["my_norms.py"])
    plan = job_counts(snakemake(build, "-n", "--profile", "profiles/quick", "--config", "extra_lmos=[my_norms.py]",
                                "least_squares={methods: {cols: {lmo: columns}}}").stdout)
    sizes = {**yaml.safe_load((REPO / "config.yaml").read_text())["least_squares"],
             **yaml.safe_load((REPO / "profiles/quick/overrides.yaml").read_text())["least_squares"]}["sizes"]
    assert plan.pop("least_squares_run") == len(sizes)
    assert set(plan) <= {"least_squares_theory", "least_squares_figure", "least_squares_table", "lmo_table",
                         "norm_ball_checks", "verdicts", "macros", "paper", "all"}, plan
    assert {"lmo_table", "norm_ball_checks", "paper"} <= set(plan)


def test_the_readme_walk_through_adds_an_experiment_the_quick_profile_builds(workdir):
    """README 'Add an experiment', followed to the letter: its four pieces (a .smk, a script, a config section and a
    schema section appended as they are) and nothing else; the quick profile plans it with the paper and builds it,
    also with the user's LMO of 'Add a norm'."""
    files = readme_files("Add an experiment")
    assert sorted(files) == ["config.yaml", "workflow/rules/quadratic.smk", "workflow/schemas/config.schema.yaml",
                             "workflow/scripts/quadratic.py"]
    for path, body in files.items():
        with open(workdir / path, "a") as f:  # the two new files are created, the two sections appended
            f.write(body)
    (workdir / "my_norms.py").write_text(readme_files("Add a norm")["my_norms.py"])
    assert "quadratic" in job_counts(snakemake(workdir, "-n", "--profile", "profiles/quick").stdout)
    target = "results/quadratic/steps.csv"
    snakemake(workdir, "--profile", "profiles/quick", "--cores", "1", target, "results/values/quadratic.tex",
              "--config", "extra_lmos=[my_norms.py]", "quadratic={method: {lmo: columns}}")
    sys.path.insert(0, str(SCRIPTS))
    from job import read_csv, read_provenance
    steps = read_csv(workdir / target, ["step", "loss"], finite=["loss"])
    assert len(steps) == 51 and steps.loss.iloc[-1] < 0.1 * steps.loss.iloc[0]
    assert read_provenance(workdir / target)["settings"]["method"] == {"lmo": "columns"}
    assert "quadratic.loss" in (workdir / "results/values/quadratic.tex").read_text()


@pytest.mark.slow
def test_the_html_report_holds_every_figure(quick_build):
    """snakemake --report: every figure of the build in one HTML file, grouped by experiment, with its caption."""
    snakemake(quick_build, "--profile", "profiles/quick", "--report", "results/report.html")
    html = (quick_build / "results/report.html").read_text()
    figures = sorted(path.name for path in (quick_build / "results/figures").glob("*.png"))
    assert figures and [name for name in figures if name not in html] == []
    assert "Least squares" in html and "fanions-repro regenerates" in html
    assert "paper error" in html and "not checked at this scale" in html  # the verdicts on the front page


def test_the_pipeline_extra_installs_what_the_report_needs():
    """The README's first command installs fanions[pipeline] only (no pytest, which brings pygments to the tests):
    snakemake --report needs snakemake's 'reports' extra."""
    from importlib.metadata import requires
    snakemake_requirement = next(r for r in requires("fanions") if re.match(r"snakemake\b(?!-)", r)
                                 and 'extra == "pipeline"' in r)
    assert re.match(r"snakemake\[([\w,]*,)?reports(,[\w,]*)?\]", snakemake_requirement), snakemake_requirement


def test_a_bad_claims_register_stops_before_any_job(workdir):
    """The register is checked with the config: each claim with its keys, no id twice."""
    register = workdir / "workflow/claims.yaml"
    register.write_text(register.read_text() + "- id: ls.size\n  version: [drafts]\n  where: §6.1\n  words: again\n"
                        "  paper: x\n  test: {}\n  needs: nothing\n- id: new\n  words: no place\n"
                        "- id: v3.claim\n  version: [v3]\n  where: §1\n  words: w\n  paper: x\n  test: {}\n  needs: n\n")
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "claim id 'ls.size' is used twice" in result.stdout
    assert ("keys ['id', 'words']; allowed: ['id', 'needs', 'paper', 'test', 'version', 'where', 'words'] and "
            "optionally ['authors', 'code', 'superseded_by']") in result.stdout
    assert "claim 'v3.claim': version ['v3']; allowed: a list of ['drafts', 'v2']" in result.stdout


@pytest.mark.slow
def test_the_readme_table_is_written_by_a_rule_from_the_verdicts(quick_build, tmp_path):
    """snakemake readme writes the verdicts' Markdown table between the README's markers, the rest untouched; at
    quick scale the least-squares, §5, Appendix C and Table 1 verdicts are real and the data-bound ones are not run."""
    build = copy_build(quick_build, tmp_path / "build")
    shutil.copy(REPO / "README.md", build / "README.md")
    snakemake(build, "--profile", "profiles/quick", "--cores", "1", "readme")
    before, after = (REPO / "README.md").read_text(), (build / "README.md").read_text()
    start, end = "<!-- verdicts: written by `snakemake readme`; do not edit -->", "<!-- /verdicts -->"
    assert after.split(start)[0] == before.split(start)[0] and after.split(end)[1] == before.split(end)[1]
    table = after.split(start)[1].split(end)[0]
    assert table.strip() == (build / "results/reproduction.md").read_text().strip()
    sys.path.insert(0, str(SCRIPTS))
    from job import read_csv
    rows = read_csv(build / "results/reproduction.csv", ["id", "version", "verdict"])
    verdicts = rows[rows["version"] == "v2"].set_index("id")["verdict"]  # one row per (claim, version)
    assert verdicts["appc.fmuon_ball"] == "paper error" and verdicts["table1.registry"] == "reproduced"
    assert verdicts["ab.muon"] == "not checked at this scale"  # ng.muon: the authors' runs decide it where they lie


def test_the_jobs_conda_env_holds_every_package_the_pipeline_extra_gives_the_jobs():
    """--sdm conda runs the jobs in envs/fanions.yaml: each package of the [pipeline] extra but Snakemake's own
    (its plugin, jsonschema for the config check) is there too (scipy once was not, which 4 scripts import)."""
    import tomllib
    name = re.compile(r"[A-Za-z0-9_.-]+")
    extra = {name.match(spec).group().lower() for spec in
             tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["pipeline"]}
    env = {name.match(spec).group().lower() for spec in
           yaml.safe_load((REPO / "envs/fanions.yaml").read_text())["dependencies"]}
    assert extra - {"snakemake", "snakemake-executor-plugin-slurm", "jsonschema"} - env == set()
