"""Leases of the inbound partitions, and the routing workers alive to share them.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

Each routing worker (a process, or a thread of `worker.threads`) writes a heartbeat row in
`partition_workers` and leases its fair share of the inbound partitions in `partition_leases`
(hub/routing/partition_balance.py). The broker's single active consumer is what keeps a
partition's order; the leases only spread the partitions over the workers.
"""
from alembic import op
import sqlalchemy as sa

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Two small tables, empty: workers fill them as they start."""
    op.create_table(
        "partition_workers",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("seen_until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "partition_leases",
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("partition_leases")
    op.drop_table("partition_workers")
