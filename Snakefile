# DayDreaming on Snakemake: concept combos x templates x models -> drafts -> essays -> evaluations.
# Read README.md first; the logic lives in the `daydream` package under src/.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/cohort.smk"
include: "rules/generation.smk"
include: "rules/results.smk"


rule all:
    default_target: True
    input:
        rules.results.output,
