"""When a dossier was closed, and when a closed dossier's content was erased.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

`patients.closed_at`: when the patient last closed the dossier (NULL while open). A closed
dossier's entries are kept `[retention] closed_dossier_years` after it, then erased by the
scheduler (hub/jobs/dossier_erasure.py), which stamps `patients.erased_at`. A dossier closed
before this revision gets its last change (`updated_at`) as its closure: the best the store
knows, and never later than the real closure, so its erasure is never postponed.
"""
from alembic import op
import sqlalchemy as sa

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the two nullable columns; closed dossiers take `updated_at` as their closure."""
    op.add_column("patients", sa.Column("closed_at", TIMESTAMP, nullable=True))
    op.add_column("patients", sa.Column("erased_at", TIMESTAMP, nullable=True))
    op.execute(sa.text("UPDATE patients SET closed_at = updated_at WHERE closed"))


def downgrade() -> None:
    """Drop them (the dates of closure and erasure are then lost; the journal keeps both)."""
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("closed_at")
