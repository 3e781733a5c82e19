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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
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
from mi_portal.services import audit, clock, platform_trend_tables, platform_trends
from mi_portal.services.actor import Actor
from mi_portal.services.permissions import Permission, check
from mi_portal.services.platform_months import (
    MAX_MONTHS,
    Month,
    MonthsInvalid,
    caption,
    default_months,
    month_of,
    months_between,
    parse_months,
    within,
)
from mi_portal.services.report_types import Chart, PlatformReport, Series

__all__ = [
    "MAX_MONTHS",
    "MonthsInvalid",
    "default_months",
    "parse_months",
    "platform_report",
    "record_view",
]

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
    usage: dict[str, Usage] = field(default_factory=lambda: defaultdict(Usage))


def _clinics() -> list[_Clinic]:
    with platform_session() as session:
        rows = session.exec(
            select(Tenant.id, Tenant.name)
            .where(col(Tenant.status).in_(COUNTED_STATUSES))
            .order_by(col(Tenant.name), col(Tenant.id))
        ).all()
    return [_Clinic(tid, name) for tid, name in rows]


UsageStep = tuple[Any, Callable[[dict[str, Usage], tuple[Any, ...]], None]]


def _usage_plan(months: Sequence[Month]) -> list[UsageStep]:
    """The usage statements, built once per report and run in each clinic's session (the
    tenant's criteria are added there; the audit chain is the bound ``chain``)."""
    received = col(Submission.received_at)
    cases_month = month_of(received, months).label("month")
    added = col(SubmissionImage.created_at)
    photos_month = month_of(added, months).label("month")
    attached = col(MessageAttachment.created_at)
    attached_month = month_of(attached, months).label("month")
    sent = col(OutboxMessage.sent_at)
    sent_month = month_of(sent, months).label("month")
    channel = col(OutboxMessage.channel)
    occurred = col(AuditEvent.occurred_at)
    acted_month = month_of(occurred, months).label("month")

    def cases(usage: dict[str, Usage], row: tuple[Any, ...]) -> None:
        usage[row[0]].cases = int(row[1])

    def photos(usage: dict[str, Usage], row: tuple[Any, ...]) -> None:
        usage[row[0]].photos = int(row[1])
        usage[row[0]].bytes_stored += int(row[2])

    def files(usage: dict[str, Usage], row: tuple[Any, ...]) -> None:
        usage[row[0]].bytes_stored += int(row[1])

    def deliveries(usage: dict[str, Usage], row: tuple[Any, ...]) -> None:
        if row[1] == MessageChannel.EMAIL.value:
            usage[row[0]].emails += int(row[2])
        elif row[1] == MessageChannel.SMS.value:
            usage[row[0]].sms += int(row[2])

    def staff(usage: dict[str, Usage], row: tuple[Any, ...]) -> None:
        usage[row[0]].staff = int(row[1])

    return [
        (
            select(cases_month, sa.func.count())
            .where(within(received, months))
            .group_by(cases_month),
            cases,
        ),
        (
            # A photo with every rendition kept of it.
            select(
                photos_month,
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
            .where(within(added, months))
            .group_by(photos_month),
            photos,
        ),
        (
            # Attached files with an object of their own (a case photo is counted above).
            select(
                attached_month,
                sa.func.coalesce(sa.func.sum(col(MessageAttachment.byte_size)), 0),
            )
            .where(within(attached, months), col(MessageAttachment.image_id).is_(None))
            .group_by(attached_month),
            files,
        ),
        (
            select(sent_month, channel, sa.func.count())
            .where(within(sent, months))
            .group_by(sent_month, channel),
            deliveries,
        ),
        (
            # The audit log is not tenant-scoped by the ORM: its chain is named (and on
            # PostgreSQL row-level security opens only the clinic's own rows anyway).
            select(acted_month, sa.func.count(sa.distinct(col(AuditEvent.user_id))))
            .where(
                col(AuditEvent.chain) == sa.bindparam("chain", type_=sa.String()),
                col(AuditEvent.user_id).is_not(None),
                col(AuditEvent.role).in_(sorted(r.value for r in CLINIC_ROLES)),
                within(occurred, months),
            )
            .group_by(acted_month),
            staff,
        ),
    ]


def _usage(session: Any, clinic: _Clinic, steps: Sequence[UsageStep]) -> None:
    """The clinic's usage per month: a few grouped statements in its own session."""
    for statement, handle in steps:
        for row in session.execute(statement, {"chain": str(clinic.id)}).all():
            handle(clinic.usage, tuple(row))


def platform_report(actor: Actor, month_from: str, month_to: str) -> PlatformReport:
    """Usage per clinic per month and the suppressed trends, for ``month_from``..``month_to``.

    The months go through the page's own check (``parse_months`` against today, UTC): a range
    ending after the current month raises ``MonthsInvalid``.
    """
    check(actor, Permission.PLATFORM_REPORTS)
    month_from, month_to = parse_months(
        {"from": month_from, "to": month_to}, clock.now().astimezone(UTC).date()
    )
    months = months_between(month_from, month_to)
    trends = platform_trends.allowed_trends()
    steps = platform_trends.plan(months, trends)
    usage_steps = _usage_plan(months)
    clinics = _clinics()
    total: platform_trends.Counts = defaultdict(dict)
    for clinic in clinics:
        with tenant_session(clinic.id, read_only=True) as session:
            try:
                _usage(session, clinic, usage_steps)
                counts = platform_trends.clinic_counts(session, steps)
            finally:
                session.rollback()
        platform_trends.add_counts(total, counts)
    return PlatformReport(
        month_from=month_from,
        month_to=month_to,
        usage=_usage_chart(clinics, months),
        trends=platform_trend_tables.charts(total, months, trends),
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
        x=[caption(m.label) for m in months],
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
