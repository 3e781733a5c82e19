"""A clinic's service-level targets and its calendar: read, preview, save, recalculate.

Saving changes the due times of the clinic's open cases that still wait for a first reply or a
quote: each is worked out again from when the case was received, in the same transaction as the
new settings, with one batched UPDATE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import Message, MessageThread, Submission, Tenant
from mi_portal.models.messaging import MessageDirection
from mi_portal.services import audit, business_time, clinic_time, clock
from mi_portal.services.actor import Actor
from mi_portal.services.business_time import DAY_NAMES, WEEKDAYS, CalendarProblem
from mi_portal.services.inbox import OPEN_FOR_SLA
from mi_portal.services.permissions import Permission, check, has_permission
from mi_portal.services.text import TextTooLong, clean_text

MIN_HOURS, MAX_HOURS = 1, 720  # a target of one hour to thirty days of business time
MAX_CLOSED_DAYS = 400
MAX_LABEL = 60
LABELS_KEY = "closed_day_labels"  # Tenant.settings: {"2026-12-25": "Christmas Day"}
DEFAULT_SPAN = ("09:00", "17:00")
_BATCH = 1000
_WHOLE = re.compile(r"[0-9]{1,6}")
_DUE_TYPE = Submission.__table__.c.sla_due_at.type  # type: ignore[attr-defined]


class SlaProblem(ValueError):
    """What is wrong with the typed settings, by field (``hours_first``, ``mon``, ``week``…)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class DayHours:
    key: str  # "mon"
    label: str  # "Monday"
    open: bool
    opens: str  # "09:00"
    closes: str


@dataclass(frozen=True)
class ClosedDay:
    day: str  # ISO date
    label: str
    past: bool


@dataclass(frozen=True)
class SlaForm:
    """The page's form as typed: nothing here is trusted until ``parse`` has read it."""

    first_response_hours: str
    quote_turnaround_hours: str
    every_hour: bool
    week: list[DayHours]
    closed_days: list[ClosedDay] = field(default_factory=list)


@dataclass(frozen=True)
class SlaSettings:
    timezone: str
    form: SlaForm
    can_manage: bool


@dataclass(frozen=True)
class Parsed:
    first_response_hours: int
    quote_turnaround_hours: int
    business_hours: dict[str, list[str]]
    closed_days: list[str]
    labels: dict[str, str]


def _read(actor: Actor, session: ScopedSession) -> Tenant:
    tenant = session.get(Tenant, actor.require_tenant())
    assert tenant is not None
    return tenant


def _week(hours: Mapping[str, Any]) -> list[DayHours]:
    days = []
    for key in WEEKDAYS:
        span = hours.get(key)
        opened = isinstance(span, list) and len(span) == 2
        opens, closes = (str(span[0]), str(span[1])) if opened else DEFAULT_SPAN  # type: ignore[index]
        days.append(DayHours(key, DAY_NAMES[key], opened, opens, closes))
    return days


def local_today(tenant: Any) -> date:
    return clock.now().astimezone(business_time.zone(tenant.timezone)).date()


def get_settings(actor: Actor) -> SlaSettings:
    """The clinic's targets and calendar as the form shows them."""
    check(actor, Permission.SETTINGS_VIEW)
    with tenant_session(actor.require_tenant()) as session:
        tenant = _read(actor, session)
        today = local_today(tenant)
        labels = tenant.settings.get(LABELS_KEY) or {}
        hours = tenant.business_hours or {}
        form = SlaForm(
            first_response_hours=str(tenant.first_response_hours),
            quote_turnaround_hours=str(tenant.quote_turnaround_hours),
            every_hour=not hours,
            week=_week(hours),
            closed_days=[
                ClosedDay(d, str(labels.get(d, "")), date.fromisoformat(d) < today)
                for d in sorted(tenant.closed_days or [])
            ],
        )
        return SlaSettings(
            tenant.timezone or "UTC", form, has_permission(actor, Permission.SETTINGS_MANAGE)
        )


def _target(value: object, name: str, errors: dict[str, str]) -> int:
    text = str(value).strip() if isinstance(value, str | int) else ""
    # ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses or reads.
    if not _WHOLE.fullmatch(text) or not MIN_HOURS <= int(text) <= MAX_HOURS:
        errors[name] = f"Enter whole business hours from {MIN_HOURS} to {MAX_HOURS}."
        return 0
    return int(text)


def parse(form: SlaForm) -> Parsed:
    """Check every field; raises ``SlaProblem`` with one message per wrong field."""
    errors: dict[str, str] = {}
    first = _target(form.first_response_hours, "first_response_hours", errors)
    quote = _target(form.quote_turnaround_hours, "quote_turnaround_hours", errors)
    hours: dict[str, list[str]] = {}
    if not form.every_hour:
        for day in form.week:
            if day.key not in DAY_NAMES or not day.open:
                continue
            try:
                span = business_time.parse_hours({day.key: [day.opens, day.closes]})[day.key]
            except CalendarProblem as problem:
                errors[day.key] = problem.message
                continue
            hours[day.key] = [span[0].strftime("%H:%M"), span[1].strftime("%H:%M")]
        if not hours and not any(k in errors for k in WEEKDAYS):
            # No open hour at all would leave every case without a due time.
            errors["week"] = "Open on at least one day, or count every hour of every day."
    if len(form.closed_days) > MAX_CLOSED_DAYS:
        errors["closed_days"] = f"Keep at most {MAX_CLOSED_DAYS} closed days."
    labels: dict[str, str] = {}
    days: list[str] = []
    try:
        days = [
            d.isoformat()
            for d in business_time.parse_closed_days([c.day for c in form.closed_days])
        ]
    except CalendarProblem as problem:
        errors["closed_days"] = problem.message
    for closed in form.closed_days:
        try:
            label = clean_text(closed.label, max_length=MAX_LABEL, trim=True)
        except TextTooLong:
            errors["closed_days"] = f"A closed day's label is at most {MAX_LABEL} characters."
            continue
        if label:
            labels[str(closed.day).strip()] = label
    if errors:
        raise SlaProblem(errors)
    return Parsed(first, quote, hours, days, {d: labels[d] for d in days if d in labels})


def parse_new_day(value: object) -> str:
    """A date typed to add to the closed days ('YYYY-MM-DD')."""
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise SlaProblem({"new_day": "Choose a date, such as 2026-12-25."}) from None


def preview(timezone: str, parsed: Parsed) -> str:
    """'A case received now is due …' for settings not saved yet."""
    calendar = business_time.make_calendar(
        timezone if business_time.is_zone_name(timezone) else "UTC",
        parsed.business_hours,
        parsed.closed_days,
    )
    first, quote = business_time.due_times(
        clock.now(), calendar, parsed.first_response_hours, parsed.quote_turnaround_hours
    )
    if first is None or quote is None:
        return "These hours leave no time to count: nothing would ever be due."
    return (
        "A case received now needs a first reply by "
        f"{clinic_time.minutes_with_zone(first, calendar.zone)} and a quote by "
        f"{clinic_time.minutes_with_zone(quote, calendar.zone)}."
    )


def save(actor: Actor, form: SlaForm) -> int:
    """Save targets and calendar; returns how many open cases' due times were recalculated."""
    check(actor, Permission.SETTINGS_MANAGE)
    parsed = parse(form)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        # Locked: two owners saving at once recalculate one after the other.
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        assert tenant is not None
        old_labels = dict(tenant.settings.get(LABELS_KEY) or {})
        before = {
            "first_response_hours": tenant.first_response_hours,
            "quote_turnaround_hours": tenant.quote_turnaround_hours,
            "business_hours": dict(tenant.business_hours or {}),
            "closed_days": sorted(tenant.closed_days or []),
            "labels": old_labels,
        }
        after = {
            "first_response_hours": parsed.first_response_hours,
            "quote_turnaround_hours": parsed.quote_turnaround_hours,
            "business_hours": parsed.business_hours,
            "closed_days": parsed.closed_days,
            "labels": parsed.labels,
        }
        if before == after:
            return 0
        tenant.first_response_hours = parsed.first_response_hours
        tenant.quote_turnaround_hours = parsed.quote_turnaround_hours
        tenant.business_hours = parsed.business_hours
        tenant.closed_days = parsed.closed_days
        settings = {k: v for k, v in tenant.settings.items() if k != LABELS_KEY}
        tenant.settings = {**settings, LABELS_KEY: parsed.labels} if parsed.labels else settings
        session.add(tenant)
        session.flush()
        recalculated = recalculate_open_cases(session, tenant)
        session.commit()
    _audit(actor, before, after, recalculated)
    return recalculated


def _audit(actor: Actor, before: dict[str, Any], after: dict[str, Any], recalculated: int) -> None:
    targets = ("first_response_hours", "quote_turnaround_hours")
    calendar = ("business_hours", "closed_days", "labels")
    if any(before[k] != after[k] for k in targets):
        audit.record(
            actor,
            "clinic.sla_changed",
            details={
                **{
                    k: {"from": before[k], "to": after[k]} for k in targets if before[k] != after[k]
                },
                "recalculated": recalculated,
            },
        )
    if any(before[k] != after[k] for k in calendar):
        audit.record(
            actor,
            "clinic.hours_changed",
            details={
                **{
                    ("closed_day_labels" if k == "labels" else k): {
                        "from": before[k],
                        "to": after[k],
                    }
                    for k in calendar
                    if before[k] != after[k]
                },
                "recalculated": recalculated,
            },
        )


def prune_past_days(actor: Actor) -> int:
    """Drop closed days before today (the clinic's today); returns how many went.

    Open cases keep their due times: a past day only mattered to cases already counted.
    """
    check(actor, Permission.SETTINGS_MANAGE)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        # Locked like ``save``: a save and a prune at once apply one after the other.
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        assert tenant is not None
        today = local_today(tenant).isoformat()
        before = sorted(tenant.closed_days or [])
        kept = [d for d in before if d >= today]
        if kept == before:
            return 0
        labels = dict(tenant.settings.get(LABELS_KEY) or {})
        tenant.closed_days = kept
        tenant.settings = {
            **tenant.settings,
            LABELS_KEY: {d: labels[d] for d in kept if d in labels},
        }
        session.add(tenant)
        session.commit()
    audit.record(
        actor,
        "clinic.hours_changed",
        details={"closed_days": {"from": before, "to": kept}, "pruned": len(before) - len(kept)},
    )
    return len(before) - len(kept)


def recalculate_open_cases(session: ScopedSession, tenant: Tenant) -> int:
    """Work out again the due times of the clinic's open cases still waiting for a first reply
    or a quote (from each case's received time), in the caller's transaction.

    Reads only the columns needed, computes in Python (the calendar once), and writes the
    changed rows with one executemany UPDATE per batch. Returns the number of cases changed.
    """
    calendar = business_time.calendar_for(tenant)
    connection = session.connection()
    # A case the clinic has written to is answered even if its first_response_at is missing.
    written_to = (
        sa.select(col(Message.id))
        .join(
            MessageThread,
            sa.and_(
                col(MessageThread.tenant_id) == col(Message.tenant_id),
                col(MessageThread.id) == col(Message.thread_id),
            ),
        )
        .where(
            col(MessageThread.tenant_id) == col(Submission.tenant_id),
            col(MessageThread.submission_id) == col(Submission.id),
            col(Message.direction) == MessageDirection.OUTBOUND.value,
        )
        .exists()
    )
    rows = connection.execute(
        sa.select(
            col(Submission.id),
            col(Submission.received_at),
            sa.or_(col(Submission.first_response_at).is_not(None), written_to),
            col(Submission.first_response_due_at),
            col(Submission.quote_sent_at),
            col(Submission.sla_due_at),
        ).where(
            col(Submission.tenant_id) == tenant.id,
            col(Submission.status).in_(OPEN_FOR_SLA),
            sa.or_(
                col(Submission.first_response_at).is_(None),
                col(Submission.quote_sent_at).is_(None),
            ),
        )
    ).all()
    changes: list[dict[str, Any]] = []
    for case_id, received, answered, first_due, quoted, quote_due in rows:
        new_first, new_quote = business_time.due_times(
            received, calendar, tenant.first_response_hours, tenant.quote_turnaround_hours
        )
        new_first = first_due if answered else new_first
        new_quote = quote_due if quoted is not None else new_quote
        if (new_first, new_quote) != (first_due, quote_due):
            changes.append({"b_id": case_id, "b_first": new_first, "b_quote": new_quote})
    statement = (
        sa.update(Submission)
        .where(
            col(Submission.tenant_id) == sa.bindparam("b_tenant", type_=sa.Uuid()),
            col(Submission.id) == sa.bindparam("b_id", type_=sa.Uuid()),
        )
        .values(
            first_response_due_at=sa.bindparam("b_first", type_=_DUE_TYPE),
            sla_due_at=sa.bindparam("b_quote", type_=_DUE_TYPE),
        )
    )
    for start in range(0, len(changes), _BATCH):
        batch = [{**c, "b_tenant": tenant.id} for c in changes[start : start + _BATCH]]
        connection.execute(statement, batch)
    return len(changes)
