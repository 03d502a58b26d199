"""Printing for the CLI: one JSON document on stdout for scripts, rich tables for people.

What people see goes through `hub.text.inert` (control characters a sender put in a value are
shown as escapes, never sent to the terminal); JSON needs nothing more, `json.dump` escapes them.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.text import inert

_UNLIMITED = 1_000_000  # columns: a table is as wide as its cells, whatever the terminal


def _default(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(document: object) -> None:
    """Write `document` as one JSON document on stdout."""
    json.dump(document, sys.stdout, default=_default, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Left-aligned columns two spaces apart, as wide as their widest cell, drawn by rich
    (PeopleConsole: every cell shown through `inert`, no markup). Never wrapped nor cut, at a
    terminal or not (a long cell makes a long line, as `--json` would give it whole); no colour
    unless stdout is a terminal; no trailing blanks."""
    table = Table(*(str(h) for h in headers), box=None, show_edge=False, pad_edge=False,
                  padding=(0, 1))
    for row in rows:
        table.add_row(*("" if c is None else str(c) for c in row))
    console = PeopleConsole(width=_UNLIMITED)
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        print(line.rstrip())


def positive_count(text: str) -> int:
    """An argparse type for `--limit` and the like: a whole number of at least 1 (a negative
    LIMIT is "no limit" to SQLite and an error to PostgreSQL; 0 would answer nothing)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


class PeopleConsole(Console):
    """A rich console for people: no markup (senders' values may hold square brackets), no
    highlighting, and every string it prints, table cells included, shown through `inert`
    (so a line break inside one string is shown as \\x0a: print lines one by one). No emoji
    codes either: a value ":warning:" is shown as written."""

    def __init__(self, **options: object) -> None:
        super().__init__(markup=False, highlight=False, emoji=False, **options)

    def render_str(self, text: str, **options: object) -> Text:
        """Rich turns every plain string into Text here, cells and titles alike."""
        return super().render_str(inert(text), **options)
