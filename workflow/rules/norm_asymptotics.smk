"""Norms of Gaussian matrices against the Marchenko–Pastur limits (paper §5): one job measures every size,
aspect and seed, then the limits beside the paper's constants, the figure and the values the text quotes."""
NA = config["norm_asymptotics"]
NA_SCRIPT = "../scripts/norm_asymptotics.py"
EXPERIMENTS["norm_asymptotics"] = ["results/figures/norm_asymptotics_figure.pdf", "results/values/norm_asymptotics.tex"]


rule norm_asymptotics_run:
    output:
        "results/norm_asymptotics/norms.csv",
    params:
        settings=settings(NA, "sizes", "aspects", "seeds", "sigma"),
    log:
        f"{LOGS}/norm_asymptotics_run.log",
    benchmark:
        f"{BENCHMARKS}/norm_asymptotics_run.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NA_SCRIPT


rule norm_asymptotics_report:
    input:
        "results/norm_asymptotics/norms.csv",
    output:
        limits=report("results/norm_asymptotics/limits.csv", caption="../report/table.rst", category="Norms of random matrices (§5)"),
        pdf="results/figures/norm_asymptotics_figure.pdf",
        png=report("results/figures/norm_asymptotics_figure.png", caption="../report/norm_asymptotics_figure.rst", category="Norms of random matrices (§5)"),
        values="results/values/norm_asymptotics.tex",
    params:
        settings=settings(NA, "level"),
    log:
        f"{LOGS}/norm_asymptotics_report.log",
    benchmark:
        f"{BENCHMARKS}/norm_asymptotics_report.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NA_SCRIPT
