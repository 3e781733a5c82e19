"""Clinic dashboard benchmark: the service's figures for one clinic against hand-written SQL.

    python bench/reports.py [--clinics 1000] [--per-clinic 1000] [--iterations 300] [--rounds 6]
        [--explain]

Builds two PostgreSQL databases through the project's migrations (the server from
MI_ADMIN_DATABASE_URL, default postgres@127.0.0.1): a small one (10 clinics) and a large one
(--clinics), each clinic with --per-clinic cases received over the past year, with what the
figures read: concern areas, sources, statuses, review, first-reply and quote times against
their targets, assignees, quote versions in several statuses and currencies, conversations in
both directions over every channel, and their deliveries (some failed). In each it times, in
the same process and interleaved, (a) ``reports.clinic_report()`` as the app role under
row-level security and (b) the same figures from hand-written SQL (one aggregate statement per
figure, in one transaction on the same connection settings). The queries rotate between a
year by week, the last 90 days by day, and a filtered year by month. The two databases are
timed in alternating blocks (--rounds per size), so a busy spell on a shared machine falls on
both. Before timing, it checks on a few clinics of each that both sides give the same numbers;
--explain prints how PostgreSQL ran each of the service's statements on the large one. Prints
p50/p95 of each, and last the line ``ratio_p95=<service p95 / SQL p95 on the large database>
growth_p95=<service p95 large / small>``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from bench.pg_database import drop_database, new_database  # noqa: E402

SMALL_CLINICS = 10
STAFF_PER_CLINIC = 4
ZONES = ["Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"]
CURRENCIES = {"Europe/London": "GBP", "America/New_York": "USD", "Asia/Tokyo": "USD"}
AREAS = [
    "acne",
    "acne",
    "acne",
    "pigmentation",
    "pigmentation",
    "rosacea",
    "scarring",
    "hair_loss",
    "body_contour",
    "teeth",
    "other",
]
STATUSES = [
    "new",
    "new",
    "in_review",
    "in_review",
    "quoted",
    "quoted",
    "accepted",
    "declined",
    "closed",
    "archived",
]

# --- The data set -----------------------------------------------------------------------------

# Each statement runs once over every clinic, as the server's superuser (row-level security does
# not apply to it) with foreign-key triggers off: the rows are consistent by construction, and
# checking millions of references one by one would take most of the build.
POPULATE = [
    # Clinics in several zones (the buckets follow each clinic's clock) and currencies.
    """
    insert into tenant (id, slug, name, quote_turnaround_hours, first_response_hours, settings,
      active, created_at, timezone, currency)
    select gen_random_uuid(), 'clinic-' || g, 'Clinic ' || g, 48, 24, '{}', true,
      now() - interval '2 years', z.zone, z.currency
    from generate_series(1, :clinics) g
    join (select * from unnest(cast(:zones as text[]), cast(:zone_currencies as text[]))
            with ordinality as z(zone, currency, n)) z
      on z.n = 1 + g % cardinality(cast(:zones as text[]))
    """,
    # Staff who cases are assigned to.
    """
    create temporary table bench_staff as
    select t.id as tenant_id, g - 1 as n, gen_random_uuid() as user_id,
      'Staff ' || g || ' of ' || t.slug as full_name, t.slug
    from tenant t cross join generate_series(1, :staff) g
    """,
    """
    insert into user_account (id, email, full_name, disabled, created_at, failed_logins)
    select user_id, 'staff' || (n + 1) || '@' || slug || '.example.org', full_name, false,
      now() - interval '2 years', 0
    from bench_staff
    """,
    """
    insert into membership (id, user_id, tenant_id, role, created_at)
    select gen_random_uuid(), user_id, tenant_id,
      case when n = 0 then 'clinic_owner' else 'coordinator' end, now() - interval '2 years'
    from bench_staff
    """,
    """
    insert into patient (tenant_id, id, full_name, email, phone, created_at)
    select t.id, gen_random_uuid(), 'Patient ' || g, 'p' || g || '@example.org',
      '+1 555 0100 ' || g, now() - interval '1 year'
    from tenant t cross join generate_series(1, :per_clinic) g
    """,
    # One case per patient, received over the past year. The hours to review, first reply and
    # quote are skewed (many quick, a long tail); each status gets the times it implies.
    """
    insert into submission (tenant_id, id, patient_id, status, concern_area, answers, assignee_id,
      received_at, last_activity_at, first_response_due_at, sla_due_at, first_response_at,
      quote_sent_at, reviewed_at, source, retention_cleared)
    select c.tenant_id, gen_random_uuid(), c.patient_id, c.status, c.area, '{}', st.user_id,
      c.received_at,
      greatest(c.received_at, c.first_response_at, c.quote_sent_at, c.reviewed_at),
      c.received_at + interval '24 hours', c.received_at + interval '48 hours',
      c.first_response_at, c.quote_sent_at, c.reviewed_at, c.source, '[]'
    from (
      select b.*,
        case when b.status = 'new' and b.r1 < 0.25 or b.status = 'in_review' and b.r1 < 0.85
               or b.status not in ('new', 'in_review') and b.r1 < 0.95
                 and not (b.status = 'archived' and b.archived_new)
             then least(b.received_at + b.reply_h * interval '1 hour', now()) end
          as first_response_at,
        case when b.status in ('quoted', 'accepted', 'declined')
               or b.status = 'closed' and b.r4 < 0.5
               or b.status = 'archived' and not b.archived_new and b.r4 < 0.5
             then least(b.received_at + (b.reply_h + b.quote_h) * interval '1 hour', now()) end
          as quote_sent_at,
        case when b.status <> 'new' and not (b.status = 'archived' and b.archived_new)
             then least(b.received_at + b.reply_h * 0.5 * interval '1 hour', now()) end
          as reviewed_at
      from (
        select p.tenant_id, p.id as patient_id,
          (cast(:statuses as text[]))[1 + floor(random() * :n_statuses)::int] as status,
          (cast(:areas as text[]))[1 + floor(random() * :n_areas)::int] as area,
          case when random() < 0.3 then 'directory' else 'clinic_page' end as source,
          now() - random() * interval '365 days' as received_at,
          floor(random() * (:staff + 1))::int as staff_n,
          power(random(), 3) * 240 as reply_h, power(random(), 2) * 200 as quote_h,
          random() < 0.4 as archived_new, random() as r1, random() as r4
        from patient p
      ) b
    ) c
    left join bench_staff st on st.tenant_id = c.tenant_id and st.n = c.staff_n
    """,
    # Quote versions: a case with a sent quote has one or two (the first superseded, or
    # declined or expired before the clinic sent another), the last in the status the case
    # implies; a few cases in review have a draft; some quotes are in a second currency.
    """
    insert into quote (tenant_id, id, submission_id, version, status, currency, total,
      message_to_patient, created_at, sent_at)
    select s.tenant_id, gen_random_uuid(), s.id, v.version,
      case when v.version < v.versions then
             case when v.r < 0.5 then 'superseded' when v.r < 0.8 then 'declined' else 'expired' end
           when s.status = 'quoted' then case when v.r < 0.5 then 'sent' else 'viewed' end
           when s.status = 'accepted' then 'accepted'
           when s.status = 'declined' then 'declined'
           when s.status = 'closed' then
             case when v.r < 0.3 then 'accepted' when v.r < 0.7 then 'expired' else 'declined' end
           else case when v.r < 0.5 then 'expired' else 'withdrawn' end
      end,
      case when v.r2 < 0.06 then case when t.currency = 'EUR' then 'USD' else 'EUR' end
           else t.currency end,
      round(cast(50 + power(v.r3, 2) * 4950 as numeric), 2), '',
      s.quote_sent_at - interval '1 hour', s.quote_sent_at
    from submission s
    join tenant t on t.id = s.tenant_id
    cross join lateral (
      select g as version, x.versions, random() + 0 * g as r, random() + 0 * g as r2,
        random() + 0 * g as r3
      from (select case when random() + 0 * length(s.status) < 0.2 then 2 else 1 end
              as versions) x
      cross join generate_series(1, x.versions) g
    ) v
    where s.quote_sent_at is not null
    """,
    """
    insert into quote (tenant_id, id, submission_id, version, status, currency, total,
      message_to_patient, created_at)
    select s.tenant_id, gen_random_uuid(), s.id, 1, 'draft', t.currency,
      round(cast(50 + random() * 2000 as numeric), 2), '', s.last_activity_at
    from submission s join tenant t on t.id = s.tenant_id
    where s.status = 'in_review' and random() < 0.3
    """,
    # A conversation for every answered case and for some others.
    """
    insert into messagethread (tenant_id, id, submission_id, subject, created_at, last_message_at)
    select tenant_id, gen_random_uuid(), id, '', received_at + interval '1 minute',
      last_activity_at
    from submission
    where first_response_at is not null or random() < 0.3
    """,
    """
    insert into message (tenant_id, id, thread_id, direction, channel, subject, body, created_at)
    select m.tenant_id, gen_random_uuid(), m.thread_id, m.direction,
      case when m.direction = 'outbound' then case when m.c < 0.7 then 'email' else 'sms' end
           when m.c < 0.5 then 'email' when m.c < 0.75 then 'sms' else 'portal' end,
      '', 'Message body', m.created_at
    from (
      select t.tenant_id, t.id as thread_id,
        case when random() + 0 * g < 0.55 then 'outbound' else 'inbound' end as direction,
        random() + 0 * g as c,
        least(t.created_at + g * random() * interval '72 hours', now()) as created_at
      from messagethread t
      cross join lateral generate_series(1, 1 + floor(random() * 4 + 0 * length(t.subject))::int) g
    ) m
    """,
    # Every message the clinic wrote went out through the outbox (some failed), and the outbox
    # also holds notices to staff, which the delivery figures leave out.
    """
    insert into outboxmessage (tenant_id, id, message_id, kind, channel, recipient, subject, body,
      status, attempts, header_id, created_at)
    select m.tenant_id, gen_random_uuid(), m.id, 'patient_message', m.channel, 'p@example.org', '',
      'Message body', o.status, 1, '<' || gen_random_uuid() || '@bench.outbox>', m.created_at
    from message m
    cross join lateral (
      select case when r < 0.6 then 'sent' when r < 0.88 then 'delivered' when r < 0.96
        then 'failed' else 'pending' end as status
      from (select random() + 0 * length(m.channel) as r) x
    ) o
    where m.direction = 'outbound'
    """,
    """
    insert into outboxmessage (tenant_id, id, kind, channel, recipient, subject, body, status,
      attempts, header_id, created_at)
    select tenant_id, gen_random_uuid(), 'staff_notice', 'email', 'staff@example.org', '',
      'New case', case when random() < 0.1 then 'failed' else 'sent' end, 1,
      '<' || gen_random_uuid() || '@bench.outbox>', received_at
    from submission
    where random() < 0.2
    """,
]


def create_database(clinics: int, per_clinic: int) -> tuple[str, str, str, str, list[uuid.UUID]]:
    """A fresh database through the migrations, filled; returns its names, URLs and clinics."""
    name, role, admin, app = new_database(f"mi_bench_rep_{clinics}")
    started = time.perf_counter()
    engine = sa.create_engine(admin)
    params = {
        "clinics": clinics,
        "per_clinic": per_clinic,
        "staff": STAFF_PER_CLINIC,
        "zones": ZONES,
        "zone_currencies": [CURRENCIES.get(z, "EUR") for z in ZONES],
        "statuses": STATUSES,
        "n_statuses": len(STATUSES),
        "areas": AREAS,
        "n_areas": len(AREAS),
    }
    with engine.begin() as conn:
        conn.execute(sa.text("set local session_replication_role = replica"))
        for statement in POPULATE:
            conn.execute(sa.text(statement), params)
        tenants = list(conn.execute(sa.text("select id from tenant")).scalars())
        counts = {
            table: conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()
            for table in ("submission", "quote", "message", "outboxmessage")
        }
    engine.dispose()
    # The steady state autovacuum reaches on its own: statistics and the visibility map; and
    # the build's dirty pages written out now rather than while the views are timed.
    vacuum = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with vacuum.connect() as conn:
        conn.execute(sa.text("vacuum analyze"))
        conn.execute(sa.text("checkpoint"))
    vacuum.dispose()
    print(
        f"  built {name}: {clinics} clinics x {per_clinic} cases ("
        + ", ".join(f"{n} {t}" for t, n in counts.items())
        + f" rows) in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return name, role, admin, app, tenants


# --- The same figures by hand -----------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One dashboard view: clinic-local dates (inclusive), grain and filters."""

    days: int  # the range ends today on the clinic's clock and spans this many days
    grain: str
    area: str = ""
    source: str = ""


QUERIES = [
    Query(days=365, grain="week"),
    Query(days=90, grain="day"),
    Query(days=365, grain="month", area="acne", source="clinic_page"),
]
# Hours from receipt to a first reply or quote, in the dashboard's bands.
BANDS = [
    (1, "< 1 h"),
    (4, "1–4 h"),
    (8, "4–8 h"),
    (24, "8–24 h"),
    (48, "1–2 days"),
    (168, "2–7 days"),
    (None, "> 7 days"),
]
QUOTED_STATUSES = ("sent", "viewed", "accepted", "declined", "expired")
OPEN_STATUSES = ("new", "in_review", "quoted")
# A case without its reply or quote is late past the due time only while it waits for it.
WAITING_STATUSES = ("new", "in_review")


def local_range(zone: str, today: date, days: int) -> tuple[date, date, datetime, datetime]:
    """The last ``days`` clinic-local days up to ``today`` and their UTC instants [start, end)."""
    tz = ZoneInfo(zone)
    date_from, date_to = today - timedelta(days=days - 1), today
    start = datetime.combine(date_from, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(date_to + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return date_from, date_to, start, end.astimezone(UTC)


def _bucket(column: str, grain: str) -> str:
    local = f"({column} at time zone :zone)"
    if grain == "day":
        return f"to_char({local}, 'YYYY-MM-DD')"
    return f"to_char(date_trunc('{grain}', {local}), 'YYYY-MM-DD')"


def _filters(query: Query, alias: str = "s") -> str:
    return (f" and {alias}.concern_area = :area" if query.area else "") + (
        f" and {alias}.source = :source" if query.source else ""
    )


def _bands(seconds: str) -> str:
    whens = " ".join(
        f"when {seconds} < {limit * 3600} then {i}" for i, (limit, _) in enumerate(BANDS) if limit
    )
    return f"case {whens} else {len(BANDS) - 1} end"


def _timing_sql(query: Query, done: str, due: str) -> str:
    """Cases per band of hours to ``done``, and over the cohort: met, missed, overdue, median."""
    seconds = f"extract(epoch from (s.{done} - s.received_at))"
    hours = f"{seconds} / 3600"
    # Whole seconds decide the band, as in the service (where SQLite's day fractions would
    # otherwise put an answer at exactly one hour a hair either side of the bound).
    band = f"case when s.{done} is not null then {_bands(f'round({seconds})')} end"
    waiting = ", ".join(f"'{s}'" for s in WAITING_STATUSES)
    return f"""
    select grouping({band}), {band}, count(s.{done}),
      count(*) filter (where s.{done} <= s.{due}),
      count(*) filter (where s.{done} > s.{due}),
      count(*) filter (where s.{done} is null and s.{due} < :now
                         and s.status in ({waiting})),
      percentile_cont(0.5) within group (order by {hours})
    from submission s
    where s.tenant_id = :tenant and s.received_at >= :start and s.received_at < :end{_filters(query)}
    group by grouping sets (({band}), ())
    """


def hand_figures(
    conn: Connection, tenant: uuid.UUID, query: Query, now: datetime
) -> dict[str, Any]:
    """Every figure of the dashboard from hand-written SQL: one aggregate statement each."""
    conn.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
    zone, currency = conn.execute(
        sa.text("select timezone, currency from tenant where id = :t"), {"t": tenant}
    ).one()
    today = now.astimezone(ZoneInfo(zone)).date()
    _, _, start, end = local_range(zone, today, query.days)
    p = {
        "tenant": tenant,
        "start": start,
        "end": end,
        "zone": zone,
        "area": query.area,
        "source": query.source,
        "now": now,
    }
    cohort = f"""
    from submission s
    where s.tenant_id = :tenant and s.received_at >= :start and s.received_at < :end{_filters(query)}
    """

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(sa.text(sql), p)]

    figures: dict[str, Any] = {"zone": zone, "currency": currency}
    bucket = _bucket("s.received_at", query.grain)
    figures["received"] = dict(rows(f"select {bucket}, count(*) {cohort} group by 1"))
    figures["by_area"] = dict(rows(f"select s.concern_area, count(*) {cohort} group by 1"))
    figures["by_source"] = dict(rows(f"select s.source, count(*) {cohort} group by 1"))
    # The filter menu's concern areas: those of any case of the clinic.
    figures["areas"] = {
        r[0] for r in rows("select distinct concern_area from submission where tenant_id = :tenant")
    }
    accepted = (
        "exists (select 1 from quote q where q.tenant_id = s.tenant_id"
        " and q.submission_id = s.id and q.status = 'accepted')"
    )
    figures["funnel"] = tuple(
        rows(
            f"""select count(*),
              count(*) filter (where s.reviewed_at is not null or s.quote_sent_at is not null
                               or {accepted}),
              count(*) filter (where s.quote_sent_at is not null or {accepted}),
              count(*) filter (where {accepted})
            {cohort}"""
        )[0]
    )
    # Quoted: each case's highest version sent; accepted: the version accepted.
    quoted = ", ".join(f"'{s}'" for s in QUOTED_STATUSES)
    figures["value"] = {
        (label, cur): (q, a)
        for label, cur, q, a in rows(
            f"""select {bucket}, q.currency,
              sum(q.total) filter (where q.version = last.version),
              sum(q.total) filter (where q.status = 'accepted')
            from submission s
            join quote q on q.tenant_id = s.tenant_id and q.submission_id = s.id
            join lateral (
              select max(l.version) as version from quote l
              where l.tenant_id = s.tenant_id and l.submission_id = s.id
                and l.status in ({quoted})
            ) last on true
            where s.tenant_id = :tenant and s.received_at >= :start and s.received_at < :end
              and q.status in ({quoted}) and (q.version = last.version or q.status = 'accepted')
              {_filters(query)}
            group by 1, 2"""
        )
    }
    for key, done, due in (
        ("first_response", "first_response_at", "first_response_due_at"),
        ("first_quote", "quote_sent_at", "sla_due_at"),
    ):
        timing = rows(_timing_sql(query, done, due))
        total = next(r for r in timing if r[0])
        figures[key] = {BANDS[r[1]][1]: r[2] for r in timing if not r[0] and r[1] is not None}
        figures[key + "_on_time"] = (total[3], total[4], total[5])
        figures[key + "_median"] = total[6]
    opened = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
    figures["workload"] = {
        name: (n, age)
        for name, n, age in rows(
            f"""select coalesce(u.full_name, 'Unassigned'), count(*),
              percentile_cont(0.5) within group (
                order by extract(epoch from (:now - s.received_at)) / 86400)
            from submission s left join user_account u on u.id = s.assignee_id
            where s.tenant_id = :tenant and s.status in ({opened}){_filters(query)}
            group by 1"""
        )
    }
    # Messages and deliveries reach their case only when a filter needs it.
    through_case = (
        " join messagethread t on t.tenant_id = m.tenant_id and t.id = m.thread_id"
        " join submission s on s.tenant_id = t.tenant_id and s.id = t.submission_id"
        if query.area or query.source
        else ""
    )
    figures["messages"] = {
        (label, direction, channel): n
        for label, direction, channel, n in rows(
            f"""select {_bucket("m.created_at", query.grain)}, m.direction, m.channel, count(*)
            from message m{through_case}
            where m.tenant_id = :tenant and m.created_at >= :start and m.created_at < :end
              {_filters(query)}
            group by 1, 2, 3"""
        )
    }
    outbox_case = (
        " join message m on m.tenant_id = o.tenant_id and m.id = o.message_id" + through_case
        if through_case
        else ""
    )
    figures["delivery_failures"] = {
        channel: (n, failed)
        for channel, n, failed in rows(
            f"""select o.channel, count(*), count(*) filter (where o.status = 'failed')
            from outboxmessage o{outbox_case}
            where o.tenant_id = :tenant and o.kind = 'patient_message'
              and o.created_at >= :start and o.created_at < :end{_filters(query)}
            group by 1"""
        )
    }
    return figures


# --- Both sides agree -------------------------------------------------------------------------

SOURCE_LABELS = {"clinic_page": "Clinic page", "directory": "Multi-clinic form"}
DIRECTION_LABELS = {"outbound": "Sent", "inbound": "Received"}
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "portal": "Reply page"}


def _money(text: str) -> Decimal:
    """An amount as the table shows it ("€1,234.50", "1.234,50 £" …) back to a number."""
    digits = "".join(c for c in text if c.isdigit() or c in ".,-")
    if "," in digits and (digits.rfind(",") > digits.rfind(".")):
        digits = digits.replace(".", "").replace(",", ".")
    try:
        return Decimal(digits.replace(",", "") or "0")
    except InvalidOperation as exc:
        raise AssertionError(f"not an amount: {text!r}") from exc


def _nonzero(pairs: Any) -> dict[Any, Any]:
    return {k: v for k, v in pairs if v}


def compare(report: Any, hand: dict[str, Any], query: Query) -> None:
    """Fail unless the service's report shows exactly the hand-computed figures."""
    from mi_portal.services import report_sql
    from mi_portal.services.intake_questions import CONCERN_AREAS

    charts = {chart.key: chart for chart in report.charts}
    stats = {stat.key: stat.value for stat in report.stats}

    def caption(label: str) -> str:
        return report_sql.bucket_caption(label, query.grain)

    def check(what: str, service: Any, expected: Any) -> None:
        if service != expected:
            raise AssertionError(
                f"{what} differs for {query}: service {service!r}, SQL {expected!r}"
            )

    received = charts["received"]
    check(
        "received",
        _nonzero(zip(received.x, (int(v or 0) for v in received.series[0].values), strict=True)),
        _nonzero((caption(k), v) for k, v in hand["received"].items()),
    )
    check(
        "by_area",
        {row[0]: int(row[1]) for row in charts["by_area"].rows},
        {CONCERN_AREAS[k]: v for k, v in hand["by_area"].items()},
    )
    check(
        "by_source",
        _nonzero((row[0], int(row[1])) for row in charts["by_source"].rows),
        {SOURCE_LABELS[k]: v for k, v in hand["by_source"].items()},
    )
    check(
        "funnel",
        tuple(int(row[1]) for row in charts["funnel"].rows),
        hand["funnel"] if hand["funnel"][0] else (),
    )
    check(
        "value",
        _nonzero(
            ((row[0], row[1]), (_money(row[2]), _money(row[3])))
            for row in charts["value"].rows
            if _money(row[2]) or _money(row[3])
        ),
        {
            (caption(label), cur): (q or Decimal("0.00"), a or Decimal("0.00"))
            for (label, cur), (q, a) in hand["value"].items()
        },
    )
    for key, stat in (("first_response", "first_reply"), ("first_quote", "quote")):
        check(key, _nonzero((r[0], int(r[1])) for r in charts[key].rows), hand[key])
        met, missed, overdue = hand[key + "_on_time"]
        check(
            key + " on time",
            stats[stat + "_on_time"],
            report_sql.share(met, met + missed + overdue),
        )
    median = hand["first_response_median"]
    check(
        "first reply median",
        stats["first_reply_median"],
        "—" if median is None else f"{median:.1f} h",
    )
    check(
        "workload",
        {row[0]: (int(row[1]), row[2]) for row in charts["workload"].rows},
        {name: (n, f"{age:.1f}") for name, (n, age) in hand["workload"].items()},
    )
    check(
        "messages",
        _nonzero(((r[0], r[1], r[2]), int(r[3])) for r in charts["messages"].rows),
        {
            (caption(label), DIRECTION_LABELS[d], CHANNEL_LABELS[c]): n
            for (label, d, c), n in hand["messages"].items()
        },
    )
    check(
        "delivery_failures",
        {row[0]: (int(row[1]), int(row[2])) for row in charts["delivery_failures"].rows},
        {CHANNEL_LABELS[c]: v for c, v in hand["delivery_failures"].items()},
    )
    cohort, _, _, accepted = hand["funnel"]
    check("received stat", stats["received"], f"{cohort:,}" if cohort else "—")
    check("conversion stat", stats["conversion"], report_sql.share(accepted, cohort))
    check("open now stat", stats["open_now"], f"{sum(n for n, _ in hand['workload'].values()):,}")
    check("areas", set(report.areas), hand["areas"])


# --- Timing ------------------------------------------------------------------------------------


def report_query(zone: str, now: datetime, query: Query) -> Any:
    """The service's ``ReportQuery`` for ``query`` on the clinic's clock at ``now``."""
    from mi_portal.services.report_types import ReportQuery

    date_from, date_to, _, _ = local_range(zone, now.astimezone(ZoneInfo(zone)).date(), query.days)
    return ReportQuery(
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
        grain=query.grain,
        concern_area=query.area,
        source=query.source,
    )


# What a plan line read: a whole table, or one index.
SCAN = r"(Seq Scan on \w+|Index (Only )?Scan using \w+|Bitmap Index Scan on \w+)"


def explain(engine: sa.Engine, run: Any, tenant: uuid.UUID) -> None:
    """Print how PostgreSQL ran each statement of one service call: scans, indexes, time."""
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().lower().startswith("select") and "set_config" not in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    with engine.begin() as conn:
        conn.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
        for statement, parameters in captured:
            plan = conn.exec_driver_sql(
                "explain (analyze, buffers) " + statement, parameters
            ).scalars()
            lines = list(plan)
            scans = sorted(
                {m.group(0).replace("  ", " ") for line in lines if (m := re.search(SCAN, line))}
            )
            took = next((line.strip() for line in lines if "Execution Time" in line), "")
            head = " ".join(statement.split())[:90]
            print(f"    {head}\n      {'; '.join(scans)} | {took}")


@dataclass
class Target:
    """One built database and what timing it needs: its clinics, zones and a staff account."""

    label: str
    app_url: str
    tenants: list[uuid.UUID]
    user_id: uuid.UUID | None = None
    zones: dict[uuid.UUID, str] | None = None


def connect(target: Target) -> sa.Engine:
    """Point the app (settings, engine pool) at ``target``'s database as its app role."""
    from mi_portal.config import reset_settings
    from mi_portal.db import dispose_engines, get_engine

    os.environ["MI_DATABASE_URL"] = target.app_url
    reset_settings()
    dispose_engines()
    return get_engine(target.app_url)


def sides(target: Target, engine: sa.Engine) -> tuple[Any, Any]:
    """The two ways to the figures: the service, and hand-written SQL on the same engine."""
    from mi_portal.models import Role
    from mi_portal.services.actor import Actor
    from mi_portal.services.reports import clinic_report

    assert target.user_id is not None and target.zones is not None
    user_id, zones = target.user_id, target.zones

    def service(tenant: uuid.UUID, query: Query, now: datetime) -> Any:
        actor = Actor(user_id=user_id, role=Role.CLINIC_MANAGER, tenant_id=tenant)
        return clinic_report(actor, report_query(zones[tenant], now, query))

    def baseline(tenant: uuid.UUID, query: Query, now: datetime) -> dict[str, Any]:
        with engine.begin() as conn:
            return hand_figures(conn, tenant, query, now)

    return service, baseline


def summary_side(target: Target) -> Any:
    """The home page's figures through the service (``reports.clinic_summary``)."""
    from mi_portal.models import Role
    from mi_portal.services.actor import Actor
    from mi_portal.services.reports import clinic_summary

    assert target.user_id is not None and target.zones is not None
    user_id, zones = target.user_id, target.zones

    def summary(tenant: uuid.UUID, query: Query, now: datetime) -> Any:
        actor = Actor(user_id=user_id, role=Role.CLINIC_MANAGER, tenant_id=tenant)
        return clinic_summary(actor, report_query(zones[tenant], now, query))

    return summary


def check_summary(report: Any, summary: Any, query: Query) -> None:
    """Fail unless the home page's figures are the report's same headline figures."""
    from mi_portal.services.reports import SUMMARY_KEYS

    stats = {stat.key: stat for stat in report.stats}
    expected = [stats[key] for key in SUMMARY_KEYS]
    if summary != expected:
        raise AssertionError(f"summary differs for {query}: {summary!r}, report {expected!r}")


def prepare(target: Target, plans: bool) -> None:
    """A staff account; then check that both sides agree (and print plans if asked)."""
    from mi_portal.db import platform_session
    from mi_portal.models import Tenant, User
    from mi_portal.services import clock

    engine = connect(target)
    with platform_session() as session:
        user = User(email="bench@example.org", full_name="Bench Manager")
        session.add(user)
        session.commit()
        target.user_id = user.id
        target.zones = {t.id: t.timezone for t in session.exec(sa.select(Tenant)).scalars()}  # type: ignore[call-overload]
    service, baseline = sides(target, engine)
    summary = summary_side(target)
    rng = random.Random(3)
    # Both sides give the same numbers (on a frozen clock: open cases' ages move with it).
    now = clock.now()
    clock.set_clock(lambda: now)
    try:
        checked = rng.sample(target.tenants, min(4, len(target.tenants)))
        for tenant in checked:
            for query in QUERIES:
                report = service(tenant, query, now)
                compare(report, baseline(tenant, query, now), query)
                check_summary(report, summary(tenant, query, now), query)
    finally:
        clock.set_clock(None)
    print(
        f"  {target.label}: service and SQL figures agree, and the home page's summary with"
        f" them ({len(checked)} clinics x {len(QUERIES)} queries)",
        flush=True,
    )
    if plans:
        for query in QUERIES:
            print(f"  plans of the service's statements, {query}:")
            explain(
                engine,
                lambda q=query: service(target.tenants[0], q, clock.now()),
                target.tenants[0],
            )


def time_block(
    target: Target, iterations: int, rng: random.Random, times: dict[str, list[float]]
) -> None:
    """Time ``iterations`` views on ``target``, the two sides interleaved, after a warm-up."""
    from mi_portal.services import clock

    service, baseline = sides(target, connect(target))
    for tenant in rng.sample(target.tenants, min(5, len(target.tenants))):  # warm the pool
        for query in QUERIES:
            service(tenant, query, clock.now())
            baseline(tenant, query, clock.now())
    for i in range(iterations):
        tenant, query = rng.choice(target.tenants), QUERIES[i % len(QUERIES)]
        order = [("service", service), ("sql", baseline)]
        if i % 2:
            order.reverse()  # alternate order so neither side always runs on a warmer cache
        for label, fn in order:
            started = time.perf_counter()
            fn(tenant, query, clock.now())
            times[label].append(time.perf_counter() - started)


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clinics", type=int, default=1000)
    parser.add_argument("--per-clinic", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6, help="blocks per size, alternated")
    parser.add_argument(
        "--explain", action="store_true", help="print the plans of the service's statements"
    )
    args = parser.parse_args()
    from mi_portal.db import dispose_engines

    built: list[tuple[str, str]] = []
    try:
        targets: list[Target] = []
        for label, clinics in (("small", SMALL_CLINICS), ("large", args.clinics)):
            name, role, _admin, app, tenants = create_database(clinics, args.per_clinic)
            built.append((name, role))
            targets.append(Target(label, app, tenants))
        for target in targets:
            prepare(target, plans=args.explain and target.label == "large")
        # The sizes alternate in blocks, so a busy spell on the machine falls on both.
        times = {t.label: {"service": [], "sql": []} for t in targets}
        rng = random.Random(7)
        block = max(1, args.iterations // args.rounds)
        for _ in range(args.rounds):
            for target in targets:
                time_block(target, block, rng, times[target.label])
        dispose_engines()
    finally:
        for name, role in built:
            drop_database(name, role)
    results = {}
    for target in targets:
        service_times, sql_times = times[target.label]["service"], times[target.label]["sql"]
        results[target.label] = (p(service_times, 95), p(sql_times, 95))
        cases = len(target.tenants) * args.per_clinic
        print(
            f"{target.label:5} {cases:>9} cases: service p50 {p(service_times, 50) * 1e3:.2f} ms "
            f"p95 {p(service_times, 95) * 1e3:.2f} ms | SQL p50 {p(sql_times, 50) * 1e3:.2f} ms "
            f"p95 {p(sql_times, 95) * 1e3:.2f} ms ({len(service_times)} views each)",
            flush=True,
        )
    ratio = results["large"][0] / results["large"][1]
    growth = results["large"][0] / results["small"][0]
    print(f"ratio_p95={ratio:.2f} growth_p95={growth:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
