"""The platform dashboard: usage per clinic per UTC month (billing) and suppressed trends.

For platform staff outside any clinic (``Permission.PLATFORM_REPORTS``). Every figure is a
grouped SQL aggregate run inside one clinic's own tenant session, read-only and rolled back.

Usage counts what a clinic used of the service, not anything about its patients, so it is exact:
cases received, photos received, bytes stored (the renditions of those photos plus message
attachments with an object of their own, i.e. PDFs: a photo sent with a message is a case
photo already counted), deliveries sent by email and by SMS (outbox rows whose ``sent_at`` falls
in the month, whatever they were for), and active staff (distinct users acting in a clinic role
in the clinic's audit chain that month; platform staff switched in are not the clinic's staff).

Clinics counted: every clinic that still holds rows (active, suspended and off-boarding). A
closed clinic was purged: nothing is left to count, so it is not visited. A clinic-month with no
usage at all is left out of the table.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    CLINIC_ROLES,
    AuditEvent,
    ImageRendition,
    MessageAttachment,
    MessageChannel,
    OutboxMessage,
    Submission,
    SubmissionImage,
    Tenant,
    TenantStatus,
)
from mi_portal.services import audit, platform_trends
from mi_portal.services.actor import Actor
from mi_portal.services.permissions import Permission, check
from mi_portal.services.platform_trends import Month, month_of
from mi_portal.services.report_types import Chart, PlatformReport, Series

MAX_MONTHS = 24
DEFAULT_MONTHS = 6
# The stacked bars name this many clinics (most cases first); the rest are one "Other clinics".
CHART_CLINICS = 12
USAGE_COLUMNS = [
    "Month",
    "Clinic",
    "Cases",
    "Photos",
    "Bytes stored",
    "Emails sent",
    "SMS sent",
    "Active staff",
]
COUNTED_STATUSES = (
    TenantStatus.ACTIVE.value,
    TenantStatus.SUSPENDED.value,
    TenantStatus.OFFBOARDING.value,
)


class MonthsInvalid(ValueError):
    """A month range from the URL that cannot be shown; ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _shift(label: str, months: int) -> str:
    year, month = int(label[:4]), int(label[5:7])
    index = year * 12 + (month - 1) + months
    return _label(index // 12, index % 12 + 1)


def _span(month_from: str, month_to: str) -> int:
    return (
        (int(month_to[:4]) - int(month_from[:4])) * 12
        + int(month_to[5:7])
        - int(month_from[5:7])
        + 1
    )


def default_months(today: date) -> tuple[str, str]:
    """The last six UTC months, the current one included."""
    current = _label(today.year, today.month)
    return _shift(current, -(DEFAULT_MONTHS - 1)), current


def _parse_one(raw: str, name: str, field: str) -> str:
    text = raw.strip()
    try:
        parsed = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise MonthsInvalid(field, f"Enter the {name} month as YYYY-MM, e.g. 2026-03.") from None
    if len(text) != 7 or parsed.year < 2000:
        raise MonthsInvalid(field, f"Enter the {name} month as YYYY-MM, e.g. 2026-03.")
    return _label(parsed.year, parsed.month)


def parse_months(params: Mapping[str, str], today: date) -> tuple[str, str]:
    """The months of URL params ``from`` and ``to`` (YYYY-MM; defaults for missing ones)."""
    default_from, default_to = default_months(today)
    raw_from, raw_to = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    month_to = _parse_one(raw_to, "last", "to") if raw_to else default_to
    if raw_from:
        month_from = _parse_one(raw_from, "first", "from")
    else:
        month_from = _shift(month_to, -(DEFAULT_MONTHS - 1)) if raw_to else default_from
    if month_to > default_to:
        raise MonthsInvalid("to", "The range cannot end after the current month.")
    if month_from > month_to:
        raise MonthsInvalid("from", "The first month must not be after the last month.")
    if _span(month_from, month_to) > MAX_MONTHS:
        raise MonthsInvalid("from", f"Choose at most {MAX_MONTHS} months.")
    return month_from, month_to


def months_between(month_from: str, month_to: str) -> list[Month]:
    """Each UTC month from ``month_from`` to ``month_to`` inclusive, with its instants."""
    found = []
    for k in range(_span(month_from, month_to)):
        label, following = _shift(month_from, k), _shift(month_from, k + 1)
        found.append(
            Month(
                label,
                datetime(int(label[:4]), int(label[5:7]), 1, tzinfo=UTC),
                datetime(int(following[:4]), int(following[5:7]), 1, tzinfo=UTC),
            )
        )
    return found


@dataclass
class Usage:
    """One clinic's usage in one month."""

    cases: int = 0
    photos: int = 0
    bytes_stored: int = 0
    emails: int = 0
    sms: int = 0
    staff: int = 0

    def figures(self) -> list[int]:
        return [self.cases, self.photos, self.bytes_stored, self.emails, self.sms, self.staff]


@dataclass
class _Clinic:
    id: uuid.UUID
    name: str
    jurisdiction: str
    usage: dict[str, Usage] = field(default_factory=lambda: defaultdict(Usage))


def _clinics() -> list[_Clinic]:
    with platform_session() as session:
        rows = session.exec(
            select(Tenant.id, Tenant.name, Tenant.jurisdiction)
            .where(col(Tenant.status).in_(COUNTED_STATUSES))
            .order_by(col(Tenant.name), col(Tenant.id))
        ).all()
    return [_Clinic(tid, name, code) for tid, name, code in rows]


def _within(column: Any, months: Sequence[Month]) -> Any:
    return sa.and_(column >= months[0].start, column < months[-1].end)


def _usage(session: Any, clinic: _Clinic, months: Sequence[Month]) -> None:
    """The clinic's usage per month: a few grouped statements in its own session."""
    received = col(Submission.received_at)
    month = month_of(received, months).label("month")
    for label, cases in session.execute(
        select(month, sa.func.count()).where(_within(received, months)).group_by(month)
    ):
        clinic.usage[label].cases = int(cases)
    added = col(SubmissionImage.created_at)
    month = month_of(added, months).label("month")
    photos = session.execute(
        select(
            month,
            sa.func.count(sa.distinct(col(SubmissionImage.id))),
            sa.func.coalesce(sa.func.sum(col(ImageRendition.byte_size)), 0),
        )
        .select_from(SubmissionImage)
        .join(
            ImageRendition,
            sa.and_(
                col(ImageRendition.tenant_id) == col(SubmissionImage.tenant_id),
                col(ImageRendition.image_id) == col(SubmissionImage.id),
            ),
            isouter=True,
        )
        .where(_within(added, months))
        .group_by(month)
    )
    for label, count, size in photos:
        clinic.usage[label].photos = int(count)
        clinic.usage[label].bytes_stored += int(size)
    attached = col(MessageAttachment.created_at)
    month = month_of(attached, months).label("month")
    for label, size in session.execute(
        select(month, sa.func.coalesce(sa.func.sum(col(MessageAttachment.byte_size)), 0))
        .where(_within(attached, months), col(MessageAttachment.image_id).is_(None))
        .group_by(month)
    ):
        clinic.usage[label].bytes_stored += int(size)
    sent = col(OutboxMessage.sent_at)
    month = month_of(sent, months).label("month")
    channel = col(OutboxMessage.channel)
    for label, via, count in session.execute(
        select(month, channel, sa.func.count())
        .where(_within(sent, months))
        .group_by(month, channel)
    ):
        if via == MessageChannel.EMAIL.value:
            clinic.usage[label].emails += int(count)
        elif via == MessageChannel.SMS.value:
            clinic.usage[label].sms += int(count)
    occurred = col(AuditEvent.occurred_at)
    month = month_of(occurred, months).label("month")
    for label, staff in session.execute(
        select(month, sa.func.count(sa.distinct(col(AuditEvent.user_id))))
        .where(
            col(AuditEvent.chain) == str(clinic.id),
            col(AuditEvent.user_id).is_not(None),
            col(AuditEvent.role).in_(sorted(r.value for r in CLINIC_ROLES)),
            _within(occurred, months),
        )
        .group_by(month)
    ):
        clinic.usage[label].staff = int(staff)


def platform_report(actor: Actor, month_from: str, month_to: str) -> PlatformReport:
    """Usage per clinic per month and the suppressed trends, for ``month_from``..``month_to``."""
    check(actor, Permission.PLATFORM_REPORTS)
    month_from, month_to = parse_months({"from": month_from, "to": month_to}, date(9999, 1, 1))
    months = months_between(month_from, month_to)
    trends = platform_trends.allowed_trends()
    clinics = _clinics()
    total: platform_trends.Counts = defaultdict(dict)
    for clinic in clinics:
        with tenant_session(clinic.id, read_only=True) as session:
            try:
                _usage(session, clinic, months)
                counts = platform_trends.clinic_counts(session, months, trends)
            finally:
                session.rollback()
        platform_trends.add_counts(total, counts, clinic.jurisdiction)
    return PlatformReport(
        month_from=month_from,
        month_to=month_to,
        usage=_usage_chart(clinics, months),
        trends=platform_trends.charts(total, months, trends, [c.jurisdiction for c in clinics]),
    )


def _usage_chart(clinics: Sequence[_Clinic], months: Sequence[Month]) -> Chart:
    rows: list[list[str]] = []
    for m in months:
        for clinic in clinics:
            usage = clinic.usage.get(m.label)
            if usage is not None and any(usage.figures()):
                rows.append([m.label, clinic.name, *(str(v) for v in usage.figures())])
    ranked = sorted(
        clinics, key=lambda c: (-sum(u.cases for u in c.usage.values()), c.name, str(c.id))
    )
    named = [c for c in ranked[:CHART_CLINICS] if any(u.cases for u in c.usage.values())]
    rest = [c for c in ranked if c not in named]

    def cases(group: Sequence[_Clinic], label: str) -> float:
        return float(sum(c.usage[label].cases for c in group if label in c.usage))

    series = [Series(c.name, [cases([c], m.label) for m in months]) for c in named]
    if any(u.cases for c in rest for u in c.usage.values()):
        series.append(Series("Other clinics", [cases(rest, m.label) for m in months]))
    return Chart(
        key="usage",
        title="Cases received per clinic",
        kind="stacked_bar",
        x=[platform_trends.caption(m.label) for m in months],
        series=series,
        columns=list(USAGE_COLUMNS),
        rows=rows,
        caption="Usage per clinic per calendar month (UTC), exact: for billing. Bytes stored "
        "counts the photos received that month (every size kept) and the files attached to "
        "messages; emails and SMS count deliveries sent.",
        x_title="Month (UTC)",
        y_title="Cases",
    )


def record_view(actor: Actor, month_from: str, month_to: str) -> None:
    """One platform-chain audit event per view of the dashboard (not one per chart)."""
    check(actor, Permission.PLATFORM_REPORTS)
    audit.record(
        actor,
        "reports.platform_viewed",
        platform=True,
        target_type="platform_report",
        details={"from": month_from, "to": month_to},
    )
