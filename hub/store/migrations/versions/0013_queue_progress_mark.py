"""The queue watchdog remembers each queue's progress mark.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26

A busy queue can keep its depth flat while its consumers work hard, so depth alone called it
stalled. `queue_watch.progress_mark` keeps what the store showed of the work consumed from a
queue at the last check (for the inbound queue: when the newest filed message was received);
a mark that moved since means the consumers made progress. NULL for a queue the store has no
record of work for (the watchdog judges it by its depth), and for rows checked before this.
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column, empty: the first check after it counts as progress once."""
    op.add_column("queue_watch",
                  sa.Column("progress_mark", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop it again (the watchdog then judges every queue by its depth)."""
    with op.batch_alter_table("queue_watch") as batch:
        batch.drop_column("progress_mark")
