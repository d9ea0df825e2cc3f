"""CIFAR-10 airbench (paper §6.2): the data once, one job per experiment × method × block of seeds,
then Figures 2a and 2b, accuracy vs k, the 200-run table and the values the text quotes."""
AB = config["airbench"]
AB_SCRIPT = "../scripts/airbench_report.py"
AB_FIGURES = ["alpha_reference", "alpha_tuned", "fanions"]
EXPERIMENTS["airbench"] = [
    *expand("results/figures/airbench_figure_{figure}.pdf", figure=AB_FIGURES),
    "results/tables/airbench_table.tex",
    "results/tables/airbench_appendix_table.tex",
    "results/values/airbench.tex",
]


AB_GN = AB["grad_norms"]  # v2's gradient-norm runs: the methods of one experiment, without weight normalization
AB_GN_METHODS = list(experiments.airbench_methods(config, AB_GN["experiment"]))
AB_GN_FIGURES = ["layer2", "total", "accuracy"]
AB_GN_AUTHORS = {optimizer: authors_dir() / "cifar_grad_norms" / name  # their logs, drawn beside ours
                 for optimizer, name in config["authors_runs"]["grad_norms"]["files"].items()} if authors_dir().is_dir() else {}
EXPERIMENTS["airbench"] += [*expand("results/figures/airbench_grad_norms_{figure}.pdf", figure=AB_GN_FIGURES)]


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


rule airbench_grad_norms_run:
    input:
        data=f"resources/cifar10/{AB['data']['source']}.pt",
    output:
        "results/airbench/grad_norms/{method}.csv",
    wildcard_constraints:
        method="|".join(map(re.escape, AB_GN_METHODS)),
    threads: 1
    resources:
        gpu=0 if AB["device"] == "cpu" else 1,
    params:
        settings=lambda w: settings(AB, "data", "device", "compile", train=AB["train"] | AB_GN["train"],
                                    hyper=AB["hyper"][experiments.airbench_hyper(config, AB_GN["experiment"], w.method)],
                                    method=experiments.airbench_methods(config, AB_GN["experiment"])[w.method],
                                    seeds=list(range(AB_GN["runs"]))),
    log:
        f"{LOGS}/airbench_grad_norms_run/{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/airbench_grad_norms_run/{{method}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/airbench.py"


rule airbench_grad_norms_report:
    input:
        logs=expand("results/airbench/grad_norms/{method}.csv", method=AB_GN_METHODS),
        authors=list(AB_GN_AUTHORS.values()),
    output:
        summary="results/airbench/grad_norms.csv",
        figures=expand("results/figures/airbench_grad_norms_{figure}.{ext}", figure=AB_GN_FIGURES, ext=["pdf", "png"]),
    params:
        settings=settings(AB_GN, "window", authors=list(AB_GN_AUTHORS)),  # the optimizers of input.authors, in order
    log:
        f"{LOGS}/airbench_grad_norms_report.log",
    benchmark:
        f"{BENCHMARKS}/airbench_grad_norms_report.tsv"
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
