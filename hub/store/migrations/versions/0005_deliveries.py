"""Outbound deliveries: one row per re-addressed copy on its way to one recipient.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05

State in clear (attempts, next attempt, last error, ACK code), the re-addressed bytes only
encrypted. Types are spelled out here, as in 0001, so that this revision stays what it was when
tables.py moves on.
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(32)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the deliveries table and its indexes."""
    op.create_table(
        "deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("entry_id", ID, nullable=True),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("recipient", sa.String(9), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("control_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("ack_code", sa.String(2), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("payload_key_id", sa.String(64), nullable=False),
        sa.Column("payload_ct", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name="fk_deliveries_message_id_messages"),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"],
                                name="fk_deliveries_entry_id_entries"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name="fk_deliveries_patient_id_patients"),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'denied', 'parked')",
                           name="ck_deliveries_state"),
    )
    op.create_index("uq_deliveries_patient_id_destination_sequence", "deliveries",
                    ["patient_id", "destination", "sequence"], unique=True)
    op.create_index("ix_deliveries_state_next_attempt_at", "deliveries",
                    ["state", "next_attempt_at"])
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])


def downgrade() -> None:
    """Drop the deliveries (pending ones are lost)."""
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    op.drop_index("ix_deliveries_state_next_attempt_at", table_name="deliveries")
    op.drop_index("uq_deliveries_patient_id_destination_sequence", table_name="deliveries")
    op.drop_table("deliveries")
