"""The hub a command works on: built from the settings, on the database `hub serve` (or `hub db
upgrade`) created, its schema brought up to date, and closed when the command is done. A missing
database is an error naming it (Hub.open_database), never a new empty one."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hub.bootstrap import Hub
from hub.settings import Settings


@contextmanager
def current_hub(settings: Settings) -> Iterator[Hub]:
    """A hub on its existing database, schema current; closed on leaving the block."""
    hub = Hub(settings)
    try:
        hub.open_database()
        yield hub
    finally:
        hub.close()
