"""The stage model, defined once: the order of the stages, each stage's parent stage, and the
template variables each stage's prompt gets."""

from __future__ import annotations

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
