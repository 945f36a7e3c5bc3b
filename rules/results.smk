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
        out_dir=PLAN.results_dir,
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
        by_evaluator=report(
            f"{REPORTS}/plots/scores_by_evaluator.png",
            caption="../report/plot_evaluator.rst",
            category="Plots",
        ),
        by_generation_model=report(
            f"{REPORTS}/plots/scores_by_generation_model.png",
            caption="../report/plot_generation_model.rst",
            category="Plots",
        ),
        by_draft_template=report(
            f"{REPORTS}/plots/scores_by_draft_template.png",
            caption="../report/plot_draft_template.rst",
            category="Plots",
        ),
        by_agreement=report(
            f"{REPORTS}/plots/evaluator_agreement.png",
            caption="../report/plot_agreement.rst",
            category="Plots",
        ),
    log:
        STORE.log(f"plots-{COHORT}"),
    conda:
        "../envs/daydream.yaml"
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/plot_scores.py" --scores {input.scores:q} --by-evaluator {output.by_evaluator:q}'
        " --by-generation-model {output.by_generation_model:q}"
        " --by-draft-template {output.by_draft_template:q} --agreement {input.agreement:q}"
        " --by-agreement {output.by_agreement:q} > {log:q} 2>&1"
