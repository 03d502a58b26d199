"""One stored message per sender and MSH-10, one delivery per message and recipient.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28

Until now the resend check (is this sender's MSH-10 stored already?) and the insert had nothing
between them, so two workers filing copies of one message at the same moment could both store
it: its entries doubled in the dossier, and its deliveries sent twice. The store now refuses a
second stored row (`uq_messages_stored_sender_control_id`, partial: stored rows with an MSH-10)
and a second delivery of a message to one recipient (`uq_deliveries_message_id_recipient`).

A store may already hold such doubles; they are reported (ids and counts only) on the log and
settled as filing would have settled them had the two copies come one after the other:

- in each group of stored rows sharing sender and MSH-10, the first by (received_at, id) stays
  stored; each later one becomes `discarded` "duplicate of message X" when its bytes are the same
  (same content hash) and `parked` "conflict: MSH-10 reused with other content (first: message
  X)" when they differ, as `hub.routing.filing` marks a resend;
- their entries are deleted: only a stored message has entries, and they repeat the first
  copy's (a conflict's are for an operator to look at through the parked message, whose bytes
  stay). A delivery that named one of them keeps its message and loses the entry link;
- their pending deliveries become `denied` "not sent: duplicate of message X": the recipient got
  or will get the first copy. What was already delivered, denied or parked stays as history;
- a later delivery of one message to a recipient that already has one (none is known to
  exist: a message's deliveries are made in the transaction that stores it) is deleted with its
  attempt rows, the first by (created_at, sequence, id) kept.

Nothing is audited here: the audit chain is written by the hub, not by a schema change; the log
lines name every row touched. The downgrade drops the two indexes; settled rows stay settled.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

log = logging.getLogger("hub.store.migrations")
STORED_WITH_CONTROL_ID = "state = 'stored' AND control_id <> ''"

_messages = sa.table("messages", sa.column("id"), sa.column("sender"), sa.column("control_id"),
                     sa.column("state"), sa.column("reason"), sa.column("received_at"),
                     sa.column("content_hash"))
_entries = sa.table("entries", sa.column("id"), sa.column("message_id"))
_deliveries = sa.table("deliveries", sa.column("id"), sa.column("message_id"),
                       sa.column("recipient"), sa.column("entry_id"), sa.column("state"),
                       sa.column("last_error"), sa.column("next_attempt_at"),
                       sa.column("created_at"), sa.column("sequence"))
_attempts = sa.table("delivery_attempts", sa.column("delivery_id"))


def upgrade() -> None:
    """Settle the doubles already stored, then create the two unique indexes."""
    connection = op.get_bind()
    _settle_message_doubles(connection)
    _settle_delivery_doubles(connection)
    op.create_index("uq_messages_stored_sender_control_id", "messages", ["sender", "control_id"],
                    unique=True, sqlite_where=sa.text(STORED_WITH_CONTROL_ID),
                    postgresql_where=sa.text(STORED_WITH_CONTROL_ID))
    op.create_index("uq_deliveries_message_id_recipient", "deliveries",
                    ["message_id", "recipient"], unique=True)


def downgrade() -> None:
    """Drop the two indexes (rows settled by the upgrade stay as they are)."""
    op.drop_index("uq_deliveries_message_id_recipient", table_name="deliveries")
    op.drop_index("uq_messages_stored_sender_control_id", table_name="messages")


def _settle_message_doubles(connection) -> None:
    m = _messages
    stored = sa.and_(m.c.state == "stored", m.c.control_id != "")
    doubled = (sa.select(m.c.sender, m.c.control_id).where(stored)
               .group_by(m.c.sender, m.c.control_id).having(sa.func.count() > 1).subquery())
    rows = connection.execute(
        sa.select(m.c.id, m.c.sender, m.c.control_id, m.c.content_hash)
        .join(doubled, sa.and_(m.c.sender == doubled.c.sender,
                               m.c.control_id == doubled.c.control_id))
        .where(stored)
        .order_by(m.c.sender, m.c.control_id, m.c.received_at, m.c.id)).all()
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for row in rows:
        groups[(row.sender, row.control_id)].append(row)
    if not groups:
        return
    later = sum(len(group) - 1 for group in groups.values())
    log.warning("migration 0015: %d messages stored more than once, %d later copies: the first "
                "of each stays stored, the later ones are settled as resends", len(groups), later)
    for group in groups.values():
        first = group[0]
        for row in group[1:]:
            _demote(connection, row.id, first.id, same=row.content_hash == first.content_hash)


def _demote(connection, message_id: str, first_id: str, *, same: bool) -> None:
    """A later stored copy becomes what filing would have made of it; its entries go, and its
    deliveries not yet sent are stopped."""
    if same:
        state, reason = "discarded", f"duplicate of message {first_id}"
    else:
        state = "parked"
        reason = f"conflict: MSH-10 reused with other content (first: message {first_id})"
    m, e, d = _messages, _entries, _deliveries
    connection.execute(sa.update(m).where(m.c.id == message_id).values(state=state, reason=reason))
    entry_ids = sa.select(e.c.id).where(e.c.message_id == message_id)
    connection.execute(sa.update(d).where(d.c.entry_id.in_(entry_ids)).values(entry_id=None))
    removed = connection.execute(sa.delete(e).where(e.c.message_id == message_id)).rowcount
    stopped = connection.execute(
        sa.update(d).where(d.c.message_id == message_id, d.c.state == "pending")
        .values(state="denied", next_attempt_at=None,
                last_error=f"not sent: duplicate of message {first_id}")).rowcount
    log.warning("migration 0015: message %s %s (copy of message %s): %d entries removed, "
                "%d pending deliveries stopped", message_id, state, first_id, removed, stopped)


def _settle_delivery_doubles(connection) -> None:
    d, a = _deliveries, _attempts
    doubled = (sa.select(d.c.message_id, d.c.recipient)
               .group_by(d.c.message_id, d.c.recipient).having(sa.func.count() > 1).subquery())
    rows = connection.execute(
        sa.select(d.c.id, d.c.message_id, d.c.recipient, d.c.state)
        .join(doubled, sa.and_(d.c.message_id == doubled.c.message_id,
                               d.c.recipient == doubled.c.recipient))
        .order_by(d.c.message_id, d.c.recipient, d.c.created_at, d.c.sequence, d.c.id)).all()
    kept: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (row.message_id, row.recipient)
        if key not in kept:
            kept[key] = row.id
            continue
        connection.execute(sa.delete(a).where(a.c.delivery_id == row.id))
        connection.execute(sa.delete(d).where(d.c.id == row.id))
        log.warning("migration 0015: delivery %s (%s) of message %s deleted, a second one to the "
                    "same recipient (delivery %s kept)", row.id, row.state, row.message_id,
                    kept[key])
