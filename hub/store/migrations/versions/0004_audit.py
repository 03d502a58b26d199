"""The audit log: events in a hash chain, ordered by seq (hub/domain/audit_chain.py).

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04

Patients, entries and messages are named by id only; no foreign keys, so that the log outlives
the rows it mentions. Types are spelled out here, as in 0001, so that this revision stays what
it was when tables.py moves on.
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(32)
HASH = sa.String(64)


def upgrade() -> None:
    """Create the audit_events table and its indexes."""
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("patient_id", ID, nullable=True),
        sa.Column("entry_id", ID, nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.UniqueConstraint("id", name="uq_audit_events_id"),
        sa.CheckConstraint("outcome IN ('ok', 'denied', 'failed')",
                           name="ck_audit_events_outcome"),
    )
    op.create_index("ix_audit_events_patient_id_seq", "audit_events", ["patient_id", "seq"])
    op.create_index("ix_audit_events_message_id", "audit_events", ["message_id"])


def downgrade() -> None:
    """Drop the audit log (destroys the evidence)."""
    op.drop_index("ix_audit_events_message_id", table_name="audit_events")
    op.drop_index("ix_audit_events_patient_id_seq", table_name="audit_events")
    op.drop_table("audit_events")
