"""`hub dossier document MATRICULE ENTRY_ID [--out FILE] [--as CNS_CODE]`: the bytes of one
document entry (a PDF sent as ED in an ORU^R01 or an MDM^T02), decoded as the sender encoded them.

The entry's payload holds what the mapping read, encrypted like every entry: `content` and the
ED encoding (`encoding`, ED.4). Base64 and Hex give back the original bytes; any other encoding
(A, or none: a text document) gives the content as UTF-8 text.

Without --as it is the operator's full read (`--operator`, HUB_OPERATOR or the OS user), like
`hub dossier show`. With --as the professional gets the bytes only when the consent question
routing asks (hub.domain.access.may_receive) allows them this entry. Either read, allowed or
denied, is journaled and committed (hub.ops.dossier.read_document) before a byte is written, so
nobody holds a document whose read is not in the journal.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import re
import sys
from pathlib import Path

from hub.cli.acting import add_operator_option, reader
from hub.cli.session import current_hub
from hub.domain.matricule import validate
from hub.errors import HubError
from hub.ops import dossier
from hub.settings import Settings

_PADDED_PARTS = re.compile(r"(?<==)(?=[^=])")


def register(dossier_actions) -> None:
    """Add `hub dossier document` to the `dossier` sub-commands."""
    p = dossier_actions.add_parser("document", help="write a document entry's bytes (a PDF ...) "
                                   "to stdout or --out; with --as, a journaled professional read")
    p.add_argument("matricule")
    p.add_argument("entry_id", metavar="ENTRY_ID", help="the entry's id (hub dossier show --json)")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--as", dest="viewer", metavar="CNS_CODE",
                   help="read as this professional: consent-checked and journaled")
    add_operator_option(p)
    p.set_defaults(func=document)


def document(args: argparse.Namespace, settings: Settings) -> int:
    """Write the decoded bytes of one document entry; exit 1 when there is no such document
    or the professional may not read it (hub.ops.dossier.read_document journals that read)."""
    matricule = validate(args.matricule)
    who = reader(args)
    with current_hub(settings) as hub:
        entry = dossier.read_document(
            hub.unit_of_work, matricule, args.entry_id, who,
            referent_by_default=settings.consent.referent_access_by_default)
    write_document(document_bytes(entry.payload), args.out)
    return 0


def write_document(data: bytes, out: str | None) -> None:
    """Write `data` to the file `out`, or to stdout; HubError (one line) when `out` cannot be
    written, e.g. a missing folder or no permission."""
    if not out:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(out).write_bytes(data)
    except OSError as exc:
        raise HubError(f"cannot write {out}: {exc.strerror}") from None


def document_bytes(payload: dict) -> bytes:
    """The bytes a document entry's `content` stands for, by its ED encoding (`encoding`):
    Base64 and Hex decoded (whitespace, such as the line wraps senders insert, ignored), any
    other as UTF-8 text. Raises HubError naming the encoding, never the content."""
    content = payload.get("content", "")
    if not isinstance(content, str) or not content:
        raise HubError("this document entry has no content")
    encoding = str(payload.get("encoding", "")).strip().upper()
    compact = "".join(content.split())
    try:
        if encoding == "BASE64":
            # Parts base64-encoded one by one (an ED per repetition or OBX) keep their padding.
            return b"".join(base64.b64decode(part + "=" * (-len(part) % 4), validate=True)
                            for part in _PADDED_PARTS.split(compact))
        if encoding == "HEX":
            return bytes.fromhex(compact)
    except (binascii.Error, ValueError):
        raise HubError(f"the document's content is not valid {encoding.lower()}") from None
    return content.encode("utf-8")
