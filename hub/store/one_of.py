"""`column IN (a list)` for statements built once, in the form each database runs cheapest.

An expanding IN is rendered again at every execution, one bind and one cast per value: a
worker's batch reads about 400 ids through such lists (consent, dossiers, resends, delivery
queues), and rendering them cost more client CPU than the queries. On PostgreSQL the list goes
as one array, `column = ANY(:ids)`: the statement's text is the same whatever the length, so
it is rendered once and psycopg prepares it; PostgreSQL itself reads an IN list as that same
`= ANY(array)`, so the plan and the rows are the same. SQLite keeps the expanding IN.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

# one_of(column, bind name) -> the membership test, as a dialect runs it
OneOf = Callable[[Any, str], Any]


def _expanding(column, name: str):
    return column.in_(bindparam(name, expanding=True))


def _array(column, name: str):
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


def one_of(dialect_name: str) -> OneOf:
    """The membership test of `dialect_name`, for a statement built once per dialect."""
    return _array if dialect_name == "postgresql" else _expanding


class PerDialect:
    """A statement built on first use for each dialect, from `build(one_of)`; the values of
    each `one_of` bind are given as a list."""

    def __init__(self, build: Callable[[OneOf], Any]):
        self._build = build
        self._made: dict[str, Any] = {}

    def __getitem__(self, dialect_name: str):
        made = self._made.get(dialect_name)
        if made is None:
            made = self._made[dialect_name] = self._build(one_of(dialect_name))
        return made
