"""The patient's default level for new entries, and entries hidden from one professional.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

`patients.default_level`: the level the patient wants new entries filed at, at least ("normal"
or "restricted"; NULL is normal, as every dossier was before). Filing takes the stricter of it
and the source's level.

`entry_hidden_from`: one row per entry and professional (CNS code) the patient hid it from; the
consent decision denies that professional the entry at read and at send time. Rows go with
their entry (ON DELETE CASCADE), so erasing or remapping entries needs no extra step.
"""
from alembic import op
import sqlalchemy as sa

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the nullable column and create the table."""
    op.add_column("patients", sa.Column("default_level", sa.String(16), nullable=True))
    op.create_table(
        "entry_hidden_from",
        sa.Column("entry_id", sa.String(32), nullable=False),
        sa.Column("cns_code", sa.String(9), nullable=False),
        sa.Column("hidden_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], ondelete="CASCADE",
                                name="fk_entry_hidden_from_entry_id_entries"),
        sa.PrimaryKeyConstraint("entry_id", "cns_code", name="pk_entry_hidden_from"),
    )


def downgrade() -> None:
    """Drop both (entries hidden from one professional are then shown to them again)."""
    op.drop_table("entry_hidden_from")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("default_level")
