"""Retention rules: the categories a clinic sets periods for, their defaults, and the clock.

A case's data ages from the case's **last activity** (``activity_clock``, the one place that
rule is written): its status changes, messages, quote events and notes. Each category of the
case's data is due ``retain_days`` after that; what the sweep then does is the category's action
(``delete`` or ``deidentify``, see services/retention.py and the README).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.db import ScopedSession, in_batches, tenant_session
from mi_portal.models import (
    AuditEvent,
    CaseNote,
    DataCategory,
    Message,
    MessageThread,
    Quote,
    RetentionAction,
    RetentionPolicy,
    Submission,
    User,
)
from mi_portal.services import audit, clock
from mi_portal.services.actor import Actor
from mi_portal.services.cases import case_in_clinic
from mi_portal.services.legal_holds import held_case_ids
from mi_portal.services.permissions import Permission, check

MIN_DAYS = 1
MAX_DAYS = 36_500  # a hundred years


@dataclass(frozen=True)
class CategoryInfo:
    category: str
    label: str
    holds: str  # what this category is, in a clinic's words
    default_days: int
    default_action: str
    actions: tuple[str, ...]  # the actions that make sense for it


D, A = DataCategory, RetentionAction
# In the order the settings page lists them. Photos and device data have nothing left to keep
# for aggregate figures: they are deleted whatever the choice.
CATEGORIES: tuple[CategoryInfo, ...] = (
    CategoryInfo(D.HEALTH_IMAGE, "Photos", "photos, their renditions and attachments", 730,
                 A.DELETE, (A.DELETE,)),
    CategoryInfo(D.SPECIAL_CATEGORY, "Health details",
                 "answers, concern area, notes, messages, markers", 1095, A.DEIDENTIFY,
                 (A.DELETE, A.DEIDENTIFY)),
    CategoryInfo(D.IDENTITY, "Identity", "patient names, dates of birth, signatures", 1095,
                 A.DEIDENTIFY, (A.DELETE, A.DEIDENTIFY)),
    CategoryInfo(D.CONTACT, "Contact", "email addresses, phone numbers, consents", 1095,
                 A.DEIDENTIFY, (A.DELETE, A.DEIDENTIFY)),
    CategoryInfo(D.COMMERCIAL, "Quotes", "quotes, their lines and amounts", 2555, A.DEIDENTIFY,
                 (A.DELETE, A.DEIDENTIFY)),
    CategoryInfo(D.DEVICE_NETWORK, "Device and network", "IP addresses, browser details", 90,
                 A.DELETE, (A.DELETE,)),
    CategoryInfo(D.USER_CONTENT, "Patient-written text", "reasons and replies patients typed",
                 1095, A.DELETE, (A.DELETE, A.DEIDENTIFY)),
    CategoryInfo(D.INFERENCE, "Inferences", "conclusions drawn about a patient", 365, A.DELETE,
                 (A.DELETE, A.DEIDENTIFY)),
)  # fmt: skip
BY_CATEGORY: dict[str, CategoryInfo] = {c.category: c for c in CATEGORIES}
ACTION_LABELS = {A.DELETE.value: "Delete", A.DEIDENTIFY.value: "De-identify"}


class RetentionProblem(ValueError):
    """A retention setting that cannot be saved; ``field`` names the category."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Policy:
    category: str
    days: int
    action: str
    is_default: bool = True

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.days)


Policies = dict[str, Policy]


def default_policies() -> Policies:
    return {c.category: Policy(c.category, c.default_days, c.default_action) for c in CATEGORIES}


def load_policies(session: ScopedSession) -> Policies:
    """The clinic in scope's policies: its own rows over the defaults."""
    policies = default_policies()
    for row in session.exec(select(RetentionPolicy)):
        if row.category in BY_CATEGORY:
            policies[row.category] = Policy(row.category, row.retain_days, row.action, False)
    return policies


def parse_days(category: str, value: object) -> int:
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or not MIN_DAYS <= int(text) <= MAX_DAYS:
        raise RetentionProblem(
            category, f"The period must be a whole number of days from {MIN_DAYS} to {MAX_DAYS}."
        )
    return int(text)


def validate(changes: Mapping[str, tuple[object, object]], current: Policies) -> Policies:
    """The policies after ``changes`` (category → (days, action)), or ``RetentionProblem``."""
    result = dict(current)
    for category, (days, action) in changes.items():
        info = BY_CATEGORY.get(str(category))
        if info is None:
            raise RetentionProblem(str(category), "Unknown data category.")
        chosen = str(action or "").strip()
        if chosen not in info.actions:
            raise RetentionProblem(category, f"{info.label}: choose {_choices(info)}.")
        result[category] = Policy(category, parse_days(category, days), chosen, False)
    photos, health = result[D.HEALTH_IMAGE], result[D.SPECIAL_CATEGORY]
    if photos.days > health.days:
        # A photo belongs to the case's messages and answers: it cannot outlive them.
        raise RetentionProblem(
            D.HEALTH_IMAGE,
            "Photos cannot be kept longer than the health details they belong to "
            f"({health.days} days).",
        )
    return result


def _choices(info: CategoryInfo) -> str:
    return " or ".join(ACTION_LABELS[a].lower() for a in info.actions)


def get_policies(actor: Actor) -> Policies:
    check(actor, Permission.RETENTION_VIEW)
    with tenant_session(actor.require_tenant()) as session:
        return load_policies(session)


def save_policies(actor: Actor, changes: Mapping[str, tuple[object, object]]) -> Policies:
    """Apply ``changes``; audited with old and new values. Unchanged categories write nothing."""
    check(actor, Permission.RETENTION_MANAGE)
    return apply_policies(actor, actor.require_tenant(), changes)


def apply_policies(
    actor: Actor, tenant_id: uuid.UUID, changes: Mapping[str, tuple[object, object]]
) -> Policies:
    """``save_policies`` without the permission check: for the operator's command line
    (``mi-portal retention set``), which acts as the system and is audited as such."""
    with tenant_session(tenant_id) as session:
        current = load_policies(session)
        new = validate(changes, current)
        changed = {c: p for c, p in new.items() if (p.days, p.action) != _pair(current[c])}
        if not changed:
            return current
        rows = {r.category: r for r in session.exec(select(RetentionPolicy))}
        now = clock.now()
        for category, policy in changed.items():
            row = rows.get(category) or RetentionPolicy(category=category, retain_days=0)
            row.retain_days, row.action = policy.days, policy.action
            row.updated_by_id, row.updated_at = actor.user_id, now
            session.add(row)
        session.commit()
    audit.record(
        actor,
        "retention.policy_change",
        tenant_id=tenant_id,
        target_type="retention",
        details={
            "old": {c: _as_detail(current[c]) for c in changed},
            "new": {c: _as_detail(p) for c, p in changed.items()},
        },
    )
    return new


def _pair(policy: Policy) -> tuple[int, str]:
    return policy.days, policy.action


def _as_detail(policy: Policy) -> dict[str, Any]:
    return {"days": policy.days, "action": policy.action, "default": policy.is_default}


# ---- the clock ----------------------------------------------------------------------------


def activity_clock(
    session: ScopedSession, case_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each case last had activity: the latest of its status changes (kept on the case as
    ``last_activity_at``, with its arrival), messages, notes and quote events.

    Computed from the events themselves as well, so that a path that forgot to touch the case
    cannot make data look older than it is. One statement for a page of cases: each kind's
    latest moments, grouped per case, in one ``UNION ALL`` (every member scoped to the clinic).
    """
    latest: dict[uuid.UUID, datetime] = {}
    for chunk in in_batches(list(case_ids)):
        message_latest = (
            select(MessageThread.submission_id, sa.func.max(Message.created_at))
            .join(
                Message,
                sa.and_(
                    col(Message.tenant_id) == col(MessageThread.tenant_id),
                    col(Message.thread_id) == col(MessageThread.id),
                ),
            )
            .where(col(MessageThread.submission_id).in_(chunk))
            .group_by(col(MessageThread.submission_id))
        )
        members = [
            select(Submission.id, Submission.received_at).where(col(Submission.id).in_(chunk)),
            select(Submission.id, Submission.last_activity_at).where(col(Submission.id).in_(chunk)),
            message_latest,
            select(CaseNote.submission_id, sa.func.max(CaseNote.created_at))
            .where(col(CaseNote.submission_id).in_(chunk))
            .group_by(col(CaseNote.submission_id)),
            *(
                select(Quote.submission_id, sa.func.max(moment))
                .where(col(Quote.submission_id).in_(chunk))
                .group_by(col(Quote.submission_id))
                for moment in (
                    Quote.created_at,
                    Quote.updated_at,
                    Quote.sent_at,
                    Quote.viewed_at,
                    Quote.closed_at,
                )
            ),
        ]
        for case_id, moment in session.exec(sa.union_all(*members)):  # type: ignore[call-overload]
            if moment is not None and (case_id not in latest or moment > latest[case_id]):
                latest[case_id] = moment
    return latest


def still_cleared(
    cleared: Collection[str] | None, cleared_at: datetime | None, last_activity: datetime
) -> set[str]:
    """The categories a case has had cleared, unless it has had activity since: data that
    arrived after a clearing (a new photo, message, quote) is due again in its own time."""
    if not cleared or cleared_at is None or last_activity > cleared_at:
        return set()
    return set(cleared)


def due_at(last_activity: datetime, policy: Policy) -> datetime:
    """When a category of a case whose last activity was ``last_activity`` is due."""
    return last_activity + policy.period


def due_categories(
    last_activity: datetime, policies: Policies, now: datetime, cleared: Collection[str] = ()
) -> list[str]:
    """The categories of a case that are due at ``now`` and not cleared yet, in page order."""
    return [
        info.category
        for info in CATEGORIES
        if info.category not in cleared and due_at(last_activity, policies[info.category]) <= now
    ]


def due_date(last_activity: datetime, policy: Policy) -> date:
    return due_at(last_activity, policy).date()


# ---- what the pages show ------------------------------------------------------------------

_DONE = {A.DELETE.value: "deleted", A.DEIDENTIFY.value: "de-identified"}


@dataclass(frozen=True)
class PolicyChange:
    """One saved change of the clinic's settings, in words."""

    at: str
    who: str
    lines: list[str]  # "Photos: 730 days, delete (default) → 365 days, delete"


def _policy_words(value: object) -> str:
    if not isinstance(value, dict):
        return "—"
    days, action = value.get("days"), str(value.get("action", ""))
    words = f"{days} days, {ACTION_LABELS.get(action, action).lower()}"
    return words + (" (default)" if value.get("default") else "")


def policy_history(actor: Actor, limit: int = 20) -> list[PolicyChange]:
    """The clinic's latest retention changes, newest first, from its audit chain."""
    check(actor, Permission.RETENTION_VIEW)
    tenant_id = actor.require_tenant()
    limit = max(1, min(100, int(limit)))
    with tenant_session(tenant_id) as session:
        rows = session.exec(
            select(AuditEvent, User.full_name, User.email)
            .join(User, col(User.id) == col(AuditEvent.user_id), isouter=True)
            .where(
                AuditEvent.chain == audit.chain_for(tenant_id),
                AuditEvent.action == "retention.policy_change",
            )
            .order_by(col(AuditEvent.seq).desc())
            .limit(limit)
        ).all()
    changes: list[PolicyChange] = []
    for event, name, email in rows:
        details = event.details or {}
        old, new = details.get("old") or {}, details.get("new") or {}
        lines = [
            f"{info.label}: {_policy_words(old.get(info.category))} → "
            f"{_policy_words(new.get(info.category))}"
            for info in CATEGORIES
            if info.category in new
        ]
        changes.append(
            PolicyChange(
                at=event.occurred_at.strftime("%Y-%m-%d %H:%M UTC"),
                who=name or email or "—",
                lines=lines or ["(details erased)"],
            )
        )
    return changes


@dataclass(frozen=True)
class CategoryDue:
    category: str
    label: str
    text: str  # "Photos deleted on 2027-03-01", "Photos: cleared"
    cleared: bool


@dataclass(frozen=True)
class CaseDueDates:
    deidentified: bool
    deidentified_on: str  # "2027-03-01" or ""
    categories: list[CategoryDue]
    held: bool = False  # under a legal hold now: nothing is due while it lasts


def case_due_dates(
    actor: Actor, case_id: object, *, lent: ScopedSession | None = None, held: bool | None = None
) -> CaseDueDates:
    """When each category of one case of the actor's clinic is due, by the clinic's settings.
    (``lent``: see ``tenant_session``; ``held``: whether a legal hold is in force on the case or
    its patient, when the caller has just read its holds in the same transaction.)"""
    check(actor, Permission.CASES_VIEW)
    with tenant_session(actor.require_tenant(), lent=lent) as session:
        case = case_in_clinic(session, actor, case_id)
        policies = load_policies(session)
        last = activity_clock(session, [case.id]).get(case.id, case.last_activity_at)
        cleared = still_cleared(case.retention_cleared, case.retention_cleared_at, last)
        deidentified_at = case.deidentified_at
        if held is None:
            held = case.id in held_case_ids(session, [case.id], clock.now())
    lines = []
    for info in CATEGORIES:
        policy = policies[info.category]
        if info.category in cleared or deidentified_at is not None:
            lines.append(CategoryDue(info.category, info.label, f"{info.label}: cleared", True))
            continue
        when = due_date(last, policy).isoformat()
        text = f"{info.label} {_DONE.get(policy.action, policy.action)} on {when}"
        lines.append(CategoryDue(info.category, info.label, text, False))
    return CaseDueDates(
        deidentified=deidentified_at is not None,
        deidentified_on=deidentified_at.date().isoformat() if deidentified_at else "",
        categories=lines,
        held=held,
    )
