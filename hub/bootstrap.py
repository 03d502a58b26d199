"""The composition root: the one place that picks the concrete broker, database, keys and
mappings from the settings. Each part is built on first use, so a command that only reads the
database never connects to the broker, and importing this module connects to nothing.
hub/compose.py hands these parts to the jobs, the status document and the dashboard."""
from __future__ import annotations

import ssl
from datetime import UTC, datetime
from functools import cached_property, partial
from pathlib import Path

from hub.broker.factory import broker_from_url
from hub.broker.port import Broker
from hub.broker.topology import Topology
from hub.domain.delivery import parse_destination_key
from hub.domain.professional import Professional
from hub.errors import ConfigError
from hub.inbound.intake import IntakePolicy
from hub.inbound.senders import SenderRules
from hub.metrics import Metrics
from hub.outbound.backoff import next_attempt
from hub.outbound.dispatcher import Dispatcher, Observe
from hub.outbound.journal import journal_outcome
from hub.outbound.lanes import LaneKeeper
from hub.outbound.sender import DestinationSender
from hub.outbound.tls import client_ssl_context
from hub.registry.mfn import MESSAGE_TYPE as MFN_TYPE
from hub.mapping.loader import MappingSet, load_mappings
from hub.mapping.sensitive import load_sensitive_codes
from hub.routing.outcome import RoutingPolicy
from hub.routing.routes import Routes, load_routes
from hub.settings import Settings
from hub.store.due_signals import DueListener
from hub.store.engine import make_engine
from hub.store.job_store import JobStore
from hub.store.keyring import Keyring
from hub.store.lane_leases import LaneLeaseStore
from hub.store.rotation import KeyRotation
from hub.store.schema import holds_encrypted_rows, require_schema, upgrade
from hub.store.unit_of_work import UnitOfWork


class Hub:
    """Everything one hub process needs, wired from `settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def topology(self) -> Topology:
        return Topology(self.settings.namespace, self.settings.broker.partitions)

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def broker(self) -> Broker:
        return broker_from_url(self.settings.broker_url, self.topology)

    @cached_property
    def engine(self):
        return make_engine(self.settings.database_url)

    @cached_property
    def keyring(self) -> Keyring:
        """The key file's keyring; created on a fresh install only. A database that already
        keeps data with no key file beside it is a wrong HUB_KEY_FILE (or a lost file): a new
        key would write rows nobody can read with the old ones, so it is a ConfigError."""
        path = Path(self.settings.key_file)
        if path.exists():
            return Keyring.load(path)
        # A command started beside this one on a fresh install may have created the file and
        # written rows since the look above; it creates the file before any row, so a second
        # look after the rows tells that apart from a missing file.
        if holds_encrypted_rows(self.engine) and not path.exists():
            raise ConfigError(f"key file {path} does not exist, but the database already holds "
                              "encrypted data: set HUB_KEY_FILE to the key file it was written "
                              "with (a new key could not read it)")
        return Keyring.load_or_create(path)

    @cached_property
    def mappings(self) -> MappingSet:
        """The mappings, with the sensitive codes their entries are checked against (a wrong
        mapping or sensitive codes file is a ConfigError naming the file and the entry)."""
        codes = self.settings.sensitive_codes_file
        return load_mappings(Path(self.settings.mappings_dir),
                             load_sensitive_codes(Path(codes) if codes.strip() else None))

    @cached_property
    def routes(self) -> Routes:
        return load_routes(Path(self.settings.routing_file))

    @cached_property
    def senders(self) -> SenderRules:
        """Who may send what: the senders file's rules (ConfigError naming the entry when one
        is wrong), or the open mode when `senders_file` is empty."""
        path = self.settings.senders_file
        if not path.strip():
            return SenderRules.open(tuple(self.settings.consent.referent_senders))
        return SenderRules.from_file(Path(path))

    def upgrade_database(self) -> None:
        """Bring the schema to the newest migration (idempotent), creating the database (a
        SQLite file) and its schema when missing: `hub serve` and `hub db upgrade` only."""
        upgrade(self.settings.database_url)

    def open_database(self) -> None:
        """The database of every other command: it must exist and hold the hub's schema (else
        StoreError naming the file, and nothing is created, not even the key file: a command
        run with the wrong HUB_HOME must not start an empty hub of its own). A schema older
        than the code is brought to the newest, as `hub serve` would."""
        require_schema(self.settings.database_url)
        upgrade(self.settings.database_url)

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work (one transaction) on the hub's database."""
        return UnitOfWork(self.engine, self.keyring,
                          link_legacy=self.settings.identity.link_legacy_forms)

    @property
    def served_types(self) -> frozenset[str]:
        """The message types (or structures) the hub handles: every mapped one, and the
        registry's MFN^M02. Read once at start, so the listener's check costs a set lookup."""
        return self.mappings.types() | {MFN_TYPE}

    @property
    def intake_policy(self) -> IntakePolicy:
        s = self.settings
        return IntakePolicy(
            supported_versions=frozenset(s.hl7.supported_versions),
            identity_exempt=frozenset(s.identity.exempt_message_codes),
            authorities=frozenset(s.identity.matricule_authorities),
            fallback_charset=s.hl7.fallback_charset,
            served_types=self.served_types if s.worker.unmapped_policy == "reject" else None,
            publish_timeout=s.mllp.publish_timeout,
            hub_application=s.hl7.hub_application,
            hub_facility=s.hl7.hub_facility,
            honour_accept_ack_conditions=s.hl7.honour_accept_ack_conditions,
            senders=self.senders,
        )

    @property
    def routing_policy(self) -> RoutingPolicy:
        s = self.settings
        return RoutingPolicy(
            fallback_charset=s.hl7.fallback_charset,
            authorities=frozenset(s.identity.matricule_authorities),
            routes=self.routes,
            referent_access_by_default=s.consent.referent_access_by_default,
            hub_application=s.hl7.hub_application,
            hub_facility=s.hl7.hub_facility,
            # The senders the listener let through with declare_referent (open: none passes).
            referent_senders=self.senders.declaring,
            resume_document_type=s.resume.document_type,
        )

    @cached_property
    def outbound_tls(self) -> ssl.SSLContext:
        """The client TLS context for recipients whose destination says `tls` (ConfigError
        when a configured CA, certificate or key file cannot be used)."""
        o = self.settings.outbound
        return client_ssl_context(o.tls_ca_file, o.tls_cert_file, o.tls_key_file)

    def clock(self) -> datetime:
        """The aware UTC time now."""
        return datetime.now(UTC)

    @cached_property
    def job_store(self) -> JobStore:
        """The periodic jobs' database side (leases, expiries, retention, queue checks)."""
        return JobStore(self.engine, self.keyring)

    @cached_property
    def key_rotation(self) -> KeyRotation:
        """Re-encryption of rows under older keys with the current one."""
        return KeyRotation(self.engine, self.keyring)

    def dispatcher(self, observe: Observe | None = None) -> Dispatcher:
        """A new Dispatcher of due deliveries, with consent re-checked at send time and every
        outcome written to the patient's access journal; `observe` sees each batch of recorded
        outcomes. The caller closes it."""
        o = self.settings.outbound
        return Dispatcher(
            self.unit_of_work, self.destination_sender, self.clock,
            o.max_attempts, backoff=partial(next_attempt, base=o.backoff_base, cap=o.backoff_cap),
            unreachable_backoff=partial(next_attempt, base=o.backoff_base,
                                        cap=o.unreachable_backoff_cap),
            lease=o.lease, journal=journal_outcome, observe=observe,
            referent_by_default=self.settings.consent.referent_access_by_default,
            lanes=LaneKeeper(LaneLeaseStore(self.engine), self.clock, o.lane_lease),
            connections=o.connections,
        )

    def due_signals(self) -> DueListener | None:
        """On PostgreSQL, what tells the sender of deliveries filed by any hub process (hub/
        store/due_signals.py); None on SQLite, whose sender polls."""
        return DueListener(self.engine) if self.engine.dialect.name == "postgresql" else None

    def destination_sender(self, key: str) -> DestinationSender:
        """The sender for destination `key` (`host:port`), over TLS when the registry's
        destination at that address asks for it."""
        host, port = parse_destination_key(key)
        with self.unit_of_work() as uow:
            tls = uses_tls(uow.professionals.list(), host, port)
        return DestinationSender(host, port, timeout=self.settings.outbound.timeout,
                                 ssl_context=self.outbound_tls if tls else None,
                                 patience=self.settings.outbound.ack_patience)

    def close(self) -> None:
        """Release the broker and database connections this hub opened."""
        if "broker" in self.__dict__:
            self.broker.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


def uses_tls(professionals: list[Professional], host: str, port: int) -> bool:
    """Whether any registered destination at `host:port` asks for TLS: one that does is never
    sent to in clear because another professional shares its address without the flag."""
    return any(p.destination is not None and p.destination.host == host
               and p.destination.port == port and p.destination.tls for p in professionals)

