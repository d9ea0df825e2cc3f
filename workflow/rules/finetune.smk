"""Fine-tuning GPT-2 on TinyStories (the paper's fourth experiment): the starting model (GPT-2 downloaded
and checked, a local checkpoint, or the model of a NanoGPT run: pre-train → fine-tune in one DAG), the
stories tokenized once into shards, one job per optimizer × learning rate × seed, then the report."""
FT = config["finetune"]
FT_MODEL, FT_DATA, FT_TRAIN, FT_RES = FT["model"], FT["data"], FT["train"], FT["resources"]
FT_SCRIPT = "../scripts/finetune.py"
FT_RUN = "results/finetune/runs/{optimizer}/lr{lr}_seed{seed}"
FT_GRID = experiments.finetune_grid(config)  # optimizer → {lr as written in file names: lr}
FT_RUNS = [FT_RUN.format(optimizer=name, lr=lr, seed=seed) for name in FT_GRID for lr in FT_GRID[name]
           for seed in FT["seeds"]]
FT_HUB = FT_MODEL["hub"]
FT_NG = FT_MODEL["nanogpt"]
FT_START = {  # the starting model's files, by model.source
    "hub": [f"data/gpt2/{FT_HUB['name']}/config.json", f"data/gpt2/{FT_HUB['name']}/model.safetensors"],
    "local": [f"{FT_MODEL['local']}/config.json", f"{FT_MODEL['local']}/model.safetensors"],
    "nanogpt": lambda w: [NG_RUN_FILE.format(run=FT_NG["run"], seed=FT_NG["seed"], file="model.pt")],  # nanogpt.smk
}[FT_MODEL["source"]]
FT_MODEL_NAME = {
    "hub": f"GPT-2 ({FT_HUB['owner']}/{FT_HUB['name']})",
    "local": f"the GPT-2 checkpoint in {FT_MODEL['local']}",
    "nanogpt": f"the model of NanoGPT run {FT_NG['run']}, seed {FT_NG['seed']} (pre-trained by this pipeline, not GPT-2)",
}[FT_MODEL["source"]]
FT_TEXT = {  # the train and validation text, by data.source
    "tinystories": [f"data/tinystories/{FT_DATA['tinystories'][split]}" for split in ("train", "val")],
    "local": [FT_DATA["local"]["train"], FT_DATA["local"]["val"]],
    "generated": ["results/finetune/corpus/train.txt", "results/finetune/corpus/val.txt"],
}[FT_DATA["source"]]
FT_SHARDS = [f"results/finetune/shards/{FT_DATA['source']}/{split}.bin" for split in ("train", "val")]
EXPERIMENTS["finetune"] = [
    "results/figures/finetune_figure_lr.pdf",
    "results/figures/finetune_figure_curves.pdf",
    "results/figures/finetune_figure_spectra.pdf",
    "results/tables/finetune_table.tex",
    "results/values/finetune.tex",
]


localrules: finetune_download_model, finetune_download_data  # downloads run where Snakemake runs: cluster nodes are often offline


rule finetune_download_model:
    output:
        "data/gpt2/{name}/{file}",
    wildcard_constraints:
        file="config.json|model.safetensors",
    params:
        settings=lambda w: {"repo": f"{FT_HUB['owner']}/{w.name}", "repo_type": "model",
                            "revision": FT_HUB["revision"].get(w.name),
                            "sha256": FT_HUB["sha256"].get(w.name) if w.file == "model.safetensors" else None},
    log:
        f"{LOGS}/finetune_download_model/{{name}}_{{file}}.log",
    benchmark:
        f"{BENCHMARKS}/finetune_download_model/{{name}}_{{file}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        FT_SCRIPT


rule finetune_download_data:
    output:
        "data/tinystories/{file}",
    wildcard_constraints:
        file="|".join(FT_DATA["tinystories"][split] for split in ("train", "val")).replace(".", r"\."),
    params:
        settings=lambda w: {"repo": FT_DATA["tinystories"]["repo"], "repo_type": "dataset", "revision": None,
                            "sha256": FT_DATA["tinystories"]["sha256"].get(w.file)},
    log:
        f"{LOGS}/finetune_download_data/{{file}}.log",
    benchmark:
        f"{BENCHMARKS}/finetune_download_data/{{file}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        FT_SCRIPT


rule finetune_corpus:
    output:
        train="results/finetune/corpus/train.txt",
        val="results/finetune/corpus/val.txt",
    params:
        settings=FT_DATA["generated"],  # the corpus depends on these alone: no scale
    log:
        f"{LOGS}/finetune_corpus.log",
    benchmark:
        f"{BENCHMARKS}/finetune_corpus.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        FT_SCRIPT


rule finetune_tokenize:
    input:
        train=FT_TEXT[0],
        val=FT_TEXT[1],
    output:
        train=FT_SHARDS[0],
        val=FT_SHARDS[1],
    params:
        settings={key: FT_DATA[key] for key in ("train_stories", "val_stories", "max_story_tokens", "tiktoken_cache")},
    threads: 4
    log:
        f"{LOGS}/finetune_tokenize.log",
    benchmark:
        f"{BENCHMARKS}/finetune_tokenize.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        FT_SCRIPT


rule finetune_run:
    input:
        model=FT_START,
        train=FT_SHARDS[0],
        val=FT_SHARDS[1],
    output:
        curve=f"{FT_RUN}.csv",
        summary=f"{FT_RUN}.json",
        spectra=f"{FT_RUN}_spectra.csv",
    wildcard_constraints:
        optimizer="|".join(FT_GRID),
        seed=r"\d+",
    params:
        settings=lambda w: settings(FT, "device", optimizer=w.optimizer, method=FT["optimizers"][w.optimizer]["method"],
                                    lr=FT_GRID[w.optimizer][w.lr], seed=int(w.seed), train=FT_TRAIN,
                                    model_source=FT_MODEL["source"], window=FT_DATA["max_story_tokens"]),
    threads: max(FT_RES["gpu"], 1) * FT_RES["cpus_per_gpu"]
    resources:
        **FT_RES,
    log:
        f"{LOGS}/finetune_run/{{optimizer}}/lr{{lr}}_seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/finetune_run/{{optimizer}}/lr{{lr}}_seed{{seed}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        FT_SCRIPT


rule finetune_report:
    input:
        curves=[f"{run}.csv" for run in FT_RUNS],
        summaries=[f"{run}.json" for run in FT_RUNS],
        spectra=[f"{run}_spectra.csv" for run in FT_RUNS],
    output:
        summary=report("results/finetune/summary.csv", caption="../report/summary.rst", category="Fine-tuning GPT-2 (§6.4)"),
        table="results/tables/finetune_table.tex",
        values="results/values/finetune.tex",
        lr_pdf="results/figures/finetune_figure_lr.pdf",
        lr_png=report("results/figures/finetune_figure_lr.png", caption="../report/finetune_figure.rst", category="Fine-tuning GPT-2 (§6.4)"),
        curves_pdf="results/figures/finetune_figure_curves.pdf",
        curves_png=report("results/figures/finetune_figure_curves.png", caption="../report/finetune_figure.rst", category="Fine-tuning GPT-2 (§6.4)"),
        spectra_pdf="results/figures/finetune_figure_spectra.pdf",
        spectra_png=report("results/figures/finetune_figure_spectra.png", caption="../report/finetune_figure.rst", category="Fine-tuning GPT-2 (§6.4)"),
    params:
        settings=settings(FT, "seeds", "baseline", "tolerance",
                          optimizers={name: FT["optimizers"][name] for name in FT["compare"]},
                          data_source=FT_DATA["source"], model_name=FT_MODEL_NAME, steps=FT_TRAIN["steps"],
                          tokens=FT_TRAIN["steps"] * FT_TRAIN["batch_size"] * FT_TRAIN["seq_len"]),
    log:
        f"{LOGS}/finetune_report.log",
    benchmark:
        f"{BENCHMARKS}/finetune_report.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        FT_SCRIPT
