"""Sender lane leases: several sender processes on one database share the destinations.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

- `lane_leases`: one row per destination (`host:port`) whose lane a sender holds, until
  `expires_at`; only the holder claims and sends that destination's deliveries, so claims are
  single-writer per destination. A crashed sender's rows simply run out.
- `sender_heartbeats`: one row per live sender, renewed with its leases; how many are alive
  sets each one's fair share of the destinations.
"""
from alembic import op
import sqlalchemy as sa

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables, empty."""
    op.create_table(
        "lane_leases",
        sa.Column("destination", sa.Text(), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "sender_heartbeats",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    """Drop them (one sender per database again)."""
    op.drop_table("sender_heartbeats")
    op.drop_table("lane_leases")
