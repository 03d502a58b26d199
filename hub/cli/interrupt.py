"""Ctrl-C for the long operations (replay, key rotation, re-mapping, registry import): noted,
then obeyed between two whole units of work, never inside one."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ctrl_c_noted() -> Iterator[threading.Event]:
    """While inside, SIGINT sets the event yielded instead of raising KeyboardInterrupt, which
    could land inside a database statement (hub.store.repository.translated_errors)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
