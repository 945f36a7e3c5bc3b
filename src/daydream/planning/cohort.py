"""Cohort planning: which combos, the manifest and cohort id, and the membership rows."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from daydream import ids
from daydream.errors import InputError
from daydream.experiment.combos import Combo, all_combos, check_combo_row, read_selected_combos
from daydream.experiment.definition import Experiment, resolve_description
from daydream.experiment.tables import read_table, read_text
from daydream.stages import PARENT_STAGE
from daydream.store.layout import METADATA, PARSED, StoreLayout

MEMBERSHIP_COLUMNS = ids.MEMBERSHIP_COLUMNS


@dataclass(frozen=True)
class MembershipRow:
    stage: str
    gen_id: str
    cohort_id: str
    parent_gen_id: str
    combo_id: str
    template_id: str
    llm_model_id: str
    replicate: int


@dataclass(frozen=True)
class CuratedEssay:
    """An essay named in selected_essays.txt, with the metadata its rows are rebuilt from."""

    essay_gen_id: str
    combo_id: str
    draft_template: str
    essay_template: str
    llm_model_id: str


@dataclass(frozen=True)
class StoredEssay:
    """An essay in the store that a re-scoring cohort evaluates as it is."""

    gen_id: str
    combo_id: str


@dataclass
class CohortPlan:
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


@dataclass(frozen=True)
class Settings:
    k_max: int
    description_level: str
    cohort_id: str | None  # explicit override (config or DD_COHORT)
    combo_selection: str
    cover_t: int
    cover_time_limit_s: float
    curated_mode: str = "regenerate"  # or "evaluate": re-score the selected stored essays


def read_selected_essays(path: Path) -> list[str]:
    ids_seen: list[str] = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not ids.is_safe_id(text):
            raise InputError(ids.unsafe_id_message(text, "gen_id"), file=path, line=number, field="gen_id")
        if text not in ids_seen:
            ids_seen.append(text)
    if not ids_seen:
        raise InputError("no essay gen_ids listed", file=path)
    return ids_seen


def _read_metadata(data_root: Path, stage: str, gen_id: str) -> tuple[dict, Path]:
    path = StoreLayout(data_root).gen_dir(stage, gen_id) / METADATA
    if not path.is_file():
        raise InputError(f"{stage} {gen_id}: metadata.json not found in the gens store", file=path, field="metadata")
    try:
        return json.loads(read_text(path)), path
    except json.JSONDecodeError as exc:
        raise InputError(f"{stage} {gen_id}: invalid JSON: {exc}", file=path, line=exc.lineno) from None


def _require(meta: dict, path: Path, stage: str, gen_id: str, name: str, *aliases: str) -> str:
    """A metadata field, under this store's name or one the original pipeline used (aliases)."""
    for key in (name, *aliases):
        value = meta.get(key)
        if value not in (None, ""):
            return str(value)
    raise InputError(f"{stage} {gen_id}: missing field {name!r} in metadata", file=path, field=name)


def _parent_draft(data_root: Path, essay_id: str, essay_meta: dict, essay_path: Path) -> tuple[str, dict, Path]:
    """A stored essay's draft: (gen_id, metadata, metadata path); its id must be a safe path part."""
    draft_id = _require(essay_meta, essay_path, "essay", essay_id, "parent_gen_id")
    if not ids.is_safe_id(draft_id):
        raise InputError(
            f"essay {essay_id}: {ids.unsafe_id_message(draft_id, 'parent_gen_id')}",
            file=essay_path,
            field="parent_gen_id",
        )
    return (draft_id, *_read_metadata(data_root, "draft", draft_id))


def read_curated_essays(data_root: Path, essay_ids: list[str]) -> list[CuratedEssay]:
    curated = []
    for essay_id in essay_ids:
        essay_meta, essay_path = _read_metadata(data_root, "essay", essay_id)
        essay_template = _require(essay_meta, essay_path, "essay", essay_id, "template_id", "essay_template")
        draft_id, draft_meta, draft_path = _parent_draft(data_root, essay_id, essay_meta, essay_path)
        curated.append(
            CuratedEssay(
                essay_gen_id=essay_id,
                combo_id=_require(draft_meta, draft_path, "draft", draft_id, "combo_id"),
                draft_template=_require(draft_meta, draft_path, "draft", draft_id, "template_id", "draft_template"),
                essay_template=essay_template,
                llm_model_id=_require(draft_meta, draft_path, "draft", draft_id, "llm_model_id", "model_id"),
            )
        )
    return curated


def combos_from_mappings(data_root: Path, combo_ids: list[str], experiment: Experiment, needed_by: dict) -> list[Combo]:
    """Rebuild combos by id from combo_mappings.csv (curated mode)."""
    path = StoreLayout(data_root).combo_mappings
    if not path.exists():
        raise InputError("combo_mappings.csv is needed to rebuild curated drafts but does not exist", file=path)
    order = {c.concept_id: i for i, c in enumerate(experiment.concepts)}
    found: dict[str, list[dict]] = {}
    for row in read_table(path, ["combo_id", "concept_id", "description_level", "k_max"]):
        if row["combo_id"] in needed_by:
            check_combo_row(row, path)
            found.setdefault(row["combo_id"], []).append(row)
    combos = []
    for cid in combo_ids:
        rows = found.get(cid)
        if not rows:
            raise InputError(
                f"essay {needed_by[cid]}: combo {cid} is not in combo_mappings.csv", file=path, field="combo_id"
            )
        concept_ids = sorted({r["concept_id"] for r in rows}, key=lambda c: order.get(c, len(order)))
        combos.append(Combo(cid, tuple(concept_ids), rows[0]["description_level"], int(rows[0]["k_max"])))
    return combos


def cube_counts(experiment: Experiment, combos: int, curated: int | None = None) -> dict[str, int]:
    """Generations per stage of a cohort, computed without building it: Cartesian from the
    number of combos, curated from the number of selected essays."""
    if curated is not None:
        drafts = essays = curated
    else:
        drafts = (
            combos
            * len(experiment.active_templates("draft"))
            * len(experiment.generation_models())
            * experiment.replicates["draft"]
        )
        essays = drafts * len(experiment.active_templates("essay")) * experiment.replicates["essay"]
    evaluations = (
        essays
        * len(experiment.active_templates("evaluation"))
        * len(experiment.evaluation_models())
        * experiment.replicates["evaluation"]
    )
    return {"draft": drafts, "essay": essays, "evaluation": evaluations}


def check_cube_size(counts: dict[str, int], max_generations: int | None) -> None:
    total = sum(counts.values())
    if max_generations is not None and total > max_generations:
        raise InputError(
            f"the cohort would have {total:,} generations ({counts['draft']:,} drafts, {counts['essay']:,} essays, "
            f"{counts['evaluation']:,} evaluations), more than max_generations={max_generations:,}: use fewer "
            "concepts, templates, models or replicates, or raise max_generations in the config",
            field="max_generations",
        )


def plan_cohort(
    experiment: Experiment, settings: Settings, env_cohort: str | None = None, max_generations: int | None = None
) -> CohortPlan:
    """Decide the cohort's combos and id. Reads only the experiment and the gens store metadata.
    A cube over max_generations is refused before anything is enumerated where that is possible."""
    data_root = experiment.data_root
    draft_templates = [t.template_id for t in experiment.active_templates("draft")]
    essay_templates = [t.template_id for t in experiment.active_templates("essay")]
    evaluation_templates = [t.template_id for t in experiment.active_templates("evaluation")]
    generation_llms = [m.model_id for m in experiment.generation_models()]
    evaluation_llms = [m.model_id for m in experiment.evaluation_models()]
    selection = None
    curated: list[CuratedEssay] = []

    if StoreLayout(data_root).selected_essays.exists() and settings.curated_mode == "evaluate":
        essays = check_stored_essays(data_root, read_selected_essays(StoreLayout(data_root).selected_essays))
        counted = cube_counts(experiment, 0, len(essays))
        check_cube_size({"draft": 0, "essay": 0, "evaluation": counted["evaluation"]}, max_generations)
        manifest = ids.cohort_manifest([], [], [], evaluation_templates, [], evaluation_llms)
        manifest["essays"] = sorted(essay.gen_id for essay in essays)
        explicit = ids.cohort_override(settings.cohort_id, env_cohort)
        cohort = explicit or ids.cohort_id(manifest)
        return CohortPlan(cohort, manifest, [], "rescore", stored_essays=essays)
    if settings.curated_mode == "evaluate":
        raise InputError(
            "curated_mode evaluate re-scores the essays listed in this file, which does not exist "
            "(daydream select-top writes it)",
            file=StoreLayout(data_root).selected_essays,
        )
    if StoreLayout(data_root).selected_essays.exists():
        mode = "curated"
        curated = read_curated_essays(data_root, read_selected_essays(StoreLayout(data_root).selected_essays))
        check_curated_references(experiment, curated)
        combo_ids = list(dict.fromkeys(c.combo_id for c in curated))
        combos = combos_from_mappings(data_root, combo_ids, experiment, {c.combo_id: c.essay_gen_id for c in curated})
        draft_templates = [c.draft_template for c in curated]
        essay_templates = [c.essay_template for c in curated]
        generation_llms = [c.llm_model_id for c in curated]
    else:
        mode = "cartesian"
        if StoreLayout(data_root).selected_combos.exists():
            combos = read_selected_combos(StoreLayout(data_root).selected_combos, experiment)
            selection = {"method": "selected_combo_mappings", "size": len(combos)}
        elif settings.combo_selection == "cover":
            from daydream.experiment.cover import cover_combos

            combos, selection = cover_combos(
                experiment, settings.k_max, settings.description_level, settings.cover_t, settings.cover_time_limit_s
            )
        else:
            active = len(experiment.active_concepts())
            if 1 <= settings.k_max <= active:
                possible = cube_counts(experiment, math.comb(active, settings.k_max))
                check_cube_size(possible, max_generations)
            combos = all_combos(experiment, settings.k_max, settings.description_level)

    counted = cube_counts(experiment, len(combos), len(curated) if mode == "curated" else None)
    check_cube_size(counted, max_generations)
    check_descriptions(experiment, combos)
    manifest = ids.cohort_manifest(
        [c.combo_id for c in combos],
        draft_templates,
        essay_templates,
        evaluation_templates,
        generation_llms,
        evaluation_llms,
    )
    explicit = ids.cohort_override(settings.cohort_id, env_cohort)
    cohort = explicit or ids.cohort_id(manifest)
    return CohortPlan(cohort, manifest, combos, mode, curated, selection)


def check_stored_essays(data_root: Path, essay_ids: list[str]) -> list[StoredEssay]:
    """Essays to re-score must be in the store, parsed, with a combo in their lineage (this
    store's metadata or the original pipeline's: the essay's combo_id, else its draft's)."""
    essays = []
    for essay_id in essay_ids:
        parsed = StoreLayout(data_root).gen_dir("essay", essay_id) / PARSED
        if not parsed.is_file():
            raise InputError(
                f"essay {essay_id} has no parsed.txt in the store, so it cannot be re-scored",
                file=StoreLayout(data_root).selected_essays,
                field="gen_id",
            )
        meta, path = _read_metadata(data_root, "essay", essay_id)
        combo = meta.get("combo_id")
        if not combo:
            draft_id, draft_meta, draft_path = _parent_draft(data_root, essay_id, meta, path)
            combo = _require(draft_meta, draft_path, "draft", draft_id, "combo_id")
        if not ids.is_safe_id(str(combo)):
            raise InputError(ids.unsafe_id_message(combo, "combo_id"), file=path, field="combo_id")
        essays.append(StoredEssay(essay_id, str(combo)))
    return essays


def check_curated_references(experiment: Experiment, curated: list[CuratedEssay]) -> None:
    """Templates and models named in the store must still exist (active or not), with their files."""
    from daydream.experiment.definition import check_inside, check_template_text

    for item in curated:
        experiment.model(item.llm_model_id)
        for stage, template_id in (("draft", item.draft_template), ("essay", item.essay_template)):
            template = experiment.template(stage, template_id)
            if template.generator == "llm":
                if not template.path.is_file():
                    raise InputError(
                        f"essay {item.essay_gen_id}: template file missing: {template.path}",
                        file=experiment.sources[stage],
                        field="template_id",
                    )
                check_inside(template.path, experiment.templates_root)
                check_template_text(template.path, stage)


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


def _draft_row(cohort: str, combo_id: str, template_id: str, model_id: str, replicate: int) -> MembershipRow:
    task = ids.draft_task_id(combo_id, template_id, model_id)
    gen_id = ids.gen_id("draft", task, cohort, ids.draft_salt(replicate))
    return MembershipRow("draft", gen_id, cohort, "", combo_id, template_id, model_id, replicate)


def _essay_row(cohort: str, draft: MembershipRow, template_id: str, replicate: int) -> MembershipRow:
    draft_task = ids.draft_task_id(draft.combo_id, draft.template_id, draft.llm_model_id)
    gen_id = ids.gen_id(
        "essay",
        ids.essay_task_id(draft_task, template_id),
        cohort,
        ids.essay_salt(draft.replicate, replicate),
    )
    return MembershipRow(
        "essay", gen_id, cohort, draft.gen_id, draft.combo_id, template_id, draft.llm_model_id, replicate
    )


def _cartesian_rows(plan: CohortPlan, experiment: Experiment) -> tuple[list[MembershipRow], list[MembershipRow]]:
    """Drafts: combos x active draft templates x generation models x draft replicates; essays:
    each draft x active essay templates x essay replicates (an essay inherits its draft's model)."""
    drafts, essays = [], []
    for combo in plan.combos:
        for template in experiment.active_templates("draft"):
            for model in experiment.generation_models():
                for rep in range(1, experiment.replicates["draft"] + 1):
                    draft = _draft_row(plan.cohort_id, combo.combo_id, template.template_id, model.model_id, rep)
                    drafts.append(draft)
                    for essay_template in experiment.active_templates("essay"):
                        for essay_rep in range(1, experiment.replicates["essay"] + 1):
                            essays.append(_essay_row(plan.cohort_id, draft, essay_template.template_id, essay_rep))
    return drafts, essays


def _curated_rows(plan: CohortPlan, essay_replicates: int) -> tuple[list[MembershipRow], list[MembershipRow]]:
    """Each selected essay's draft and essays, rebuilt from the store's metadata under this cohort,
    as the original did: one draft (no replicate salt) and `essay_replicates` essays of the selected
    essay's template (salted rep1, rep2, ... only when there are several)."""
    drafts, essays = [], []
    for item in plan.curated:
        draft = _draft_row(plan.cohort_id, item.combo_id, item.draft_template, item.llm_model_id, 1)
        drafts.append(draft)
        task = ids.essay_task_id(
            ids.draft_task_id(item.combo_id, item.draft_template, item.llm_model_id), item.essay_template
        )
        for replicate in range(1, essay_replicates + 1):
            salt = f"rep{replicate}" if essay_replicates > 1 else None
            gen_id = ids.gen_id("essay", task, plan.cohort_id, salt)
            essays.append(
                MembershipRow(
                    "essay",
                    gen_id,
                    plan.cohort_id,
                    draft.gen_id,
                    item.combo_id,
                    item.essay_template,
                    item.llm_model_id,
                    replicate,
                )
            )
    return drafts, essays


def _evaluation_rows(plan: CohortPlan, experiment: Experiment, essays: list[MembershipRow]) -> list[MembershipRow]:
    """Each essay x active evaluation templates x evaluation models x evaluation replicates."""
    rows = []
    for essay in essays:
        for template in experiment.active_templates("evaluation"):
            for model in experiment.evaluation_models():
                for rep in range(1, experiment.replicates["evaluation"] + 1):
                    task = ids.evaluation_task_id(essay.gen_id, template.template_id, model.model_id)
                    gen_id = ids.gen_id("evaluation", task, plan.cohort_id, ids.evaluation_salt(rep))
                    rows.append(
                        MembershipRow(
                            "evaluation",
                            gen_id,
                            plan.cohort_id,
                            essay.gen_id,
                            essay.combo_id,
                            template.template_id,
                            model.model_id,
                            rep,
                        )
                    )
    return rows


def _stored_essay_rows(plan: CohortPlan) -> list[MembershipRow]:
    """Rescore: the stored essays the evaluations hang from; they are not this cohort's rows."""
    return [MembershipRow("essay", e.gen_id, plan.cohort_id, "", e.combo_id, "", "", 1) for e in plan.stored_essays]


def build_membership(plan: CohortPlan, experiment: Experiment) -> list[MembershipRow]:
    if plan.mode == "rescore":
        stored = _stored_essay_rows(plan)
        return check_integrity(_evaluation_rows(plan, experiment, stored), stored_parents=stored)
    if plan.mode == "curated":
        drafts, essays = _curated_rows(plan, experiment.replicates["essay"])
    else:
        drafts, essays = _cartesian_rows(plan, experiment)
    return check_integrity(drafts + essays + _evaluation_rows(plan, experiment, essays))


def check_integrity(rows: list[MembershipRow], stored_parents: list[MembershipRow] = ()) -> list[MembershipRow]:
    """Drop (stage, gen_id) duplicates; every row's parent must be a generation of the parent
    stage in the cohort (an essay's a draft, an evaluation's an essay), or a stored one it names."""
    seen: set[tuple[str, str]] = {(row.stage, row.gen_id) for row in stored_parents}
    unique = []
    for row in rows:
        key = (row.stage, row.gen_id)
        if key in seen:
            continue
        seen.add(key)
        unique.append(row)
    for row in unique:
        parent = PARENT_STAGE[row.stage]
        if parent and (parent, row.parent_gen_id) not in seen:
            raise InputError(
                f"{row.stage} {row.gen_id}: parent {row.parent_gen_id!r} is not a {parent} of cohort {row.cohort_id}",
                field="parent_gen_id",
            )
    return unique


def membership_csv(rows: list[MembershipRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MEMBERSHIP_COLUMNS)
    for row in rows:
        writer.writerow([getattr(row, name) for name in MEMBERSHIP_COLUMNS])
    return buffer.getvalue()


def read_membership(path: Path) -> list[MembershipRow]:
    """Rows of a membership.csv. It is a generated file a user may edit, and its ids become
    paths: each one is checked like an id in the experiment tables."""
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in MEMBERSHIP_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError("missing required column", file=path, line=1, field=missing[0])
        for number, r in enumerate(reader, start=1):
            where = {"file": path, "row": number, "line": reader.line_num}
            if r["stage"] not in PARENT_STAGE:
                raise InputError(f"unknown stage {r['stage']!r}", field="stage", **where)
            for name in ("gen_id", "cohort_id", "combo_id", "template_id", "llm_model_id"):
                if not ids.is_safe_id(r[name] or ""):
                    raise InputError(ids.unsafe_id_message(r[name]), field=name, **where)
            if PARENT_STAGE[r["stage"]] and not ids.is_safe_id(r["parent_gen_id"] or ""):
                raise InputError(ids.unsafe_id_message(r["parent_gen_id"]), field="parent_gen_id", **where)
            try:
                replicate = int(r["replicate"])
            except (TypeError, ValueError):
                raise InputError(
                    f"expected a whole number, got {r['replicate']!r}", field="replicate", **where
                ) from None
            rows.append(
                MembershipRow(
                    r["stage"],
                    r["gen_id"],
                    r["cohort_id"],
                    r["parent_gen_id"],
                    r["combo_id"],
                    r["template_id"],
                    r["llm_model_id"],
                    replicate,
                )
            )
    return rows


def combo_levels(experiment: Experiment, combo: Combo) -> list[tuple[str, str, Path]]:
    """(concept_id, level used, description file) for each concept of a combo, in combo order."""
    return [
        (cid, *resolve_description(experiment.data_root, cid, combo.description_level)) for cid in combo.concept_ids
    ]


def counts(rows: list[MembershipRow]) -> dict[str, int]:
    result = {"draft": 0, "essay": 0, "evaluation": 0}
    for row in rows:
        result[row.stage] += 1
    return result
