# Per generation: prompt.txt (render) -> parsed.txt (call or archived response, recorded in raw.txt
# and metadata.json, then validated and parsed). Both jobs run in Snakemake's own process: no
# interpreter start, no imports and no experiment parsing per job.


rule prompt:
    input:
        unpack(prompt_inputs),
    output:
        STORE.gen_file("{stage}", "{gen_id}", PROMPT),
    log:
        STORE.job_log("{stage}", "{gen_id}", "prompt"),
    params:
        concepts=concept_names,
    run:
        RUNNER.render(wildcards.stage, wildcards.gen_id, log[0])


# The job waits on the provider (capped by the provider's resource and, in a local run, by
# generate_jobs; threads: see generate_threads in common.smk). raw.txt and metadata.json are not
# declared outputs, so a failing parse keeps them.
rule generate:
    input:
        unpack(generate_inputs),
    output:
        STORE.gen_file("{stage}", "{gen_id}", PARSED),
    log:
        STORE.job_log("{stage}", "{gen_id}", "generate"),
    threads: generate_threads
    resources:
        **PROVIDER_RESOURCES,
        generate_jobs=1,
    params:
        request_and_parse=generate_param,
    run:
        RUNNER.generate(wildcards.stage, wildcards.gen_id, log[0])


# Not a job that ever runs: targeting raw.txt or metadata.json gets a message naming the target
# that makes them (side_file_target in common.smk).
rule side_file:
    input:
        side_file_target,
    output:
        STORE.gen_file("{stage}", "{gen_id}", "{side_file}"),
    log:
        STORE.job_log("{stage}", "{gen_id}", "{side_file}"),
    wildcard_constraints:
        side_file="raw\.txt|metadata\.json|reasoning\.txt",
    run:
        raise WorkflowError("side files are made by the generate job")
