"""One error type for bad experiment input, always naming where the problem is."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: names the file, the row (data row and file line) and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        line: int | None = None,
        field: str | None = None,
    ):
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None and self.line is not None:
            where.append(f"row {self.row} (line {self.line})")
        elif self.row is not None:
            where.append(f"row {self.row}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def row_error(message: str, row: dict, path, field: str | None = None) -> InputError:
    """An InputError for a row returned by tables.read_table."""
    return InputError(message, file=path, row=row.get("_row"), line=row.get("_line"), field=field)
