"""The stage model, the one place a stage is defined: which stages its prompt reads (its
parents, by name), the template variables it fills from them, the sample values `daydream check`
renders its templates with, the kind of parser its templates name, which models serve it, its
gen_id recipe (the byte-compatible functions in ids.py), and the shape of the offline provider's
answer. Everything else (the tables read, the cube expanded, the rules, the results) follows
STAGES.

Adding a stage is a STAGE_MODEL entry here, its templates (templates/<stage>/, a
<stage>_templates.csv table) and a replication_config.csv row."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from daydream import ids

# which column of llm_models.csv marks the models of a role
MODEL_ROLES = {"generation": "for_generation", "evaluation": "for_evaluation"}


@dataclass(frozen=True)
class Parent:
    """What a stage's ids are built from: its direct parent generation (or, for the first stage,
    the combo: no gen_id, no task id)."""

    combo_id: str
    gen_id: str = ""
    task_id: str = ""
    replicate: int = 1


@dataclass(frozen=True)
class Stage:
    name: str
    # the stages whose parsed text the prompt reads, the direct parent (membership's
    # parent_gen_id) first; the others are found up the lineage by name
    parents: tuple[str, ...]
    # template variables from the parents' parsed texts (by stage name) and the combo's concepts
    # (a list of {name, content}, in concept-table row order)
    context: Callable[[Mapping[str, str], list], dict]
    variables: frozenset[str]
    sample_context: dict  # what `daydream check` renders its templates with
    parser_kind: str  # "text": a draft parser (empty = identity); "score": a score parser, required; "none"
    model_role: str | None  # MODEL_ROLES key of the models that serve it; None: its parent's model
    task_id: Callable[[Parent, str, str], str]  # (parent, template_id, model_id) -> task id
    salt: Callable[[int, int], str | None]  # (parent's replicate, replicate) -> salt
    offline_shape: str  # the offline provider's answer shape: "draft", "essay" or "score"
    reads_concepts: bool = False
    copy_allowed: bool = False  # `copy` templates: the parent's parsed text, no call

    @property
    def parent(self) -> str | None:
        """The direct parent stage (membership's parent_gen_id is one of its generations)."""
        return self.parents[0] if self.parents else None


SAMPLE_CONCEPTS = [{"name": "Sample concept", "content": "A sample description."}] * 12  # more than any combo

STAGE_MODEL: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            name="draft",
            parents=(),
            context=lambda texts, concepts: {"concepts": concepts},
            variables=frozenset({"concepts"}),
            sample_context={"concepts": SAMPLE_CONCEPTS},
            parser_kind="text",
            model_role="generation",
            task_id=lambda parent, template, model: ids.draft_task_id(parent.combo_id, template, model),
            salt=lambda parent_replicate, replicate: ids.draft_salt(replicate),
            offline_shape="draft",
            reads_concepts=True,
        ),
        Stage(
            name="essay",
            parents=("draft",),
            context=lambda texts, concepts: {"draft_block": texts["draft"], "links_block": texts["draft"]},
            variables=frozenset({"draft_block", "links_block"}),
            sample_context={"draft_block": "A sample draft.", "links_block": "A sample draft."},
            parser_kind="none",
            model_role=None,
            task_id=lambda parent, template, model: ids.essay_task_id(parent.task_id, template),
            salt=ids.essay_salt,
            offline_shape="essay",
            copy_allowed=True,
        ),
        Stage(
            name="evaluation",
            parents=("essay",),
            context=lambda texts, concepts: {"response": texts["essay"]},
            variables=frozenset({"response"}),
            sample_context={"response": "A sample essay."},
            parser_kind="score",
            model_role="evaluation",
            task_id=lambda parent, template, model: ids.evaluation_task_id(parent.gen_id, template, model),
            salt=lambda parent_replicate, replicate: ids.evaluation_salt(replicate),
            offline_shape="score",
        ),
    )
}

STAGES = tuple(STAGE_MODEL)  # in order: every stage after its parents
PARENT_STAGE = {name: stage.parent for name, stage in STAGE_MODEL.items()}
# a regular expression matching a stage name, for Snakemake's wildcard constraints
STAGE_PATTERN = "|".join(STAGES)
# and a gen_id (a safe id: no '/', not starting with '.')
GEN_ID_PATTERN = "[A-Za-z0-9_-][A-Za-z0-9._-]*"


def stage(name: str) -> Stage:
    return STAGE_MODEL[name]


def lineage_stages(name: str) -> list[str]:
    """The stages above `name`, nearest first, along the direct parents."""
    found = []
    parent = STAGE_MODEL[name].parent
    while parent:
        found.append(parent)
        parent = STAGE_MODEL[parent].parent
    return found


def scored_stages() -> list[str]:
    """Stages whose parsed text is a score."""
    return [name for name, s in STAGE_MODEL.items() if s.parser_kind == "score"]


def after(name: str) -> list[str]:
    """The stages below `name` (its descendants' stages), in order."""
    below, found = {name}, []
    for candidate in STAGES:
        if STAGE_MODEL[candidate].parent in below:
            below.add(candidate)
            found.append(candidate)
    return found
