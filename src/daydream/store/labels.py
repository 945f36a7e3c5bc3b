"""A person's verdicts on essays, in data/cohorts/<id>/human_labels.csv: one row per label, rows
only ever added (who, when, which essay, accept / reject / undecided, an optional 0-10 score, a
comment). The last label of an essay by a reviewer is that reviewer's verdict.

Each label is added under the cohort's label lock by writing the whole file anew beside it and
renaming it over the old one (fileio.write_atomic): two tabs or two reviewers at once wait for
each other and lose nothing, and a crash leaves the file as it was before or after, never half a
row."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from daydream.errors import InputError
from daydream.fileio import exists, read_text, write_atomic
from daydream.ids import is_safe_id
from daydream.store.layout import StoreLayout
from daydream.store.locks import StoreLock

LABEL_COLUMNS = ["labelled_at", "reviewer", "essay_gen_id", "verdict", "score", "comment"]
VERDICTS = ("accept", "reject", "undecided")
REVIEWER_PATTERN = re.compile(r"[\w.@ -]{1,64}")
MAX_COMMENT_CHARS = 10_000


@dataclass(frozen=True)
class Label:
    labelled_at: str  # ISO 8601, UTC
    reviewer: str
    essay_gen_id: str
    verdict: str
    score: float | None
    comment: str


def make_label(reviewer: str, essay_gen_id: str, verdict: str, score, comment: str, now: str | None = None) -> Label:
    """A checked label; ValueError naming the field that is wrong."""
    reviewer = (reviewer or "").strip()
    if not REVIEWER_PATTERN.fullmatch(reviewer):
        raise ValueError("reviewer: 1-64 letters, digits, spaces, '.', '_', '-' or '@'")
    if not is_safe_id(essay_gen_id):
        raise ValueError(f"essay_gen_id: not an id: {essay_gen_id!r}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict: one of {', '.join(VERDICTS)}, got {verdict!r}")
    value = None
    if score not in (None, ""):
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise ValueError(f"score: a number from 0 to 10, got {score!r}") from None
        if not (math.isfinite(value) and 0 <= value <= 10):
            raise ValueError(f"score: a number from 0 to 10, got {score!r}")
    comment = (comment or "").replace("\r\n", "\n")
    if len(comment) > MAX_COMMENT_CHARS:
        raise ValueError(f"comment: at most {MAX_COMMENT_CHARS} characters")
    when = now or datetime.now(UTC).isoformat(timespec="microseconds")
    return Label(when, reviewer, essay_gen_id, verdict, value, comment)


def _row_text(label: Label) -> str:
    buffer = io.StringIO()
    score = "" if label.score is None else f"{label.score:g}"
    csv.writer(buffer, lineterminator="\n").writerow(
        [label.labelled_at, label.reviewer, label.essay_gen_id, label.verdict, score, label.comment]
    )
    return buffer.getvalue()


def append_label(data_root: str | Path, cohort_id: str, label: Label) -> None:
    store = StoreLayout(data_root)
    path = store.human_labels(cohort_id)
    with StoreLock(store.human_labels_lock(cohort_id)):
        text = read_text(path) if exists(path) else ",".join(LABEL_COLUMNS) + "\n"
        write_atomic(path, text + _row_text(label))


def read_labels(path: str | Path) -> list[Label]:
    """The labels of one file, in file order; InputError naming the row and field of a bad one
    (the file is the user's to edit)."""
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [column for column in LABEL_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise InputError("missing required column", file=path, line=1, field=missing[0])
    labels = []
    for number, row in enumerate(reader, start=1):
        try:
            fields = [row[name] or "" for name in ("reviewer", "essay_gen_id", "verdict", "score", "comment")]
            labels.append(make_label(*fields, now=row["labelled_at"]))
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            raise InputError(message, file=path, row=number, line=reader.line_num, field=field) from None
    return labels


def cohort_labels(data_root: str | Path, cohort_id: str) -> list[Label]:
    path = StoreLayout(data_root).human_labels(cohort_id)
    return read_labels(path) if exists(path) else []


def store_labels(data_root: str | Path, cohort_ids=None) -> list[Label]:
    """The labels of these cohorts (default: every cohort), oldest first."""
    store = StoreLayout(data_root)
    if cohort_ids is None:
        paths = store.human_label_files()
    else:
        paths = [store.human_labels(cohort_id) for cohort_id in sorted(set(cohort_ids))]
    labels = [label for path in paths if exists(path) for label in read_labels(path)]
    return sorted(labels, key=lambda label: label.labelled_at)  # stable: file order within a time


def latest(labels: list[Label]) -> dict[tuple[str, str], Label]:
    """(essay_gen_id, reviewer) -> that reviewer's last label of that essay."""
    return {(label.essay_gen_id, label.reviewer): label for label in labels}


@dataclass(frozen=True)
class Verdict:
    """An essay's labels taken together: each reviewer's last verdict and score."""

    accepted_by: tuple[str, ...]
    rejected_by: tuple[str, ...]
    undecided_by: tuple[str, ...]
    score: float | None  # the mean of the reviewers' last scores, where they gave one

    @property
    def state(self) -> str:
        """rejected (by anyone), accepted (by someone, rejected by no one), undecided."""
        if self.rejected_by:
            return "rejected"
        return "accepted" if self.accepted_by else "undecided"


def verdicts(labels: list[Label]) -> dict[str, Verdict]:
    """essay_gen_id -> Verdict, for every essay with a label."""
    by_essay: dict[str, list[Label]] = {}
    for label in latest(labels).values():
        by_essay.setdefault(label.essay_gen_id, []).append(label)
    result = {}
    for essay, last in by_essay.items():
        scores = [label.score for label in last if label.score is not None]
        result[essay] = Verdict(
            tuple(sorted(label.reviewer for label in last if label.verdict == "accept")),
            tuple(sorted(label.reviewer for label in last if label.verdict == "reject")),
            tuple(sorted(label.reviewer for label in last if label.verdict == "undecided")),
            sum(scores) / len(scores) if scores else None,
        )
    return result
