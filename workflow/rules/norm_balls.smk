"""Norm balls in singular-value space (paper Appendix C): one job per figure."""
NORM_BALL_FIGURES = ["lmo_balls", "dual_balls", "ky_fan_balls"]
EXPERIMENTS["norm_balls"] = expand("results/figures/norm_balls_{figure}.pdf", figure=NORM_BALL_FIGURES)


rule norm_balls:
    output:
        pdf="results/figures/norm_balls_{figure}.pdf",
        png="results/figures/norm_balls_{figure}.png",
    wildcard_constraints:
        figure="|".join(NORM_BALL_FIGURES),
    params:
        settings=settings(config["norm_balls"], *config["norm_balls"]),
    log:
        f"{LOGS}/norm_balls/{{figure}}.log",
    benchmark:
        f"{BENCHMARKS}/norm_balls/{{figure}}.tsv"
    conda:
        f"{ENVS}/fanions.yaml"
    script:
        "../scripts/norm_balls.py"
