# Score tables and plots of this cohort (its own generations only) in
# <data_root>/cohorts/<cohort_id>/reports/, marked for the report, by two jobs side by side
# (analysis/registry.py: the statistics take a second to import); `results_all` writes the same
# over every cohort in the store (cohort_id a column) to results_dir.
rule score_tables:
    input:
        evaluations=gen_targets("evaluation"),
        membership=MEMBERSHIP,
    output:
        **result_files(REPORTS, TABLES_JOB),
    log:
        STORE.log(f"score_tables-{COHORT}"),
    conda:
        "../envs/daydream.yaml"
    params:
        data_root=lambda wildcards: DATA,
        out_dir=results_folder,
        options=result_options(TABLES_JOB),
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/results.py" --data-root {params.data_root:q}'
        " --out-dir {params.out_dir:q} --membership {input.membership:q} {params.options} > {log:q} 2>&1"


rule statistics:
    input:
        evaluations=gen_targets("evaluation"),
        membership=MEMBERSHIP,
        labels=human_labels_if_any,
    output:
        **result_files(REPORTS, STATISTICS_JOB),
    log:
        STORE.log(f"statistics-{COHORT}"),
    conda:
        "../envs/daydream.yaml"
    params:
        data_root=lambda wildcards: DATA,
        out_dir=results_folder,
        options=result_options(STATISTICS_JOB),
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/results.py" --data-root {params.data_root:q}'
        " --out-dir {params.out_dir:q} --membership {input.membership:q} {params.options} > {log:q} 2>&1"


rule results:
    input:
        rules.score_tables.output,
        rules.statistics.output,


# Every cohort in the store; a rule without output, so it runs whenever it is asked for.
rule results_all:
    log:
        STORE.log("results_all"),
    conda:
        "../envs/daydream.yaml"
    params:
        data_root=lambda wildcards: DATA,
        out_dir=SETUP.results_dir,
        options=result_options(*RESULT_JOBS),
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/results.py" --data-root {params.data_root:q}'
        " --out-dir {params.out_dir:q} {params.options} > {log:q} 2>&1"
