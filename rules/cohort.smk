rule combos:
    input:
        SETUP.combo_inputs,
    output:
        STORE.cohort_file(COHORT, layout.COMBOS),
    log:
        STORE.cohort_log(COHORT, "combos"),
    conda:
        "../envs/daydream.yaml"
    params:
        settings=SETUP.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" combos --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


rule manifest:
    input:
        STORE.cohort_file(COHORT, layout.COMBOS),
        SETUP.table_inputs,
    output:
        STORE.cohort_file(COHORT, layout.MANIFEST),
    log:
        STORE.cohort_log(COHORT, "manifest"),
    conda:
        "../envs/daydream.yaml"
    params:
        settings=SETUP.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" manifest --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


checkpoint membership:
    input:
        STORE.cohort_file(COHORT, layout.MANIFEST),
        SETUP.table_inputs,
    output:
        MEMBERSHIP,
    log:
        STORE.cohort_log(COHORT, "membership"),
    conda:
        "../envs/daydream.yaml"
    params:
        settings=SETUP.settings_json,
    shell:
        '"$DAYDREAM_PYTHON" "$DAYDREAM_SCRIPTS/cohort.py" membership --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


rule cohort:
    input:
        MEMBERSHIP,


# One target per stage (stages.py): all_drafts, all_essays, all_evaluations.
for _stage in STAGES:

    rule:
        name:
            f"all_{_stage}s"
        input:
            gen_targets(_stage),
        localrule: True


# What the cohort will still call and cost, per stage and model (also `daydream plan`); a rule
# without output, so it runs whenever it is asked for.
rule plan:
    log:
        STORE.log("plan"),
    run:
        write_cost_plan(COST_PLAN, DATA, log[0])
