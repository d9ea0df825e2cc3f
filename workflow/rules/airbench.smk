"""CIFAR-10 airbench (paper §6.2): the data once, one job per experiment × method × block of seeds,
then Figures 2a and 2b, accuracy vs k, the 200-run table and the values the text quotes."""
AB = config["airbench"]
AB_SCRIPT = "../scripts/airbench_report.py"
AB_FIGURES = ["alpha_reference", "alpha_tuned", "fanions"]
EXPERIMENTS["airbench"] = [
    *expand("results/figures/airbench_figure_{figure}.pdf", figure=[*AB_FIGURES, "lr_balls"]),
    "results/tables/airbench_table.tex",
    "results/tables/airbench_appendix_table.tex",
    "results/values/airbench.tex",
]


AB_RUNS = [f"results/airbench/runs/{experiment}/{method}/block{block}.csv"
           for experiment, spec in AB["experiments"].items() for method in experiments.airbench_methods(config, experiment)
           for block in range(-(-spec["runs"] // AB["seeds_per_job"]))]


localrules: airbench_data  # downloads run where Snakemake runs: cluster nodes are often offline


rule airbench_data:
    output:
        "resources/cifar10/{source}.pt",
    wildcard_constraints:
        source="cifar10|digits|synthetic",
    params:
        settings=lambda w: AB["data"] | {"source": w.source},
    log:
        f"{LOGS}/airbench_data/{{source}}.log",
    benchmark:
        f"{BENCHMARKS}/airbench_data/{{source}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/cifar10.py"


rule airbench_run:
    input:
        data=f"resources/cifar10/{AB['data']['source']}.pt",
    output:
        "results/airbench/runs/{experiment}/{method}/block{block}.csv",
    wildcard_constraints:
        experiment="|".join(AB["experiments"]),
        block=r"\d+",
    threads: 1
    resources:
        gpu=0 if AB["device"] == "cpu" else 1,
    params:
        settings=lambda w: settings(AB, "train", "data", "device", "compile",
                                    hyper=AB["hyper"][experiments.airbench_hyper(config, w.experiment, w.method)],
                                    method=experiments.airbench_methods(config, w.experiment)[w.method],
                                    seeds=experiments.airbench_seeds(config, w.experiment, w.block)),
    log:
        f"{LOGS}/airbench_run/{{experiment}}/{{method}}_block{{block}}.log",
    benchmark:
        f"{BENCHMARKS}/airbench_run/{{experiment}}/{{method}}_block{{block}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/airbench.py"


rule airbench_figure:
    input:
        runs=AB_RUNS,
    output:
        pdf="results/figures/airbench_figure_{figure}.pdf",
        png=report("results/figures/airbench_figure_{figure}.png", caption="../report/airbench_figure.rst", category="CIFAR-10 airbench (§6.2)"),
    wildcard_constraints:
        figure="|".join(AB_FIGURES),
    params:
        settings=settings(AB, *AB),
    log:
        f"{LOGS}/airbench_figure/{{figure}}.log",
    benchmark:
        f"{BENCHMARKS}/airbench_figure/{{figure}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        AB_SCRIPT


rule airbench_lr_balls:  # v2's CIFAR ball figure: no runs, the table's methods and learning rates
    output:
        pdf="results/figures/airbench_figure_lr_balls.pdf",
        png=report("results/figures/airbench_figure_lr_balls.png", caption="../report/airbench_lr_balls.rst", category="CIFAR-10 airbench (§6.2)"),
    params:
        settings=settings(config["norm_balls"], "directions", balls={
            method: {**AB["experiments"]["table"]["methods"][method],
                     "lr": AB["hyper"][experiments.airbench_hyper(config, "table", method)]["lr"]}
            for method in AB["lr_balls"]}),
    log:
        f"{LOGS}/airbench_lr_balls.log",
    benchmark:
        f"{BENCHMARKS}/airbench_lr_balls.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        AB_SCRIPT


rule airbench_table:
    input:
        runs=AB_RUNS,
    output:
        runs="results/airbench/runs.csv",
        summary=report("results/airbench/summary.csv", caption="../report/summary.rst", category="CIFAR-10 airbench (§6.2)"),
        table="results/tables/airbench_table.tex",
        appendix="results/tables/airbench_appendix_table.tex",
        values="results/values/airbench.tex",
    params:
        settings=settings(AB, *AB),
    log:
        f"{LOGS}/airbench_table.log",
    benchmark:
        f"{BENCHMARKS}/airbench_table.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        AB_SCRIPT
