"""The scheduler's jobs: lease locks, the queue watchdog's memory, noted grant expiries.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

- `job_locks`: one row per periodic job while a hub holds its lease; several hubs sharing the
  database run each job one at a time, and a crashed owner's lease simply runs out.
- `queue_watch`: what the watchdog saw of each broker queue last time, so that `hub status`
  (another process) can say which queue is stalled.
- `consent_grants.expiry_noted_at`: when the "grant expired" event of a grant was recorded, so
  that it is recorded once. NULL for grants not (yet) expired or noted.
"""
from alembic import op
import sqlalchemy as sa

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables and add the grants' column, empty."""
    op.create_table(
        "job_locks",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("leased_until", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "queue_watch",
        sa.Column("queue", sa.String(255), primary_key=True),
        sa.Column("depth", sa.BigInteger(), nullable=False),
        sa.Column("consumers", sa.Integer(), nullable=False),
        sa.Column("still_checks", sa.Integer(), nullable=False),
        sa.Column("stalled_since", TIMESTAMP),
        sa.Column("checked_at", TIMESTAMP, nullable=False),
    )
    op.add_column("consent_grants", sa.Column("expiry_noted_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    """Drop them again (expiry events already recorded stay in the audit log)."""
    with op.batch_alter_table("consent_grants") as batch:
        batch.drop_column("expiry_noted_at")
    op.drop_table("queue_watch")
    op.drop_table("job_locks")
