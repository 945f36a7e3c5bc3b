rule results:
    input:
        gen_targets("evaluation"),
    output:
        scores=report(
            f"{PLAN.results_dir}/parsed_scores.csv",
            caption="../report/parsed_scores.rst",
            category="Score tables",
        ),
        pivot=report(
            f"{PLAN.results_dir}/evaluation_scores_by_template_model.csv",
            caption="../report/pivot.rst",
            category="Score tables",
        ),
        by_draft_template=report(
            f"{PLAN.results_dir}/summary_by_draft_template.csv",
            caption="../report/summary.rst",
            category="Summaries",
            subcategory="By draft template",
        ),
        by_generation_model=report(
            f"{PLAN.results_dir}/summary_by_generation_model.csv",
            caption="../report/summary.rst",
            category="Summaries",
            subcategory="By generation model",
        ),
        by_combo=report(
            f"{PLAN.results_dir}/summary_by_combo.csv",
            caption="../report/summary.rst",
            category="Summaries",
            subcategory="By combo",
        ),
        perfect=report(
            f"{PLAN.results_dir}/perfect_score_paths.csv",
            caption="../report/perfect.rst",
            category="Summaries",
            subcategory="Perfect scores",
        ),
        agreement=report(
            f"{PLAN.results_dir}/evaluator_agreement.csv",
            caption="../report/agreement.rst",
            category="Reliability",
        ),
        replicates=report(
            f"{PLAN.results_dir}/replicate_variance.csv",
            caption="../report/replicates.rst",
            category="Reliability",
        ),
        cost=report(
            f"{PLAN.results_dir}/cost_by_stage_model.csv",
            caption="../report/cost.rst",
            category="Cost",
        ),
    log:
        f"{DATA}/logs/results.log",
    conda:
        "../envs/daydream.yaml"
    params:
        data_root=lambda wildcards: DATA,
        out_dir=lambda wildcards, output: str(Path(output.scores).parent),
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/results.py" --data-root {params.data_root:q} --out-dir {params.out_dir:q} > {log:q} 2>&1'


rule plots:
    input:
        scores=rules.results.output.scores,
    output:
        by_evaluator=report(
            f"{PLAN.results_dir}/plots/scores_by_evaluator.png",
            caption="../report/plot_evaluator.rst",
            category="Plots",
        ),
        by_generation_model=report(
            f"{PLAN.results_dir}/plots/scores_by_generation_model.png",
            caption="../report/plot_generation_model.rst",
            category="Plots",
        ),
        by_draft_template=report(
            f"{PLAN.results_dir}/plots/scores_by_draft_template.png",
            caption="../report/plot_draft_template.rst",
            category="Plots",
        ),
    log:
        f"{DATA}/logs/plots.log",
    conda:
        "../envs/daydream.yaml"
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/plot_scores.py" --scores {input.scores:q} --by-evaluator {output.by_evaluator:q}'
        " --by-generation-model {output.by_generation_model:q}"
        " --by-draft-template {output.by_draft_template:q} > {log:q} 2>&1"
