"""Who may send what: the listener's check of a message's sender against the senders file.

MSH-3/4 is a claim; what the connection proves (its TLS client certificate, its address, or the
CNS spool) decides. A message passes when an entry of the file names its MSH-3/4, admits its
peer and lists its type; a message whose effect has national weight also needs the privilege
(`needed`): a merge (ADT^A40), a registry update (MFN), prestations for the CNS summary
(DFT^P03), and a référent declaration (an ADT^A31 from a sender the worker reads declarations
from: the MSH-3/4 of the entries holding `declare_referent`). Refusals are AR with ERR-3 207 and
a text naming the rule, never patient data.

Without a senders file the hub runs "open": any sender from any peer for clinical messages,
never a privileged one (an A31 is then a declaration when MSH-3/4 claims the CNS as
`consent.referent_senders` says, and is refused).

Metric labels: a sender is named by its MSH-3^MSH-4 only when an entry names it literally (no
wildcard) and admits its peer; anything else is `other`, so junk cannot grow the registry. In
open mode every sender is `other`: nothing names one.
"""
from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hub.inbound.senders_file import (
    CNS_PRESTATIONS, DECLARE_REFERENT, MERGE_PATIENTS, UPDATE_REGISTRY, SenderEntry, load_senders,
)
from hub.inbound.sniff import Header, Rejection

OTHER = "other"
# Verdicts and labels remembered per (MSH-3^MSH-4, type, peer address, certificate): a listener
# judges every message, and globs and networks cost ~60 µs a message; bounded, so junk senders
# only churn it.
REMEMBERED = 4096
SPOOL_PREFIX = "cns-spool:"  # the peer name the CNS spool gives its messages
# Refusal reasons, counted (hub_sender_refusals_total) and kept in the rejected record's text.
UNKNOWN_SENDER, PEER, TYPE, PRIVILEGE = "unknown_sender", "peer", "type", "privilege"
MERGE_TYPE, DFT_TYPE, REFERENT_TYPE, MFN_CODE = "ADT^A40", "DFT^P03", "ADT^A31", "MFN"
_WILDCARDS = frozenset("*?[")
OPEN_WARNING = ("no senders file (senders_file is empty): the hub runs open, any sender may send "
                "clinical messages and none may send privileged ones (merges, registry updates, "
                "référent declarations, CNS prestations)")


@dataclass(frozen=True, slots=True)
class Certificate:
    """What a TLS client certificate proves: its subject ("CN=...,O=...") and SHA-256 (hex)."""

    subject: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the senders file refuses a message: a REASON and the rejection to answer with."""

    reason: str
    rejection: Rejection


class SenderRules:
    """The senders file, ready to judge messages (or the open mode when `entries` is None)."""

    def __init__(self, entries: tuple[SenderEntry, ...] | None,
                 open_declaring: tuple[str, ...] = ("CNS^*",)) -> None:
        self._entries = entries
        self._open_declaring = open_declaring
        self._networks = {e.name: tuple(ipaddress.ip_network(a, strict=False)
                                        for a in e.addresses) for e in entries or ()}
        self._judged = lru_cache(maxsize=REMEMBERED)(self._judge)
        self._labelled = lru_cache(maxsize=REMEMBERED)(self._label)

    @classmethod
    def from_file(cls, path: Path) -> "SenderRules":
        """The rules of the senders file at `path` (ConfigError naming the entry when wrong)."""
        return cls(tuple(load_senders(path).sender))

    @classmethod
    def open(cls, declaring: tuple[str, ...] = ("CNS^*",)) -> "SenderRules":
        """No senders file: clinical messages from anyone; `declaring` are the MSH-3^MSH-4 globs
        whose A31 would be a référent declaration (refused, like every privileged message)."""
        return cls(None, declaring)

    @property
    def is_open(self) -> bool:
        return self._entries is None

    @property
    def declaring(self) -> tuple[str, ...]:
        """The "MSH-3^MSH-4" globs whose ADT^A31 declares a référent (for the worker)."""
        if self._entries is None:
            return self._open_declaring
        return tuple(f"{e.application}^{e.facility}" for e in self._entries
                     if DECLARE_REFERENT in e.privileges)

    def needed(self, header: Header | _Claim) -> str | None:
        """The privilege a message's effect needs, or None for a clinical message."""
        kind = header.type
        if kind == MERGE_TYPE:
            return MERGE_PATIENTS
        if header.message_code == MFN_CODE:
            return UPDATE_REGISTRY
        if kind == DFT_TYPE:
            return CNS_PRESTATIONS
        if kind == REFERENT_TYPE and any(fnmatch.fnmatchcase(header.sender, glob)
                                         for glob in self.declaring):
            return DECLARE_REFERENT
        return None

    def judge(self, header: Header, peer: str, certificate: Certificate | None = None
              ) -> Refusal | None:
        """None when the message may pass; else the Refusal (AR 207) naming the rule."""
        return self._judged(_Claim.of(header), _peer_key(peer), certificate)

    def _judge(self, header: _Claim, peer: str, certificate: Certificate | None
               ) -> Refusal | None:
        sender, kind, privilege = header.sender, header.type, self.needed(header)
        if self._entries is None:
            if privilege is None:
                return None
            return _refuse(PRIVILEGE, "MSH^1^9", f"{kind} needs privilege {privilege}: this hub "
                           "runs without a senders file and takes no privileged message")
        named = [e for e in self._entries if _names(e, header)]
        if not named:
            return _refuse(UNKNOWN_SENDER, "MSH^1^3", f"sender {sender} (MSH-3^MSH-4) is not "
                           "in the senders file")
        admitted = [e for e in named if self._admits(e, peer, certificate)]
        if not admitted:
            return _refuse(PEER, "MSH^1^3", f"sender {sender} may not connect from this peer "
                           f"(senders file entry {_list(named)})")
        allowed = [e for e in admitted if any(_type_matches(kind, t) for t in e.types)]
        if not allowed:
            return _refuse(TYPE, "MSH^1^9", f"sender {sender} may not send {kind} "
                           f"(senders file entry {_list(admitted)}: types)")
        if privilege is not None and not any(privilege in e.privileges for e in allowed):
            return _refuse(PRIVILEGE, "MSH^1^9", f"{kind} needs privilege {privilege}, which "
                           f"sender {sender} does not hold (senders file entry {_list(allowed)})")
        return None

    def label(self, header: Header | None, peer: str,
              certificate: Certificate | None = None) -> str:
        """The metric label of a message's sender: its MSH-3^MSH-4 when an entry names it
        literally and admits the peer, else `other` (always in open mode)."""
        if header is None or self._entries is None:
            return OTHER
        return self._labelled(_Claim.of(header), _peer_key(peer), certificate)

    def _label(self, header: _Claim, peer: str, certificate: Certificate | None) -> str:
        for entry in self._entries:
            if (entry.application == _application(header) and entry.facility == _facility(header)
                    and not _WILDCARDS & set(entry.application + entry.facility)
                    and self._admits(entry, peer, certificate)):
                return header.sender
        return OTHER

    def _admits(self, entry: SenderEntry, peer: str, certificate: Certificate | None) -> bool:
        if peer.startswith(SPOOL_PREFIX):
            return entry.spool
        wants_certificate = bool(entry.certificate_subjects or entry.certificate_fingerprints)
        if wants_certificate and not _certified(entry, certificate):
            return False
        if entry.addresses:
            address = _key_address(peer)  # `peer` is a _peer_key
            return address is not None and any(address in network
                                               for network in self._networks[entry.name])
        return wants_certificate


@dataclass(frozen=True, slots=True)
class _Claim:
    """What a verdict depends on of a message's header (hashable, to remember verdicts by)."""

    sender: str
    type: str
    message_code: str

    @classmethod
    def of(cls, header: Header) -> _Claim:
        return cls(header.sender, header.type, header.message_code)


@lru_cache(maxsize=REMEMBERED)
def _peer_key(peer: str) -> str:
    """What a verdict depends on of the peer: the spool, or its IP address without the port
    (the peer name as given when it is not an address: no entry's addresses admit it).
    Remembered: a connection's every frame names the same peer, and parsing it costs more
    than the verdict it keys."""
    if peer.startswith(SPOOL_PREFIX):
        return SPOOL_PREFIX
    address = _address(peer)
    return str(address) if address is not None else peer


def _key_address(key: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(key)
    except ValueError:
        return None


def _names(entry: SenderEntry, header: Header | _Claim) -> bool:
    return (fnmatch.fnmatchcase(_application(header), entry.application)
            and fnmatch.fnmatchcase(_facility(header), entry.facility))


def _application(header: Header | _Claim) -> str:
    return header.sender.split("^", 1)[0]


def _facility(header: Header | _Claim) -> str:
    parts = header.sender.split("^", 1)
    return parts[1] if len(parts) > 1 else ""


def _type_matches(kind: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(kind, pattern) or ("^" not in pattern
                                                  and fnmatch.fnmatchcase(kind, pattern + "^*"))


def _certified(entry: SenderEntry, certificate: Certificate | None) -> bool:
    if certificate is None:
        return False
    return (certificate.subject in entry.certificate_subjects
            or certificate.fingerprint in entry.certificate_fingerprints)


def _address(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address of a listener peer name ("host:port", as hub/inbound/listener.py writes
    it, IPv6 hosts included), None when it is not one."""
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _refuse(reason: str, location: str, text: str) -> Refusal:
    return Refusal(reason, Rejection("AR", 207, location, text))


def _list(entries: list[SenderEntry]) -> str:
    return ", ".join(repr(e.name) for e in entries)
