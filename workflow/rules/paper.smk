"""The paper: results/macros.tex (scale, commit, built experiments, every number the text quotes),
then results/paper/paper.pdf from paper/main.tex with latexmk."""


rule macros:
    input:
        lambda w: [path for path in paper_inputs() if path.startswith("results/values/")],
    output:
        "results/macros.tex",
    params:
        settings=settings(config, commit=git_commit(), experiments=sorted(EXPERIMENTS)),
    log:
        f"{LOGS}/macros.log",
    benchmark:
        f"{BENCHMARKS}/macros.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/paper.py"


rule paper:
    input:
        tex="paper/main.tex",
        macros="results/macros.tex",
        results=lambda w: paper_inputs(),
    params:
        settings=settings(config),
    output:
        "results/paper/paper.pdf",
    log:
        f"{LOGS}/paper.log",
    benchmark:
        f"{BENCHMARKS}/paper.tsv"
    conda:
        f"{ENVS}/latex.yaml"
    script:
        "../scripts/paper.py"
