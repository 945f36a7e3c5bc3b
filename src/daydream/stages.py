"""The stage model, defined once: the order of the stages, each stage's parent stage, the
template variables each stage's prompt gets, and the layout of a generation in the gens store."""

from __future__ import annotations

from pathlib import Path

STAGES = ("draft", "essay", "evaluation")
PARENT_STAGE = {"draft": None, "essay": "draft", "evaluation": "essay"}
TEMPLATE_VARIABLES = {
    "draft": frozenset({"concepts"}),
    "essay": frozenset({"draft_block", "links_block"}),
    "evaluation": frozenset({"response"}),
}
# a regular expression matching a stage name, for Snakemake's wildcard constraints
STAGE_PATTERN = "|".join(STAGES)
# and a gen_id (a safe id: no '/', not starting with '.')
GEN_ID_PATTERN = "[A-Za-z0-9_-][A-Za-z0-9._-]*"

# the files of one generation: data_root/gens/<stage>/<gen_id>/<name>
PROMPT = "prompt.txt"
RAW = "raw.txt"
PARSED = "parsed.txt"
METADATA = "metadata.json"
RESPONSES = "responses"  # archive of every response received, never deleted by Snakemake


def parent_stage(stage: str) -> str | None:
    return PARENT_STAGE[stage]


def gen_dir(data_root: str | Path, stage: str, gen_id: str) -> Path:
    return Path(data_root) / "gens" / stage / gen_id


def gen_file(data_root: str, stage: str, gen_id: str, name: str) -> str:
    """A generation's file as a plain string (the form Snakemake's input functions return)."""
    return f"{data_root}/gens/{stage}/{gen_id}/{name}"
