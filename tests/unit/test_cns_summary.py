"""The CNS summary (hub.domain.cns_summary) and the résumé clock's calendar months
(hub.domain.resume), in memory."""
from __future__ import annotations

from datetime import UTC, date, datetime

from hub.domain.cns_summary import prestation_kind, summarize
from hub.domain.models import Confidentiality, StoredEntry
from hub.domain.resume import add_months, due_on

AT = datetime(2026, 1, 1, tzinfo=UTC)


def entry(kind="prestation", effective_at=None, **payload) -> StoredEntry:
    return StoredEntry(id="e", patient_id="p", message_id="m", seq=0, kind=kind,
                       confidentiality=Confidentiality.NORMAL, hidden=False, created_at=AT,
                       payload=payload, effective_at=effective_at)


def test_the_kind_is_the_named_transaction_type():
    assert [prestation_kind({"transaction_type": t}) for t in ("CG", "cd", "PY", "AJ")] == [
        "charge", "credit", "payment", "adjustment"]
    assert prestation_kind({"transaction_type": "ZX"}) == "zx"
    assert prestation_kind({}) == "unknown"


def test_prestations_are_counted_and_summed_by_year_newest_first_then_kind():
    rows = summarize([
        entry(date="2025-03-10", transaction_type="CG", amount=52.3, currency="EUR"),
        entry(date="2025-06-12", transaction_type="CG", amount=40, currency="EUR"),
        entry(date="2025-06-12", transaction_type="CD", amount=-40, currency="EUR"),
        entry(date="2024-11-20", transaction_type="CG", amount=10.105, currency="USD"),
        entry(date="2024-11-21", transaction_type="CG", amount=1, currency="EUR"),
        entry(effective_at="2023-05-01T10:00:00", transaction_type="CG"),  # no date, no amount
        entry(kind="lab_result", date="2025-01-01", amount=999),            # not a prestation
    ])
    assert rows == [
        {"year": "2025", "kind": "charge", "count": 2, "amount": 92.3, "currency": "EUR"},
        {"year": "2025", "kind": "credit", "count": 1, "amount": -40, "currency": "EUR"},
        {"year": "2024", "kind": "charge", "count": 2, "amount": 11.11},  # two currencies
        {"year": "2023", "kind": "charge", "count": 1, "amount": 0},
    ]


def test_a_prestation_without_any_date_is_summed_under_unknown_last():
    rows = summarize([entry(transaction_type="CG", amount="12"), entry(date="2020-01-01")])
    assert [(r["year"], r["kind"], r["count"], r["amount"]) for r in rows] == [
        ("2020", "unknown", 1, 0), ("unknown", "charge", 1, 0)]


def test_months_are_calendar_months_with_the_day_clamped():
    assert add_months(datetime(2026, 1, 31, 9, tzinfo=UTC), 3) == datetime(2026, 4, 30, 9,
                                                                           tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 2, 15, tzinfo=UTC), -3) == datetime(2025, 11, 15, tzinfo=UTC)
    assert due_on(datetime(2024, 11, 29, 12, tzinfo=UTC), 3) == date(2025, 2, 28)
