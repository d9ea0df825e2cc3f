"""fanions-repro: from raw data to the paper's PDF.

    snakemake --cores all                          # the paper's full scale
    snakemake --cores all --profile profiles/quick # the whole paper at quick scale, on a CPU

Every experiment is one workflow/rules/<experiment>.smk (included below, found by name), one
workflow/scripts/<experiment>.py, one section of config.yaml and one of the config schema.
"""
from pathlib import Path


include: "workflow/rules/common.smk"  # loads config.yaml and checks it before anything else


for experiment in sorted(Path(workflow.basedir, "workflow/rules").glob("*.smk")):
    if experiment.stem not in ("common", "paper"):
        include: experiment


include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        "results/paper/paper.pdf",
