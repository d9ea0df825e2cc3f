"""fanions-repro: from raw data to the paper's PDF.

    snakemake --cores all                          # the paper's full scale
    snakemake --cores all --profile profiles/quick # the whole paper at quick scale, on a CPU

Every experiment is one workflow/rules/<experiment>.smk (included below, found by name), one
workflow/scripts/<experiment>.py, one section of config.yaml and one of the config schema.
"""
from pathlib import Path


include: "workflow/rules/common.smk"


check_yaml("config.yaml")  # a syntax error names its line


layer_over_profile(config)  # --configfile my.yaml goes over the profile's config files, not instead of them


configfile: "config.yaml"


check_config(config)  # the schema, every LMO, the keys that must agree: before any rule, naming the key


for experiment in sorted(Path(workflow.basedir, "workflow/rules").glob("*.smk")):
    if experiment.stem not in ("common", "paper"):
        include: experiment


include: "workflow/rules/paper.smk"


for workflow_rule in workflow.rules:
    track_code(workflow_rule)  # a change to the library reruns the jobs that use it


rebuild_stale_results()  # a result whose input's content changed since it was made is rebuilt


report: "results/report/front.rst"  # snakemake --report results/report.html: the verdicts, then every figure


onstart:
    refuse_what_cannot_run(workflow.dag.needrun_jobs())  # no GPU job without a GPU, no download that cannot be made


onerror:
    experiments.explain_slurm_failures(log)  # a SLURM job killed for its memory or time: which resource to raise


rule all:
    default_target: True
    input:
        "results/paper/paper.pdf",
