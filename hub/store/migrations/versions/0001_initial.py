"""Initial schema: patients, messages, entries (patient data only in encrypted columns).

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Hand-written to match hub/store/tables.py; types are spelled out here rather than imported so
that this revision stays what it was when tables.py moves on.
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(32)
HASH = sa.String(64)
KEY_ID = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "patients",
        sa.Column("id", ID, nullable=False),
        sa.Column("matricule_hash", HASH, nullable=False),
        sa.Column("key_id", KEY_ID, nullable=False),
        sa.Column("data_ct", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_patients"),
        sa.UniqueConstraint("matricule_hash", name="uq_patients_matricule_hash"),
    )
    op.create_table(
        "messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("control_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ack_code", sa.String(2), nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=True),
        sa.Column("patient_id", ID, nullable=True),
        sa.Column("peer", sa.Text(), nullable=True),
        sa.Column("replay_of", ID, nullable=True),
        sa.Column("content_hash", HASH, nullable=False),
        sa.Column("raw_key_id", KEY_ID, nullable=False),
        sa.Column("raw_ct", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name="fk_messages_patient_id_patients"),
    )
    op.create_index("ix_messages_sender_control_id", "messages", ["sender", "control_id"])
    op.create_index("ix_messages_state", "messages", ["state"])
    op.create_index("ix_messages_received_at", "messages", ["received_at"])
    op.create_table(
        "entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("confidentiality", sa.String(16), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("key_id", KEY_ID, nullable=False),
        sa.Column("payload_ct", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name="fk_entries_patient_id_patients"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name="fk_entries_message_id_messages"),
    )
    op.create_index("ix_entries_patient_id", "entries", ["patient_id"])
    op.create_index("ix_entries_message_id", "entries", ["message_id"])


def downgrade() -> None:
    """Drop everything (destroys the store)."""
    op.drop_table("entries")
    op.drop_table("messages")
    op.drop_table("patients")
