"""How long platform staff have been switched into a clinic today, and the daily cap on it.

Computed from the clinic's own audit chain, not from session rows: a session row holds only the
current switch (each renewal overwrites it, sign-out revokes it), while the chain keeps every
``tenant.switch_in`` with its expiry and every ``switch_out`` / ``switch_expired``, cannot be
edited unnoticed, and is what the clinic already reads. A switch that ended without an event
(sign-out, idle timeout) counts until its expiry: the figure errs towards more time, never less.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, User
from mi_portal.services.actor import Actor
from mi_portal.services.auth import SWITCH_LIFETIME
from mi_portal.services.permissions import Permission, check

# Switched-in time one person may spend in one clinic per UTC day, renewals included.
DAILY_SWITCH_CAP = timedelta(hours=4)
SWITCH_IN = "tenant.switch_in"
_ENDS = frozenset({"tenant.switch_out", "tenant.switch_expired"})


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC day containing ``now``: [midnight, next midnight)."""
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _deadline(event: AuditEvent) -> datetime:
    raw = (event.details or {}).get("expires_at")
    try:
        return datetime.fromisoformat(str(raw)).astimezone(UTC) if raw else _default(event)
    except ValueError:
        return _default(event)


def _default(event: AuditEvent) -> datetime:
    return event.occurred_at + SWITCH_LIFETIME


def _spans(
    events: list[AuditEvent], now: datetime
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    """Each person's switched-in spans: a switch ends at the next event of theirs or its expiry."""
    spans: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    open_: dict[uuid.UUID, tuple[datetime, datetime]] = {}
    for event in events:
        if event.user_id is None:
            continue
        if event.user_id in open_:
            start, deadline = open_.pop(event.user_id)
            spans[event.user_id].append((start, min(event.occurred_at, deadline)))
        if event.action == SWITCH_IN:
            open_[event.user_id] = (event.occurred_at, _deadline(event))
    for user_id, (start, deadline) in open_.items():
        spans[user_id].append((start, min(now, deadline)))
    return spans


def switched_in_today(
    *, tenant_id: uuid.UUID, now: datetime, user_id: uuid.UUID | None = None
) -> dict[uuid.UUID, timedelta]:
    """Time each platform person (or just ``user_id``) spent in the clinic on ``now``'s UTC day."""
    day_start, day_end = day_bounds(now)
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.chain == str(tenant_id),
            col(AuditEvent.action).in_([SWITCH_IN, *_ENDS]),
            AuditEvent.outcome == "ok",
            # A switch begun before midnight may still run into today.
            AuditEvent.occurred_at >= day_start - SWITCH_LIFETIME,
        )
        .order_by(col(AuditEvent.seq))
    )
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    with tenant_session(tenant_id) as session:
        events = list(session.exec(query))
    totals: dict[uuid.UUID, timedelta] = {}
    for person, spans in _spans(events, now).items():
        total = timedelta()
        for start, end in spans:
            start, end = max(start, day_start), min(end, day_end)
            if end > start:
                total += end - start
        totals[person] = total
    return totals


def describe(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True)
class PlatformAccess:
    user: str
    minutes: int
    label: str


def access_today(actor: Actor) -> list[PlatformAccess]:
    """For the clinic's audit view: each platform person's switched-in time today."""
    from mi_portal.services import clock

    check(actor, Permission.AUDIT_VIEW)
    if actor.tenant_id is None:
        return []
    totals = switched_in_today(tenant_id=actor.tenant_id, now=clock.now())
    if not totals:
        return []
    with tenant_session(actor.tenant_id) as session:
        emails = dict(
            session.exec(select(User.id, User.email).where(col(User.id).in_(list(totals)))).all()
        )
    cap = describe(DAILY_SWITCH_CAP)
    return sorted(
        (
            PlatformAccess(
                user=emails.get(uid, "—"),
                minutes=int(span.total_seconds() // 60),
                label=f"{describe(span)} of {cap}",
            )
            for uid, span in totals.items()
        ),
        key=lambda a: (-a.minutes, a.user),
    )
