"""A cohort's membership rows, expanded stage by stage along the stage model: each stage's
generations are its direct parent's generations x its active templates x its models (or its
parent's model) x its replicates, with ids from the stage's recipe (byte-compatible with the
original's). A curated cohort rebuilds its drafts and essays from the selected essays; a
re-scoring cohort hangs its evaluations from the stored essays."""

from __future__ import annotations

from daydream import ids
from daydream.experiment.definition import Experiment
from daydream.planning.cohort import STORED_STAGES, Cohort
from daydream.stages import STAGE_MODEL, STAGES, Parent
from daydream.store.membership import MembershipRow, check_integrity

# generations of one stage, each with what its children's ids are built from
Level = list[tuple[Parent, MembershipRow | None]]


def expand(name: str, parents: Level, experiment: Experiment, cohort_id: str) -> Level:
    """The stage's generations below these parents (every active template, model, replicate)."""
    stage = STAGE_MODEL[name]
    templates = [t.template_id for t in experiment.active_templates(name)]
    models = [m.model_id for m in experiment.models_for(stage.model_role)] if stage.model_role else None
    replicates = range(1, experiment.replicates[name] + 1)
    level = []
    for parent, parent_row in parents:
        for template in templates:
            for model in models if models is not None else (parent_row.llm_model_id,):
                for replicate in replicates:
                    task = stage.task_id(parent, template, model)
                    gen_id = ids.gen_id(name, task, cohort_id, stage.salt(parent.replicate, replicate))
                    row = MembershipRow(
                        name, gen_id, cohort_id, parent.gen_id, parent.combo_id, template, model, replicate
                    )
                    level.append((Parent(parent.combo_id, gen_id, task, replicate), row))
    return level


def expand_below(levels: dict[str, Level], experiment: Experiment, cohort_id: str) -> dict[str, Level]:
    """Every stage not in `levels` yet, in order, below the generations already there."""
    for name in STAGES:
        if name not in levels:
            parent = STAGE_MODEL[name].parent
            levels[name] = expand(name, levels[parent], experiment, cohort_id)
    return levels


def cartesian_levels(cohort: Cohort, experiment: Experiment) -> dict[str, Level]:
    roots = [(Parent(combo.combo_id), None) for combo in cohort.combos]
    first = STAGES[0]
    return expand_below({first: expand(first, roots, experiment, cohort.cohort_id)}, experiment, cohort.cohort_id)


def curated_levels(cohort: Cohort, experiment: Experiment) -> dict[str, Level]:
    """Each selected essay's draft and essays, rebuilt from the store's metadata under this cohort,
    as the original did: one draft (no replicate salt) and as many essays of the selected essay's
    template as the essay stage's replicates (salted rep1, rep2, ... only when there are several)."""
    drafts, essays = [], []
    essay_replicates = experiment.replicates["essay"]
    for item in cohort.curated:
        draft_task = ids.draft_task_id(item.combo_id, item.draft_template, item.llm_model_id)
        draft_id = ids.gen_id("draft", draft_task, cohort.cohort_id)
        draft = MembershipRow(
            "draft", draft_id, cohort.cohort_id, "", item.combo_id, item.draft_template, item.llm_model_id, 1
        )
        drafts.append((Parent(item.combo_id, draft_id, draft_task, 1), draft))
        task = ids.essay_task_id(draft_task, item.essay_template)
        for replicate in range(1, essay_replicates + 1):
            salt = f"rep{replicate}" if essay_replicates > 1 else None
            gen_id = ids.gen_id("essay", task, cohort.cohort_id, salt)
            row = MembershipRow(
                "essay",
                gen_id,
                cohort.cohort_id,
                draft_id,
                item.combo_id,
                item.essay_template,
                item.llm_model_id,
                replicate,
            )
            essays.append((Parent(item.combo_id, gen_id, task, replicate), row))
    return expand_below({"draft": drafts, "essay": essays}, experiment, cohort.cohort_id)


def stored_essay_rows(cohort: Cohort) -> list[MembershipRow]:
    """Re-scoring: the stored essays the evaluations hang from; they are not this cohort's rows."""
    return [MembershipRow("essay", e.gen_id, cohort.cohort_id, "", e.combo_id, "", "", 1) for e in cohort.stored_essays]


def build_membership(cohort: Cohort, experiment: Experiment) -> list[MembershipRow]:
    if cohort.mode == "rescore":
        stored = stored_essay_rows(cohort)
        levels = {"draft": [], "essay": [(Parent(row.combo_id, row.gen_id), row) for row in stored]}
        levels = expand_below(levels, experiment, cohort.cohort_id)
        rows = [row for name in STAGES if name not in STORED_STAGES for _, row in levels[name]]
        return check_integrity(rows, stored_parents=stored)
    levels = curated_levels(cohort, experiment) if cohort.mode == "curated" else cartesian_levels(cohort, experiment)
    return check_integrity([row for name in STAGES for _, row in levels[name]])
