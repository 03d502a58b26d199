"""The ids an audit event names beyond one entry and one message.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

`audit_events.detail`: a JSON object of ids and codes, no patient data — for an
"entries.filed" event the entry ids one message made, its sender (MSH-3^MSH-4) and the
professional it names (hub.domain.audit.FilingDetail), so the patient's journal can say who
deposited what even after an entry is erased. Nullable: no other event has one, nor any event
written before this revision. An event with a detail is hashed in the chain's version 3
encoding (hub/domain/audit_chain.py); the existing chain still verifies unchanged.
"""
from alembic import op
import sqlalchemy as sa

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable column; existing events keep none."""
    op.add_column("audit_events", sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop it (filing events then no longer verify)."""
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("detail")
