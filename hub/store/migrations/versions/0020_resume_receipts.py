"""Every résumé patient received, for the référent declared after it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

A résumé the référent sent before the CNS declared them counts when it is younger than the
rule's window (hub/domain/resume.py); until now a résumé without a declaration in force left no
trace but its entry, whose author is inside the encrypted payload. A row per résumé received:
the patient's internal id, the author's CNS code, the time. Starts empty: résumés received
before this revision are not counted for a later declaration.
"""
from alembic import op
import sqlalchemy as sa

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create resume_receipts and its (patient, author) index."""
    op.create_table(
        "resume_receipts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("patient_id", sa.String(32), nullable=False),
        sa.Column("author", sa.String(9), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resume_receipts"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name="fk_resume_receipts_patient_id_patients"),
    )
    op.create_index("ix_resume_receipts_patient_id_author", "resume_receipts",
                    ["patient_id", "author"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_resume_receipts_patient_id_author", table_name="resume_receipts")
    op.drop_table("resume_receipts")
