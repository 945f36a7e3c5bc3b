# Score tables and plots of this cohort (its own generations only) in
# <data_root>/cohorts/<cohort_id>/reports/, marked for the report; `results_all` writes the same
# tables over every cohort in the store (cohort_id a column) to results_dir.
rule results:
    input:
        evaluations=gen_targets("evaluation"),
        membership=MEMBERSHIP,
    output:
        **result_tables(REPORTS),
    log:
        STORE.log(f"results-{COHORT}"),
    conda:
        "../envs/daydream.yaml"
    params:
        data_root=lambda wildcards: DATA,
        out_dir=lambda wildcards, output: str(Path(output.scores).parent),
        compare=",".join(config["compare_templates"]),
        top_n=config["top_n"],
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/results.py" --data-root {params.data_root:q}'
        " --out-dir {params.out_dir:q} --membership {input.membership:q}"
        " --compare-templates={params.compare:q} --top-n {params.top_n} > {log:q} 2>&1"


# Every cohort in the store; a rule without output, so it runs whenever it is asked for.
rule results_all:
    log:
        STORE.log("results_all"),
    conda:
        "../envs/daydream.yaml"
    params:
        data_root=lambda wildcards: DATA,
        out_dir=SETUP.results_dir,
        compare=",".join(config["compare_templates"]),
        top_n=config["top_n"],
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/results.py" --data-root {params.data_root:q}'
        " --out-dir {params.out_dir:q} --compare-templates={params.compare:q} --top-n {params.top_n}"
        " > {log:q} 2>&1"


rule plots:
    input:
        scores=rules.results.output.scores,
        agreement=rules.results.output.agreement,
    output:
        **result_plots(REPORTS),
    log:
        STORE.log(f"plots-{COHORT}"),
    conda:
        "../envs/daydream.yaml"
    params:
        reports=lambda wildcards, input: str(Path(input.scores).parent),
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/plot_scores.py" --reports {params.reports:q} > {log:q} 2>&1'
