"""Legal holds: a case, or every case of one patient, kept out of retention while a hold is on.

The rule of when a hold is in force is written once, as SQL (``active_hold_clause``), and used
by every reader: the case page, the queue's badge and the retention sweep (``held_case_ids``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import and_, exists, or_
from sqlmodel import col, select

from mi_portal.db import ScopedSession, in_batches, tenant_session
from mi_portal.models import LegalHold, Patient, Submission, User
from mi_portal.services import audit, clock
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, check
from mi_portal.services.text import TextTooLong, clean_text

MIN_REASON = 3
MAX_REASON = 1000


class AlreadyReleased(ValueError):
    """The hold was released before (by someone else, or a second click)."""

    def __init__(self) -> None:
        super().__init__("This hold has already been released.")


def _case(session: ScopedSession, actor: Actor, case_id: object) -> Submission:
    # Imported here: the case services build on the queue, and the queue and the retention
    # sweep import this module, which stays light.
    from mi_portal.services.cases import case_in_clinic

    return case_in_clinic(session, actor, case_id)


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def active_hold_clause(now: datetime) -> sa.ColumnElement[bool]:
    """SQL: the ``LegalHold`` row is in force at ``now``.

    In force means not released, and either without an end date or ending today or later (the
    UTC date of ``now``): a hold ending on a day still holds on that day.
    """
    return and_(
        col(LegalHold.released_at).is_(None),
        or_(col(LegalHold.ends_on).is_(None), col(LegalHold.ends_on) >= _today(now)),
    )


def case_held_clause(now: datetime) -> sa.ColumnElement[bool]:
    """SQL, correlated to the enclosing ``Submission``: the case is held at ``now``.

    A hold on the case itself or on its patient counts. Each test is led by ``tenant_id`` so it
    runs on the (tenant_id, submission_id) and (tenant_id, patient_id) indexes.
    """
    active = active_hold_clause(now)
    on_case = exists().where(
        col(LegalHold.tenant_id) == Submission.tenant_id,
        col(LegalHold.submission_id) == Submission.id,
        active,
    )
    on_patient = exists().where(
        col(LegalHold.tenant_id) == Submission.tenant_id,
        col(LegalHold.patient_id) == Submission.patient_id,
        active,
    )
    return or_(on_case, on_patient)


def held_case_ids(
    session: ScopedSession, case_ids: Iterable[uuid.UUID | str], now: datetime
) -> set[uuid.UUID]:
    """Which of ``case_ids`` (of the session's clinic) are held at ``now``: one query per chunk.

    The session's tenant scope limits the cases to its clinic (a session without one raises).
    """
    wanted = list(dict.fromkeys(uuid.UUID(str(c)) for c in case_ids))
    held: set[uuid.UUID] = set()
    for chunk in in_batches(wanted):
        held.update(
            session.exec(
                select(Submission.id).where(
                    col(Submission.id).in_(chunk),
                    case_held_clause(now),
                )
            ).all()
        )
    return held


def clean_reason(value: object, what: str = "reason") -> str:
    """A reason as stored: cleaned text of 3 to 1,000 characters; ``ValueError`` otherwise."""
    try:
        text = clean_text(value, max_length=MAX_REASON, multiline=True)
    except TextTooLong:
        raise ValueError(f"Keep the {what} under {MAX_REASON} characters.") from None
    if len(text) < MIN_REASON:
        raise ValueError(f"Give a {what} (at least {MIN_REASON} characters).")
    return text


def _end_date(value: object, now: datetime) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise ValueError("Give the end date as a day (YYYY-MM-DD).")
    if isinstance(value, date):
        day = value
    else:
        try:
            text = str(value).strip()
            if len(text) != 10:
                raise ValueError
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError("Give the end date as a day (YYYY-MM-DD).") from None
    if day < _today(now):
        raise ValueError("The end date cannot be in the past.")
    return day


def place_hold(
    actor: Actor,
    *,
    case_id: object = None,
    patient_id: object = None,
    reason: object,
    ends_on: object = None,
) -> uuid.UUID:
    """Hold one case, or every case of one patient, of the actor's clinic; returns the hold id."""
    check(actor, Permission.HOLDS_MANAGE)
    tenant_id = actor.require_tenant()
    if (case_id in (None, "")) == (patient_id in (None, "")):
        raise ValueError("Hold either one case or one patient.")
    text = clean_reason(reason)
    now = clock.now()
    day = _end_date(ends_on, now)
    with tenant_session(tenant_id) as session:
        if case_id not in (None, ""):
            case = _case(session, actor, case_id)
            hold = LegalHold(submission_id=case.id, reason=text, ends_on=day)
            target_type, target = "submission", case.id
        else:
            patient = session.get(Patient, (tenant_id, parse_id(patient_id, "patient")))
            if patient is None:
                raise NotFound("patient")  # another clinic's patient answers like a missing one
            hold = LegalHold(patient_id=patient.id, reason=text, ends_on=day)
            target_type, target = "patient", patient.id
        hold.created_by_id = actor.user_id
        hold.created_at = now
        session.add(hold)
        hold_id = hold.id
        audit.record_in(
            session,
            "hold.place",
            actor=actor,
            target_type=target_type,
            target_id=target,
            details={
                "hold": str(hold_id),
                "reason": text,
                "ends_on": day.isoformat() if day else None,
            },
        )
        session.commit()
    return hold_id


def patient_of_case(actor: Actor, case_id: object) -> uuid.UUID:
    """The patient of a case of the actor's clinic (to hold all of that patient's cases)."""
    check(actor, Permission.CASES_VIEW)
    with tenant_session(actor.require_tenant()) as session:
        return _case(session, actor, case_id).patient_id


def release_hold(actor: Actor, hold_id: object, *, reason: object) -> None:
    """End a hold now, with a reason; a hold is released once."""
    check(actor, Permission.HOLDS_MANAGE)
    tenant_id = actor.require_tenant()
    text = clean_reason(reason, "reason for the release")
    now = clock.now()
    with tenant_session(tenant_id) as session:
        hold = session.get(LegalHold, (tenant_id, parse_id(hold_id, "hold")))
        if hold is None:
            raise NotFound("hold")
        if hold.released_at is not None:
            raise AlreadyReleased()
        found, ends_on = hold.id, hold.ends_on
        target_type = "submission" if hold.submission_id else "patient"
        target = hold.submission_id or hold.patient_id
        # Conditional, so two releases at once cannot both succeed.
        done = session.execute(
            sa.update(LegalHold)
            .where(
                col(LegalHold.id) == found,
                col(LegalHold.released_at).is_(None),
            )
            .values(released_at=now, released_by_id=actor.user_id, release_reason=text)
        )
        if getattr(done, "rowcount", 0) != 1:
            session.rollback()
            raise AlreadyReleased()
        audit.record_in(
            session,
            "hold.release",
            actor=actor,
            target_type=target_type,
            target_id=target,
            details={
                "hold": str(found),
                "reason": text,
                "ends_on": ends_on.isoformat() if ends_on else None,
                "old": {"released_at": None, "release_reason": ""},
                "new": {"released_at": now.isoformat(), "release_reason": text},
            },
        )
        session.commit()


@dataclass(frozen=True)
class HoldView:
    id: str
    scope: str  # "case" or "patient"
    scope_label: str
    reason: str
    active: bool
    state_label: str  # "Active", "Ended" (its end date passed) or "Released"
    placed_by: str
    placed_at: str
    ends_on: str  # YYYY-MM-DD or ""
    released_by: str
    released_at: str
    release_reason: str


def _minutes(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def holds_for_case(
    actor: Actor, case_id: object, *, lent: ScopedSession | None = None
) -> list[HoldView]:
    """The case's own holds and its patient's, in force first, then newest first.
    (``lent``: see ``tenant_session``.)"""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    now = clock.now()
    with tenant_session(tenant_id, lent=lent) as session:
        case = _case(session, actor, case_id)
        active = active_hold_clause(now)
        rows = session.exec(
            select(LegalHold, sa.case((active, 1), else_=0).label("active"))
            .where(
                LegalHold.tenant_id == tenant_id,
                or_(
                    col(LegalHold.submission_id) == case.id,
                    col(LegalHold.patient_id) == case.patient_id,
                ),
            )
            .order_by(
                sa.case((active, 0), else_=1),
                col(LegalHold.created_at).desc(),
                col(LegalHold.id).desc(),
            )
        ).all()
        people = {
            uid for hold, _ in rows for uid in (hold.created_by_id, hold.released_by_id) if uid
        }
        names: dict[uuid.UUID, str] = (
            dict(
                session.exec(select(User.id, User.full_name).where(col(User.id).in_(people))).all()
            )
            if people
            else {}
        )
    return [_view(hold, bool(in_force), names) for hold, in_force in rows]


def _view(hold: LegalHold, active: bool, names: dict[uuid.UUID, str]) -> HoldView:
    def who(user_id: uuid.UUID | None) -> str:
        return names.get(user_id, "—") if user_id else "—"

    released = hold.released_at is not None
    return HoldView(
        id=str(hold.id),
        scope="case" if hold.submission_id else "patient",
        scope_label="This case" if hold.submission_id else "Every case of this patient",
        reason=hold.reason,
        active=active,
        state_label="Active" if active else "Released" if released else "Ended",
        placed_by=who(hold.created_by_id),
        placed_at=_minutes(hold.created_at),
        ends_on=hold.ends_on.isoformat() if hold.ends_on else "",
        released_by=who(hold.released_by_id) if released else "",
        released_at=_minutes(hold.released_at),
        release_reason=hold.release_reason,
    )
