"""Least squares at 500 × 500, tuned (paper v2 §6.1): one batched grid job per method (every (lr, momentum) cell
and seed), the traced runs at each method's tuned cell and the Fanion-k runs at their family's, then the table
beside v2's and the authors' grids, the figures and the values the text quotes."""
LST = config["least_squares_tuned"]
LST_SCRIPT = "../scripts/least_squares_tuned.py"
LST_PROBLEM = ("size", "seeds", "init_std", "dtype", "polar_dtype", "device", "lmo_options")
LST_RUNS = experiments.least_squares_tuned_runs(config)  # {group: {run id: (tuned method, spec, k)}}
LST_AUTHORS = repo_path(LST["authors"]["dir"])  # the authors' grids; absent: the report says so
LST_AUTHOR_FILES = (list(dict.fromkeys([str(LST_AUTHORS / "SOURCES.csv")]
                                       + [str(LST_AUTHORS / e["file"]) for e in LST["authors"]["grids"].values()]))
                    if (LST_AUTHORS / "SOURCES.csv").is_file() else [])
EXPERIMENTS["least_squares_tuned"] = [
    "results/figures/least_squares_tuned_figure.pdf",
    "results/figures/least_squares_tuned_figure_fanions.pdf",
    "results/tables/least_squares_tuned_table.tex",
    "results/tables/least_squares_tuned_authors_table.tex",
    "results/values/least_squares_tuned.tex",
]


rule least_squares_tuned_grid:
    output:
        "results/least_squares_tuned/grid/{method}.csv",
    params:
        settings=lambda w: settings(LST, *LST_PROBLEM, "threshold", "check_every", "momenta", entry=LST["tuned"][w.method]),
    resources:
        gpu=1 if LST["device"] == "cuda" else 0,
    log:
        f"{LOGS}/least_squares_tuned_grid/{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/least_squares_tuned_grid/{{method}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        LST_SCRIPT


rule least_squares_tuned_curves:
    input:
        grids=lambda w: sorted({f"results/least_squares_tuned/grid/{run[0]}.csv" for run in LST_RUNS[w.group].values()}),
    output:
        "results/least_squares_tuned/curves/{group}.csv",
    params:
        settings=lambda w: settings(LST, *LST_PROBLEM, "iterations", "record_every", runs=LST_RUNS[w.group]),
    resources:
        gpu=1 if LST["device"] == "cuda" else 0,
    log:
        f"{LOGS}/least_squares_tuned_curves/{{group}}.log",
    benchmark:
        f"{BENCHMARKS}/least_squares_tuned_curves/{{group}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        LST_SCRIPT


rule least_squares_tuned_report:
    input:
        grids=expand("results/least_squares_tuned/grid/{method}.csv", method=LST["tuned"]),
        curves=expand("results/least_squares_tuned/curves/{group}.csv", group=LST_RUNS),
        sources=LST_AUTHOR_FILES[:1],
        authors=LST_AUTHOR_FILES[1:],
    output:
        tuned=report("results/least_squares_tuned/tuned.csv", caption="../report/summary.rst", category="Least squares, tuned (§6.1, v2)"),
        authors=report("results/least_squares_tuned/authors.csv", caption="../report/table.rst", category="Least squares, tuned (§6.1, v2)"),
        table="results/tables/least_squares_tuned_table.tex",
        authors_table="results/tables/least_squares_tuned_authors_table.tex",
        values="results/values/least_squares_tuned.tex",
        pdf="results/figures/least_squares_tuned_figure.pdf",
        png=report("results/figures/least_squares_tuned_figure.png", caption="../report/least_squares_tuned_figure.rst", category="Least squares, tuned (§6.1, v2)"),
        k_pdf="results/figures/least_squares_tuned_figure_fanions.pdf",
        k_png=report("results/figures/least_squares_tuned_figure_fanions.png", caption="../report/least_squares_tuned_figure.rst", category="Least squares, tuned (§6.1, v2)"),
    params:
        settings=settings(LST, *LST),
    log:
        f"{LOGS}/least_squares_tuned_report.log",
    benchmark:
        f"{BENCHMARKS}/least_squares_tuned_report.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        LST_SCRIPT
