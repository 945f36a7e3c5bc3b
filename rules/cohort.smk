rule combos:
    input:
        PLAN.combo_inputs,
    output:
        STORE.cohort_file(COHORT, layout.COMBOS),
    log:
        STORE.cohort_log(COHORT, "combos"),
    conda:
        "../envs/daydream.yaml"
    params:
        settings=PLAN.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" combos --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


rule manifest:
    input:
        STORE.cohort_file(COHORT, layout.COMBOS),
        PLAN.table_inputs,
    output:
        STORE.cohort_file(COHORT, layout.MANIFEST),
    log:
        STORE.cohort_log(COHORT, "manifest"),
    conda:
        "../envs/daydream.yaml"
    params:
        settings=PLAN.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" manifest --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


checkpoint membership:
    input:
        STORE.cohort_file(COHORT, layout.MANIFEST),
        PLAN.table_inputs,
    output:
        MEMBERSHIP,
    log:
        STORE.cohort_log(COHORT, "membership"),
    conda:
        "../envs/daydream.yaml"
    params:
        settings=PLAN.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" membership --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


rule cohort:
    input:
        MEMBERSHIP,


rule all_drafts:
    input:
        gen_targets("draft"),


rule all_essays:
    input:
        gen_targets("essay"),


rule all_evaluations:
    input:
        gen_targets("evaluation"),


# What the cohort will still call and cost, per stage and model (also `daydream plan`); a rule
# without output, so it runs whenever it is asked for.
rule plan:
    log:
        STORE.log("plan"),
    run:
        write_cost_plan(COST_PLAN, DATA, log[0])
