"""Rejected messages keep their ERR-3.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27

`hub rejected list --code 102` and `hub rejected retry --code 102` select rejected messages by
the ERR-3 (HL7 table 0357) their ACK carried. The listener publishes it (`x-hub-err-code`) and
the worker stores it in `messages.err_code`. Rows written before this hold NULL: their ERR-3 is
read from their ACK code and reason where that is unambiguous (hub/ops/rejected.py), not
rewritten here, since a listener of the previous release may still be publishing without it.
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column, empty."""
    op.add_column("messages", sa.Column("err_code", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop it again (rejections are then selected by reason only)."""
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("err_code")
