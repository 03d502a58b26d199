"""The patient's consent: grants, référent declarations, and the référent block on patients.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03

Rows name the patient by internal id only. Types are spelled out here, as in 0001, so that this
revision stays what it was when tables.py moves on.
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(32)
CNS_CODE = sa.String(9)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the consent tables; every existing dossier starts with its référent unblocked."""
    op.add_column("patients", sa.Column("referent_blocked", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.create_table(
        "consent_grants",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("cns_code", CNS_CODE, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("granted_at", TIMESTAMP, nullable=False),
        sa.Column("until", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consent_grants"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name="fk_consent_grants_patient_id_patients"),
        sa.CheckConstraint("level IN ('normal', 'extended')", name="ck_consent_grants_level"),
    )
    op.create_index("ix_consent_grants_patient_id_cns_code", "consent_grants",
                    ["patient_id", "cns_code"])
    op.create_table(
        "referent_declarations",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("cns_code", CNS_CODE, nullable=False),
        sa.Column("since", TIMESTAMP, nullable=False),
        sa.Column("until", TIMESTAMP, nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_referent_declarations"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name="fk_referent_declarations_patient_id_patients"),
    )
    op.create_index("ix_referent_declarations_patient_id", "referent_declarations",
                    ["patient_id"])


def downgrade() -> None:
    """Drop the consent tables and the référent block (the patients' choices are lost)."""
    op.drop_index("ix_referent_declarations_patient_id", table_name="referent_declarations")
    op.drop_table("referent_declarations")
    op.drop_index("ix_consent_grants_patient_id_cns_code", table_name="consent_grants")
    op.drop_table("consent_grants")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("referent_blocked")
