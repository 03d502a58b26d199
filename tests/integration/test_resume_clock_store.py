"""The résumé clock in the store (hub/store/resume_repository.py), run by the overdue job with a
controlled clock on SQLite and PostgreSQL: a résumé sent before the declaration counts within the
window, the regular update falls due `update_months` later, and flags fall on Luxembourg days."""
from datetime import UTC, datetime, timedelta

from hub.jobs.resume_clock import flag_overdue_resumes
from tests.fixtures.dossier_rows import write_dossiers

REFERENT, OTHER = "123456-78", "223456-78"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def declare(uow_factory, since: datetime, resumes=(), first: int = 0) -> str:
    """A new dossier whose référent is declared at `since`, after `resumes` ((author, at), …)."""
    [w] = write_dossiers(uow_factory, 1, first=first)
    pid = w["patient_id"]
    with uow_factory() as uow:
        for author, at in resumes:
            uow.resumes.record_resume(pid, author, at)
        uow.consents.declare_referent(pid, REFERENT, since, "test")
        uow.commit()
    return pid


def overdue(uow_factory, at: datetime) -> list:
    with uow_factory() as uow:
        return [(o.patient_id, o.resume_at) for o in uow.resumes.overdue(at)]


def flag(uow_factory, at: datetime) -> int:
    return flag_overdue_resumes(uow_factory, lambda: at, 3, 12)


def test_a_resume_sent_before_the_declaration_counts_within_the_window(uow_factory):
    since = utc(2026, 4, 30, 9)
    recent = declare(uow_factory, since, [(REFERENT, utc(2026, 2, 10, 9))], first=1)
    stale = declare(uow_factory, since, [(REFERENT, utc(2026, 1, 20, 9))], first=2)
    someone_else = declare(uow_factory, since, [(OTHER, utc(2026, 4, 1, 9))], first=3)

    assert flag(uow_factory, utc(2026, 7, 31, 12)) == 2
    assert {pid for pid, _ in overdue(uow_factory, utc(2026, 7, 31, 12))} == {stale,
                                                                                someone_else}
    # The recent one stands for the first résumé; its update clock runs from the declaration.
    assert flag(uow_factory, utc(2027, 4, 30, 21, 59)) == 0
    assert flag(uow_factory, utc(2027, 4, 30, 22)) == 1      # midnight, 1 May, in Luxembourg
    assert dict(overdue(uow_factory, utc(2027, 5, 1))) == {
        recent: utc(2026, 2, 10, 9), stale: None, someone_else: None}


def test_after_a_resume_the_next_is_due_update_months_later(uow_factory):
    since = utc(2026, 1, 31, 10)
    pid = declare(uow_factory, since, first=4)
    assert flag(uow_factory, utc(2026, 4, 30, 21, 59)) == 0      # still 30 April in Luxembourg
    assert flag(uow_factory, utc(2026, 4, 30, 22)) == 1          # 1 May: overdue
    assert flag(uow_factory, utc(2026, 5, 2)) == 0               # flagged once
    with uow_factory() as uow:
        assert uow.resumes.counts(utc(2026, 5, 2)) == {"overdue": 1, "due": 0}
        assert uow.resumes.record_resume(pid, REFERENT, utc(2026, 5, 5, 8))  # late, but sent
        uow.commit()
    assert overdue(uow_factory, utc(2026, 5, 6)) == []
    # Twelve months after 5 May 2026: due on 5 May 2027, overdue from midnight (22:00 UTC).
    assert flag(uow_factory, utc(2027, 5, 5, 21, 59)) == 0
    assert flag(uow_factory, utc(2027, 5, 5, 22)) == 1
    assert overdue(uow_factory, utc(2027, 5, 6)) == [(pid, utc(2026, 5, 5, 8))]
    with uow_factory() as uow:
        assert uow.resumes.counts(utc(2027, 5, 6)) == {"overdue": 1, "due": 0}
        uow.resumes.record_resume(pid, REFERENT, utc(2027, 5, 7))
        uow.commit()
    assert overdue(uow_factory, utc(2027, 5, 8)) == []
    assert flag(uow_factory, utc(2027, 5, 8) + timedelta(days=300)) == 0
