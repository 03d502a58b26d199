"""Representatives: who acts for the patient.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

`representatives`: one row per representative of a dossier (hub/domain/representative.py) —
kind (assistant, parent, guardian), scopes, since, until, why it ended, and the name encrypted
(AES-256-GCM, its key id beside it, like the patients' demographics). The partial index finds
the parents not yet ended, which the majority job (hub/jobs/representative_majority.py) reads.
"""
from alembic import op
import sqlalchemy as sa

TIMESTAMP = sa.DateTime(timezone=True)
OPEN_PARENTS = "kind = 'parent' AND end_reason IS NULL"

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table, empty."""
    op.create_table(
        "representatives",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("patient_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("since", TIMESTAMP, nullable=False),
        sa.Column("until", TIMESTAMP),
        sa.Column("end_reason", sa.String(16)),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("kind IN ('assistant', 'parent', 'guardian')",
                           name="ck_representatives_kind"),
        sa.CheckConstraint("end_reason IN ('ended', 'majority')",
                           name="ck_representatives_end_reason"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name="fk_representatives_patient_id_patients"),
        sa.PrimaryKeyConstraint("id", name="pk_representatives"),
    )
    op.create_index("ix_representatives_patient_id", "representatives", ["patient_id"])
    op.create_index("ix_representatives_open_parents", "representatives", ["patient_id"],
                    sqlite_where=sa.text(OPEN_PARENTS), postgresql_where=sa.text(OPEN_PARENTS))


def downgrade() -> None:
    """Drop it (events naming representatives stay in the audit log)."""
    op.drop_index("ix_representatives_open_parents", table_name="representatives")
    op.drop_index("ix_representatives_patient_id", table_name="representatives")
    op.drop_table("representatives")
