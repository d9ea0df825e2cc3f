"""The paper authors' own runs (config authors_runs; numbers from github alexlegeartis/Neon at 421ba1f): what
stands behind each paper number the register's key `authors` points at, for the reproduction report."""
AR = config["authors_runs"]
AUTHORS_DIR = authors_dir()
AR_CLAIMS = [claim for claim in experiments.read_yaml(config["verdicts"]["register"]) if "authors" in claim]


rule authors_runs:
    input:  # their files, where the folder is (absent: the evidence says so, naming the key)
        [AUTHORS_DIR / "SOURCES.csv", AUTHORS_DIR / AR["gpt_runs"]["file"],
         *(AUTHORS_DIR / "cifar_grad_norms" / name for name in AR["grad_norms"]["files"].values())] if AUTHORS_DIR.is_dir() else [],
    output:
        "results/authors_runs/evidence.csv",
    params:
        settings=settings(config, "authors_runs", claims=AR_CLAIMS),  # the folder as configured: a copied build's
        # absolute path differs, and a changed param would rerun the job
    log:
        f"{LOGS}/authors_runs.log",
    benchmark:
        f"{BENCHMARKS}/authors_runs.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/authors_runs.py"
