"""The one way into every pipeline script (``run_rule``), and what every job shares: the library at this
commit, user LMOs, provenance, checked writers and readers. (How results are shown: report.py.)

Every result file carries its provenance (rule, wildcards, the settings it was made with, scale,
git commit, package versions, device): a first comment line in CSV and TeX files, the metadata of
PDF and PNG figures. The provenance line of a CSV or TeX file also records its row count and the
sha256 of what follows it (a JSON result, of its content, in its provenance), and every reader checks them: a
result that was cut, edited or built at another scale stops the job that reads it, naming the file and the rule
that rebuilds it. The provenance also records the sha256 of each result the job read: a result whose input has
changed content since is rebuilt (``stale_results``; the Snakefile dates it to the epoch), so an edited input
is never blessed by the files made from it. Files are
written atomically (a temporary file renamed into place), so a killed job leaves no half-written
result. Scripts write only to their Snakemake outputs.
"""
import ast
import io
import json
import math
import os
import platform
import runpy
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from functools import cache
from hashlib import sha256
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lib"))  # the library of this commit, whatever else is installed
# torch, fanions and pandas are imported where used: the paper's job (envs/latex.yaml) has none of them.

PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "seaborn", "snakemake")
JOB = {"scale": None}  # the scale of the running job (set by run): results of another scale are refused


def load_extra_lmos(paths):
    """Run each user file that registers an LMO (``fanions.register_lmo``), once per process."""
    import fanions  # noqa: F401 (this commit's library, which the files register into)
    for path in paths:
        if str(path) not in load_extra_lmos.done:
            runpy.run_path(str(REPO / path))
            load_extra_lmos.done.add(str(path))


load_extra_lmos.done = set()


def die_with_parent(signal_number=15):
    """Ask Linux to send this process ``signal_number`` (SIGTERM) when its parent dies (prctl PR_SET_PDEATHSIG), so
    that a job, and what it launches with this as preexec_fn, stops when the Snakemake that started it is killed,
    even by SIGKILL (which Snakemake cannot pass on). A parent that died before the request counts as dead. On
    another system it says it cannot."""
    if not sys.platform.startswith("linux"):
        print(f"die_with_parent: {sys.platform} has no PR_SET_PDEATHSIG; this job outlives a killed Snakemake",
              file=sys.stderr)
        return
    import ctypes
    parent = os.getppid()
    if ctypes.CDLL(None, use_errno=True).prctl(1, signal_number, 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os.kill(os.getpid(), signal_number)


def run_rule(snakemake, jobs, uses_torch=True):
    """The one way into a pipeline script, its ``__main__``: ``run_rule(snakemake, {rule: function(snakemake)})``.

    The job dies with the Snakemake that started it (``die_with_parent``); its output goes to its log; with ``uses_torch``, torch runs on the job's threads (one is fastest
    for small matrices), seeded (0: every job is deterministic even before it seeds its own generators),
    and the user's LMOs (config ``extra_lmos``) are registered; the job's scale is recorded (results of
    another scale are refused); then the function of the job's rule runs, with the job's tracked settings
    in ``snakemake.params.settings``.
    """
    die_with_parent()
    sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
    JOB["scale"] = snakemake.config["scale"]
    if uses_torch:
        import torch
        torch.set_num_threads(snakemake.threads)
        torch.manual_seed(0)
        load_extra_lmos(snakemake.config["extra_lmos"])
    if snakemake.rule not in jobs:
        raise ValueError(f"{Path(sys.argv[0]).name}: no job for rule {snakemake.rule!r}; it runs {sorted(jobs)}")
    jobs[snakemake.rule](snakemake)


def git_commit():
    """Short commit of the repository, with "-dirty" for uncommitted changes; "unknown" outside git."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout
    try:
        return git("rev-parse", "--short", "HEAD").strip() + ("-dirty" if git("status", "--porcelain").strip() else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


CODE_ROOTS = ("workflow/scripts", "workflow", "lib")  # where a script's imports resolve in this repository


@cache
def code_version(script, *extra):
    """sha256 of the code a pipeline script runs from this repository (``code_files``) and of the ``extra`` files
    (a user's LMO files, which a job runs too), each as its syntax tree without docstrings: a change of
    behaviour gives a new version, a comment, a docstring or a moved line does not. Every job's params carry
    its script's version (Snakefile), so Snakemake reruns a job whose library changed instead of reusing its
    result as up to date."""
    digest = sha256()
    for path in [*code_files(script), *(REPO / name for name in extra)]:
        digest.update(_file_version(path).encode())
    return digest.hexdigest()[:16]


@cache
def _file_version(path):
    """What ``code_version`` hashes of one file: its path relative to the repository (a user's LMO file may lie
    outside it) and its syntax tree without docstrings (once per file and Snakemake start: the scripts share
    their helpers and the library)."""
    tree = _without_docstrings(ast.parse(path.read_text(), filename=str(path)))
    return f"{os.path.relpath(path, REPO)}\n{ast.dump(tree)}\n"


def code_files(script):
    """The script and the files of this repository it runs: every module it imports (a package: all of its
    modules) and every .py file it names (a script it runs, as nanogpt.py runs train_gpt.py); then, for each of
    those, what it imports or names at module level, transitively; sorted. A helper's imports inside its
    functions are left out: they are lazy on purpose (job.py imports fanions only for the jobs that use torch,
    and those import it themselves)."""
    entry = Path(script).resolve()
    pending, seen = [entry], set()
    while pending:
        path = pending.pop()
        if path not in seen:
            seen.add(path)
            pending += _local_files(path, everywhere=path == entry)
    return sorted(seen)


def _without_docstrings(tree):
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _module_level(node):
    """The nodes that run when a module is imported: all but the bodies of its functions."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _module_level(child)


@cache
def _local_files(path, everywhere):
    """The files of this repository a module imports or names (``everywhere``: in its functions too)."""
    tree, files = ast.parse(path.read_text(), filename=str(path)), []
    for node in (ast.walk if everywhere else _module_level)(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:  # relative imports stay inside a package
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".py"):
            named = (REPO / node.value).resolve()
            files += [named] if named.is_file() and REPO in named.parents else []
            continue
        else:
            continue
        files += [path for name in names for path in _module_files(name.split(".")[0])]
    return [path.resolve() for path in files]


def _module_files(name):
    """The files of this repository that ``import name`` runs (a package: all of its modules); [] for others."""
    for root in CODE_ROOTS:
        module, package = REPO / root / f"{name}.py", REPO / root / name
        if module.is_file():
            return [module]
        if package.is_dir():
            return sorted(package.rglob("*.py"))
    return []


def device_name(device):
    import torch
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def package_versions():
    fanions = sys.modules.get("fanions")  # the library, where the job loaded it
    versions = {"python": platform.python_version(), "fanions": fanions.__version__ if fanions else None}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(snakemake, device="cpu"):
    """The record written into each result of a Snakemake job (see ``provenance_record``), with the sha256 of
    each result it was made from."""
    return provenance_record(snakemake.rule, snakemake.params.get("settings"), snakemake.config["scale"],
                             device_name(device), dict(snakemake.wildcards.items()), input_sha256s(snakemake.input))


def provenance_record(rule, settings, scale, device, wildcards=None, inputs=None):
    """What made a result, from which settings and inputs (``input_sha256s``), where. No clock time: two
    identical runs write identical files (the file's own time says when)."""
    return {"rule": rule, "wildcards": wildcards or {}, "settings": settings, "scale": scale, "inputs": inputs or {},
            "git_commit": git_commit(), "packages": package_versions(), "device": device}


RESULT_SUFFIXES = (".csv", ".tex", ".json")  # the results written with their provenance and read checked


def input_sha256s(paths):
    """{path: sha256} of the results among a job's input files (CSV, TeX, JSON; data files are keyed by their
    download's checksum instead): what ``stale_results`` compares with the files as they are now."""
    return {str(path): file_sha256(path) for path in map(Path, paths) if path.suffix in RESULT_SUFFIXES and path.is_file()}


def recorded_provenance(path):
    """The provenance a result file records (a CSV or TeX first line, a JSON record's "provenance"), or None
    where it records none that parses. Unchecked: the readers check the body."""
    try:
        if Path(path).suffix == ".json":
            return json.loads(Path(path).read_text()).get("provenance")
        with open(path) as f:
            return json.loads(f.readline().split("provenance: ", 1)[1])
    except (IndexError, ValueError, AttributeError, UnicodeDecodeError):
        return None


def stale_results(root):
    """The results under ``root`` made from an input whose content has changed since it was made (the sha256 in
    their provenance is not the file's now), and those made from them in turn: [(result, input)]. An input that
    is gone is Snakemake's to rebuild. (Those downstream go too: a rebuild that fails removes its outputs, and
    Snakemake does not remake a missing file under an up-to-date one.)"""
    made = {path: (recorded_provenance(path) or {}).get("inputs") or {}
            for path in sorted(Path(root).rglob("*")) if path.suffix in RESULT_SUFFIXES and path.is_file()}
    now, stale = {}, {}
    for path, recorded in made.items():
        for source, digest in recorded.items():
            if Path(source).is_file() and now.setdefault(source, file_sha256(source)) != digest:
                stale[path] = source
                break
    grown = True
    while grown:
        gone = {path.resolve() for path in stale}
        downstream = {path: next((s for s in recorded if Path(s).resolve() in gone), None)
                      for path, recorded in made.items() if path not in stale}
        grown = any(source is not None for source in downstream.values())
        stale |= {path: source for path, source in downstream.items() if source is not None}
    return list(stale.items())


@contextmanager
def atomic_write(path, mode="w"):
    """A file object on a temporary file beside ``path``, renamed into place when the block ends without
    an error (else removed): ``path`` is never half-written. Permissions as for any new file (umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, mode) as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def file_sha256(path):
    digest = sha256()
    with open(path, "rb") as f:
        while block := f.read(2**24):
            digest.update(block)
    return digest.hexdigest()


def _write_result(body, path, prov, comment, rows=None):
    """The provenance line (with the body's row count and sha256), then the body, atomically."""
    record = {**prov, "rows": rows, "sha256": sha256(body.encode()).hexdigest()}
    with atomic_write(path) as f:
        f.write(f"{comment} provenance: {json.dumps(record)}\n{body}")


def write_csv(frame, path, prov):
    _write_result(frame.to_csv(index=False), path, prov, "#", rows=len(frame))


def write_tex(text, path, prov):
    """TeX for pdflatex: ASCII only, every other character written as a TeX command (a raw "×" once stopped the
    paper with a font-expansion error far from its cause); one that is not is an error naming it."""
    unknown = sorted({char for char in text if ord(char) > 127})
    if unknown:
        raise ValueError(f"{path}: characters {unknown} in TeX; write them as TeX commands (e.g. $\\times$)")
    _write_result(text, path, prov, "%")


def json_sha256(record):
    """sha256 of a JSON record without its provenance's own sha256 (keys sorted)."""
    body = {**record, "provenance": {k: v for k, v in record["provenance"].items() if k != "sha256"}}
    return sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_json(record, path):
    """A JSON file, atomically; a result (it holds "provenance") records the sha256 of its content there."""
    if "provenance" in record:
        record = {**record, "provenance": {**record["provenance"], "sha256": json_sha256(record)}}
    with atomic_write(path) as f:
        json.dump(record, f, indent=1)


class BadResult(ValueError):
    """A result file that does not hold what its producer promised."""

    def __init__(self, path, problem, rule=None):
        every = f"; --forcerun {rule} redoes every job of its rule" if rule else ""
        fix = (f"rebuild it with: snakemake --cores all --forcerun {path} (with the --profile and --config you built "
               f"it with{every})")
        super().__init__(f"{path}: {problem}. It is not used; {fix}.")


def read_result(path):
    """(provenance, body) of a CSV or TeX result, checked: the provenance line parses, the body's sha256 is
    the one recorded when it was written, and it was made at the running job's scale."""
    text = Path(path).read_text()
    first, _, body = text.partition("\n")
    try:
        prov = json.loads(first.split("provenance: ", 1)[1])
    except (IndexError, json.JSONDecodeError):
        raise BadResult(path, "its first line is not a provenance record (cut, edited, or not made by this pipeline)") \
            from None
    rule = prov.get("rule")
    if prov.get("sha256") != sha256(body.encode()).hexdigest():
        raise BadResult(path, "its content is not what its producer wrote (sha256 differs: cut or edited since)", rule)
    if JOB["scale"] and prov.get("scale") != JOB["scale"]:
        raise BadResult(path, f"it was built at scale {prov.get('scale')!r}, this job runs at {JOB['scale']!r}", rule)
    return prov, body


def read_csv(path, columns=(), finite=()):
    """A CSV result as its producer promised it (see read_result): the row count it recorded, the ``columns``,
    and no NaN or infinity in the ``finite`` ones."""
    import pandas as pd
    prov, body = read_result(path)
    frame = pd.read_csv(io.StringIO(body))
    rule = prov.get("rule")
    if len(frame) != prov.get("rows"):
        raise BadResult(path, f"it holds {len(frame)} rows, its producer wrote {prov.get('rows')}", rule)
    missing = [column for column in columns if column not in frame]
    if missing:
        raise BadResult(path, f"it lacks the columns {missing}", rule)
    bad = [column for column in finite if not frame[column].map(lambda x: math.isfinite(float(x))).all()]
    if bad:
        raise BadResult(path, f"the columns {bad} hold NaN or infinite values", rule)
    return frame


def read_json(path, keys, rule):
    """A JSON result (its settings under provenance.settings), checked: it parses, holds ``keys``, its content is
    the one whose sha256 its producer recorded, and it was made at the running job's scale."""
    try:
        record = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise BadResult(path, f"it is not valid JSON ({error}: cut or edited)", rule) from None
    missing = sorted(set(keys) - set(record))
    if missing:
        raise BadResult(path, f"it lacks the keys {missing}", rule)
    if not isinstance(record.get("provenance"), dict) or record["provenance"].get("sha256") != json_sha256(record):
        raise BadResult(path, "its content is not what its producer wrote (sha256 differs: cut or edited since)", rule)
    scale = record["provenance"]["settings"].get("scale")
    if JOB["scale"] and scale != JOB["scale"]:
        raise BadResult(path, f"it was built at scale {scale!r}, this job runs at {JOB['scale']!r}", rule)
    return record


def read_provenance(path):
    """The provenance record of a CSV or TeX result (its first line)."""
    return read_result(path)[0]


def lmo_options(spec, defaults):
    """The options of a method spec, plus each of ``defaults`` that its LMO takes (e.g. exact polar/backend)."""
    import fanions
    options = {key: value for key, value in spec.items() if key != "lmo"}
    accepted = fanions.LMOS[spec["lmo"]].options
    return {**{key: value for key, value in defaults.items() if key in accepted}, **options}
