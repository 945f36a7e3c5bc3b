rule results:
    input:
        gen_targets("evaluation"),
    output:
        scores=f"{PLAN.results_dir}/parsed_scores.csv",
        pivot=f"{PLAN.results_dir}/evaluation_scores_by_template_model.csv",
    log:
        f"{DATA}/logs/results.log",
    conda:
        "../envs/daydream.yaml"
    params:
        data_root=lambda wildcards: DATA,
    shell:
        "$PY $SCRIPTS/results.py --data-root {params.data_root:q}"
        " --scores {output.scores:q} --pivot {output.pivot:q} > {log:q} 2>&1"
