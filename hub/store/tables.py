"""SQLAlchemy Core tables. Patient data lives only in the `*_ct` columns (AES-256-GCM); matricules
and message contents are found through keyed hashes.

Ids are uuid4 hex strings made by the application, so that a ciphertext's associated data can
name its row before the row is inserted.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer,
    LargeBinary, MetaData, String, Table, Text, false, text,
)
from sqlalchemy.types import TypeDecorator

from hub import ids

# Named constraints let alembic's batch mode rebuild SQLite tables without losing them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 32
HASH_LENGTH = 64
KEY_ID_LENGTH = 64
# The key id of a raw message copy emptied by retention (hub/store/job_store.py): no key opens it.
PURGED_KEY_ID = "purged"
# The rows `uq_messages_stored_sender_control_id` covers: resends are told by sender and MSH-10.
STORED_WITH_CONTROL_ID = "state = 'stored' AND control_id <> ''"


# The store's row ids (uuid4 hex), made where the listener's message ids are made.
new_id, new_ids = ids.new_id, ids.new_ids


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp that goes in and comes out timezone-aware in UTC, on SQLite too.

    SQLite keeps no offset, so every value is converted to UTC before it is written; that also
    keeps its text form sortable.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

patients = Table(
    "patients",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("matricule_hash", String(HASH_LENGTH), nullable=False, unique=True),
    Column("key_id", String(KEY_ID_LENGTH), nullable=False),
    Column("data_ct", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed", Boolean, nullable=False, server_default=false()),
    Column("referent_blocked", Boolean, nullable=False, server_default=false()),
    # The surviving dossier after an ADT^A40 merge (migration 0008); NULL when never merged.
    Column("merged_into", String(ID_LENGTH)),
    # When the patient last closed the dossier, and when its content was erased (0018).
    Column("closed_at", UTCDateTime),
    Column("erased_at", UTCDateTime),
    # The level new entries are filed at, at least (migration 0021); NULL is normal.
    Column("default_level", String(16)),
    # Merged dossiers only (few): a survivor's dossier reads the entries filed to them.
    Index("ix_patients_merged_into", "merged_into", sqlite_where=text("merged_into IS NOT NULL"),
          postgresql_where=text("merged_into IS NOT NULL")),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("sender", Text, nullable=False),
    Column("control_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text),
    Column("ack_code", String(2)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    Column("patient_id", String(ID_LENGTH), ForeignKey("patients.id")),
    Column("peer", Text),
    Column("replay_of", String(ID_LENGTH)),
    Column("err_code", Integer),  # ERR-3 of a rejected message
    Column("content_hash", String(HASH_LENGTH), nullable=False),
    Column("raw_key_id", String(KEY_ID_LENGTH), nullable=False),
    Column("raw_ct", LargeBinary, nullable=False),
    Index("ix_messages_sender_control_id", "sender", "control_id"),
    # One stored message per sender and MSH-10 (migration 0015): two workers filing copies of
    # one message at once cannot both store it; filing settles the one turned away as a resend.
    Index("uq_messages_stored_sender_control_id", "sender", "control_id", unique=True,
          sqlite_where=text(STORED_WITH_CONTROL_ID),
          postgresql_where=text(STORED_WITH_CONTROL_ID)),
    Index("ix_messages_state", "state"),
    Index("ix_messages_received_at", "received_at"),
    # Replays only (few): a parked message's replays are found without reading every message.
    Index("ix_messages_replay_of", "replay_of", sqlite_where=text("replay_of IS NOT NULL"),
          postgresql_where=text("replay_of IS NOT NULL")),
)

entries = Table(
    "entries",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("patient_id", String(ID_LENGTH), ForeignKey("patients.id"), nullable=False),
    Column("message_id", String(ID_LENGTH), ForeignKey("messages.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("confidentiality", String(16), nullable=False),
    Column("hidden", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("key_id", String(KEY_ID_LENGTH), nullable=False),
    Column("payload_ct", LargeBinary, nullable=False),
    Index("ix_entries_patient_id", "patient_id"),
    Index("ix_entries_message_id", "message_id"),
)

# Entries the patient hid from one professional (migration 0021); deleted with their entry.
entry_hidden_from = Table(
    "entry_hidden_from",
    metadata,
    Column("entry_id", String(ID_LENGTH), ForeignKey("entries.id", ondelete="CASCADE"),
           primary_key=True),
    Column("cns_code", String(9), primary_key=True),
    Column("hidden_at", UTCDateTime, nullable=False),
)

# The national registry. Professionals are not patients: their names are stored in clear.
professionals = Table(
    "professionals",
    metadata,
    Column("cns_code", String(9), primary_key=True),
    Column("family_name", Text, nullable=False),
    Column("given_name", Text, nullable=False),
    Column("specialty", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("mllp_host", Text),
    Column("mllp_port", Integer),
    Column("mllp_tls", Boolean, nullable=False, server_default=false()),
    Column("receiving_application", Text),
    Column("receiving_facility", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("status IN ('active', 'suspended')", name="status"),
)

# The patient's consent. Rows name the patient by internal id only; nothing is deleted, so a
# decision at any past instant can be explained.
consent_grants = Table(
    "consent_grants",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("patient_id", String(ID_LENGTH), ForeignKey("patients.id"), nullable=False),
    Column("cns_code", String(9), nullable=False),
    Column("level", String(16), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    # When the "grant expired" event was recorded (hub/jobs/grant_expiry.py, migration 0010).
    Column("expiry_noted_at", UTCDateTime),
    CheckConstraint("level IN ('normal', 'extended')", name="level"),
    Index("ix_consent_grants_patient_id_cns_code", "patient_id", "cns_code"),
)

referent_declarations = Table(
    "referent_declarations",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("patient_id", String(ID_LENGTH), ForeignKey("patients.id"), nullable=False),
    Column("cns_code", String(9), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Column("source", String(32), nullable=False),
    # The résumé patient clock (hub/domain/resume.py): the référent's last résumé, the overdue flag.
    Column("resume_at", UTCDateTime),
    Column("overdue_at", UTCDateTime),
    Index("ix_referent_declarations_patient_id", "patient_id"),
)

# Every résumé patient received (migration 0020), whoever its author: a référent declared after
# it may count it (hub/domain/resume.py). A fact about the dossier, no clinical content.
resume_receipts = Table(
    "resume_receipts",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("patient_id", String(ID_LENGTH), ForeignKey("patients.id"), nullable=False),
    Column("author", String(9), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_resume_receipts_patient_id_author", "patient_id", "author"),
)

# Lease locks of the scheduler's periodic jobs (hub/jobs/lease.py, migration 0010): a row per
# job while a hub holds it; a lease that ran out is anyone's.
job_locks = Table(
    "job_locks",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("leased_until", UTCDateTime, nullable=False),
)

# Routing workers alive (a heartbeat) and the inbound partitions each leases
# (hub/store/partition_leases.py, revision 0023).
partition_workers = Table(
    "partition_workers",
    metadata,
    Column("owner", String(128), primary_key=True),
    Column("seen_until", UTCDateTime, nullable=False),
)

partition_leases = Table(
    "partition_leases",
    metadata,
    Column("partition", Integer, primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# What the queue watchdog (hub/jobs/watchdog.py) saw of each broker queue at its last check;
# `progress_mark` is the store's record of work consumed from it then (migration 0013).
queue_watch = Table(
    "queue_watch",
    metadata,
    Column("queue", String(255), primary_key=True),
    Column("depth", BigInteger, nullable=False),
    Column("consumers", Integer, nullable=False),
    Column("still_checks", Integer, nullable=False),
    Column("stalled_since", UTCDateTime),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("progress_mark", UTCDateTime),
)

# The audit log: a hash chain in `seq` order (hub/domain/audit_chain.py). Patients, entries
# and messages by id only. No foreign keys: the log is evidence and must outlive, and never
# block, changes to the rows it mentions.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(ID_LENGTH), nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("patient_id", String(ID_LENGTH)),
    Column("entry_id", String(ID_LENGTH)),
    Column("message_id", String(ID_LENGTH)),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("prev_hash", String(HASH_LENGTH), nullable=False),
    Column("hash", String(HASH_LENGTH), nullable=False),
    # The operator behind the event, when there was one (0017; hashed only when set).
    Column("operator", String(64)),
    # Ids and codes an event names beyond one entry and one message, JSON (0022; hashed only
    # when set): a filing's entry ids, sender and professional (hub.domain.audit.FilingDetail).
    Column("detail", Text),
    CheckConstraint("outcome IN ('ok', 'denied', 'failed')", name="outcome"),
    Index("ix_audit_events_patient_id_seq", "patient_id", "seq"),
    Index("ix_audit_events_message_id", "message_id"),
)

# Outbound deliveries (hub/domain/delivery.py): state in clear, the re-addressed bytes only
# encrypted. `sequence` orders each patient+destination queue.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("message_id", String(ID_LENGTH), ForeignKey("messages.id"), nullable=False),
    Column("entry_id", String(ID_LENGTH), ForeignKey("entries.id")),
    Column("patient_id", String(ID_LENGTH), ForeignKey("patients.id"), nullable=False),
    Column("recipient", String(9), nullable=False),
    Column("destination", Text, nullable=False),
    Column("control_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    # The failed attempts that were the message's own fault (AE/CE, a wrong or unreadable ACK):
    # `[outbound] max_attempts` counts these; a send nobody answered is not one (0016).
    Column("message_failures", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", Text),
    Column("ack_code", String(2)),
    Column("sequence", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("payload_key_id", String(KEY_ID_LENGTH), nullable=False),
    Column("payload_ct", LargeBinary, nullable=False),
    CheckConstraint("state IN ('pending', 'delivered', 'denied', 'parked')", name="state"),
    Index("uq_deliveries_patient_id_destination_sequence", "patient_id", "destination",
          "sequence", unique=True),
    Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_deliveries_message_id", "message_id"),
    # One delivery per message and recipient (migration 0015); a recipient has one destination.
    Index("uq_deliveries_message_id_recipient", "message_id", "recipient", unique=True),
    # Pending rows only, in queue order: each queue's head is found without an anti-join.
    Index("ix_deliveries_pending_queue", "destination", "patient_id", "sequence",
          sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    # Parked rows only, in queue order: a parked delivery holds its queue (0016).
    Index("ix_deliveries_parked_queue", "destination", "patient_id", "sequence",
          sqlite_where=text("state = 'parked'"), postgresql_where=text("state = 'parked'")),
)

# Destinations whose last connection attempt failed (hub/outbound/batch.py): the whole
# destination waits until `retry_at` (its own backoff), and `hub status` alerts once `since` is
# old enough. The row goes when a connection succeeds again.
unreachable_destinations = Table(
    "unreachable_destinations",
    metadata,
    Column("destination", Text, primary_key=True),
    Column("since", UTCDateTime, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("retry_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per send of a delivery (denials send nothing), so that `hub trace` can tell each
# attempt: when, what came back. Codes and the hub's own words only, as in `last_error`.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("delivery_id", String(ID_LENGTH), ForeignKey("deliveries.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("code", Text),
    Column("ack_code", String(2)),
    Column("error", Text),
    Index("ix_delivery_attempts_delivery_id", "delivery_id"),
)

# Who acts for the patient (hub/domain/representative.py, migration 0019): the name is personal
# data and only encrypted; kind, scopes and dates are in clear so that consent checks and the
# majority job read them without keys. Nothing is deleted: an ended representative keeps its
# row, so that a change they made can always be explained.
representatives = Table(
    "representatives",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("patient_id", String(ID_LENGTH), ForeignKey("patients.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scopes", String(64), nullable=False),   # "consent,read"
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Column("end_reason", String(16)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("key_id", String(KEY_ID_LENGTH), nullable=False),
    Column("name_ct", LargeBinary, nullable=False),
    CheckConstraint("kind IN ('assistant', 'parent', 'guardian')", name="kind"),
    CheckConstraint("end_reason IN ('ended', 'majority')", name="end_reason"),
    Index("ix_representatives_patient_id", "patient_id"),
    # Parents not yet ended (few): what the majority job looks at.
    Index("ix_representatives_open_parents", "patient_id",
          sqlite_where=text("kind = 'parent' AND end_reason IS NULL"),
          postgresql_where=text("kind = 'parent' AND end_reason IS NULL")),
)

# Sender lane leases (hub/outbound/lanes.py, migration 0024): the sender that may claim and send
# a destination's deliveries, until `expires_at`; and each live sender's heartbeat, which sets
# the fair share of destinations every sender takes.
lane_leases = Table(
    "lane_leases",
    metadata,
    Column("destination", Text, primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

sender_heartbeats = Table(
    "sender_heartbeats",
    metadata,
    Column("owner", String(128), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)
