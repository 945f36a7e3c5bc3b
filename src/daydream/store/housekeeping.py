"""Housekeeping of a gens store shared by cohorts: what is inconsistent in it, and removing a
cohort's generations without touching what another cohort uses or any paid response."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from daydream.errors import InputError
from daydream.ids import is_safe_id
from daydream.stages import PARENT_STAGE, STAGES
from daydream.store.archive import archive_stamp, now_iso
from daydream.store.fileio import read_json_object, write_json_atomic
from daydream.store.layout import METADATA, PARSED, RAW, REDO, RESPONSES, StoreLayout
from daydream.store.membership import MembershipRow, read_membership
from daydream.store.metadata import ancestors, model_of


@dataclass(frozen=True)
class Problem:
    kind: str
    stage: str
    gen_id: str
    detail: str


def memberships(data_root: str | Path) -> dict[str, list[MembershipRow]]:
    """Every cohort's membership rows, by cohort id."""
    found = {}
    for path in StoreLayout(data_root).membership_files():
        found[path.parent.name] = read_membership(path)
    return found


def stored_generations(data_root: str | Path) -> list[tuple[str, str]]:
    store = StoreLayout(data_root)
    return [
        (stage, folder.name)
        for stage in STAGES
        for folder in sorted(store.stage_dir(stage).glob("*"))
        if folder.is_dir()
    ]


def check_store(data_root: str | Path) -> list[Problem]:
    """Missing parents, orphans (in no cohort), metadata contradicting membership, raw without
    parsed, and gen_ids stored under two stages or listed twice in one cohort."""
    store = StoreLayout(data_root)
    cohorts = memberships(data_root)
    stored = stored_generations(data_root)
    stored_set = set(stored)
    problems = []
    listed: dict[tuple[str, str], MembershipRow] = {}
    for cohort_id, rows in cohorts.items():
        seen = set()
        for row in rows:
            key = (row.stage, row.gen_id)
            if key in seen:
                problems.append(Problem("duplicate", row.stage, row.gen_id, f"listed twice in cohort {cohort_id}"))
            seen.add(key)
            listed.setdefault(key, row)
    stages_of: dict[str, list[str]] = {}
    for stage, gen_id in stored:
        stages_of.setdefault(gen_id, []).append(stage)
        folder = store.gen_dir(stage, gen_id)
        meta = read_json_object(folder / METADATA)
        parent = meta.get("parent_gen_id") or ""
        if (
            PARENT_STAGE[stage]
            and parent
            and (not is_safe_id(parent) or (PARENT_STAGE[stage], parent) not in stored_set)
        ):
            problems.append(Problem("missing parent", stage, gen_id, f"{PARENT_STAGE[stage]} {parent} is not stored"))
        if (stage, gen_id) not in listed:
            problems.append(Problem("orphan", stage, gen_id, "in no cohort's membership"))
        else:
            row = listed[(stage, gen_id)]
            for field, value in (
                ("template_id", row.template_id),
                ("parent_gen_id", row.parent_gen_id),
                ("combo_id", row.combo_id),
            ):
                recorded = meta.get(field)
                if recorded not in (None, "") and value and str(recorded) != value:
                    problems.append(
                        Problem("contradicts membership", stage, gen_id, f"{field} {recorded!r} vs {value!r}")
                    )
            model = model_of(meta)
            if model and row.llm_model_id and model != row.llm_model_id:
                problems.append(
                    Problem("contradicts membership", stage, gen_id, f"llm_model_id {model!r} vs {row.llm_model_id!r}")
                )
        if (folder / RAW).is_file() and not (folder / PARSED).is_file():
            problems.append(Problem("raw without parsed", stage, gen_id, "the response is stored, parsing is not done"))
    for gen_id, stages in stages_of.items():
        if len(stages) > 1:
            problems.append(Problem("duplicate", stages[0], gen_id, f"stored under {' and '.join(stages)}"))
    return problems


def purge_plan(data_root: str | Path, cohort_id: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(generations to remove, generations kept with why): the cohort's generations, except those
    another cohort lists, hangs evaluations from (a re-scoring cohort), or descends from."""
    cohorts = memberships(data_root)
    if cohort_id not in cohorts:
        raise InputError(f"cohort {cohort_id} has no membership.csv", file=StoreLayout(data_root).membership(cohort_id))
    used: dict[tuple[str, str], str] = {}
    for other, rows in cohorts.items():
        if other == cohort_id:
            continue
        for row in rows:
            used.setdefault((row.stage, row.gen_id), f"listed by cohort {other}")
            if PARENT_STAGE[row.stage] and row.parent_gen_id:
                used.setdefault(
                    (PARENT_STAGE[row.stage], row.parent_gen_id), f"parent of cohort {other}'s {row.gen_id}"
                )
    # what another cohort uses keeps its ancestors too (an essay it re-scores keeps its draft)
    store = StoreLayout(data_root)
    for stage, gen_id in list(used):
        meta = read_json_object(store.gen_dir(stage, gen_id) / METADATA)
        for ancestor_stage, (ancestor_id, _) in ancestors(store, stage, meta).items():
            used.setdefault((ancestor_stage, ancestor_id), f"ancestor of {gen_id}, which another cohort uses")
    remove, kept = [], []
    for row in cohorts[cohort_id]:
        key = (row.stage, row.gen_id)
        if key in used:
            kept.append((*key, used[key]))
        elif store.gen_dir(row.stage, row.gen_id).is_dir():
            remove.append(key)
    return remove, kept


def purge(data_root: str | Path, generations: list[tuple[str, str]], include_responses: bool = False) -> int:
    """Remove the generations' files; their responses/ archives stay unless include_responses."""
    store = StoreLayout(data_root)
    removed = 0
    for stage, gen_id in generations:
        folder = store.gen_dir(stage, gen_id)
        for entry in folder.iterdir():
            if entry.name == RESPONSES and not include_responses:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        if include_responses or not (folder / RESPONSES).exists():
            folder.rmdir()
        removed += 1
    return removed


def mark_for_redo(data_root: str | Path, generations: list[tuple[str, str]], reason: str) -> int:
    """Mark generations for a new call at the next run: a marker (redo.json) in each folder says
    that only a response archived after now is its answer (neither its own older ones nor another
    generation's); the marker is part of what its generate job asks for (specs.generate_param),
    so Snakemake runs that job again whatever the target, and through its new parsed text renders
    again what reads it. Every response stays in responses/; the replicate (the slot of its
    request) stays the generation's."""
    store = StoreLayout(data_root)
    marked = 0
    for stage, gen_id in generations:
        folder = store.gen_dir(stage, gen_id)
        write_json_atomic(folder / REDO, {"after": archive_stamp(), "requested_at": now_iso(), "reason": reason})
        marked += 1
    return marked
