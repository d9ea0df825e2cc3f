"""The v2 paper's §4 CPU tables (its Tables 2 and 3): top-k factors of dense N(0, 1) float64 matrices, each method
stopped at the paper's err₁ for it, one job per row (each alone on the CPU: it times), the Newton–Schulz reference
per size, then the table beside the paper's numbers and the values the text quotes. No job asks for a GPU."""
TF = config["topk_float64"]
TF_SCRIPT = "../scripts/topk_float64.py"
EXPERIMENTS["topk_float64"] = ["results/tables/topk_float64_table.tex", "results/values/topk_float64.tex"]


rule topk_float64_run:
    output:
        "results/topk_float64/runs/{row}.csv",
    wildcard_constraints:
        row=r"n\d+_k\d+",
    params:
        settings=lambda w: settings(TF, "methods", "reps", "seed", row=w.row),
    threads: 256  # capped at --cores: a timing job runs alone
    log:
        f"{LOGS}/topk_float64_run/{{row}}.log",
    benchmark:
        f"{BENCHMARKS}/topk_float64_run/{{row}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        TF_SCRIPT


rule topk_float64_ns:
    output:
        "results/topk_float64/newton_schulz/n{size}.csv",
    wildcard_constraints:
        size=r"\d+",
    params:
        settings=lambda w: settings(TF, "polar_methods", "ns_reps", "seed", size=int(w.size)),
    threads: 256
    log:
        f"{LOGS}/topk_float64_ns/n{{size}}.log",
    benchmark:
        f"{BENCHMARKS}/topk_float64_ns/n{{size}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        TF_SCRIPT


rule topk_float64_report:
    input:
        rows=expand("results/topk_float64/runs/{row}.csv", row=TF["rows"]),
        ns=expand("results/topk_float64/newton_schulz/n{size}.csv", size=TF["newton_schulz"]),
    params:
        settings=settings(TF),
    output:
        csv=report("results/topk_float64/summary.csv", caption="../report/table.rst", category="Top-k in float64 (v2 §4)"),
        target="results/topk_float64/lanczos_target.csv",
        table="results/tables/topk_float64_table.tex",
        values="results/values/topk_float64.tex",
    log:
        f"{LOGS}/topk_float64_report.log",
    benchmark:
        f"{BENCHMARKS}/topk_float64_report.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        TF_SCRIPT
