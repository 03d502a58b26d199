"""The résumé patient clock on référent declarations: when the référent's last résumé came, and
when the declaration was flagged overdue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

Both belong to one declaration (a new référent starts a new clock, so a new row), hence columns
on it rather than a table of their own. Both start empty: an existing declaration has had no
résumé recorded and has not been flagged; the next run of the overdue job judges it.
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add resume_at and overdue_at to the référent declarations."""
    with op.batch_alter_table("referent_declarations") as batch:
        batch.add_column(sa.Column("resume_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("overdue_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    """Drop the clock's columns (the declarations themselves stay)."""
    with op.batch_alter_table("referent_declarations") as batch:
        batch.drop_column("overdue_at")
        batch.drop_column("resume_at")
