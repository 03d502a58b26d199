"""Each send of a delivery, for `hub trace`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

`deliveries` keeps a delivery's state, attempt count and last error; `delivery_attempts` keeps
one row per send (when, delivered/retry/parked, the code or ACK that came back, the hub's words
for a failure), written by the outbound batch in the transaction that records the outcome.
Deliveries sent before this migration have no rows here.
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the table and its index by delivery."""
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("ack_code", sa.String(2), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"],
                                name="fk_delivery_attempts_delivery_id_deliveries"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempts"),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])


def downgrade() -> None:
    """Drop the history (the deliveries keep their counts and last errors)."""
    op.drop_index("ix_delivery_attempts_delivery_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
