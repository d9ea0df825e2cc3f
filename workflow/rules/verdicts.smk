"""The reproduction report: every claim of the register (workflow/claims.yaml) beside what the experiments
measured, with its computed verdict: the CSV, the paper's appendix table, the values the text cites and the
Markdown table that rule readme writes into README.md."""
VD = config["verdicts"]
check_yaml(VD["register"])  # a syntax error names its line
VD_READS = {  # experiment: the output its claims are checked against (the experiments' .smk are included first)
    "least_squares": rules.least_squares_table.output.errata,
    "least_squares_tuned": rules.least_squares_tuned_report.output.tuned,
    "norm_asymptotics": rules.norm_asymptotics_report.output.limits,
    "norm_balls": rules.norm_ball_checks.output[0],
    "airbench": rules.airbench_table.output.runs,
    "airbench_grad_norms": rules.airbench_grad_norms_report.output.summary,
    "nanogpt": rules.nanogpt_report.output.summary,
    "finetune": rules.finetune_report.output.summary,
    "topk_timing": rules.topk_timing_report.output.csv,
    "topk_float64": rules.topk_float64_report.output.csv,
}
VD_AUTHORS = rules.authors_runs.output[0]  # the authors' own runs, beside ours (authors_runs.smk)
EXPERIMENTS["verdicts"] = ["results/tables/verdicts_table.tex", "results/values/verdicts.tex"]


rule verdicts:
    input:
        **VD_READS,
        authors=VD_AUTHORS,
        intro="workflow/report/workflow.rst",
    output:
        csv=report("results/reproduction.csv", caption="../report/table.rst", category="Reproduction report"),
        table="results/tables/verdicts_table.tex",
        values="results/values/verdicts.tex",
        markdown="results/reproduction.md",
        front="results/report/front.rst",  # the HTML report's front page (snakemake --report)
    params:
        settings=settings(VD, claims=experiments.read_yaml(VD["register"])),
    log:
        f"{LOGS}/verdicts.log",
    benchmark:
        f"{BENCHMARKS}/verdicts.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/verdicts.py"


rule readme:  # not part of the paper: snakemake readme --profile ... writes the table into README.md
    input:
        "results/reproduction.md",
    output:
        touch("results/readme.done"),
    log:
        f"{LOGS}/readme.log",
    benchmark:
        f"{BENCHMARKS}/readme.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/verdicts.py"
