"""Concept combinations: enumeration, curated selection and the append-only combo_mappings.csv."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

from daydream.errors import InputError, row_error
from daydream.experiment.definition import LEVELS, Experiment
from daydream.fileio import exists, read_text, write_atomic
from daydream.ids import combo_id as compute_combo_id
from daydream.ids import is_safe_id, unsafe_id_message
from daydream.store.locks import StoreLock
from daydream.tables import read_table

MAPPING_COLUMNS = ["combo_id", "version", "concept_id", "description_level", "k_max", "created_at"]


@dataclass(frozen=True)
class Combo:
    combo_id: str
    concept_ids: tuple[str, ...]  # in concept-table row order
    description_level: str
    k_max: int


def make_combo(concept_ids, level: str, k_max: int) -> Combo:
    return Combo(compute_combo_id(concept_ids, level, k_max), tuple(concept_ids), level, k_max)


def all_combos(experiment: Experiment, k_max: int, level: str) -> list[Combo]:
    """Every k_max-subset of the active concepts, in concept-table row order."""
    active = [c.concept_id for c in experiment.active_concepts()]
    if k_max < 1 or k_max > len(active):
        raise InputError(
            f"k_max={k_max} needs between 1 and {len(active)} active concepts",
            file=experiment.sources["concepts"],
            field="active",
        )
    return [make_combo(ids, level, k_max) for ids in itertools.combinations(active, k_max)]


def check_combo_row(row: dict, path: Path) -> None:
    """A combo mapping row (selected_combo_mappings.csv, combo_mappings.csv) names description
    files: its concept id must be a safe path part, its level and k_max valid."""
    if not is_safe_id(row["concept_id"]):
        raise row_error(unsafe_id_message(row["concept_id"]), row, path, "concept_id")
    if row["description_level"] not in LEVELS:
        raise row_error(f"unknown description level {row['description_level'][:40]!r}", row, path, "description_level")
    if not row["k_max"].isdigit():
        raise row_error(f"expected a whole number, got {row['k_max'][:40]!r}", row, path, "k_max")


def read_selected_combos(path: Path, experiment: Experiment) -> list[Combo]:
    """Combos listed in selected_combo_mappings.csv (one row per concept), in file order."""
    rows = read_table(path, ["combo_id", "concept_id", "description_level", "k_max"])
    order = {c.concept_id: i for i, c in enumerate(experiment.concepts)}
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        check_combo_row(row, path)
        if row["concept_id"] not in order:
            raise row_error(f"unknown concept id {row['concept_id']!r}", row, path, "concept_id")
        grouped.setdefault(row["combo_id"], []).append(row)
    combos = []
    for cid, group in grouped.items():
        first = group[0]
        for row in group[1:]:
            for name in ("description_level", "k_max"):
                if row[name] != first[name]:
                    raise row_error(f"{name} differs within combo {cid!r}", row, path, name)
        ids = sorted({row["concept_id"] for row in group}, key=order.__getitem__)
        combo = make_combo(ids, first["description_level"], int(first["k_max"]))
        if combo.combo_id != cid:
            raise row_error(
                f"combo id {cid!r} does not match its concepts/level/k_max (expected {combo.combo_id})",
                first,
                path,
                "combo_id",
            )
        combos.append(combo)
    if not combos:
        raise InputError("no combos listed", file=path)
    return combos


def update_combo_mappings(path: Path, combos: list[Combo], created_at: str) -> int:
    """Append the combos not yet in the append-only mapping file; returns how many were added.

    An existing combo id whose concepts, level or k_max differ is a collision error. Runs that
    share the data root (other checkouts, other cohorts) append under a file lock, so no
    process's combos are lost."""
    path = Path(path)
    with StoreLock(path.with_name(f".{path.name}.lock")):
        return _append_new_combos(path, combos, created_at)


def _append_new_combos(path: Path, combos: list[Combo], created_at: str) -> int:
    existing: dict[str, tuple] = {}
    old_text = ""
    if exists(path):
        old_text = read_text(path)
        for row in read_table(path, MAPPING_COLUMNS[:5]):
            key = existing.setdefault(row["combo_id"], (set(), row["description_level"], row["k_max"]))
            key[0].add(row["concept_id"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not old_text:
        writer.writerow(MAPPING_COLUMNS)
    added = 0
    for combo in combos:
        known = existing.get(combo.combo_id)
        if known is not None:
            if (
                known[0] != set(combo.concept_ids)
                or known[1] != combo.description_level
                or known[2] != str(combo.k_max)
            ):
                raise InputError(
                    f"combo id collision: {combo.combo_id} is recorded with concepts {sorted(known[0])}, "
                    f"level {known[1]}, k_max {known[2]}",
                    file=path,
                    field="combo_id",
                )
            continue
        for concept_id in combo.concept_ids:
            writer.writerow([combo.combo_id, "v1", concept_id, combo.description_level, combo.k_max, created_at])
        existing[combo.combo_id] = (set(combo.concept_ids), combo.description_level, str(combo.k_max))
        added += 1
    if added:
        if old_text and not old_text.endswith("\n"):
            old_text += "\n"
        write_atomic(path, old_text + buffer.getvalue())
    return added


def combos_csv(combos: list[Combo]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["combo_id", "concept_id", "description_level", "k_max"])
    for combo in combos:
        for concept_id in combo.concept_ids:
            writer.writerow([combo.combo_id, concept_id, combo.description_level, combo.k_max])
    return buffer.getvalue()
