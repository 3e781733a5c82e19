"""The clinic's dashboard: cases received, by concern area and source, the funnel to accepted,
quoted and accepted value, and (``services.report_timing``) reply and quote times, workload,
messages and deliveries.

Case figures follow the *cohort* of cases received in the asked clinic-local days, filtered by
concern area and source. ``clinic_summary`` gives the home page's few headline figures from the
statements those need alone. Every figure is one aggregate statement the database runs in the
clinic's own tenant session: on PostgreSQL row-level security holds it to the clinic, and
each statement pins every table it reads to the clinic itself (``:tenant``), so each one stands
on its own. Statements are built once per shape (``report_sql.Shape``) and run with the view's
values. Python only fills in the buckets that had nothing and formats what came back.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import Quote, QuoteStatus, Submission, Tenant
from mi_portal.services import audit, business_time, clinic_time, clock, report_sql, report_timing
from mi_portal.services.actor import Actor
from mi_portal.services.intake_questions import CONCERN_AREAS
from mi_portal.services.permissions import Permission, check
from mi_portal.services.quote_math import format_money
from mi_portal.services.report_types import (
    GRAINS,
    SOURCES,
    Chart,
    ClinicReport,
    ReportQuery,
    Series,
    Stat,
)

DEFAULT_DAYS = 90
DEFAULT_GRAIN = "week"
MAX_DAYS = 3 * 365 + 1  # "at most 3 years", a leap day included
MAX_DAILY_DAYS = 400
EMPTY = "—"

SOURCE_LABELS = {"clinic_page": "Clinic page", "directory": "Multi-clinic form"}
GRAIN_WORDS = {"day": "day", "week": "week", "month": "month"}
# Quotes that went to the patient and were not replaced or taken back: their value was offered.
# A case's quoted value is its latest such version (a declined or expired one the clinic sent
# again counts once, as the later version); its accepted value the version accepted.
QUOTED_STATUSES = (
    QuoteStatus.SENT.value,
    QuoteStatus.VIEWED.value,
    QuoteStatus.ACCEPTED.value,
    QuoteStatus.DECLINED.value,
    QuoteStatus.EXPIRED.value,
)
# The order the page shows them in; report_timing computes the keys this module does not.
CHART_ORDER = (
    "received",
    "by_area",
    "by_source",
    "funnel",
    "first_response",
    "first_quote",
    "value",
    "workload",
    "messages",
    "delivery_failures",
)
STAT_ORDER = (
    "received",
    "conversion",
    "first_reply_on_time",
    "first_reply_median",
    "quote_on_time",
    "accepted_value",
    "open_now",
)
# The home page's figures (``clinic_summary``), in its order.
SUMMARY_KEYS = ("received", "conversion", "first_reply_on_time", "accepted_value")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReportQueryInvalid(ValueError):
    """A dashboard query that cannot be shown; ``field`` is the address's key it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------
# The query


def default_query(today: date) -> ReportQuery:
    """The last 90 days up to ``today`` (the clinic's date), by week, every area and source."""
    start = today - timedelta(days=DEFAULT_DAYS - 1)
    return ReportQuery(date_from=start.isoformat(), date_to=today.isoformat(), grain=DEFAULT_GRAIN)


def _day(value: str, field: str, what: str) -> date:
    if not _ISO_DAY.fullmatch(value):
        raise ReportQueryInvalid(field, f"Give the {what} date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReportQueryInvalid(field, f"The {what} date is not a day of the calendar.") from None


def parse_query(params: Mapping[str, str], today: date) -> ReportQuery:
    """The query of the dashboard's address (``from``, ``to``, ``grain``, ``area``, ``source``).

    Values are trimmed and lower-cased; a missing one takes its default (a lone ``from`` runs
    to today, a lone ``to`` starts 90 days before it). Raises ``ReportQueryInvalid``.
    """

    def value(key: str) -> str:
        raw = params.get(key, "")
        return raw.strip().lower() if isinstance(raw, str) else ""

    default = default_query(today)
    given_from, given_to = value("from"), value("to")
    date_to = _day(given_to, "to", "end") if given_to else today
    if given_from:
        date_from = _day(given_from, "from", "start")
    elif given_to:
        date_from = date_to - timedelta(days=DEFAULT_DAYS - 1)
    else:
        date_from = date.fromisoformat(default.date_from)
    query = ReportQuery(
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
        grain=value("grain") or DEFAULT_GRAIN,
        concern_area=value("area"),
        source=value("source"),
    )
    validate(query)
    return query


def validate(query: ReportQuery) -> tuple[date, date]:
    """The query's first and last day, or ``ReportQueryInvalid`` saying what is wrong."""
    date_from = _day(query.date_from, "from", "start")
    date_to = _day(query.date_to, "to", "end")
    if date_from > date_to:
        raise ReportQueryInvalid("from", "The start date must be on or before the end date.")
    days = (date_to - date_from).days + 1
    if days > MAX_DAYS:
        raise ReportQueryInvalid("range", "Choose a range of at most 3 years.")
    if query.grain not in GRAINS:
        raise ReportQueryInvalid("grain", "Choose to count by day, week or month.")
    if query.grain == "day" and days > MAX_DAILY_DAYS:
        raise ReportQueryInvalid(
            "grain", f"A daily view covers at most {MAX_DAILY_DAYS} days: choose weeks or months."
        )
    if query.concern_area and query.concern_area not in CONCERN_AREAS:
        raise ReportQueryInvalid("area", "Choose one of the concern areas, or every area.")
    if query.source and query.source not in SOURCES:
        raise ReportQueryInvalid("source", "Choose the clinic page or the multi-clinic form.")
    return date_from, date_to


def _details(query: ReportQuery) -> dict[str, str]:
    return {
        "from": query.date_from,
        "to": query.date_to,
        "grain": query.grain,
        "area": query.concern_area,
        "source": query.source,
    }


# ---------------------------------------------------------------------------------------------
# Entry points


def clinic_today(actor: Actor) -> date:
    """Today's date on the clinic's clock (the dashboard's default range ends on it)."""
    check(actor, Permission.REPORTS_VIEW)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        zone_name = tenant.timezone if tenant is not None else "UTC"
    return clock.now().astimezone(business_time.zone(zone_name)).date()


def clinic_report(actor: Actor, query: ReportQuery) -> ClinicReport:
    """Every figure of the clinic's dashboard for ``query``, computed in the clinic's session."""
    check(actor, Permission.REPORTS_VIEW)
    validate(query)
    tenant_id = actor.require_tenant()
    now = clock.now()
    with tenant_session(tenant_id) as session:
        tenant, scope = _scope(session, tenant_id, query)
        charts, stats, areas = _case_figures(session, scope, tenant, now)
        timing_charts, timing_stats = report_timing.timing_charts(
            session, tenant, query, scope.start, scope.end, now
        )
    by_key = {c.key: c for c in [*charts, *timing_charts]}
    stat_by_key = {s.key: s for s in [*stats, *timing_stats]}
    return ClinicReport(
        query=query,
        zone_caption=clinic_time.caption(business_time.zone(scope.zone)),
        stats=[stat_by_key[k] for k in STAT_ORDER if k in stat_by_key],
        charts=[by_key[k] for k in CHART_ORDER if k in by_key],
        areas=areas,
    )


def clinic_summary(actor: Actor, query: ReportQuery) -> list[Stat]:
    """The home page's headline figures (``SUMMARY_KEYS``) for ``query``, as ``clinic_report``
    gives them, from only the statements they need: the funnel's counts, the accepted value and
    the first replies' timing (computed in the clinic's session)."""
    check(actor, Permission.REPORTS_VIEW)
    validate(query)
    tenant_id = actor.require_tenant()
    now = clock.now()
    with tenant_session(tenant_id) as session:
        tenant, scope = _scope(session, tenant_id, query)
        shape, values = scope.bind(now)
        run = statements(shape)
        received, _, _, accepted = _funnel(report_sql.rows(session, run["funnel"], values))
        totals = {
            str(cur): report_sql.cents(amount)
            for cur, amount in report_sql.rows(session, run["accepted_value"], values)
        }
        on_time = report_timing.first_reply_on_time(session, shape, values)
    stats = {s.key: s for s in [*_headline(received, accepted, totals, tenant), on_time]}
    return [stats[k] for k in SUMMARY_KEYS]


def record_view(actor: Actor, query: ReportQuery) -> None:
    """One audit event for one view of the dashboard (never one per chart)."""
    check(actor, Permission.REPORTS_VIEW)
    actor.require_tenant()
    audit.record(actor, "reports.viewed", target_type="report", details=_details(query))


def record_summary_view(actor: Actor, query: ReportQuery) -> None:
    """One audit event for one showing of the home page's figures (``clinic_summary``)."""
    check(actor, Permission.REPORTS_VIEW)
    actor.require_tenant()
    audit.record(actor, "reports.summary_viewed", target_type="report", details=_details(query))


def record_export(actor: Actor, query: ReportQuery, chart_key: str) -> None:
    """One audit event for one chart's table downloaded as CSV."""
    check(actor, Permission.REPORTS_VIEW)
    actor.require_tenant()
    if chart_key not in CHART_ORDER:
        raise ValueError("unknown chart")
    audit.record(
        actor,
        "reports.exported",
        target_type="report",
        target_id=chart_key,
        details={**_details(query), "chart": chart_key},
    )


# ---------------------------------------------------------------------------------------------
# The statements (built apart from running them, so a test can read each one's SQL)


@dataclass(frozen=True)
class Scope:
    """What every statement needs: the clinic, the query, its UTC range and the dialect."""

    tenant_id: uuid.UUID
    query: ReportQuery
    zone: str
    start: datetime
    end: datetime
    dialect: str
    labels: list[str]

    @property
    def captions(self) -> list[str]:
        """How each of ``labels`` is shown."""
        shown = report_sql.captions(
            date.fromisoformat(self.labels[0]),
            date.fromisoformat(self.labels[-1]),
            self.query.grain,
        )
        return [caption for _, caption in shown]

    def bind(self, now: datetime) -> tuple[report_sql.Shape, dict[str, Any]]:
        """The statements' shape and the values they run with."""
        return report_sql.bind(
            self.tenant_id, self.query, self.zone, self.start, self.end, now, self.dialect
        )


def _scope(
    session: ScopedSession, tenant_id: uuid.UUID, query: ReportQuery
) -> tuple[Tenant, Scope]:
    """The clinic's row and the view's scope on its clock (``query`` already validated)."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError("clinic")
    date_from, date_to = date.fromisoformat(query.date_from), date.fromisoformat(query.date_to)
    zone = business_time.zone(tenant.timezone).key
    start, end = report_sql.utc_range(zone, date_from, date_to)
    scope = Scope(
        tenant_id=tenant_id,
        query=query,
        zone=zone,
        start=start,
        end=end,
        dialect=session.get_bind().dialect.name,
        labels=report_sql.bucket_labels(date_from, date_to, query.grain),
    )
    return tenant, scope


def _case_quote(*conditions: Any) -> Any:
    """The join of a case to its quotes (same clinic)."""
    return and_(
        col(Quote.tenant_id) == col(Submission.tenant_id),
        col(Quote.submission_id) == col(Submission.id),
        *conditions,
    )


@functools.lru_cache(maxsize=64)
def statements(shape: report_sql.Shape) -> Mapping[str, Any]:
    """One aggregate statement per figure, by the figure's key, for views of ``shape``.

    ``areas`` gives the filter menu's concern areas (any case of the clinic, whenever received)
    and, in the same pass, the cohort's cases per area (``by_area``). ``accepted_value`` is the
    value's accepted totals per currency alone (the home page's summary).
    """
    bucket = report_sql.bound_bucket(
        col(Submission.received_at), shape.grain, shape.dialect, shape.segments
    ).label("bucket")
    cases = report_sql.cohort(shape)
    accepted = (
        sa.exists()
        .where(_case_quote(col(Quote.status) == QuoteStatus.ACCEPTED.value))
        .correlate(Submission)
    )
    flags = (
        sa.select(
            col(Submission.reviewed_at).isnot(None).label("reviewed"),
            col(Submission.quote_sent_at).isnot(None).label("quoted"),
            accepted.label("accepted"),
        )
        .where(*cases)
        .subquery("stages")
    )

    def tally(*flag: Any) -> Any:
        return func.coalesce(func.sum(sa.case((or_(*flag), 1), else_=0)), 0)

    # Each quote sent, flagged if it is its case's latest one sent (no later version went out)
    # and if it is the one accepted: the quoted value counts the first, the accepted the second.
    later = aliased(Quote, name="later")
    sent_later = (
        sa.exists()
        .where(
            col(later.tenant_id) == report_sql.tenant_param(),
            col(later.submission_id) == col(Quote.submission_id),
            col(later.version) > col(Quote.version),
            report_sql.one_of(col(later.status), QUOTED_STATUSES),
        )
        .correlate(Quote)
    )
    is_accepted = col(Quote.status) == QuoteStatus.ACCEPTED.value
    sent = (
        sa.select(
            bucket,
            col(Quote.currency).label("currency"),
            col(Quote.total).label("total"),
            (~sent_later).label("latest"),
            is_accepted.label("accepted"),
        )
        .select_from(Submission)
        .join(Quote, _case_quote())
        .where(*cases, report_sql.one_of(col(Quote.status), QUOTED_STATUSES))
        .subquery("sent")
    )
    quoted_total = sa.case((sent.c.latest, sent.c.total), else_=sa.null())
    accepted_total = sa.case((sent.c.accepted, sent.c.total), else_=sa.null())
    # The menu reads every case of the clinic; the cohort (filters and range) is what it counts.
    in_cohort = [*report_sql.filters(shape), *report_sql.in_range(col(Submission.received_at))]
    return MappingProxyType(
        {
            "received": sa.select(bucket, func.count()).where(*cases).group_by(bucket),
            "areas": (
                sa.select(
                    col(Submission.concern_area),
                    func.coalesce(func.sum(sa.case((and_(*in_cohort), 1), else_=0)), 0),
                )
                .where(col(Submission.tenant_id) == report_sql.tenant_param())
                .group_by(col(Submission.concern_area))
            ),
            "by_source": (
                sa.select(col(Submission.source), func.count())
                .where(*cases)
                .group_by(col(Submission.source))
            ),
            # In review: reviewed, quoted or accepted; quoted: a quote went or one was accepted.
            "funnel": sa.select(
                func.count(),
                tally(flags.c.reviewed, flags.c.quoted, flags.c.accepted),
                tally(flags.c.quoted, flags.c.accepted),
                tally(flags.c.accepted),
            ).select_from(flags),
            "value": (
                sa.select(
                    sent.c.bucket,
                    sent.c.currency,
                    report_sql.money_cents_sum(quoted_total, shape.dialect),
                    report_sql.money_cents_sum(accepted_total, shape.dialect),
                )
                .where(or_(sent.c.latest, sent.c.accepted))
                .group_by(sent.c.bucket, sent.c.currency)
            ),
            "accepted_value": (
                sa.select(
                    col(Quote.currency),
                    report_sql.money_cents_sum(col(Quote.total), shape.dialect),
                )
                .select_from(Submission)
                .join(Quote, _case_quote(is_accepted))
                .where(*cases)
                .group_by(col(Quote.currency))
            ),
        }
    )


def _menu(present: set[str]) -> list[str]:
    """The concern areas of the clinic's cases, in the form's order (for the filter menu)."""
    return [a for a in CONCERN_AREAS if a in present] + sorted(present - set(CONCERN_AREAS))


# ---------------------------------------------------------------------------------------------
# The figures


def _case_figures(
    session: ScopedSession, scope: Scope, tenant: Tenant, now: datetime
) -> tuple[list[Chart], list[Stat], list[str]]:
    shape, values = scope.bind(now)
    run = statements(shape)

    def rows(key: str) -> Sequence[Any]:
        return report_sql.rows(session, run[key], values)

    received, reviewed, quoted, accepted = _funnel(rows("funnel"))
    per_bucket = {str(k): int(n) for k, n in rows("received")}
    money = [
        (str(k), str(cur), report_sql.cents(q), report_sql.cents(a))
        for k, cur, q, a in rows("value")
    ]
    per_area = {str(k): int(n) for k, n in rows("areas")}
    charts = [
        _received_chart(scope, per_bucket),
        _area_chart({k: n for k, n in per_area.items() if n}),
        _source_chart(scope.query, {str(k): int(n) for k, n in rows("by_source")}),
        _funnel_chart([received, reviewed, quoted, accepted]),
        _value_chart(scope, money, tenant.currency, bool(received)),
    ]
    totals: dict[str, Decimal] = {}
    for _, cur, _, amount in money:
        totals[cur] = totals.get(cur, Decimal("0.00")) + amount
    return charts, _headline(received, accepted, totals, tenant), _menu(set(per_area))


def _funnel(found: Sequence[Any]) -> tuple[int, int, int, int]:
    """Received, in review, quoted and accepted from the funnel statement's one row."""
    received, reviewed, quoted, accepted = (int(v or 0) for v in found[0])
    return received, reviewed, quoted, accepted


def _headline(
    received: int, accepted: int, accepted_totals: dict[str, Decimal], tenant: Tenant
) -> list[Stat]:
    """The stats ``received``, ``conversion`` and ``accepted_value`` (totals per currency)."""
    return [
        Stat("received", "Cases received", f"{received:,}" if received else EMPTY),
        Stat(
            "conversion",
            "Conversion",
            report_sql.share(accepted, received),  # "—" when nothing was received
            f"{accepted:,} of {received:,} cases accepted a quote" if received else "",
        ),
        _accepted_value(accepted_totals, tenant, bool(received)),
    ]


def _received_chart(scope: Scope, per_bucket: dict[str, int]) -> Chart:
    grain = scope.query.grain
    x = scope.captions
    counts = [per_bucket.get(label, 0) for label in scope.labels]
    has_cases = any(counts)
    return Chart(
        key="received",
        title="Cases received",
        kind="bar",
        x=x if has_cases else [],
        series=[Series("Cases", [float(n) for n in counts])] if has_cases else [],
        columns=["Period", "Cases"],
        rows=[[c, str(n)] for c, n in zip(x, counts, strict=True)] if has_cases else [],
        caption=f"Cases received per {GRAIN_WORDS[grain]}, on the clinic's clock.",
        x_title=GRAIN_WORDS[grain].capitalize(),
        y_title="Cases",
    )


def _share_chart(
    key: str, title: str, kind: str, heading: str, pairs: list[tuple[str, int]], **extra: str
) -> Chart:
    """Cases per label with each label's share of them (by concern area, by source)."""
    total = sum(n for _, n in pairs)
    return Chart(
        key=key,
        title=title,
        kind=kind,
        x=[label for label, _ in pairs],
        series=[Series("Cases", [float(n) for _, n in pairs])] if pairs else [],
        columns=[heading, "Cases", "Share"],
        rows=[[label, str(n), report_sql.share(n, total)] for label, n in pairs],
        **extra,
    )


def _area_chart(counts: dict[str, int]) -> Chart:
    labelled = sorted(
        ((CONCERN_AREAS.get(area, area), n) for area, n in counts.items() if n),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return _share_chart(
        "by_area", "Cases by concern area", "hbar", "Concern area", labelled, x_title="Cases"
    )


def _source_chart(query: ReportQuery, counts: dict[str, int]) -> Chart:
    shown = [query.source] if query.source else list(SOURCES)
    total = sum(counts.values())
    pairs = [(SOURCE_LABELS.get(s, s), counts.get(s, 0)) for s in shown] if total else []
    return _share_chart(
        "by_source",
        "Cases by source",
        "bar",
        "Source",
        pairs,
        caption="The clinic's own page, or the form that sends to several clinics.",
        y_title="Cases",
    )


def _funnel_chart(stages: list[int]) -> Chart:
    names = ["Received", "In review", "Quoted", "Accepted"]
    received = stages[0]
    rows = []
    if received:
        for i, (name, n) in enumerate(zip(names, stages, strict=True)):
            previous = report_sql.share(n, stages[i - 1]) if i else EMPTY
            rows.append([name, str(n), report_sql.share(n, received), previous])
    return Chart(
        key="funnel",
        title="From received to accepted",
        kind="funnel",
        x=names if received else [],
        series=[Series("Cases", [float(n) for n in stages])] if received else [],
        columns=["Stage", "Cases", "Of received", "Of previous stage"],
        rows=rows,
        caption="Cases received in the range and how far each has come since.",
    )


def _value_chart(
    scope: Scope,
    money: list[tuple[str, str, Decimal, Decimal]],
    clinic_currency: str,
    has_cases: bool,
) -> Chart:
    grain = scope.query.grain
    currencies = sorted({cur for _, cur, _, _ in money}, key=lambda c: (c != clinic_currency, c))
    if has_cases and not currencies:
        currencies = [clinic_currency]
    amounts = {(k, cur): (q, a) for k, cur, q, a in money}
    zero = (Decimal("0.00"), Decimal("0.00"))
    x = scope.captions
    series: list[Series] = []
    rows: list[list[str]] = []
    if has_cases:
        for cur in currencies:
            quoted = [amounts.get((label, cur), zero)[0] for label in scope.labels]
            accepted = [amounts.get((label, cur), zero)[1] for label in scope.labels]
            series.append(Series(f"Quoted ({cur})", [float(v) for v in quoted]))
            series.append(Series(f"Accepted ({cur})", [float(v) for v in accepted]))
        for caption, label in zip(x, scope.labels, strict=True):
            for cur in currencies:
                q, a = amounts.get((label, cur), zero)
                rows.append([caption, cur, f"{q:.2f}", f"{a:.2f}"])
    return Chart(
        key="value",
        title="Quoted and accepted value",
        kind="bar",
        x=x if has_cases else [],
        series=series,
        columns=["Period", "Currency", "Quoted", "Accepted"],
        rows=rows,
        caption=f"For the cases received in each {GRAIN_WORDS[grain]}: the total of each "
        "case's latest quote sent (an earlier version declined or expired counts no more) "
        "and of the quote accepted.",
        x_title=GRAIN_WORDS[grain].capitalize(),
        y_title="Value",
    )


def _accepted_value(accepted_totals: dict[str, Decimal], tenant: Tenant, has_cases: bool) -> Stat:
    totals = dict(accepted_totals)
    if not has_cases:
        return Stat("accepted_value", "Accepted value", EMPTY)
    totals.setdefault(tenant.currency, Decimal("0.00"))
    ordered = sorted(totals, key=lambda c: (c != tenant.currency, c))
    text = " + ".join(format_money(totals[c], c, tenant.locale) for c in ordered if totals[c])
    return Stat(
        "accepted_value",
        "Accepted value",
        text or format_money(Decimal("0.00"), tenant.currency, tenant.locale),
        "Quotes accepted for the cases received in the range",
    )
