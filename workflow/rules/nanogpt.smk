"""NanoGPT pre-training (paper §6.3): token shards from the configured source; one job per run × seed,
train_gpt.py under torchrun with one process per GPU, resumed from its checkpoint after a kill or a
time limit; then the table, the figure and the values the text quotes."""
import glob

NG = config["nanogpt"]
NG_DATA, NG_RES = NG["data"], NG["resources"]
NG_SCRIPT = "../scripts/nanogpt.py"
NG_RUN = "results/nanogpt/runs/{source}/{run}/seed{seed}"
NG_RUNS = expand(NG_RUN, source=NG_DATA["source"], run=NG["runs"], seed=NG["seeds"])
NG_RUN_FILE = NG_RUN.replace("{source}", NG_DATA["source"]) + "_{file}"  # what other experiments read of a run
EXPERIMENTS["nanogpt"] = [
    "results/figures/nanogpt_figure.pdf",
    "results/tables/nanogpt_table.tex",
    "results/values/nanogpt.tex",
]


localrules: nanogpt_download  # downloads run where Snakemake runs: cluster nodes are often offline


rule nanogpt_download:
    output:
        "data/fineweb10B/{name}.bin",
    params:
        settings={key: NG_DATA["fineweb"][key] for key in ("repo", "sha256")},
    log:
        f"{LOGS}/nanogpt_download/{{name}}.log",
    benchmark:
        f"{BENCHMARKS}/nanogpt_download/{{name}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NG_SCRIPT


rule nanogpt_corpus:
    output:
        "results/nanogpt/corpus/generated.txt",
    params:
        settings={key: NG_DATA["corpus"][key] for key in ("generated_documents", "seed")},
    log:
        f"{LOGS}/nanogpt_corpus.log",
    benchmark:
        f"{BENCHMARKS}/nanogpt_corpus.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NG_SCRIPT


rule nanogpt_convert:
    input:
        NG_DATA["corpus"]["path"] or "results/nanogpt/corpus/generated.txt",
    output:
        train="results/nanogpt/shards/corpus/train.bin",
        val="results/nanogpt/shards/corpus/val.bin",
    params:
        settings={key: NG_DATA["corpus"][key] for key in ("val_documents", "tiktoken_cache")},
    log:
        f"{LOGS}/nanogpt_convert.log",
    benchmark:
        f"{BENCHMARKS}/nanogpt_convert.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NG_SCRIPT


rule nanogpt_synthetic:
    output:
        train="results/nanogpt/shards/synthetic/train.bin",
        val="results/nanogpt/shards/synthetic/val.bin",
    params:
        settings=NG_DATA["synthetic"],
    log:
        f"{LOGS}/nanogpt_synthetic.log",
    benchmark:
        f"{BENCHMARKS}/nanogpt_synthetic.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NG_SCRIPT


rule nanogpt_train:
    input:
        train=experiments.nanogpt_shards(config, "train"),
        val=experiments.nanogpt_shards(config, "val"),
    output:
        curve=f"{NG_RUN}.csv",
        summary=f"{NG_RUN}.json",
        momentum=f"{NG_RUN}_momentum.pt",
        model=f"{NG_RUN}_model.pt",  # the fine-tuning experiment's starting model when it names this run
    wildcard_constraints:
        source=NG_DATA["source"],
        seed=r"\d+",
    params:
        settings=lambda w: settings(NG["train"], *NG["train"], model=NG["model"], method=NG["runs"][w.run]["method"],
                                    lr=NG["runs"][w.run]["lr"], seed=int(w.seed), data_source=w.source,
                                    train_files=experiments.nanogpt_shards(config, "train"),
                                    val_files=experiments.nanogpt_shards(config, "val"),
                                    extra_lmos=user_lmo_files(NG["runs"][w.run]["method"])),
        checkpoint="results/nanogpt/checkpoints/{source}/{run}_seed{seed}.pt",  # not an output: kept on failure
    threads: max(NG_RES["gpu"], 1) * NG_RES["cpus_per_gpu"]
    resources:
        **NG_RES,
    log:
        f"{LOGS}/nanogpt_train/{{source}}/{{run}}_seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/nanogpt_train/{{source}}/{{run}}_seed{{seed}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NG_SCRIPT


rule nanogpt_report:
    input:
        curves=[f"{run}.csv" for run in NG_RUNS],
        summaries=[f"{run}.json" for run in NG_RUNS],
    output:
        summary=report("results/nanogpt/summary.csv", caption="../report/summary.rst", category="NanoGPT pre-training (§6.3)"),
        table="results/tables/nanogpt_table.tex",
        values="results/values/nanogpt.tex",
        pdf="results/figures/nanogpt_figure.pdf",
        png=report("results/figures/nanogpt_figure.png", caption="../report/nanogpt_figure.rst", category="NanoGPT pre-training (§6.3)"),
    params:
        settings=settings(NG, "baseline", "runs", "seeds"),
    log:
        f"{LOGS}/nanogpt_report.log",
    benchmark:
        f"{BENCHMARKS}/nanogpt_report.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        NG_SCRIPT
