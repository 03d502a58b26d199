"""Patients merged into another dossier (ADT^A40).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

`patients.merged_into` names the surviving dossier once a merge moved this one's entries there;
messages that still name the merged matricule then file into the survivor. NULL for every
dossier that was never merged. No foreign key: SQLite cannot add one to an existing table
without rebuilding it, and the repository only ever writes an id it has just read.
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the merged-into column, empty."""
    op.add_column("patients", sa.Column("merged_into", sa.String(32), nullable=True))


def downgrade() -> None:
    """Drop the column (merges already made stay made: their entries were moved)."""
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("merged_into")
