"""profiles/slurm on a real SLURM: a one-node cluster on localhost (tests/slurm/cluster.sh: Debian's slurmctld, slurmd
and munge, no accounting database, two fake GPUs). The quick build's GPU runs, a CPU run and everything made from
them, the paper included, are rebuilt through the profile: every job is an sbatch submission the cluster records,
the GPU rules are scheduled with the profile's GPU request and run with CUDA_VISIBLE_DEVICES, and the results are
the local build's (timing columns aside). Then the faults: a job cancelled with scancel, a job over its memory and
one over its time.

Without a cluster up the tests skip; FANIONS_SLURM_REQUIRED=1 has them start it (FANIONS_SLURM_INSTALL=1 lets
cluster.sh install it, as root). CI does not start it yet (README, Benchmarks: SLURM)."""
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from filelock import FileLock

from conftest import REPO, copy_build, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CLUSTER = REPO / "tests/slurm/cluster.sh"
CLUSTER_DIR = Path(os.environ.get("FANIONS_SLURM_DIR", "/tmp/fanions-slurm"))
PROFILE = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
# The paper's GPU rules (full scale asks each for GPUs): on SLURM they must ask for them whatever the scale
GPU_RULES = {"airbench_run", "topk_timing_run", "nanogpt_train", "finetune_run"}
# What each rebuilt here asks: the profile's set-resources (nanogpt/finetune take theirs from config.yaml)
REBUILT = [  # (a result of the quick build, its rule)
    ("results/airbench/runs/table/muon/block0.csv", "airbench_run"),
    ("results/topk_timing/runs/gaussian.csv", "topk_timing_run"),
    ("results/least_squares/runs/n10/muon.csv", "least_squares_run"),
]
TIMING = re.compile(r"seconds|(^|_)ms($|_)|time_|_time|elapsed|load")  # what measures the machine (times, load)
# The profile's resource names the SLURM executor reads (a misspelt one would be passed on silently as a resource)
KNOWN_RESOURCES = {"slurm_partition", "slurm_account", "runtime", "mem_mb", "mem_mb_per_cpu", "gpu", "gpu_model",
                   "cpus_per_gpu", "cpus_per_task", "nodes", "tasks", "tasks_per_gpu", "slurm_extra", "constraint",
                   "qos", "clusters", "gres", "disk_mb"}


def slurm_args(*extra):
    """The profile as a user runs it, on the quick scale's settings; status checks every 5 s (not 40)."""
    return ["--profile", "profiles/slurm", "--configfiles", "config.yaml", "profiles/quick/overrides.yaml",
            "--slurm-init-seconds-before-status-checks", "5", *extra]


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    required = os.environ.get("FANIONS_SLURM_REQUIRED") == "1"
    up = subprocess.run(["bash", str(CLUSTER), "status"], capture_output=True).returncode == 0
    if not (up or required):  # opt-in: a cluster already up, or FANIONS_SLURM_REQUIRED=1 to start one
        pytest.skip("no SLURM cluster up: tests/slurm/cluster.sh start, or FANIONS_SLURM_REQUIRED=1 to have the tests "
                    "start it (FANIONS_SLURM_INSTALL=1 installs it, as root)")
    if shutil.which("sbatch") is None and os.environ.get("FANIONS_SLURM_INSTALL") != "1":
        pytest.fail("no SLURM here: tests/slurm/cluster.sh start (FANIONS_SLURM_INSTALL=1 installs it, as root)")
    with FileLock(tmp_path_factory.getbasetemp().parent / "slurm_cluster.lock"):
        started = subprocess.run(["bash", str(CLUSTER), "start"], text=True, capture_output=True)
    assert started.returncode == 0, f"the test cluster did not start:\n{started.stdout}{started.stderr}"
    return CLUSTER_DIR


def submissions(output):
    """{Snakemake job id: (rule, SLURM job id or None)} of a run's output; local rules' jobs are left out."""
    rules = {jobid: rule for rule, jobid in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)", output,
                                                       flags=re.M)}
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output))
    return {jobid: (rule, submitted.get(jobid)) for jobid, rule in rules.items()}


def cluster_record(slurm_jobid):
    """The cluster's record of a job (slurmctld keeps it MinJobAge = 600 s after it ends): {field: value}."""
    shown = subprocess.run(["scontrol", "show", "job", "-o", slurm_jobid], text=True, capture_output=True).stdout
    return dict(re.findall(r"(\w+(?:/\w+)?)=(\S*)", shown))


def tasks(slurm_jobid):
    """The cluster's TaskProlog lines of a job: {step ('batch': the sbatch script): CUDA_VISIBLE_DEVICES or 'unset'}."""
    lines = (CLUSTER_DIR / "tasks.log").read_text().splitlines() if (CLUSTER_DIR / "tasks.log").exists() else []
    found = (re.match(r"job=(\d+) step=(\S*) partition=\S* cuda_visible_devices=(\S*)", line) for line in lines)
    return {match.group(2) or "batch": match.group(3) for match in found if match and match.group(1) == slurm_jobid}


def minutes(limit):
    """A SLURM time limit (D-HH:MM:SS, HH:MM:SS or MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1] + parts[2] / 60


def frame(path):
    """A result CSV's rows, its timing columns left out; its provenance without the body's hash, the device and the
    commit (the test's copy of the workflow is no git checkout: its jobs record 'unknown')."""
    text = Path(path).read_text()
    first, _, body = text.partition("\n")
    prov = yaml.safe_load(first.split("provenance: ", 1)[1])
    data = pd.read_csv(io.StringIO(body))
    return {key: value for key, value in prov.items() if key not in ("sha256", "device", "git_commit")}, \
        data[[column for column in data if not TIMING.search(column)]]


def test_the_profile_names_only_resources_the_executor_reads():
    for rule, resources in {"default-resources": PROFILE["default-resources"], **PROFILE["set-resources"]}.items():
        assert set(resources) <= KNOWN_RESOURCES, f"{rule}: {set(resources) - KNOWN_RESOURCES}"
    assert PROFILE["slurm-status-command"] == "squeue"  # no accounting database needed (README, SLURM section)


@pytest.fixture(scope="session")
def slurm_build(slurm_cluster, quick_build, tmp_path_factory):
    """The quick build, its GPU runs and a CPU run removed, rebuilt through profiles/slurm (everything made from
    them with them: tables, figures, verdicts, macros, the paper). The removed files are named as targets: Snakemake
    remakes a missing file only when asked for it while what was made from it is up to date."""
    build = copy_build(quick_build, tmp_path_factory.mktemp("slurm_build"))
    local = tmp_path_factory.mktemp("local_results")
    for path, _ in REBUILT:
        (local / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(build / path, local / path)
    paper = build / "results/paper/paper.pdf"
    paper_time = paper.stat().st_mtime_ns
    start = time.time()
    result = snakemake(build, *(path for path, _ in REBUILT), "all", *slurm_args(), check=False, timeout=3600)
    (build / "slurm_run.log").write_text(result.stdout)
    assert result.returncode == 0, f"the SLURM build failed ({time.time() - start:.0f} s):\n{result.stdout[-20000:]}"
    assert paper.stat().st_mtime_ns > paper_time, "the paper was not rebuilt"
    print(f"SLURM build: {time.time() - start:.0f} s", file=sys.stderr)
    return build, local, result.stdout


def test_every_job_is_an_sbatch_submission_the_cluster_ran(slurm_build):
    build, _, output = slurm_build
    jobs = submissions(output)
    rules = {rule for rule, _ in jobs.values()}
    assert {rule for _, rule in REBUILT} | {"paper", "macros"} <= rules, output
    for jobid, (rule, slurm_jobid) in jobs.items():
        assert slurm_jobid, f"job {jobid} ({rule}) was not submitted with sbatch"
        record = cluster_record(slurm_jobid)
        assert record.get("JobState") == "COMPLETED" and record.get("BatchFlag") == "1", (rule, record)
        assert record.get("WorkDir") == str(build), (rule, record)
        wanted = {**PROFILE["default-resources"], **PROFILE["set-resources"].get(rule, {})}
        assert record["Partition"] == wanted["slurm_partition"], (rule, record)
        assert minutes(record["TimeLimit"]) == wanted["runtime"], (rule, record)
        assert record["MinMemoryNode"] in (f"{wanted['mem_mb']}M", f"{wanted['mem_mb'] / 1000:g}G",
                                           f"{wanted['mem_mb'] / 1024:.2f}G"), (rule, record)
        steps = tasks(slurm_jobid)
        assert "batch" in steps and "0" in steps, (rule, steps)  # the sbatch script, and the job step (srun)
        if rule in GPU_RULES:
            assert "gpu:" in record.get("TresPerJob", ""), f"{rule} was scheduled without its GPU: {record}"
            assert record["NumCPUs"] == str(wanted["cpus_per_gpu"] * wanted["gpu"]), (rule, record)
            assert all(devices not in ("unset", "") for devices in steps.values()), (rule, steps)
        else:
            assert "gpu" not in record.get("TresPerJob", ""), (rule, record)
            assert set(steps.values()) == {"unset"}, (rule, steps)


def test_the_slurm_results_are_the_local_builds(slurm_build):
    build, local, _ = slurm_build
    for path, rule in REBUILT:
        local_prov, local_rows = frame(local / path)
        slurm_prov, slurm_rows = frame(build / path)
        assert slurm_prov == local_prov, path
        pd.testing.assert_frame_equal(slurm_rows, local_rows, obj=path)
    log = (build / "results/logs/paper.log").read_text()
    assert "not in this build" not in log
    assert (build / "results/paper/paper.pdf").read_bytes().startswith(b"%PDF")


def squeue_job(workdir, rule, states="RUNNING"):
    """The SLURM job id of a job of ``rule`` run from ``workdir`` in one of ``states``, or None."""
    listed = subprocess.run(["squeue", "-h", "-t", states, "-o", "%i|%k|%Z"], text=True, capture_output=True).stdout
    for line in listed.splitlines():
        jobid, comment, where = line.split("|", 2)
        if comment.startswith(f"rule_{rule}") and where == str(workdir):
            return jobid
    return None


def test_a_job_cancelled_with_scancel_fails_the_run_and_the_rerun_redoes_only_it(slurm_cluster, workdir):
    cancelled, kept = "results/least_squares/runs/n10/sign.csv", "results/least_squares/runs/n10/nsgd.csv"
    process = subprocess.Popen([sys.executable, "-m", "snakemake", cancelled, kept, *slurm_args("--retries", "0")],
                               cwd=workdir, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline, jobid = time.time() + 300, None
    while time.time() < deadline and not jobid and process.poll() is None:
        for log in (workdir / ".snakemake/log").glob("*.log"):
            match = re.search(r"rule least_squares_run:\n(?:    .*\n)*?    wildcards: size=10, method=sign\n"
                              r"(?:.*\n)*?Job \d+ has been submitted with SLURM jobid (\d+)", log.read_text())
            if match and squeue_job(workdir, "least_squares_run") is not None:
                listed = subprocess.run(["squeue", "-h", "-j", match.group(1), "-t", "RUNNING", "-o", "%i"],
                                        text=True, capture_output=True).stdout.strip()
                jobid = listed or None
        time.sleep(0.5)
    if not jobid:
        process.kill()
        assert False, f"the job to cancel never ran:\n{process.communicate()[0]}"
    subprocess.run(["scancel", jobid], check=True)
    output, _ = process.communicate(timeout=600)
    assert process.returncode != 0, output
    assert re.search(r"Error in rule least_squares_run:\n(?:    .*\n)*?    log: results/logs/least_squares_run/"
                     r"n10_sign\.log", output), output
    assert "was cancelled (scancel, or an administrator)" in output and f"SLURM job {jobid}" in output, output
    assert (workdir / kept).exists() and not (workdir / cancelled).exists(), output
    kept_time = (workdir / kept).stat().st_mtime_ns
    rerun = snakemake(workdir, cancelled, kept, *slurm_args("--retries", "0"), timeout=900).stdout
    assert [rule for rule, _ in submissions(rerun).values()] == ["least_squares_run"], rerun
    assert "wildcards: size=10, method=sign" in rerun and "method=nsgd" not in rerun, rerun
    assert (workdir / cancelled).exists() and (workdir / kept).stat().st_mtime_ns == kept_time


def test_a_job_over_its_memory_or_time_fails_naming_the_resource_to_raise(slurm_cluster, workdir):
    """A run over 100 MB (Python and torch alone take more) and the longest quick job (Neon's ~16,000 theoretical
    iterations at n = 50) given 1 minute."""
    result = snakemake(workdir, "results/least_squares/runs/n10/muon.csv", "results/least_squares/theory/n50.csv",
                       *slurm_args("--retries", "0", "--keep-going", "--set-resources", "least_squares_run:mem_mb=100",
                                   "least_squares_theory:runtime=1"), check=False, timeout=900)
    output = result.stdout
    assert result.returncode != 0, output
    assert re.search(r"Rule least_squares_run ran out of memory on SLURM \(SLURM job \d+, log \S+\): raise mem_mb of "
                     r"least_squares_run under set-resources in profiles/slurm/config.yaml", output), output
    assert re.search(r"Rule least_squares_theory ran out of time on SLURM \(SLURM job \d+, log \S+\): raise runtime "
                     r"of least_squares_theory under set-resources", output), output
