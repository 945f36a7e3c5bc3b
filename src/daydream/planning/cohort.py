"""Deciding a cohort: its mode, its combos, its manifest and id, before any generation is
enumerated (a cube over max_generations is refused with its size first).

Three modes:
- cartesian (default): combos (all k_max-subsets, a covering selection, or selected_combo_mappings.csv)
  x every stage's active templates and models;
- curated (selected_essays.txt, curated_mode regenerate): the listed essays' drafts and essays made
  again under this cohort's ids, then evaluated;
- rescore (selected_essays.txt, curated_mode evaluate): the listed stored essays evaluated as they are."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from daydream import ids
from daydream.errors import InputError
from daydream.experiment.combos import Combo, all_combos, read_selected_combos
from daydream.experiment.definition import Experiment, resolve_description
from daydream.fileio import exists
from daydream.planning.stored import (
    CuratedEssay,
    StoredEssay,
    check_curated_references,
    check_stored_essays,
    combos_from_mappings,
    read_curated_essays,
    read_selected_essays,
)
from daydream.stages import MODEL_ROLES, STAGE_MODEL, STAGES
from daydream.store.layout import StoreLayout
from daydream.tables import read_text

# the stages a curated or re-scoring cohort takes from the store; the ones after them are expanded
STORED_STAGES = ("draft", "essay")


@dataclass(frozen=True)
class CohortSettings:
    """The config keys that decide a cohort."""

    k_max: int
    description_level: str
    cohort_id: str | None  # explicit override (config or DD_COHORT)
    combo_selection: str
    cover_t: int
    cover_time_limit_s: float
    curated_mode: str = "regenerate"  # or "evaluate": re-score the selected stored essays


@dataclass
class Cohort:
    cohort_id: str
    manifest: dict
    combos: list[Combo]
    mode: str  # "cartesian", "curated" (regenerate the selected essays) or "rescore" (evaluate them)
    curated: list[CuratedEssay] = field(default_factory=list)
    selection: dict | None = None  # how the combos were chosen, recorded in the manifest
    stored_essays: list[StoredEssay] = field(default_factory=list)  # rescore: the essays in the store

    def manifest_document(self) -> dict:
        doc = {"cohort_id": self.cohort_id, "mode": self.mode, **self.manifest}
        if self.selection:
            doc["combo_selection"] = self.selection
        return doc


def settings_from_config(config: dict) -> CohortSettings:
    return CohortSettings(**{name: config[name] for name in CohortSettings.__dataclass_fields__})


def plan_cohort(
    experiment: Experiment, settings: CohortSettings, env_cohort: str | None = None, max_generations: int | None = None
) -> Cohort:
    """Decide the cohort's mode, combos and id. Reads only the experiment and the gens store's
    metadata. A cube over max_generations is refused before anything is enumerated where that is
    possible."""
    store = StoreLayout(experiment.data_root)
    explicit = ids.cohort_override(settings.cohort_id, env_cohort)
    selected_essays = exists(store.selected_essays)
    if settings.curated_mode == "evaluate":
        if not selected_essays:
            raise InputError(
                "curated_mode evaluate re-scores the essays listed in this file, which does not exist "
                "(daydream select-top writes it)",
                file=store.selected_essays,
            )
        return plan_rescore(experiment, store, explicit, max_generations)
    if selected_essays:
        return plan_curated(experiment, store, explicit, max_generations)
    return plan_cartesian(experiment, settings, store, explicit, max_generations)


def plan_cartesian(
    experiment: Experiment,
    settings: CohortSettings,
    store: StoreLayout,
    explicit: str | None,
    max_generations: int | None,
) -> Cohort:
    selection = None
    if exists(store.selected_combos):
        combos = read_selected_combos(store.selected_combos, experiment)
        selection = {"method": "selected_combo_mappings", "size": len(combos)}
    elif settings.combo_selection == "cover":
        from daydream.experiment.cover import cover_combos

        combos, selection = cover_combos(
            experiment, settings.k_max, settings.description_level, settings.cover_t, settings.cover_time_limit_s
        )
    else:
        active = len(experiment.active_concepts())
        if 1 <= settings.k_max <= active:
            check_cube_size(cube_counts(experiment, math.comb(active, settings.k_max)), max_generations)
        combos = all_combos(experiment, settings.k_max, settings.description_level)
    check_cube_size(cube_counts(experiment, len(combos)), max_generations)
    check_descriptions(experiment, combos)
    manifest = ids.cohort_manifest([c.combo_id for c in combos], _active_templates(experiment), _models(experiment))
    return Cohort(explicit or ids.cohort_id(manifest), manifest, combos, "cartesian", selection=selection)


def plan_curated(
    experiment: Experiment, store: StoreLayout, explicit: str | None, max_generations: int | None
) -> Cohort:
    """The selected essays' drafts and essays again (new generations under this cohort's ids),
    with the templates and models their store metadata names."""
    essay_ids = read_selected_essays(store.selected_essays, max_generations)
    given = {"draft": len(essay_ids), "essay": len(essay_ids) * experiment.replicates["essay"]}
    check_cube_size(cube_counts(experiment, 0, given), max_generations)  # before any metadata is read
    curated = read_curated_essays(store, essay_ids)
    check_curated_references(experiment, curated)
    combo_ids = list(dict.fromkeys(c.combo_id for c in curated))
    combos = combos_from_mappings(store, combo_ids, experiment, {c.combo_id: c.essay_gen_id for c in curated})
    check_descriptions(experiment, combos)
    templates = {
        **_active_templates(experiment),
        "draft": [c.draft_template for c in curated],
        "essay": [c.essay_template for c in curated],
    }
    models = {**_models(experiment), "generation": [c.llm_model_id for c in curated]}
    manifest = ids.cohort_manifest([c.combo_id for c in combos], templates, models)
    return Cohort(explicit or ids.cohort_id(manifest), manifest, combos, "curated", curated)


def plan_rescore(
    experiment: Experiment, store: StoreLayout, explicit: str | None, max_generations: int | None
) -> Cohort:
    """The stored essays listed, evaluated as they are: only the stages after them are made."""
    essay_ids = read_selected_essays(store.selected_essays, max_generations)
    counts = cube_counts(experiment, 0, {"draft": 0, "essay": len(essay_ids)})
    check_cube_size({**counts, "essay": 0}, max_generations)  # the stored essays are not made again
    essays = check_stored_essays(store, essay_ids)
    templates = {name: [] for name in STORED_STAGES} | {
        name: names for name, names in _active_templates(experiment).items() if name not in STORED_STAGES
    }
    models = {**_models(experiment), "generation": []}
    manifest = ids.cohort_manifest([], templates, models)
    manifest["essays"] = sorted(essay.gen_id for essay in essays)
    return Cohort(explicit or ids.cohort_id(manifest), manifest, [], "rescore", stored_essays=essays)


def _active_templates(experiment: Experiment) -> dict[str, list[str]]:
    return {name: [t.template_id for t in experiment.active_templates(name)] for name in STAGES}


def _models(experiment: Experiment) -> dict[str, list[str]]:
    return {role: [m.model_id for m in experiment.models_for(role)] for role in MODEL_ROLES}


def cube_counts(experiment: Experiment, combos: int, given: dict[str, int] | None = None) -> dict[str, int]:
    """Generations per stage, computed without building the cohort: each stage's parents x its
    active templates x its models (or its parent's) x its replicates. `given`: stages whose
    generation counts are not expanded but given (curated and re-scoring cohorts)."""
    given = given or {}
    counts: dict[str, int] = {}
    for name in STAGES:
        if name in given:
            counts[name] = given[name]
            continue
        stage = STAGE_MODEL[name]
        parents = counts[stage.parent] if stage.parent else combos
        models = len(experiment.models_for(stage.model_role)) if stage.model_role else 1
        counts[name] = parents * len(experiment.active_templates(name)) * models * experiment.replicates[name]
    return counts


def check_cube_size(counts: dict[str, int], max_generations: int | None) -> None:
    total = sum(counts.values())
    if max_generations is not None and total > max_generations:
        per_stage = ", ".join(f"{counts[name]:,} {name}s" for name in STAGES)
        raise InputError(
            f"the cohort would have {total:,} generations ({per_stage}), more than "
            f"max_generations={max_generations:,}: use fewer concepts, templates, models or replicates, or "
            "raise max_generations in the config",
            field="max_generations",
        )


def check_descriptions(experiment: Experiment, combos: list[Combo]) -> None:
    """Every concept a combo uses has a readable UTF-8 description (after level fallback)."""
    seen = set()
    for combo in combos:
        for concept_id in combo.concept_ids:
            if (concept_id, combo.description_level) in seen:
                continue
            seen.add((concept_id, combo.description_level))
            _, path = resolve_description(experiment.data_root, concept_id, combo.description_level)
            read_text(path)


def combo_levels(experiment: Experiment, combo: Combo) -> list[tuple[str, str, object]]:
    """(concept_id, level used, description file) for each concept of a combo, in combo order."""
    return [
        (cid, *resolve_description(experiment.data_root, cid, combo.description_level)) for cid in combo.concept_ids
    ]
