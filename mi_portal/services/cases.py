"""One case: its detail (an audited reveal), workflow moves, assignment, notes and timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import (
    SUBMISSION_TRANSITIONS,
    AuditEvent,
    CaseNote,
    Membership,
    Patient,
    Role,
    Submission,
    SubmissionStatus,
    Tenant,
    User,
)
from mi_portal.services import (
    audit,
    business_time,
    clinic_time,
    clock,
    notifications,
    session_cache,
)
from mi_portal.services.actor import Actor, NotFound, PermissionDenied, parse_id
from mi_portal.services.inbox import first_response_state, reference, sla_state, soon_limit
from mi_portal.services.intake import CONCERN_AREAS, age_on
from mi_portal.services.intake_questions import answers_as_asked
from mi_portal.services.permissions import Permission, check, has_permission
from mi_portal.services.text import TextTooLong, clean_text
from mi_portal.services.timeline import VIEW_ACTIONS, Happening, TimelineEntry, group_views

MAX_BULK = 200
MAX_NOTE = 10_000


def case_in_clinic(session, actor: Actor, submission_id: object) -> Submission:  # type: ignore[no-untyped-def]
    row = session.get(Submission, (actor.tenant_id, parse_id(submission_id, "submission")))
    if row is None:
        raise NotFound("submission")  # another clinic's case answers exactly like a missing one
    return row


def allowed_moves(status: str) -> list[str]:
    try:
        allowed = SUBMISSION_TRANSITIONS[SubmissionStatus(status)]
        # In the workflow's own order (new → … → archived), the way people read it.
        return [s.value for s in SubmissionStatus if s in allowed]
    except ValueError:
        return []


# Leaving "new" for one of these is the case's first review; archived straight from "new" is not.
NOT_REVIEWED = frozenset({SubmissionStatus.NEW.value, SubmissionStatus.ARCHIVED.value})


def set_status(case: Submission, to: str, at: datetime) -> None:
    """Give the case its new status; the first move to a working status stamps ``reviewed_at``
    (once: moving back to review or on to archived keeps it). Caller adds and commits."""
    case.status = to
    if case.reviewed_at is None and to not in NOT_REVIEWED:
        case.reviewed_at = at


def change_status(actor: Actor, submission_id: object, to: str) -> None:
    """Move a case along the workflow; only the transitions written beside the statuses."""
    check(actor, Permission.CASES_EDIT)
    from mi_portal.services.quotes import has_open_quote, lock_case  # quotes builds on this

    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        # Locked like every change of the case's quotes, so a patient's answer cannot cross it.
        case = lock_case(session, tenant_id, case_in_clinic(session, actor, submission_id).id)
        before = case.status
        if to not in allowed_moves(before):
            raise ValueError(
                f"A case cannot go from {before.replace('_', ' ')} to {str(to).replace('_', ' ')}."
            )
        open_quote = has_open_quote(session, case.id)
        if to == SubmissionStatus.QUOTED.value and not open_quote:
            raise ValueError("Send a quote from the quote page; the case then becomes quoted.")
        if before == SubmissionStatus.QUOTED.value and open_quote:
            raise ValueError(
                "The patient has an open quote: they accept or decline it on their quote page. "
                "To change the case by hand, withdraw the quote first."
            )
        now = clock.now()
        set_status(case, to, now)
        case.last_activity_at = now
        session.add(case)
        audit.record_in(
            session,
            "case.status_changed",
            actor=actor,
            target_type="submission",
            target_id=case.id,
            details={"from": before, "to": to},
        )
        session.commit()


def assignable(
    actor: Actor, *, lent: ScopedSession | None = None, kept: bool = True
) -> list[tuple[str, str]]:
    """(user id, name) of the clinic's active members who can work cases (``lent``: see
    ``tenant_session``).

    For a page, the worker's kept copy will do (``kept``): it is forgotten whenever a user,
    membership or clinic changes, as the sign-in sessions are (``session_cache``), so no page
    needs a statement for it. ``kept=False`` reads the database, for a change that relies on
    the answer."""
    tenant_id = actor.require_tenant()
    generation = session_cache.cache.generation() if kept else None
    if generation is not None:
        found = kept_assignable(actor)
        if found is not None:
            return found
    check(actor, Permission.CASES_VIEW)
    with tenant_session(tenant_id, lent=lent) as session:
        rows = session.exec(
            select(User.id, User.full_name)
            .join(Membership, col(Membership.user_id) == User.id)
            .where(
                Membership.tenant_id == tenant_id,
                col(Membership.disabled_at).is_(None),
                col(User.disabled).is_(False),
                Membership.role != Role.VIEWER.value,
            )
            .order_by(User.full_name)
        ).all()
    members = [(str(uid), name) for uid, name in rows]
    if generation is not None:
        session_cache.cache.keep_members(tenant_id, generation, members)
    return members


def kept_assignable(actor: Actor) -> list[tuple[str, str]] | None:
    """The worker's kept copy of ``assignable`` (None: not kept, read the database). It touches
    no database, so an event handler asks it in place before it sends a read to a thread."""
    check(actor, Permission.CASES_VIEW)
    return session_cache.cache.members(actor.require_tenant())


def assign(actor: Actor, submission_id: object, assignee: object) -> None:
    """Assign a case to a member of this clinic ("" or None unassigns)."""
    check(actor, Permission.CASES_EDIT)
    new: uuid.UUID | None = None
    if assignee not in (None, ""):
        members = {uid for uid, _ in assignable(actor, kept=False)}
        if str(assignee) not in members:
            raise NotFound("member")
        new = uuid.UUID(str(assignee))
    with tenant_session(actor.require_tenant()) as session:
        case = case_in_clinic(session, actor, submission_id)
        before = case.assignee_id
        if before == new:
            return
        case.assignee_id = new
        case.last_activity_at = clock.now()
        session.add(case)
        if new is not None:
            notifications.notify_assigned(session, actor, case, new)
        audit.record_in(
            session,
            "case.assigned",
            actor=actor,
            target_type="submission",
            target_id=case.id,
            details={"from": str(before) if before else None, "to": str(new) if new else None},
        )
        session.commit()


def bulk(
    actor: Actor,
    submission_ids: list[object],
    *,
    status: str | None = None,
    assignee: object = None,
    unassign: bool = False,
) -> tuple[int, list[str]]:
    """Apply one change to many cases, each audited on its own; returns (done, problems)."""
    check(actor, Permission.CASES_EDIT)
    if not isinstance(submission_ids, list) or len(submission_ids) > MAX_BULK:
        raise ValueError(f"Select at most {MAX_BULK} cases.")
    done, problems = 0, []
    for sid in dict.fromkeys(str(s) for s in submission_ids):
        try:
            if status:
                change_status(actor, sid, status)
            if assignee or unassign:
                assign(actor, sid, None if unassign else assignee)
            done += 1
        except NotFound:
            problems.append(f"{sid[-8:].upper()}: not found")
        except ValueError as exc:
            problems.append(f"{sid[-8:].upper()}: {exc}")
    return done, problems


def add_note(actor: Actor, submission_id: object, body: str) -> None:
    """An internal note on the case; never shown to the patient."""
    check(actor, Permission.CASES_EDIT)
    try:
        text = clean_text(body, max_length=MAX_NOTE, multiline=True)
    except TextTooLong:
        raise ValueError(f"Notes are limited to {MAX_NOTE} characters.") from None
    if not text:
        raise ValueError("Write something first.")
    with tenant_session(actor.require_tenant()) as session:
        case = case_in_clinic(session, actor, submission_id)
        note = CaseNote(submission_id=case.id, author_id=actor.user_id, body=text)
        case.last_activity_at = clock.now()
        session.add(note)
        session.add(case)
        audit.record_in(
            session,
            "case.note_added",
            actor=actor,
            target_type="submission",
            target_id=case.id,
            details={"note": str(note.id)},
        )
        session.commit()


@dataclass(frozen=True)
class CaseDetail:
    id: str
    reference: str
    status: str
    moves: list[str]
    concern: str
    answers: list[tuple[str, str]]
    patient_name: str
    patient_email: str
    patient_phone: str
    patient_age: str
    date_of_birth: str
    assignee_id: str
    received_at: str
    sla: str  # the quote's target: on_time | due_soon | overdue | met | missed | none
    sla_due_at: str  # on the clinic's clock, with the zone's abbreviation
    notes: list[TimelineEntry]
    timeline: list[TimelineEntry]
    # The case's latest quote version ("" when there is none): status code and words, total.
    quote_status: str = ""
    quote_status_label: str = ""
    quote_version: int = 0
    quote_total: str = ""
    # The first reply to the patient: the same states as ``sla``.
    first_response: str = "none"
    first_response_due_at: str = ""
    zone_caption: str = ""  # "Times in Europe/London (GMT)"
    # Older looks at the case not listed in ``timeline`` (see LOOKS_SHOWN); the audit log has them.
    earlier_looks: int = 0


_WHAT = {
    "intake.submitted": "Case received",
    "case.view": "Opened the case",
    "case.status_changed": "Changed status",
    "case.assigned": "Changed assignee",
    "case.note_added": "Added a note",
    "cases.listed": "Looked at the patient's earlier cases",
    "images.thumbnails_listed": "Looked at the photo thumbnails",
    "image.view": "Viewed a photo",
    "images.viewer_opened": "Opened the photo viewer",
    "image.full_viewed": "Viewed a photo at full resolution",
    "images.urls_renewed": "Kept the photo viewer open (links renewed)",
    "image.full_url_renewed": "Kept a photo open at full resolution (link renewed)",
    "image.annotation_added": "Added a marker to a photo",
    "image.annotation_changed": "Changed a marker on a photo",
    "image.annotation_deleted": "Deleted a marker from a photo",
    "image.sensitivity_changed": "Changed whether a photo is sensitive",
    "image.downloaded": "Downloaded a photo",
    "thread.viewed": "Read the conversation",
    "message.sent": "Wrote to the patient",
    "message.received": "The patient wrote",
    "message.retry": "Sent a failed message again",
    "consent.changed": "The patient's consent changed",
    "attachment.fetched_by_patient": "The patient opened an attachment",
    "photo.added": "Added a photo",
    "quote.drafted": "Started a quote",
    "quote.discarded": "Discarded a quote draft",
    "quote.sent": "Sent a quote",
    "quote.withdrawn": "Withdrew a quote",
    "quote.viewed_by_staff": "Looked at the quote",
    "quote.pdf_downloaded": "Downloaded a quote PDF",
    "quote.viewed": "The patient opened the quote",
    "quote.accepted": "The patient accepted the quote",
    "quote.declined": "The patient declined the quote",
    "quote.expired": "The quote expired",
    "hold.place": "Placed a legal hold",
    "hold.release": "Released a legal hold",
}
# Events without a staff member that the patient made (everything else without one is the system).
_BY_PATIENT = frozenset(
    {
        "intake.submitted",
        "message.received",
        "attachment.fetched_by_patient",
        "quote.viewed",
        "quote.accepted",
        "quote.declined",
    }
)


def case_detail(
    actor: Actor, submission_id: object, *, lent: ScopedSession | None = None
) -> CaseDetail:
    """Everything the case page shows. Opening a case is an audited reveal of identity.
    (``lent``: see ``tenant_session``.)"""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id, lent=lent) as session:
        case = case_in_clinic(session, actor, submission_id)
        patient = session.get(Patient, (tenant_id, case.patient_id))
        assert patient is not None
        from mi_portal.services import quotes  # quotes builds on this module

        latest_quote = quotes.for_case(session, case.id)
        notes = list(
            session.exec(
                select(CaseNote)
                .where(CaseNote.submission_id == case.id)
                .order_by(col(CaseNote.created_at))
            )
        )
    viewed = audit.record(actor, "case.view", target_type="submission", target_id=case.id)
    with tenant_session(tenant_id, lent=lent) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        events, earlier_looks = _timeline_events(session, tenant_id, case.id)
        if all(e.id != viewed.id for e in events):
            # Queued with the page's other looks (audit.together), written once all have ended.
            events.append(
                _Event(viewed.id, viewed.occurred_at, viewed.user_id, viewed.action, viewed.details)
            )
        people = {e.user_id for e in events if e.user_id} | {
            n.author_id for n in notes if n.author_id
        }
        for e in events:
            to = (e.details or {}).get("to") if e.action == "case.assigned" else None
            if to:
                people.add(uuid.UUID(str(to)))
        names = (
            dict(
                session.exec(select(User.id, User.full_name).where(col(User.id).in_(people))).all()
            )
            if people
            else {}
        )
    may_see_dob = actor.role in (Role.CLINIC_OWNER, Role.CLINIC_MANAGER, Role.PROVIDER)
    now = clock.now()
    calendar = business_time.calendar_for(tenant)
    where = calendar.zone
    today = now.astimezone(where).date()  # the patient's age as the clinic's calendar reads it
    timeline = group_views(
        [
            Happening(
                when=e.occurred_at,
                person=str(e.user_id or ""),
                action=e.action,
                entry=TimelineEntry(
                    at=clinic_time.minutes(e.occurred_at, where),
                    who=names.get(e.user_id, "—")
                    if e.user_id
                    else ("Patient" if e.action in _BY_PATIENT else "—"),
                    what=_WHAT.get(e.action, "Other activity"),
                    detail=_describe(e, names),
                ),
            )
            for e in events
        ],
        where=where,
    )
    return CaseDetail(
        id=str(case.id),
        reference=reference(case.id),
        status=case.status,
        moves=allowed_moves(case.status) if has_permission(actor, Permission.CASES_EDIT) else [],
        concern=CONCERN_AREAS.get(case.concern_area, case.concern_area),
        answers=answers_as_asked(case.answers),
        patient_name=patient.full_name,
        patient_email=patient.email,
        patient_phone=patient.phone or "",
        patient_age=str(age_on(patient.date_of_birth, today)) if patient.date_of_birth else "",
        date_of_birth=patient.date_of_birth.isoformat()
        if patient.date_of_birth and may_see_dob
        else "",
        assignee_id=str(case.assignee_id) if case.assignee_id else "",
        received_at=clinic_time.minutes_with_zone(case.received_at, where),
        sla=sla_state(case, now, soon_limit(now, calendar, tenant.quote_turnaround_hours)),
        sla_due_at=clinic_time.minutes_with_zone(case.sla_due_at, where),
        first_response=first_response_state(
            case, now, soon_limit(now, calendar, tenant.first_response_hours)
        ),
        first_response_due_at=clinic_time.minutes_with_zone(case.first_response_due_at, where),
        zone_caption=clinic_time.caption(where),
        notes=[
            TimelineEntry(
                clinic_time.minutes(n.created_at, where),
                names.get(n.author_id, "—") if n.author_id else "—",
                "Note",
                n.body,
            )
            for n in notes
        ],
        timeline=timeline,
        earlier_looks=earlier_looks,
        quote_status=latest_quote.status if latest_quote else "",
        quote_status_label=latest_quote.status_label if latest_quote else "",
        quote_version=latest_quote.version if latest_quote else 0,
        quote_total=latest_quote.total if latest_quote else "",
    )


# The newest looks at a case its timeline lists; every change is always listed. A case opened a
# thousand times carries three thousand looks: reading, folding and sending them all to the tab
# on every opening made the case slower the more it was worked on. The audit log keeps them all.
LOOKS_SHOWN = 300


def _timeline_events(
    session: ScopedSession, tenant_id: uuid.UUID, case_id: uuid.UUID
) -> tuple[list[_Event], int]:
    """The case's events in order (every change, the newest ``LOOKS_SHOWN`` looks), and how
    many older looks were left out. One statement (a second only when some were left out)."""
    on_case = (
        AuditEvent.chain == str(tenant_id),
        AuditEvent.target_type == "submission",
        AuditEvent.target_id == str(case_id),
    )
    looking = col(AuditEvent.action).in_(sorted(VIEW_ACTIONS))
    # The newest look not listed (NULL while there are no more than LOOKS_SHOWN).
    cutoff = (
        select(AuditEvent.seq)
        .where(*on_case, looking)
        .order_by(col(AuditEvent.seq).desc())
        .offset(LOOKS_SHOWN)
        .limit(1)
        .scalar_subquery()
    )
    # The columns the timeline shows, not whole events (addresses, browsers and hashes are not
    # needed here).
    rows = session.exec(
        select(  # type: ignore[call-overload]  (six columns: past sqlmodel's overloads)
            AuditEvent.id,
            AuditEvent.occurred_at,
            AuditEvent.user_id,
            AuditEvent.action,
            AuditEvent.details,
            cutoff,
        )
        .where(*on_case, sa.or_(sa.not_(looking), cutoff.is_(None), col(AuditEvent.seq) > cutoff))
        .order_by(col(AuditEvent.seq))
    ).all()
    last_left_out = rows[0][5] if rows else None
    earlier = 0
    if last_left_out is not None:
        earlier = session.exec(
            select(sa.func.count())
            .select_from(AuditEvent)
            .where(*on_case, looking, col(AuditEvent.seq) <= last_left_out)
        ).one()
    return [_Event(*row[:5]) for row in rows], int(earlier)


class _Event(NamedTuple):
    """What the case timeline reads of one audit event."""

    id: uuid.UUID
    occurred_at: datetime
    user_id: uuid.UUID | None
    action: str
    details: dict[str, Any] | None


def _describe(event: _Event, names: dict[uuid.UUID, str]) -> str:
    d = event.details or {}
    if event.action == "case.status_changed":
        return (
            f"{str(d.get('from', '')).replace('_', ' ')} → {str(d.get('to', '')).replace('_', ' ')}"
        )
    if event.action == "case.assigned":
        to = d.get("to")
        return f"to {names.get(uuid.UUID(to), 'someone')}" if to else "unassigned"
    if event.action == "intake.submitted":
        return f"{d.get('photos', 0)} photo(s)"
    if event.action.startswith("quote.") and d.get("version"):
        detail = f"version {d['version']}"
        if event.action == "quote.sent" and d.get("total"):
            detail += f", total {d['total']} {d.get('currency', '')}".rstrip()
        return detail
    return ""


def identity_exposure(actor: Actor) -> list[str]:
    """The roles that see names and contact details in lists, for this clinic."""
    check(actor, Permission.USERS_MANAGE)
    from mi_portal.services.inbox import DEFAULT_FULL_IDENTITY

    with platform_session() as session:
        tenant = session.get(Tenant, actor.require_tenant())
        assert tenant is not None
        chosen = tenant.settings.get("full_identity_roles")
    return sorted(chosen if isinstance(chosen, list) else DEFAULT_FULL_IDENTITY)


def set_identity_exposure(actor: Actor, full_identity_roles: list[str]) -> None:
    """Owners choose which roles see names and contact details in lists."""
    check(actor, Permission.USERS_MANAGE)
    if actor.role not in (Role.CLINIC_OWNER,):
        raise PermissionDenied("only the clinic owner decides this")
    valid = sorted(
        {
            r
            for r in full_identity_roles
            if r in {x.value for x in Role} and not r.startswith("platform")
        }
    )
    with platform_session() as session:
        tenant = session.get(Tenant, actor.require_tenant())
        assert tenant is not None
        tenant.settings = {**tenant.settings, "full_identity_roles": valid}
        session.add(tenant)
        session.commit()
    audit.record(actor, "clinic.identity_exposure_changed", details={"full_identity_roles": valid})
