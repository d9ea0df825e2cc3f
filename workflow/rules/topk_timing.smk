"""Top-k timing (paper Table 2): one job per matrix kind, each alone on its machine (it times), then
Table 2 beside the paper's numbers, the time-vs-k figure and the values the text quotes. The
'momentum' matrix and the warm-start study use the momenta a nanogpt run saved."""
TT = config["topk_timing"]
TT_SCRIPT = "../scripts/topk_timing.py"
TT_MOMENTA = NG_RUN_FILE.format(run=TT["momentum_run"], seed=NG["seeds"][0], file="momentum.pt")  # nanogpt.smk
EXPERIMENTS["topk_timing"] = [
    "results/figures/topk_timing_figure.pdf",
    "results/tables/topk_timing_table.tex",
    "results/values/topk_timing.tex",
]
EXPERIMENTS["topk_warm_start"] = ["results/tables/topk_warm_start_table.tex", "results/values/topk_warm_start.tex"]


rule topk_timing_run:
    input:
        lambda w: TT_MOMENTA if w.matrix == "momentum" else [],
    output:
        "results/topk_timing/runs/{matrix}.csv",
    params:
        settings=lambda w: settings(
            TT, "device", "size", "ks", "rtol", "methods", "reps", "seed", "decay", matrix=w.matrix
        ),
    threads: 256  # capped at --cores: a timing job runs alone
    resources:
        gpu=1 if TT["device"] == "cuda" else 0,
    log:
        f"{LOGS}/topk_timing_run/{{matrix}}.log",
    benchmark:
        f"{BENCHMARKS}/topk_timing_run/{{matrix}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        TT_SCRIPT


rule topk_timing_report:
    input:
        expand("results/topk_timing/runs/{matrix}.csv", matrix=TT["matrices"]),
    params:
        settings=settings(TT),
    output:
        csv=report("results/topk_timing/timing.csv", caption="../report/summary.rst", category="Top-k timing (Table 2)"),
        table="results/tables/topk_timing_table.tex",
        pdf="results/figures/topk_timing_figure.pdf",
        png=report("results/figures/topk_timing_figure.png", caption="../report/topk_timing_figure.rst", category="Top-k timing (Table 2)"),
        values="results/values/topk_timing.tex",
    log:
        f"{LOGS}/topk_timing_report.log",
    benchmark:
        f"{BENCHMARKS}/topk_timing_report.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        TT_SCRIPT


rule topk_warm_start:
    input:
        TT_MOMENTA,
    output:
        csv=report("results/topk_timing/warm_start.csv", caption="../report/table.rst", category="Top-k timing (Table 2)"),
        table="results/tables/topk_warm_start_table.tex",
        values="results/values/topk_warm_start.tex",
    params:
        settings=settings(TT, "rtol", ks=TT["warm_ks"]),
    log:
        f"{LOGS}/topk_warm_start.log",
    benchmark:
        f"{BENCHMARKS}/topk_warm_start.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        TT_SCRIPT
