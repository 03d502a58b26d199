"""The professionals registry: CNS code, name, specialty, status, optional MLLP destination.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Professionals are not patients: their names are stored in clear. Types are spelled out here,
as in 0001, so that this revision stays what it was when tables.py moves on.
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the professionals table."""
    op.create_table(
        "professionals",
        sa.Column("cns_code", sa.String(9), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("given_name", sa.Text(), nullable=False),
        sa.Column("specialty", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mllp_host", sa.Text(), nullable=True),
        sa.Column("mllp_port", sa.Integer(), nullable=True),
        sa.Column("mllp_tls", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("receiving_application", sa.Text(), nullable=True),
        sa.Column("receiving_facility", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cns_code", name="pk_professionals"),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="ck_professionals_status"),
    )


def downgrade() -> None:
    """Drop the registry."""
    op.drop_table("professionals")
