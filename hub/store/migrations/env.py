"""Alembic environment for the hub's store.

`hub.store.schema.upgrade` passes an open connection in `config.attributes["connection"]`; the
`alembic` command line (for writing new revisions) may instead give `sqlalchemy.url` or set
HUB_DATABASE_URL.
"""
from __future__ import annotations

import os

from alembic import context

from hub.store.engine import make_engine
from hub.store.tables import metadata


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on one opened from the configured URL."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("HUB_DATABASE_URL")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or HUB_DATABASE_URL")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run `hub db upgrade`")
run_migrations_online()
