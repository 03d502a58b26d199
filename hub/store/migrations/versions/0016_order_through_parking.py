"""Order kept through parking; an unreachable destination is not the message's fault.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28

- `deliveries.message_failures`: failed attempts that were the message's own (AE/CE, an ACK
  that does not answer it or cannot be read); `[outbound] max_attempts` counts these, not the
  sends that found no recipient to answer (`attempts` still counts every send). Existing rows
  get what their attempt history (`delivery_attempts`, since 0009) says: retries and parkings
  whose code was not `no-answer`; rows sent before 0009 have no history and start at 0.
- `ix_deliveries_parked_queue`: parked rows in queue order. A parked delivery now holds its
  patient+destination queue (hub/store/delivery_queue.py), and finding whether one sits ahead
  of a queue's head must not read the queue's whole history.
- `unreachable_destinations`: one row per destination whose last connection attempt failed:
  since when, how many in a row, when the next one is due (the destination's backoff), the
  last error. Deleted when a connection succeeds again; `hub status` alerts on its age.
"""
from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
PARKED = "state = 'parked'"


def upgrade() -> None:
    """Add the column (filled from the history), the index and the table."""
    op.add_column("deliveries", sa.Column("message_failures", sa.Integer(), nullable=False,
                                          server_default="0"))
    op.execute("UPDATE deliveries SET message_failures = ("
               " SELECT count(*) FROM delivery_attempts a"
               " WHERE a.delivery_id = deliveries.id AND a.outcome IN ('retry', 'parked')"
               " AND coalesce(a.code, '') <> 'no-answer')")
    op.create_index("ix_deliveries_parked_queue", "deliveries",
                    ["destination", "patient_id", "sequence"],
                    sqlite_where=sa.text(PARKED), postgresql_where=sa.text(PARKED))
    op.create_table(
        "unreachable_destinations",
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("since", TIMESTAMP, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", TIMESTAMP, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("destination", name="pk_unreachable_destinations"),
    )


def downgrade() -> None:
    """Drop them again (parking then counts every failed send, as before)."""
    op.drop_table("unreachable_destinations")
    op.drop_index("ix_deliveries_parked_queue", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("message_failures")
