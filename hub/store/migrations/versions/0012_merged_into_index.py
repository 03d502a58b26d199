"""A partial index of merged dossiers by the dossier they were merged into.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

A dossier's entries are read together with those still filed to dossiers merged into it (a
worker may file to the merged one while the merge commits). Without an index each read of a
dossier would scan every patient; only merged dossiers are indexed, so the index stays tiny.
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MERGED = sa.text("merged_into IS NOT NULL")


def upgrade() -> None:
    """Index the merged dossiers by their survivor."""
    op.create_index("ix_patients_merged_into", "patients", ["merged_into"],
                    sqlite_where=MERGED, postgresql_where=MERGED)


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_patients_merged_into", table_name="patients")
