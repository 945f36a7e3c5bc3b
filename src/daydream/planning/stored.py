"""Essays chosen from the store (data/2_tasks/selected_essays.txt) for the next cohort: what a
curated cohort rebuilds them from, and which stored essays a re-scoring cohort evaluates. Their
lineage is read from each essay's and its draft's metadata.json, under this store's keys or the
original pipeline's (store/metadata.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from daydream import ids
from daydream.errors import InputError
from daydream.experiment.combos import Combo, check_combo_row
from daydream.experiment.definition import Experiment, check_inside, check_template_text
from daydream.fileio import exists
from daydream.store.layout import METADATA, PARSED, StoreLayout
from daydream.store.metadata import value
from daydream.tables import read_table, read_text


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


def read_selected_essays(path: Path, limit: int | None = None) -> list[str]:
    """The gen_ids listed (one a line, # comments), each once, in order; more than `limit` of them
    is refused as soon as it is known, before anything is read about them."""
    ids_seen: dict[str, None] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not ids.is_safe_id(text):
            raise InputError(ids.unsafe_id_message(text, "gen_id"), file=path, line=number, field="gen_id")
        ids_seen[text] = None
        if limit is not None and len(ids_seen) > limit:
            raise InputError(
                f"more than {limit:,} gen_ids listed (line {number}): more than max_generations allows",
                file=path,
                field="gen_id",
            )
    if not ids_seen:
        raise InputError("no essay gen_ids listed", file=path)
    return list(ids_seen)


def _read_metadata(store: StoreLayout, stage: str, gen_id: str) -> tuple[dict, Path]:
    path = store.gen_dir(stage, gen_id) / METADATA
    if not exists(path):
        raise InputError(f"{stage} {gen_id}: metadata.json not found in the gens store", file=path, field="metadata")
    try:
        return json.loads(read_text(path)), path
    except json.JSONDecodeError as exc:
        raise InputError(f"{stage} {gen_id}: invalid JSON: {exc}", file=path, line=exc.lineno) from None


def _require(meta: dict, path: Path, stage: str, gen_id: str, name: str) -> str:
    """A metadata field, under this store's name or one the original pipeline used."""
    found = value(meta, name, stage)
    if found:
        return found
    raise InputError(f"{stage} {gen_id}: missing field {name!r} in metadata", file=path, field=name)


def _parent_draft(store: StoreLayout, essay_id: str, essay_meta: dict, essay_path: Path) -> tuple[str, dict, Path]:
    """A stored essay's draft: (gen_id, metadata, metadata path); its id must be a safe path part."""
    draft_id = _require(essay_meta, essay_path, "essay", essay_id, "parent_gen_id")
    if not ids.is_safe_id(draft_id):
        raise InputError(
            f"essay {essay_id}: {ids.unsafe_id_message(draft_id, 'parent_gen_id')}",
            file=essay_path,
            field="parent_gen_id",
        )
    return (draft_id, *_read_metadata(store, "draft", draft_id))


def read_curated_essays(store: StoreLayout, essay_ids: list[str]) -> list[CuratedEssay]:
    curated = []
    for essay_id in essay_ids:
        essay_meta, essay_path = _read_metadata(store, "essay", essay_id)
        essay_template = _require(essay_meta, essay_path, "essay", essay_id, "template_id")
        draft_id, draft_meta, draft_path = _parent_draft(store, essay_id, essay_meta, essay_path)
        curated.append(
            CuratedEssay(
                essay_gen_id=essay_id,
                combo_id=_require(draft_meta, draft_path, "draft", draft_id, "combo_id"),
                draft_template=_require(draft_meta, draft_path, "draft", draft_id, "template_id"),
                essay_template=essay_template,
                llm_model_id=_require(draft_meta, draft_path, "draft", draft_id, "llm_model_id"),
            )
        )
    return curated


def check_stored_essays(store: StoreLayout, essay_ids: list[str]) -> list[StoredEssay]:
    """Essays to re-score must be in the store, parsed, with a combo in their lineage (this
    store's metadata or the original pipeline's: the essay's combo_id, else its draft's)."""
    essays = []
    for essay_id in essay_ids:
        if not exists(store.gen_dir("essay", essay_id) / PARSED):
            raise InputError(
                f"essay {essay_id} has no parsed.txt in the store, so it cannot be re-scored",
                file=store.selected_essays,
                field="gen_id",
            )
        meta, path = _read_metadata(store, "essay", essay_id)
        combo = value(meta, "combo_id")
        if not combo:
            draft_id, draft_meta, draft_path = _parent_draft(store, essay_id, meta, path)
            combo = _require(draft_meta, draft_path, "draft", draft_id, "combo_id")
        if not ids.is_safe_id(combo):
            raise InputError(ids.unsafe_id_message(combo, "combo_id"), file=path, field="combo_id")
        essays.append(StoredEssay(essay_id, combo))
    return essays


def check_curated_references(experiment: Experiment, curated: list[CuratedEssay]) -> None:
    """Templates and models named in the store must still exist (active or not), with their files."""
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


def combos_from_mappings(
    store: StoreLayout, combo_ids: list[str], experiment: Experiment, needed_by: dict
) -> list[Combo]:
    """Rebuild combos by id from combo_mappings.csv (curated mode)."""
    path = store.combo_mappings
    if not exists(path):
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
