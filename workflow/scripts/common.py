"""What every pipeline script shares: the library at this commit, user LMOs, provenance, writers.

Every result file carries its provenance (rule, wildcards, the settings it was made with,
git commit, package versions, device): a first comment line in CSV and TeX files, the
metadata of PDF and PNG figures. Scripts write only to their Snakemake outputs.
"""
import json
import platform
import runpy
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lib"))  # the library of this commit, whatever else is installed

import fanions  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "seaborn", "snakemake")


def load_extra_lmos(paths):
    """Run each user file that registers an LMO (``fanions.register_lmo``), once per process."""
    for path in paths:
        if str(path) not in load_extra_lmos.done:
            runpy.run_path(str(REPO / path))
            load_extra_lmos.done.add(str(path))


load_extra_lmos.done = set()


def setup(snakemake):
    """Start of every job: output to the job's log, torch on the job's threads (one is fastest for small
    matrices), the user's LMOs registered."""
    sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
    torch.set_num_threads(snakemake.threads)
    load_extra_lmos(snakemake.config["extra_lmos"])


def git_commit():
    """Short commit of the repository, with "-dirty" for uncommitted changes; "unknown" outside git."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout
    try:
        return git("rev-parse", "--short", "HEAD").strip() + ("-dirty" if git("status", "--porcelain").strip() else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def device_name(device):
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def package_versions():
    versions = {"python": platform.python_version(), "fanions": fanions.__version__}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(snakemake, device="cpu"):
    """The record written into each result: what made it, from which settings, where."""
    return {
        "rule": snakemake.rule,
        "wildcards": dict(snakemake.wildcards.items()),
        "settings": snakemake.params.get("settings"),
        "scale": snakemake.config["scale"],
        "git_commit": git_commit(),
        "packages": package_versions(),
        "device": device_name(device),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_csv(frame, path, prov):
    with open(path, "w") as f:
        f.write("# provenance: " + json.dumps(prov) + "\n")
        frame.to_csv(f, index=False)


def read_csv(path):
    return pd.read_csv(path, skiprows=1)


def read_provenance(path):
    """The provenance record of a CSV or TeX result (its first line)."""
    with open(path) as f:
        return json.loads(f.readline().split("provenance: ", 1)[1])


def write_tex(text, path, prov):
    Path(path).write_text("% provenance: " + json.dumps(prov) + "\n" + text)


def save_figure(fig, pdf, png, prov):
    """The figure as PDF (for LaTeX) and PNG (for the README), each with the provenance in its metadata."""
    record = json.dumps(prov)
    fig.savefig(pdf, metadata={"Subject": record})
    fig.savefig(png, dpi=150, metadata={"provenance": record})


def tex_number(x, digits=3):
    """x for LaTeX text: 0.0123 → 0.0123, 1.5e-05 → 1.5\\times10^{-5} (in math mode)."""
    mantissa, exponent = f"{x:.{digits}g}".partition("e")[::2]
    return f"${mantissa}\\times10^{{{int(exponent)}}}$" if exponent else f"${mantissa}$"


def tex_values(values):
    """``\\defval{key}{value}`` lines for the paper's ``\\val{key}``."""
    return "".join(f"\\defval{{{key}}}{{{value}}}\n" for key, value in values.items())


def method_label(spec):
    """Display name of a method spec {lmo: ..., options}: "F-Muon α=0.5", "4-Fanion", a user LMO's own name."""
    names = {"nsgd": "NSGD", "sign": "SignSGD", "muon": "Muon", "neon": "Neon", "fanion": "Fanion"}
    lmo = spec["lmo"]
    prefix, _, base = lmo.rpartition("-") if lmo[:2] in ("f-", "s-") else ("", "", lmo)
    label = names.get(base, base)
    if "k" in spec:
        label = f"{spec['k']}-{label}"
    if prefix:
        label = f"{prefix.upper()}-{label} α={spec.get('alpha', 0.5):g}"
    return label


def lmo_options(spec, defaults):
    """The options of a method spec, plus each of ``defaults`` that its LMO takes (e.g. exact polar/backend)."""
    options = {key: value for key, value in spec.items() if key != "lmo"}
    accepted = fanions.LMOS[spec["lmo"]].options
    return {**{key: value for key, value in defaults.items() if key in accepted}, **options}
