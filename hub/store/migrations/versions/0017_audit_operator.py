"""The operator behind an audit event.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

`audit_events.operator`: the name of the operator at the `hub` command who read patient data
(actor "operator") or recorded the patient's choice (actor "patient"). Nullable: events of the
hub, the feeds and recipients have none, and neither has any event written before this
revision. An event with an operator is hashed in the chain's version 2 encoding, one without in
version 1 (hub/domain/audit_chain.py), so the existing chain still verifies unchanged.
"""
from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable column; existing events keep none."""
    op.add_column("audit_events", sa.Column("operator", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop it (events that named an operator then no longer verify)."""
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("operator")
