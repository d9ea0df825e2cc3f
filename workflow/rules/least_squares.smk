"""Synthetic least squares (paper §6.1): one job per size × method (all seeds batched), the theory
runs per size, then Figure 1, the theory table and the values the text quotes."""
LS = config["least_squares"]
LS_SCRIPT = "../scripts/least_squares.py"
LS_RUNS = expand("results/least_squares/runs/n{size}/{method}.csv", size=LS["sizes"], method=LS["methods"])
LS_THEORY = expand("results/least_squares/theory/n{size}.csv", size=LS["sizes"])
EXPERIMENTS["least_squares"] = [
    "results/figures/least_squares_figure.pdf",
    "results/tables/least_squares_table.tex",
    "results/values/least_squares.tex",
]


rule least_squares_run:
    output:
        "results/least_squares/runs/n{size}/{method}.csv",
    params:
        settings=lambda w: settings(LS, "seeds", "iterations", "lr", "lmo_options", method=LS["methods"][w.method]),
    log:
        f"{LOGS}/least_squares_run/n{{size}}_{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/least_squares_run/n{{size}}_{{method}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        LS_SCRIPT


rule least_squares_theory:
    output:
        "results/least_squares/theory/n{size}.csv",
    params:
        settings=settings(LS, "seeds", "op_target", "lmo_options"),
    log:
        f"{LOGS}/least_squares_theory/n{{size}}.log",
    benchmark:
        f"{BENCHMARKS}/least_squares_theory/n{{size}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        LS_SCRIPT


rule least_squares_figure:
    input:
        runs=LS_RUNS,
    params:
        settings=settings(LS),
    output:
        pdf="results/figures/least_squares_figure.pdf",
        png=report("results/figures/least_squares_figure.png", caption="../report/least_squares_figure.rst", category="Least squares (§6.1)"),
    log:
        f"{LOGS}/least_squares_figure.log",
    benchmark:
        f"{BENCHMARKS}/least_squares_figure.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        LS_SCRIPT


rule least_squares_table:
    input:
        runs=LS_RUNS,
        theory=LS_THEORY,
    output:
        summary=report("results/least_squares/summary.csv", caption="../report/summary.rst", category="Least squares (§6.1)"),
        theory=report("results/least_squares/theory.csv", caption="../report/table.rst", category="Least squares (§6.1)"),
        errata=report("results/least_squares/errata.csv", caption="../report/table.rst", category="Least squares (§6.1)"),
        table="results/tables/least_squares_table.tex",
        values="results/values/least_squares.tex",
    params:
        settings=settings(LS, "sizes", "seeds", "iterations", "lr", "op_target", "lmo_options"),
    log:
        f"{LOGS}/least_squares_table.log",
    benchmark:
        f"{BENCHMARKS}/least_squares_table.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        LS_SCRIPT
