"""The age of majority: when a minor's parents stop acting for them in the DSP.

The rule (Luxembourg, Code civil art. 488: "La majorité est fixée à dix-huit ans accomplis"):
a person is of age from the start of their 18th birthday, and a birthday is reached at local
midnight in Luxembourg (Europe/Luxembourg), whatever the server's zone and whatever DST does
(midnight always exists there: the clocks change at 02:00 and 03:00). So majority falls at
22:00 UTC the day before in summer and 23:00 UTC in winter.

- Born on 29 February: in a common year the 18th anniversary does not exist; eighteen full
  years have run at the end of 28 February, and majority is 1 March (the reading of the
  UK's Family Law Reform Act 1969 s.9 and of German BGB §188(3); Luxembourg law is silent).
- Where the birth date comes from (`birth_date_of`): the demographics senders give in PID-7
  (kept encrypted with the dossier), else the date the matricule carries (YYYYMMDD…). Month or
  day may be unknown (`00` in a matricule, "YYYY" or "YYYY-MM" from PID-7): the earliest date
  the person can have been born on is taken, so that a parent never keeps reading the dossier
  of someone who may already be an adult. A patient is never without a birth year: every
  matricule starts with it.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING

from hub.domain.luxembourg import start_of_day

if TYPE_CHECKING:
    from hub.domain.ports import UnitOfWork

MAJORITY_YEARS = 18

_ISO_PREFIX = re.compile(r"(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?")


def majority_day(birth: date) -> date:
    """The local date from which someone born on `birth` is of age (1 March for 29 February
    in a common year)."""
    year = birth.year + MAJORITY_YEARS
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February, and the 18th year is a common year
        return date(year, 3, 1)


def majority_at(birth: date) -> datetime:
    """The instant (aware, UTC) someone born on `birth` comes of age: local midnight in
    Luxembourg at the start of `majority_day`."""
    return start_of_day(majority_day(birth))


def is_minor(birth: date, at: datetime) -> bool:
    """Whether someone born on `birth` is still a minor at the aware instant `at`."""
    if at.tzinfo is None:
        raise ValueError("the instant must be timezone-aware")
    return at < majority_at(birth)


def earliest_birth(text: str) -> date | None:
    """The earliest birth date `text` allows: an ISO date ("2008-02-29"), a year and month
    ("2008-02", day unknown: the 1st), a year ("2008": 1 January), or the matricule's
    "YYYYMMDD" with 00 for an unknown month or day. None when it is none of these."""
    match = _ISO_PREFIX.match(text.strip())
    if match is None:
        return None
    year, month, day = (int(part) if part else 0 for part in match.groups())
    try:
        return date(year, month or 1, day or 1)
    except ValueError:
        return None


def is_precise(text: str) -> bool:
    """Whether `text` names a whole date (year, month and day all known)."""
    match = _ISO_PREFIX.match(text.strip())
    return (match is not None and all(match.groups())
            and int(match.group(2)) > 0 and int(match.group(3)) > 0
            and earliest_birth(text) is not None)


def birth_date_of(pid7_birth_date: str, matricule: str) -> date | None:
    """The patient's birth date for the age rule: the first whole date of PID-7's then the
    matricule's, else the earliest date the first partial one allows; None when neither gives
    one (a matricule always does)."""
    sources = [pid7_birth_date or "", matricule[:8] if len(matricule) >= 8 else ""]
    for text in sources:
        if is_precise(text):
            return earliest_birth(text)
    for text in sources:
        found = earliest_birth(text) if text else None
        if found is not None:
            return found
    return None


def patient_birth(uow: UnitOfWork, patient_id: str) -> date | None:
    """The birth date of the patient of dossier `patient_id` (`birth_date_of` over its
    decrypted demographics), asked of a store."""
    patient = uow.patients.get(patient_id)
    return birth_date_of(patient.birth_date, patient.matricule)


def patient_majority(uow: UnitOfWork, patient_id: str) -> datetime | None:
    """When the patient of dossier `patient_id` comes (came) of age."""
    birth = patient_birth(uow, patient_id)
    return None if birth is None else majority_at(birth)
