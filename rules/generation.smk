# Per generation: prompt.txt (render) -> raw.txt + metadata.json (one LLM call) -> parsed.txt.
# Jobs run lean `python workflow/scripts/...` commands: cheap to start, and editing a script
# never marks paid LLM jobs as changed code.


rule prompt:
    input:
        unpack(prompt_inputs),
    output:
        f"{DATA}/gens/{{stage}}/{{gen_id}}/prompt.txt",
    log:
        f"{DATA}/logs/{{stage}}/{{gen_id}}/prompt.log",
    conda:
        "../envs/daydream.yaml"
    params:
        spec=prompt_params,
    shell:
        "$PY $SCRIPTS/render_prompt.py --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"


rule raw:
    input:
        prompt=f"{DATA}/gens/{{stage}}/{{gen_id}}/prompt.txt",
    output:
        raw=f"{DATA}/gens/{{stage}}/{{gen_id}}/raw.txt",
        metadata=f"{DATA}/gens/{{stage}}/{{gen_id}}/metadata.json",
    log:
        f"{DATA}/logs/{{stage}}/{{gen_id}}/raw.log",
    conda:
        "../envs/daydream.yaml"
    resources:
        **PROVIDER_RESOURCES,
    params:
        spec=raw_params,
    shell:
        "$PY $SCRIPTS/call_llm.py --spec {params.spec:q} --prompt {input.prompt:q}"
        " --raw {output.raw:q} --metadata {output.metadata:q} > {log:q} 2>&1"


rule parse:
    input:
        unpack(parse_inputs),
    output:
        f"{DATA}/gens/{{stage}}/{{gen_id}}/parsed.txt",
    log:
        f"{DATA}/logs/{{stage}}/{{gen_id}}/parse.log",
    conda:
        "../envs/daydream.yaml"
    params:
        spec=parse_params,
    shell:
        "$PY $SCRIPTS/parse_response.py --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"
