"""Loading the professionals registry from a CSV file (`hub professionals import FILE`).

The header is a contract (DESIGN.md, "Interfaces"):
`cns_code,family_name,given_name,specialty,status,mllp_host,mllp_port,receiving_application,
receiving_facility`, the last four empty for a professional without a destination. An optional
`mllp_tls` column (true/false) may follow it. UTF-8 with or without a BOM; `;` as the delimiter
when the header uses it (spreadsheets in French locales save it so).

A file whose header is wrong is refused whole; otherwise every good row is stored and every bad
one reported with its line number and why. Rows are never half applied.
"""
from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hub.domain.professional import Destination, Professional, validate_cns_code
from hub.errors import HubError, InvalidCnsCode
from hub.domain.ports import UnitOfWork

HEADER = ("cns_code", "family_name", "given_name", "specialty", "status", "mllp_host",
          "mllp_port", "receiving_application", "receiving_facility")
TLS_COLUMN = "mllp_tls"
DESTINATION_COLUMNS = HEADER[5:]
DELIMITERS = (",", ";")
STATUSES = ("active", "suspended")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


@dataclass(frozen=True)
class Rejection:
    """One refused row: its line in the file (the header is line 1) and why."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did, row by row."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every row was accepted."""
        return not self.rejected

    def as_dict(self) -> dict:
        """The report as a JSON-ready document."""
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected]}


class ImportInterrupted(HubError):
    """The import was stopped (Ctrl-C) before its commit: nothing of the file was stored."""


def import_csv(path: str | Path, uow: UnitOfWork, *, stop: threading.Event | None = None,
               progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Add or update the professionals listed in the CSV file at `path`, then commit `uow`.
    The file goes in whole, in that one transaction: `stop` set ends it before the commit with
    ImportInterrupted. `progress(done, total)` is called after each row.

    Raises HubError (nothing stored) when the file cannot be read, is not UTF-8 or its header
    is not the expected one.
    """
    lines, columns = read_rows(Path(path))
    report = ImportReport()
    first_line_of: dict[str, int] = {}
    for done, (line, cells) in enumerate(lines, start=1):
        if stop is not None and stop.is_set():
            raise ImportInterrupted(f"interrupted at line {line}: nothing imported (a file "
                                    "goes in whole or not at all)")
        _import_row(uow, line, cells, columns, first_line_of, report)
        if progress is not None:
            progress(done, len(lines))
    uow.commit()
    return report


def _import_row(uow: UnitOfWork, line: int, cells: list[str], columns: tuple[str, ...],
                first_line_of: dict[str, int], report: ImportReport) -> None:
    professional, problems = _parse_row(cells, columns)
    code = _code_or_none(cells[0] if cells else "")
    if code is not None:
        if code in first_line_of:
            problems.insert(0, f"duplicate CNS code {code} (first on line {first_line_of[code]})")
        else:
            first_line_of[code] = line
    if problems:
        report.rejected.append(Rejection(line, "; ".join(problems)))
        return
    result = uow.professionals.upsert(professional)
    setattr(report, result, getattr(report, result) + 1)


def read_rows(path: Path) -> tuple[list[tuple[int, list[str]]], tuple[str, ...]]:
    """The file's non-blank data rows as (line number, cells), and the columns of its header."""
    text = _read_text(path)
    line = 1
    try:
        for delimiter in DELIMITERS:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            columns = _columns(next(reader, []))
            if columns is not None:
                break
        else:
            raise HubError(
                f"{path}: line 1 is not the expected header; expected: {','.join(HEADER)}")
        rows = []
        line = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((line, [cell.strip() for cell in cells]))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise HubError(f"{path}: line {line} cannot be read as CSV ({exc})") from None
    return rows, columns


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HubError(f"{path}: no such file") from None
    except OSError as exc:
        raise HubError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise HubError(f"{path}: line {line} is not UTF-8 (save the file as UTF-8)") from None
    if not text.strip():
        raise HubError(f"{path}: empty file; expected the header {','.join(HEADER)}")
    return text


def _columns(cells: list[str]) -> tuple[str, ...] | None:
    """The header's columns, or None when they are not the expected ones."""
    names = [cell.strip().lower() for cell in cells]
    while names and not names[-1]:  # spreadsheets add empty trailing columns
        names.pop()
    if tuple(names) in (HEADER, HEADER + (TLS_COLUMN,)):
        return tuple(names)
    return None


def _code_or_none(text: str) -> str | None:
    try:
        return validate_cns_code(text)
    except InvalidCnsCode:
        return None


def _parse_row(cells: list[str], columns: tuple[str, ...]) -> tuple[Professional | None, list[str]]:
    """The professional a row describes, or the list of what is wrong with it."""
    if any(cells[len(columns):]) or len(cells) < len(columns):
        return None, [f"expected {len(columns)} fields, found {len(cells)}"]
    row = dict(zip(columns, cells))
    problems: list[str] = []
    try:
        validate_cns_code(row["cns_code"])
    except InvalidCnsCode as exc:
        problems.append(str(exc))
    if not row["family_name"]:
        problems.append("family_name is empty")
    status = row["status"].lower()
    if status not in STATUSES:
        problems.append(f"unknown status {row['status']!r} (expected active or suspended)")
    destination = _destination(row, problems)
    if problems:
        return None, problems
    return Professional(row["cns_code"], row["family_name"], row["given_name"], row["specialty"],
                        status, destination), problems


def _destination(row: dict[str, str], problems: list[str]) -> Destination | None:
    """The row's destination (None when its four columns are empty); problems are appended."""
    tls_text = row.get(TLS_COLUMN, "").lower()
    tls = tls_text in _TRUE
    if tls_text not in _TRUE + _FALSE:
        problems.append(f"{TLS_COLUMN} {row[TLS_COLUMN]!r} is not true or false")
    missing = [name for name in DESTINATION_COLUMNS if not row[name]]
    if len(missing) == len(DESTINATION_COLUMNS):
        if tls:
            problems.append(f"{TLS_COLUMN} is set but there is no destination")
        return None
    if missing:
        problems.append(f"destination half filled: {', '.join(missing)} empty "
                        f"(give all of {', '.join(DESTINATION_COLUMNS)} or none)")
    port_text = row["mllp_port"]
    if port_text and not (port_text.isascii() and port_text.isdigit()):
        problems.append(f"mllp_port {port_text!r} is not a number")
        return None
    if missing:
        return None
    try:
        return Destination(row["mllp_host"], int(port_text), row["receiving_application"],
                           row["receiving_facility"], tls)
    except ValueError as exc:
        problems.append(f"mllp_port: {exc}")
        return None
