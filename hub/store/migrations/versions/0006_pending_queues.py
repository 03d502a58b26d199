"""A partial index of the pending deliveries by queue, for finding each queue's head.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06

Only pending rows are indexed (delivered, denied and parked ones, the great majority once a hub
has run a while, never are), ordered as a dispatcher reads them: by destination, then each
patient's queue in sequence order. Finding the heads then reads the pending rows once instead of
comparing each with every other of its queue. SQLite and PostgreSQL both have partial indexes.
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    """Index the pending deliveries by destination, patient and sequence."""
    op.create_index("ix_deliveries_pending_queue", "deliveries",
                    ["destination", "patient_id", "sequence"],
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    """Drop the index (the heads are still found, only more slowly)."""
    op.drop_index("ix_deliveries_pending_queue", table_name="deliveries")
