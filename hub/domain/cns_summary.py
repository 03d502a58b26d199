"""The CNS summary of a dossier: its prestations (FT1 lines of the CNS feed's DFT^P03, entries of
kind "prestation") counted and summed by year and kind.

The kind is the transaction type the CNS gives in FT1-6 (HL7 table 0017), named: a charge (CG,
the reimbursed service itself), a credit (CD), a payment (PY) or an adjustment (AJ); another
code is kept in lower case, and no code at all counts as "unknown". Charges and credits stay
apart rather than netted, so that a cancelled service is visible as such.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub.domain.models import StoredEntry

PRESTATION = "prestation"
TRANSACTION_KINDS = {"CG": "charge", "CD": "credit", "PY": "payment", "AJ": "adjustment"}
UNKNOWN = "unknown"


def prestation_kind(payload: dict[str, Any]) -> str:
    """The summary kind of one prestation, from its transaction type (FT1-6)."""
    code = str(payload.get("transaction_type") or "").strip().upper()
    return TRANSACTION_KINDS.get(code, code.lower() or UNKNOWN)


def prestation_year(entry: StoredEntry) -> str:
    """The year of a prestation: its transaction date (FT1-4), else when it took effect."""
    when = entry.payload.get("date") or entry.effective_at or ""
    return str(when)[:4] if str(when)[:4].isdigit() else UNKNOWN


def summarize(entries: Iterable[StoredEntry]) -> list[dict[str, Any]]:
    """`[{"year", "kind", "count", "amount"}]` over the prestations among `entries`, by year
    (newest first) then kind. `amount` sums the amounts given (FT1-11), rounded to the cent;
    `currency` is added when every summed amount named the same one."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        if entry.kind != PRESTATION:
            continue
        key = (prestation_year(entry), prestation_kind(entry.payload))
        group = groups.setdefault(key, {"year": key[0], "kind": key[1], "count": 0,
                                        "amount": 0, "currencies": set()})
        group["count"] += 1
        amount = entry.payload.get("amount")
        if isinstance(amount, (int, float)) and not isinstance(amount, bool):
            group["amount"] += amount
            group["currencies"].add(entry.payload.get("currency") or "")
    rows = []
    for key in sorted(groups, key=lambda k: (-int(k[0]) if k[0].isdigit() else 1, k[1])):
        group = groups[key]
        currencies = group.pop("currencies")
        group["amount"] = round(group["amount"], 2)
        if len(currencies) == 1 and "" not in currencies:
            group["currency"] = currencies.pop()
        rows.append(group)
    return rows
