"""The hub a command works on: built from the settings, its schema brought up to date (a fresh
install answers "no dossier", not a schema error), and closed when the command is done."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hub.bootstrap import Hub
from hub.settings import Settings


@contextmanager
def current_hub(settings: Settings) -> Iterator[Hub]:
    """A hub whose database schema is current; closed on leaving the block."""
    hub = Hub(settings)
    try:
        hub.upgrade_database()
        yield hub
    finally:
        hub.close()
