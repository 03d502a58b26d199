"""A partial index of replays by the message they replay.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26

`hub dlq list` and `hub trace` look up the replays of parked messages (`messages.replay_of`);
without an index each look-up reads every message. Only replays are indexed (the column is NULL
for every frame a sender sent), so the index stays as small as the dead-letter history.
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

REPLAYS = sa.text("replay_of IS NOT NULL")


def upgrade() -> None:
    """Index the replays by the message they replay."""
    op.create_index("ix_messages_replay_of", "messages", ["replay_of"],
                    sqlite_where=REPLAYS, postgresql_where=REPLAYS)


def downgrade() -> None:
    """Drop the index (replays are still found, by reading every message)."""
    op.drop_index("ix_messages_replay_of", table_name="messages")
