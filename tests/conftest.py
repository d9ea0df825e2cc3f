"""Shared by the tests: matrices with a given spectrum, and a private copy of the workflow to run Snakemake in."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # test processes share the cores
    torch.set_num_threads(max(1, torch.get_num_threads() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
WORKFLOW = ["Snakefile", "config.yaml", "workflow", "profiles", "envs", "paper", "lib"]


def pytest_collection_modifyitems(items):
    """Tests marked cuda skip where torch sees no CUDA device (``pytest -m cuda`` selects them on a GPU machine)."""
    if not torch.cuda.is_available():
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


def copy_workflow(target):
    """The workflow's files in ``target``, and beside it a link to the data folder beside this clone (../shared,
    where the config's relative paths to the authors' files point), so a copy builds what the clone builds."""
    link_shared(target)
    for name in WORKFLOW:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    return target


@pytest.fixture
def workdir(tmp_path):
    return copy_workflow(tmp_path)


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory):
    """The whole quick profile, built once per test session in its own copy of the workflow; tests read it,
    or copy it (``copy_build``) to change it. Where this checkout holds a build (the README's first command),
    the copy starts from its results and Snakemake's records of them, and Snakemake reruns what is not up to
    date there by those records (settings, code version, inputs): in CI the first command's real run is the
    one the tests check, and only the paper, which records the commit, is made again. With several test
    processes (pytest-xdist) the first one to need it builds it, under a lock, and each one takes a copy."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return build_quick(tmp_path_factory.mktemp("quick_build"))
    session = tmp_path_factory.getbasetemp().parent  # this session's, shared by its worker processes
    shared, failed, done = (session / f"quick_build{suffix}" for suffix in ("", ".failed", ".done"))
    with FileLock(session / "quick_build.lock"):
        if failed.exists():  # built once: the other processes report the same failure at once
            raise AssertionError(failed.read_text())
        if not done.exists():
            try:
                build_quick(shared)
            except Exception as error:  # a failed Snakemake run, or a copy that could not be made
                failed.write_text(f"the quick build failed in another test process: {type(error).__name__}: {error}")
                raise
            done.touch()
    return copy_build(shared, tmp_path_factory.mktemp("quick_build"))


def build_quick(target):
    target.mkdir(parents=True, exist_ok=True)
    build = copy_workflow(target)
    for name in ("results", "resources", ".snakemake/metadata", ".snakemake/incomplete"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, build / name, symlinks=True)
    snakemake(build, "--profile", "profiles/quick", "--cores", "2")
    return build


def copy_build(build, target):
    """A copy of a built workflow, its results' times and Snakemake's records with it (no job reruns)."""
    shutil.copytree(build, target, symlinks=True, dirs_exist_ok=True)
    link_shared(target)
    return target


def link_shared(target):
    shared, link = REPO.parent / "shared", Path(target).parent / "shared"
    if shared.is_dir() and not link.exists():
        try:
            link.symlink_to(shared)
        except FileExistsError:  # another test process made it
            pass


TIKTOKEN_CACHE = REPO.parent / "shared/data/gpt2_tokenizer/tiktoken_cache"  # offline GPT-2 BPE, where present


def snakemake(workdir, *args, check=True, env=None, timeout=None):
    """Snakemake in the copy; the offline GPT-2 tokenizer files (beside the clone, as in CI) reach tiktoken;
    HF_HUB_OFFLINE=1: the tests never try a download. ``env`` adds to (or, with None values, removes from)
    the environment; ``timeout`` (seconds) ends a run that hangs."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           **({"TIKTOKEN_CACHE_DIR": str(TIKTOKEN_CACHE)} if TIKTOKEN_CACHE.is_dir() else {}), **(env or {})}
    env = {key: value for key, value in env.items() if value is not None}
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if check and result.returncode:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}")
    return result


def job_counts(output):
    """The 'Job stats' table of a dry run: {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    rows = [line.split() for line in table.splitlines()[3:] if line.strip()]
    return {rule: int(count) for rule, count in rows}


def matrix_with_spectrum(s, m, n, seed=0, dtype=torch.float64):
    """U diag(s) Vᵀ with Haar-random U (m×r), V (n×r), r = len(s)."""
    g = torch.Generator().manual_seed(seed)
    r = len(s)
    U = torch.linalg.qr(torch.randn(m, r, generator=g, dtype=dtype)).Q
    V = torch.linalg.qr(torch.randn(n, r, generator=g, dtype=dtype)).Q
    return U @ torch.diag(torch.as_tensor(s, dtype=dtype)) @ V.mT


@pytest.fixture
def matrices():
    """Tall, wide, square, batched, rank-deficient and repeated-spectrum test matrices (float64)."""
    g = torch.Generator().manual_seed(1)
    return {
        "tall": torch.randn(30, 20, generator=g, dtype=torch.float64),
        "wide": torch.randn(20, 30, generator=g, dtype=torch.float64),
        "square": torch.randn(25, 25, generator=g, dtype=torch.float64),
        "batched": torch.randn(3, 12, 8, generator=g, dtype=torch.float64),
        "rank3": matrix_with_spectrum([3.0, 2.0, 1.0], 20, 15, seed=2),
        "repeated": matrix_with_spectrum([2.0, 2.0, 2.0, 1.0, 1.0, 0.5], 18, 14, seed=3),
    }
