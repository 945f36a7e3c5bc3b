"""CSV and text readers that turn every defect into an InputError naming file, row and field."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from daydream.errors import InputError, row_error
from daydream.fileio import read_bytes

TRUE_WORDS = {"true", "1"}
FALSE_WORDS = {"false", "0"}


def read_text(path: Path) -> str:
    """Read a UTF-8 text file; a BOM is dropped, invalid bytes name the line they are on."""
    path = Path(path)
    try:
        data = read_bytes(path)  # below a data root, never through a link (fileio.py)
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte offset {exc.start})", file=path, line=line) from None


def read_table(path: Path, required: list[str]) -> list[dict]:
    """Rows of a CSV file with a header; each row dict carries its file line as '_line'."""
    path = Path(path)
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty file: a header row is required", file=path, line=1) from None
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", file=path, line=1) from None
    header = [h.strip() for h in header]
    for number, name in enumerate(header):
        if name in header[:number]:
            raise InputError(f"duplicate column {name!r} in the header", file=path, line=1, field=name)
    for column in required:
        if column not in header:
            raise InputError(
                f"missing required column (header has: {', '.join(header)})", file=path, line=1, field=column
            )
    rows = []
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", file=path, line=reader.line_num) from None
        line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise InputError(
                f"malformed CSV: {len(values)} fields but the header has {len(header)}",
                file=path,
                row=len(rows) + 1,
                line=line,
            )
        row = {name: value.strip() for name, value in zip(header, values, strict=True)}
        row["_line"] = line
        row["_row"] = len(rows) + 1
        rows.append(row)
    return rows


def parse_bool(row: dict, field: str, path: Path) -> bool:
    value = row.get(field, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise row_error(f"expected true/false (or 1/0), got {row.get(field)!r}", row, path, field)


def parse_optional_bool(row: dict, field: str, path: Path) -> bool:
    """An optional true/false column: absent or empty is false."""
    return bool((row.get(field) or "").strip()) and parse_bool(row, field, path)


def parse_positive_int(row: dict, field: str, path: Path, maximum: int) -> int:
    value = row.get(field, "").strip()
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= maximum:
        raise row_error(f"expected a whole number from 1 to {maximum}, got {value[:40]!r}", row, path, field)
    return number


def parse_optional_float(row: dict, field: str, path: Path) -> float | None:
    value = row.get(field, "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise row_error(f"expected a number, got {value!r}", row, path, field) from None
    if not math.isfinite(number) or number < 0:
        raise row_error(f"expected a finite number >= 0, got {value!r}", row, path, field)
    return number


def check_unique(rows: list[dict], field: str, path: Path) -> None:
    seen: dict[str, int] = {}
    for row in rows:
        key = row[field]
        if key in seen:
            raise row_error(f"duplicate id {key!r} (first on line {seen[key]})", row, path, field)
        seen[key] = row["_line"]
