# DayDreaming on Snakemake: concept combos x templates x models -> drafts -> essays -> evaluations.
# Read README.md first; the logic lives in the `daydream` package under src/.


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/cohort.smk"
include: "rules/generation.smk"
include: "rules/results.smk"


# Only the generate jobs (the LLM calls) go to a cluster queue; everything else is quick.
localrules:
    all,
    cohort,
    combos,
    manifest,
    membership,
    prompt,
    results,
    score_tables,
    statistics,
    plan,
    results_all,


onstart:
    try:
        POLICY.check_threaded_jobs()
        POLICY.check_budget(COST_PLAN, config["max_cost_usd"])
        POLICY.check_slurm_job_states()
        POLICY.hold_cohort_lock(STORE, COHORT, workflow.basedir)
    except RunRefused as refused:
        raise WorkflowError(str(refused)) from None
    stop_paying_on_interrupt(RUNNER.stop)
    for note in POLICY.batch_notes(SETUP.batch_settings()):
        print(f"note: {note}", file=sys.stderr)
    for name in SETUP.missing_api_keys():
        print(f"warning: {name} is not set (environment or .env): calls to its provider will fail", file=sys.stderr)


onsuccess:
    RUNNER.close()


onerror:
    RUNNER.close()
    after_failure(SETUP, SPECS, MEMBERSHIP, REPORTS, POLICY.makes_results())


rule all:
    default_target: True
    input:
        rules.results.input,
