"""Norms and their LMOs: the paper's Table 1 from the library's registry (a user's LMOs included), and the
norm balls in singular-value space (Appendix C), one job per figure."""
NORM_BALL_FIGURES = ["lmo_balls", "dual_balls", "ky_fan_balls", "lr_balls"]
EXPERIMENTS["norm_balls"] = [*expand("results/figures/norm_balls_{figure}.pdf", figure=NORM_BALL_FIGURES),
                             "results/tables/lmo_table.tex"]  # its checks go to the verdicts


rule norm_ball_checks:  # Appendix C's statements and Table 1, measured, for the reproduction report
    output:
        report("results/norm_balls/checks.csv", caption="../report/table.rst", category="Norms and their balls (Table 1, App. C)"),
    params:
        settings=settings(config["norm_balls"], "alphas", "directions", "ky_fan_k", extra_lmos=config["extra_lmos"]),
    log:
        f"{LOGS}/norm_ball_checks.log",
    benchmark:
        f"{BENCHMARKS}/norm_ball_checks.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/norm_balls.py"


rule lmo_table:
    input:
        checks="results/norm_balls/checks.csv",  # the distance of each of v2's rows from the paper's formulas
    output:
        "results/tables/lmo_table.tex",
    params:
        settings=settings(config, "extra_lmos"),  # a user's LMO joins the table
    log:
        f"{LOGS}/lmo_table.log",
    benchmark:
        f"{BENCHMARKS}/lmo_table.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/norm_balls.py"


rule norm_balls:
    output:
        pdf="results/figures/norm_balls_{figure}.pdf",
        png=report("results/figures/norm_balls_{figure}.png", caption="../report/norm_balls.rst", category="Norms and their balls (Table 1, App. C)"),
    wildcard_constraints:
        figure="|".join(NORM_BALL_FIGURES),
    params:
        settings=settings(config["norm_balls"], *config["norm_balls"], lr_ball_methods=experiments.lr_ball_methods(config)),
    log:
        f"{LOGS}/norm_balls/{{figure}}.log",
    benchmark:
        f"{BENCHMARKS}/norm_balls/{{figure}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/norm_balls.py"
