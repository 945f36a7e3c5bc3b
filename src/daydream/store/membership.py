"""A cohort's membership: one row per generation (membership.csv), its integrity, and reading it
back (a generated file a user may edit, whose ids become paths)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from daydream import ids
from daydream.errors import InputError
from daydream.fileio import read_text
from daydream.stages import PARENT_STAGE, STAGES

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


def check_integrity(rows: list[MembershipRow], stored_parents: list[MembershipRow] = ()) -> list[MembershipRow]:
    """Drop (stage, gen_id) duplicates; every row's parent must be a generation of its parent
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


def stage_counts(rows) -> dict[str, int]:
    """Generations per stage."""
    result = dict.fromkeys(STAGES, 0)
    for row in rows:
        result[row.stage] += 1
    return result


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
    with io.StringIO(read_text(path), newline="") as handle:
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
