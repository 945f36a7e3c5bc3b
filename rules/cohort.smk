rule combos:
    input:
        PLAN.combo_inputs,
    output:
        f"{COHORT_DIR}/combos.csv",
    log:
        f"{DATA}/logs/cohorts/{COHORT}/combos.log",
    conda:
        "../envs/daydream.yaml"
    params:
        settings=PLAN.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" combos --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


rule manifest:
    input:
        f"{COHORT_DIR}/combos.csv",
        PLAN.table_inputs,
    output:
        f"{COHORT_DIR}/manifest.json",
    log:
        f"{DATA}/logs/cohorts/{COHORT}/manifest.log",
    conda:
        "../envs/daydream.yaml"
    params:
        settings=PLAN.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" manifest --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


checkpoint membership:
    input:
        f"{COHORT_DIR}/manifest.json",
        PLAN.table_inputs,
    output:
        MEMBERSHIP,
    log:
        f"{DATA}/logs/cohorts/{COHORT}/membership.log",
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
        f"{DATA}/logs/plan.log",
    run:
        write_cost_plan(log[0])
