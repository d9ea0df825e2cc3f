"""The paper: its macros (scale, commit, which experiments are built, every number the text quotes)
and the PDF, built by latexmk from paper/main.tex in a fresh directory."""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from job import BadResult, atomic_write, provenance, read_result, run_rule, write_tex

LATEX_HELP = """latexmk was not found, so the paper cannot be built. Install LaTeX, then rerun:
  Debian/Ubuntu: sudo apt-get install latexmk texlive-latex-extra texlive-fonts-recommended
  conda:         snakemake --cores all{profile} --sdm conda   (rule paper then uses envs/latex.yaml)
  or build everything but the paper:  snakemake --cores all{profile} --omit-from paper"""

MACROS = r"""\newcommand\Scale{%(scale)s}
\newcommand\GitCommit{%(commit)s}
\newcommand\defval[2]{\expandafter\def\csname val@#1\endcsname{#2}}
\newcommand\val[1]{\ifcsname val@#1\endcsname\csname val@#1\endcsname\else
  \textbf{[not in this build: \detokenize{#1}]}\PackageWarning{macros}{no value '#1'}\fi}
\newcommand\IfBuilt[3]{\ifcsname built@#1\endcsname #2\else #3\fi}
\newcommand\NotBuilt[1]{\emph{Not yet built: the pipeline at commit \GitCommit{} has no rule that runs #1,
  so this part of the paper reports no results of ours.}}
"""


def macros_job(snakemake):
    settings = snakemake.params.settings
    values = [read_result(path)[1] for path in snakemake.input]  # each checked before anything is written
    text = MACROS % {"scale": settings["scale"], "commit": settings["commit"]}
    text += "".join(f"\\expandafter\\def\\csname built@{name}\\endcsname{{}}\n" for name in settings["experiments"])
    write_tex(text + "".join(values), snakemake.output[0], provenance(snakemake))


def check_results(paths):
    """What the paper includes, checked before LaTeX reads it (whose error on a cut figure names no rule): each
    table as every job reads a result, each PDF figure whole (a PDF ends in %%EOF; a cut one does not)."""
    for path in paths:
        if path.endswith(".pdf"):
            if b"%%EOF" not in Path(path).read_bytes()[-64:]:
                raise BadResult(path, "it is not a whole PDF (it does not end in %%EOF: cut since it was written)")
        else:
            read_result(path)


def paper_job(snakemake):
    check_results(snakemake.input.results)
    if shutil.which("latexmk") is None:
        quick = snakemake.params.settings["scale"] == "quick"
        sys.exit(LATEX_HELP.format(profile=" --profile profiles/quick" if quick else ""))
    with tempfile.TemporaryDirectory() as build:
        result = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-jobname=paper",
                                 f"-outdir={build}", snakemake.input.tex], capture_output=True, text=True)
        print(result.stdout, result.stderr)
        if result.returncode:
            tex_log = Path(build, "paper.log")
            errors = [line for line in tex_log.read_text(errors="replace").splitlines() if line.startswith("!")]
            sys.exit(f"latexmk failed (exit {result.returncode}); LaTeX errors: {errors}")
        missing = sorted(set(re.findall(r"no value '([^']+)'", Path(build, "paper.log").read_text(errors="replace"))))
        if missing:  # the text quotes them; the config no longer makes them (a method removed, say)
            print(f"The paper marks {len(missing)} values as not in this build: {missing}", file=sys.stderr)
        with atomic_write(snakemake.output[0], "wb") as f:
            f.write(Path(build, "paper.pdf").read_bytes())


if __name__ == "__main__":
    run_rule(snakemake, {"macros": macros_job, "paper": paper_job}, uses_torch=False)  # noqa: F821 (set by Snakemake)
