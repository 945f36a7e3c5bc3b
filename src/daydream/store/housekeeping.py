"""Housekeeping of a gens store shared by cohorts: what is inconsistent in it, and removing a
cohort's generations without touching what another cohort uses or any paid response."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from daydream.errors import InputError
from daydream.fileio import exists, listdir, read_json_object, remove_tree, write_json_atomic
from daydream.ids import is_safe_id
from daydream.stages import PARENT_STAGE, STAGES
from daydream.store.archive import archive_stamp, now_iso
from daydream.store.layout import GENERATION_FILES, METADATA, PARSED, RAW, REDO, RESPONSES, StoreLayout
from daydream.store.membership import MembershipRow, read_membership
from daydream.store.metadata import ancestors, value
from daydream.store.run_lock import CohortBusy, acquire_run_lock


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
    """Every generation folder of the store (a link among them too: it is no folder to read)."""
    store = StoreLayout(data_root)
    return [
        (stage, name)
        for stage in STAGES
        for name in sorted(listdir(store.stage_dir(stage)))
        if not name.startswith(".")
    ]


def _links(store: StoreLayout, stage: str, gen_id: str) -> list[str]:
    """What in a generation folder is a symbolic link (the folder itself, or entries in it)."""
    folder = store.gen_dir(stage, gen_id)
    if folder.is_symlink():
        return [f"the folder is a link to {os.readlink(folder)}"]
    found = []
    for name in (*GENERATION_FILES, RESPONSES):
        if (folder / name).is_symlink():
            found.append(f"{name} is a link to {os.readlink(folder / name)}")
    if (folder / RESPONSES).is_dir() and not (folder / RESPONSES).is_symlink():
        found += [f"{RESPONSES}/{e.name} is a link" for e in sorted((folder / RESPONSES).iterdir()) if e.is_symlink()]
    return found


def check_store(data_root: str | Path) -> list[Problem]:
    """Missing parents, orphans (in no cohort), metadata contradicting membership or unreadable,
    raw without parsed, symbolic links (which the store never follows), and gen_ids stored under
    two stages or listed twice in one cohort."""
    store = StoreLayout(data_root)
    problems = []
    cohorts = {}
    for path in store.membership_files():
        try:
            cohorts[path.parent.name] = read_membership(path)
        except InputError as exc:
            problems.append(Problem("unreadable membership", "cohort", path.parent.name, str(exc)))
    stored = stored_generations(data_root)
    stored_set = set(stored)
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
        links = _links(store, stage, gen_id)
        if links:
            problems += [Problem("symbolic link", stage, gen_id, link) for link in links]
            continue
        try:
            problems += _check_generation(store, stage, gen_id, listed, stored_set)
        except InputError as exc:
            problems.append(Problem("unreadable metadata", stage, gen_id, str(exc)))
    for gen_id, stages in stages_of.items():
        if len(stages) > 1:
            problems.append(Problem("duplicate", stages[0], gen_id, f"stored under {' and '.join(stages)}"))
    return problems


def _check_generation(store: StoreLayout, stage: str, gen_id: str, listed: dict, stored_set: set) -> list[Problem]:
    problems = []
    folder = store.gen_dir(stage, gen_id)
    path = folder / METADATA
    meta = read_json_object(path)
    if not meta and exists(path):
        problems.append(Problem("unreadable metadata", stage, gen_id, f"{path}: not a JSON object (cut short?)"))
    parent = value(meta, "parent_gen_id", path=path)
    if PARENT_STAGE[stage] and parent and (not is_safe_id(parent) or (PARENT_STAGE[stage], parent) not in stored_set):
        shown = parent if len(parent) <= 40 else f"{parent[:40]}... ({len(parent)} characters)"
        problems.append(Problem("missing parent", stage, gen_id, f"{PARENT_STAGE[stage]} {shown} is not stored"))
    if (stage, gen_id) not in listed:
        problems.append(Problem("orphan", stage, gen_id, "in no cohort's membership"))
    else:
        row = listed[(stage, gen_id)]
        for field, expected in (
            ("template_id", row.template_id),
            ("parent_gen_id", row.parent_gen_id),
            ("combo_id", row.combo_id),
            ("llm_model_id", row.llm_model_id),
        ):
            recorded = value(meta, field, stage if field == "template_id" else None, path)
            if recorded and expected and recorded != expected:
                shown = recorded if len(recorded) <= 40 else f"{recorded[:40]}..."
                problems.append(Problem("contradicts membership", stage, gen_id, f"{field} {shown!r} vs {expected!r}"))
    if exists(folder / RAW) and not exists(folder / PARSED):
        problems.append(Problem("raw without parsed", stage, gen_id, "the response is stored, parsing is not done"))
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
        if store.gen_dir(stage, gen_id).is_symlink():
            continue
        meta = read_json_object(store.gen_dir(stage, gen_id) / METADATA)
        for ancestor_stage, (ancestor_id, _) in ancestors(store, stage, meta).items():
            used.setdefault((ancestor_stage, ancestor_id), f"ancestor of {gen_id}, which another cohort uses")
    remove, kept = [], []
    for row in cohorts[cohort_id]:
        key = (row.stage, row.gen_id)
        folder = store.gen_dir(row.stage, row.gen_id)
        if key in used:
            kept.append((*key, used[key]))
        elif folder.is_symlink() or folder.is_dir():
            remove.append(key)
    return remove, kept


def purge(
    data_root: str | Path, cohort_id: str, generations: list[tuple[str, str]], include_responses: bool = False
) -> int:
    """Remove the generations' files (their responses/ archives stay unless include_responses),
    holding the cohort's run lock: never while a run of the cohort is going. Nothing is followed
    through a link: a generation folder that is a link is removed as the link (fileio.py)."""
    store = StoreLayout(data_root)
    try:
        lock = acquire_run_lock(store, cohort_id, os.getcwd())
    except CohortBusy as busy:
        raise InputError(f"not purging: {busy}") from None
    try:
        keep = () if include_responses else (RESPONSES,)
        for stage, gen_id in generations:
            remove_tree(store.gen_dir(stage, gen_id), keep=keep)
    finally:
        lock.release()
    return len(generations)


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
