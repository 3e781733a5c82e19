"""The clinic dashboard's case figures equal hand-computed values, on both databases.

Clinic A keeps London time and counts in euros. Summer time ends on Sun 25 Oct 2026 at 01:00
UTC (BST, UTC+1, before; GMT after). The range is Mon 19 Oct – Sun 1 Nov 2026:
[18 Oct 23:00 UTC, 2 Nov 00:00 UTC). "Now" is 10 Nov 2026 12:00 UTC.

    case  received (UTC)  local day  area      source       status     reviewed  quote sent
    c1    18 Oct 23:30    19 Oct     acne      clinic_page  new        -         -
    c2    18 Oct 22:30    18 Oct     acne      clinic_page  new        -         -     before
    c3    24 Oct 23:30    25 Oct     rosacea   directory    in_review  yes       -
    c4    25 Oct 23:30    25 Oct     acne      directory    quoted     -         yes   (GMT)
    c5    26 Oct 00:30    26 Oct     scarring  clinic_page  accepted   yes       yes
    c6    1 Nov 23:59     1 Nov      acne      clinic_page  declined   -         yes
    c7    2 Nov 00:00     2 Nov      acne      directory    quoted     -         yes   after
    c8    20 Oct 12:00    20 Oct     rosacea   clinic_page  accepted   -         -     (legacy)
    c9    21 Oct 09:00    21 Oct     acne      directory    in_review  yes       yes

Quotes (status total currency): c4 superseded 50.00 EUR, sent 120.50 EUR; c5 accepted 300.00
EUR, draft 999.00 EUR; c6 declined 80.25 EUR; c7 sent 70.00 EUR; c8 accepted 200.00 EUR,
withdrawn 10.00 EUR; c9 expired 40.00 USD.

Clinic B has cases and accepted quotes in the same days: none of them may count for A.

A case's quoted value is its latest version sent (a declined or expired version sent again
counts as the later one only); its accepted value the version accepted.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.sql import visitors
from sqlmodel import col, select

from mi_portal.db import TenantScopeError, get_engine, platform_session, tenant_session
from mi_portal.models import AuditEvent, Quote, Role, Submission, Tenant, tenant_models, uuid7
from mi_portal.services import clock, report_sql, report_timing, report_traffic, reports
from mi_portal.services.actor import Actor, PermissionDenied
from mi_portal.services.labels import action_label
from mi_portal.services.report_types import ClinicReport, ReportQuery
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, owner_session

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
ZONE = "Europe/London"
RANGE = ReportQuery(date_from="2026-10-19", date_to="2026-11-01", grain="week")
WEEKS = ["Week of 19 Oct 2026", "Week of 26 Oct 2026"]
TODAY = date(2026, 11, 10)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    a: uuid.UUID
    b: uuid.UUID
    owner: Actor
    manager: Actor
    b_owner: Actor
    cases: dict[str, uuid.UUID]


def _clinic(tenant: uuid.UUID, zone: str, currency: str, locale: str) -> None:
    with platform_session() as session:
        row = session.get(Tenant, tenant)
        assert row is not None
        row.timezone, row.currency, row.locale = zone, currency, locale
        session.add(row)
        session.commit()


def _case(
    tenant: uuid.UUID,
    received: datetime,
    area: str,
    source: str,
    status: str,
    *,
    reviewed: bool = False,
    sent: bool = False,
    quotes: tuple[tuple[str, str, str], ...] = (),
) -> uuid.UUID:
    _, case_id = make_case(tenant, status=status)
    with tenant_session(tenant) as session:
        row = session.get(Submission, (tenant, case_id))
        assert row is not None
        row.received_at = received
        row.concern_area, row.source = area, source
        row.reviewed_at = received + timedelta(hours=2) if reviewed else None
        row.quote_sent_at = received + timedelta(hours=5) if sent else None
        session.add(row)
        for version, (status_, total, currency) in enumerate(quotes, start=1):
            session.add(
                Quote(
                    id=uuid7(),
                    submission_id=case_id,
                    version=version,
                    status=status_,
                    total=Decimal(total),
                    currency=currency,
                )
            )
        session.commit()
    return case_id


def _actor(tenant: uuid.UUID, role: Role, email: str) -> Actor:
    user_id, _ = make_user(email, role=role.value, tenants=(tenant,), enrolled=False)
    return Actor(user_id=user_id, role=role, tenant_id=tenant, home_tenant_id=tenant)


@pytest.fixture
def world(db: Database) -> Iterator[World]:
    clock.set_clock(lambda: NOW)
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    _clinic(a, ZONE, "EUR", "en_GB")
    _clinic(b, "UTC", "EUR", "en_GB")
    cases = {
        "c1": _case(a, at(10, 18, 23, 30), "acne", "clinic_page", "new"),
        "c2": _case(a, at(10, 18, 22, 30), "acne", "clinic_page", "new"),
        "c3": _case(a, at(10, 24, 23, 30), "rosacea", "directory", "in_review", reviewed=True),
        "c4": _case(
            a, at(10, 25, 23, 30), "acne", "directory", "quoted", sent=True,
            quotes=(("superseded", "50.00", "EUR"), ("sent", "120.50", "EUR")),
        ),
        "c5": _case(
            a, at(10, 26, 0, 30), "scarring", "clinic_page", "accepted", reviewed=True, sent=True,
            quotes=(("accepted", "300.00", "EUR"), ("draft", "999.00", "EUR")),
        ),
        "c6": _case(
            a, at(11, 1, 23, 59), "acne", "clinic_page", "declined", sent=True,
            quotes=(("declined", "80.25", "EUR"),),
        ),
        "c7": _case(
            a, at(11, 2, 0, 0), "acne", "directory", "quoted", sent=True,
            quotes=(("sent", "70.00", "EUR"),),
        ),
        "c8": _case(
            a, at(10, 20, 12), "rosacea", "clinic_page", "accepted",
            quotes=(("accepted", "200.00", "EUR"), ("withdrawn", "10.00", "EUR")),
        ),
        "c9": _case(
            a, at(10, 21, 9), "acne", "directory", "in_review", reviewed=True, sent=True,
            quotes=(("expired", "40.00", "USD"),),
        ),
    }  # fmt: skip
    # Clinic B: busier, in the same days, with accepted quotes of its own.
    for day in (19, 20, 25, 26, 27):
        for area in ("acne", "teeth"):
            _case(
                b, at(10, day, 12), area, "directory", "accepted", reviewed=True, sent=True,
                quotes=(("accepted", "1000.00", "EUR"),),
            )  # fmt: skip
    _case(b, at(10, 22, 12), "acne", "clinic_page", "new")
    owner = _actor(a, Role.CLINIC_OWNER, "owner@a.test")
    manager = _actor(a, Role.CLINIC_MANAGER, "manager@a.test")
    b_owner = _actor(b, Role.CLINIC_OWNER, "owner@b.test")
    try:
        yield World(a, b, owner, manager, b_owner, cases)
    finally:
        clock.set_clock(None)


def _charts(report: ClinicReport) -> dict[str, Any]:
    return {c.key: c for c in report.charts}


def _stats(report: ClinicReport) -> dict[str, str]:
    return {s.key: s.value for s in report.stats}


def _query(**changes: str) -> ReportQuery:
    return ReportQuery(**{**RANGE.__dict__, **changes})


# ---------------------------------------------------------------------------------------------
# Each series against the hand-computed values


def test_received_by_week_day_and_month_on_the_clinics_clock(world: World) -> None:
    charts = _charts(reports.clinic_report(world.owner, RANGE))
    received = charts["received"]
    assert received.kind == "bar" and received.columns == ["Period", "Cases"]
    # c4 arrived 23:30 UTC on the 25th: still the 25th in London after the clocks went back.
    assert received.rows == [[WEEKS[0], "5"], [WEEKS[1], "2"]]
    assert received.x == WEEKS and received.series[0].values == [5.0, 2.0]

    daily = _charts(reports.clinic_report(world.owner, _query(grain="day")))["received"]
    counts = {row[0]: row[1] for row in daily.rows}
    assert len(daily.rows) == 14 and sum(int(n) for n in counts.values()) == 7
    assert {k: v for k, v in counts.items() if v != "0"} == {
        "19 Oct 2026": "1",  # c1: 23:30 UTC on the 18th is 00:30 BST on the 19th
        "20 Oct 2026": "1",
        "21 Oct 2026": "1",
        "25 Oct 2026": "2",
        "26 Oct 2026": "1",
        "1 Nov 2026": "1",  # c6: the last minute of the range
    }
    monthly = _charts(reports.clinic_report(world.owner, _query(grain="month")))["received"]
    assert monthly.rows == [["Oct 2026", "6"], ["Nov 2026", "1"]]


def test_by_area_and_by_source(world: World) -> None:
    charts = _charts(reports.clinic_report(world.manager, RANGE))
    area = charts["by_area"]
    assert area.kind == "hbar" and area.columns == ["Concern area", "Cases", "Share"]
    assert area.rows == [
        ["Acne", "4", "57.1 %"],
        ["Redness or rosacea", "2", "28.6 %"],
        ["Scars", "1", "14.3 %"],
    ]
    assert area.x == ["Acne", "Redness or rosacea", "Scars"]
    source = charts["by_source"]
    assert source.columns == ["Source", "Cases", "Share"]
    assert source.rows == [["Clinic page", "4", "57.1 %"], ["Multi-clinic form", "3", "42.9 %"]]


def test_funnel_and_conversion(world: World) -> None:
    report = reports.clinic_report(world.owner, RANGE)
    funnel = _charts(report)["funnel"]
    assert funnel.kind == "funnel"
    assert funnel.columns == ["Stage", "Cases", "Of received", "Of previous stage"]
    # In review: c3 (reviewed), c4, c6, c9 (quote sent), c5, c8 (accepted; c8 with neither).
    assert funnel.rows == [
        ["Received", "7", "100.0 %", "—"],
        ["In review", "6", "85.7 %", "85.7 %"],
        ["Quoted", "5", "71.4 %", "83.3 %"],
        ["Accepted", "2", "28.6 %", "40.0 %"],
    ]
    stats = _stats(report)
    assert stats["received"] == "7" and stats["conversion"] == "28.6 %"


def test_quoted_and_accepted_value_per_currency(world: World) -> None:
    report = reports.clinic_report(world.owner, RANGE)
    value = _charts(report)["value"]
    assert value.kind == "bar" and value.columns == ["Period", "Currency", "Quoted", "Accepted"]
    # Quoted: sent, viewed, accepted, declined, expired; never drafts, withdrawn, superseded.
    assert value.rows == [
        [WEEKS[0], "EUR", "320.50", "200.00"],  # c4 120.50 sent, c8 200.00 accepted
        [WEEKS[0], "USD", "40.00", "0.00"],  # c9 expired
        [WEEKS[1], "EUR", "380.25", "300.00"],  # c5 300.00 accepted, c6 80.25 declined
        [WEEKS[1], "USD", "0.00", "0.00"],
    ]
    assert [s.name for s in value.series] == [
        "Quoted (EUR)", "Accepted (EUR)", "Quoted (USD)", "Accepted (USD)",
    ]  # fmt: skip
    assert value.series[0].values == [320.5, 380.25]
    assert _stats(report)["accepted_value"] == "€500.00"


def test_a_quote_sent_again_counts_only_its_latest_version(world: World) -> None:
    """Three cases of the week of Mon 7 Sep 2026 (BST) whose first quote was not the last:

        d1  accepted   v1 declined 100.00 EUR, v2 accepted 150.00 EUR
        d2  declined   v1 expired 60.00 EUR, v2 declined 90.00 EUR, v3 draft 500.00 EUR
        d3  quoted     v1 declined 40.00 USD, v2 sent 45.00 EUR

    Quoted: 150.00 + 90.00 + 45.00 = 285.00 EUR, and no USD at all; accepted: 150.00 EUR."""
    _case(world.a, at(9, 7, 10), "acne", "clinic_page", "accepted", reviewed=True, sent=True,
          quotes=(("declined", "100.00", "EUR"), ("accepted", "150.00", "EUR")))  # fmt: skip
    _case(world.a, at(9, 8, 10), "acne", "clinic_page", "declined", reviewed=True, sent=True,
          quotes=(("expired", "60.00", "EUR"), ("declined", "90.00", "EUR"),
                  ("draft", "500.00", "EUR")))  # fmt: skip
    _case(world.a, at(9, 9, 10), "acne", "directory", "quoted", reviewed=True, sent=True,
          quotes=(("declined", "40.00", "USD"), ("sent", "45.00", "EUR")))  # fmt: skip
    week = _query(date_from="2026-09-07", date_to="2026-09-13")
    report = reports.clinic_report(world.owner, week)
    value = _charts(report)["value"]
    assert value.rows == [["Week of 7 Sep 2026", "EUR", "285.00", "150.00"]]
    assert [s.name for s in value.series] == ["Quoted (EUR)", "Accepted (EUR)"]
    stats = _stats(report)
    assert stats["accepted_value"] == "€150.00" and stats["conversion"] == "33.3 %"
    assert [r[1] for r in _charts(report)["funnel"].rows] == ["3", "3", "3", "1"]
    assert reports.clinic_summary(world.owner, week) == _summary_of(report)


def test_open_cases_now_whatever_the_range(world: World) -> None:
    # New, in review or quoted, received whenever: c1, c2, c3, c4, c7, c9.
    assert _stats(reports.clinic_report(world.owner, RANGE))["open_now"] == "6"
    june = _query(date_from="2026-06-01", date_to="2026-06-30")
    assert _stats(reports.clinic_report(world.owner, june))["open_now"] == "6"
    acne = _query(concern_area="acne")
    assert _stats(reports.clinic_report(world.owner, acne))["open_now"] == "5"  # c1 c2 c4 c7 c9


def test_filters_change_every_case_figure(world: World) -> None:
    acne = reports.clinic_report(world.owner, _query(concern_area="acne"))
    charts = _charts(acne)
    assert charts["received"].rows == [[WEEKS[0], "3"], [WEEKS[1], "1"]]
    assert charts["by_area"].rows == [["Acne", "4", "100.0 %"]]
    assert charts["by_source"].rows == [
        ["Clinic page", "2", "50.0 %"], ["Multi-clinic form", "2", "50.0 %"],
    ]  # fmt: skip
    assert [r[1] for r in charts["funnel"].rows] == ["4", "3", "3", "0"]
    assert charts["value"].rows == [
        [WEEKS[0], "EUR", "120.50", "0.00"],
        [WEEKS[0], "USD", "40.00", "0.00"],
        [WEEKS[1], "EUR", "80.25", "0.00"],
        [WEEKS[1], "USD", "0.00", "0.00"],
    ]
    stats = _stats(acne)
    assert (stats["received"], stats["conversion"], stats["accepted_value"]) == (
        "4", "0.0 %", "€0.00",
    )  # fmt: skip

    directory = _charts(reports.clinic_report(world.owner, _query(source="directory")))
    assert directory["received"].rows == [[WEEKS[0], "3"], [WEEKS[1], "0"]]
    assert directory["by_source"].rows == [["Multi-clinic form", "3", "100.0 %"]]

    both = _charts(
        reports.clinic_report(world.owner, _query(concern_area="rosacea", source="clinic_page"))
    )
    assert [r[1] for r in both["funnel"].rows] == ["1", "1", "1", "1"]  # c8
    assert both["value"].rows == [
        [WEEKS[0], "EUR", "200.00", "200.00"],
        [WEEKS[1], "EUR", "0.00", "0.00"],
    ]


def test_an_empty_range_leaves_every_chart_empty(world: World) -> None:
    report = reports.clinic_report(
        world.owner, _query(date_from="2026-06-01", date_to="2026-06-30")
    )
    # Open cases per assignee are "now", whatever the range; everything else follows it.
    assert [c.key for c in report.charts if not c.empty] == ["workload"]
    for chart in report.charts:
        if chart.key != "workload":
            assert chart.rows == [] and chart.x == [] and chart.csv_bytes().count(b"\r\n") == 1
    stats = _stats(report)
    assert stats["received"] == stats["conversion"] == stats["accepted_value"] == "—"
    # A filter that matches nothing empties them too.
    teeth = reports.clinic_report(world.owner, _query(concern_area="teeth"))
    assert all(c.empty for c in teeth.charts if c.key != "workload")


def test_the_page_order_of_charts_and_stats(world: World) -> None:
    report = reports.clinic_report(world.owner, RANGE)
    assert [c.key for c in report.charts] == [
        "received", "by_area", "by_source", "funnel", "first_response", "first_quote", "value",
        "workload", "messages", "delivery_failures",
    ]  # fmt: skip
    assert [s.key for s in report.stats] == [
        "received", "conversion", "first_reply_on_time", "first_reply_median", "quote_on_time",
        "accepted_value", "open_now",
    ]  # fmt: skip
    assert report.zone_caption.startswith("Times in Europe/London")
    assert report.areas == ["acne", "rosacea", "scarring"]
    assert report.query == RANGE


# ---------------------------------------------------------------------------------------------
# The home page's summary


def _summary_of(report: ClinicReport) -> list[Any]:
    stats = {s.key: s for s in report.stats}
    return [stats[k] for k in reports.SUMMARY_KEYS]


def test_the_summary_shows_the_reports_own_figures(world: World) -> None:
    assert reports.SUMMARY_KEYS == (
        "received", "conversion", "first_reply_on_time", "accepted_value",
    )  # fmt: skip
    summary = reports.clinic_summary(world.owner, RANGE)
    assert [(s.key, s.value) for s in summary] == [
        ("received", "7"), ("conversion", "28.6 %"), ("first_reply_on_time", "—"),
        ("accepted_value", "€500.00"),
    ]  # fmt: skip
    for query in (
        RANGE,
        _query(concern_area="acne"),
        _query(source="directory", grain="day"),
        _query(concern_area="rosacea", source="clinic_page", grain="month"),
        _query(date_from="2026-06-01", date_to="2026-06-30"),
    ):
        report = reports.clinic_report(world.manager, query)
        assert reports.clinic_summary(world.manager, query) == _summary_of(report), query
    # Replies against their target: the summary's share is the report's.
    with tenant_session(world.a) as session:
        for key, (reply, due) in {"c1": (1, 4), "c3": (6, 4), "c4": (None, 4)}.items():
            row = session.get(Submission, (world.a, world.cases[key]))
            assert row is not None
            row.first_response_at = (
                None if reply is None else row.received_at + timedelta(hours=reply)
            )
            row.first_response_due_at = row.received_at + timedelta(hours=due)
            session.add(row)
        session.commit()
    report = reports.clinic_report(world.owner, RANGE)
    # c1 met, c3 missed, c4 (quoted: no longer waiting for a reply) not judged.
    assert _stats(report)["first_reply_on_time"] == "50.0 %"
    assert reports.clinic_summary(world.owner, RANGE) == _summary_of(report)
    assert reports.clinic_summary(world.b_owner, RANGE)[0].value == "11"


def _statements_run(call: Any) -> list[str]:
    seen: list[str] = []
    engine = get_engine()

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        text = statement.lstrip()
        # The figures' statements: not the clinic's row, nor the session's row-level setting.
        figure = text.upper().startswith("SELECT") and not text.startswith("SELECT tenant.")
        if figure and "set_config" not in text:
            seen.append(text)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def test_the_summary_runs_only_the_statements_its_figures_need(world: World) -> None:
    full = _statements_run(lambda: reports.clinic_report(world.owner, RANGE))
    summary = _statements_run(lambda: reports.clinic_summary(world.owner, RANGE))
    # The report runs nine statements for its figures; the summary the funnel's counts, the
    # accepted value per currency and the first replies' timing.
    assert len(full) == 9 and len(summary) == 3
    assert summary[0] == full[0]  # the very funnel statement of the report
    assert "sent.latest" not in summary[1] and " AS target, " in summary[2]
    read = " ".join(summary).lower()
    assert "message" not in read and "outboxmessage" not in read and "user_account" not in read


# ---------------------------------------------------------------------------------------------
# Clinic isolation


def test_another_clinics_rows_never_count(world: World) -> None:
    a = reports.clinic_report(world.owner, RANGE)
    b = reports.clinic_report(world.b_owner, RANGE)
    assert _stats(a)["received"] == "7" and _stats(b)["received"] == "11"
    assert _charts(b)["by_area"].rows == [
        ["Acne", "6", "54.5 %"], ["Teeth and smile", "5", "45.5 %"],
    ]  # fmt: skip
    assert _charts(b)["value"].rows == [
        ["Week of 19 Oct 2026", "EUR", "6000.00", "6000.00"],
        ["Week of 26 Oct 2026", "EUR", "4000.00", "4000.00"],
    ]
    assert _stats(b)["open_now"] == "1"
    assert "teeth" not in a.areas


def _tenant_tables(statement: Any) -> set[str]:
    tables = {m.__table__ for m in tenant_models()}  # type: ignore[attr-defined]
    return {e.name for e in visitors.iterate(statement) if isinstance(e, sa.Table) and e in tables}


def _scope(tenant: uuid.UUID, query: ReportQuery, dialect: str) -> reports.Scope:
    start, end = report_sql.utc_range(ZONE, date(2026, 10, 19), date(2026, 11, 1))
    labels = report_sql.bucket_labels(date(2026, 10, 19), date(2026, 11, 1), query.grain)
    return reports.Scope(tenant, query, ZONE, start, end, dialect, labels)


def _every_statement(shape: report_sql.Shape) -> dict[str, Any]:
    return {
        **reports.statements(shape),
        "timing": report_timing.timing_statement(shape),
        "reply": report_timing.reply_statement(shape),
        "workload": report_timing.workload_statement(shape),
        "messages": report_traffic.messages_statement(shape),
        "delivery_failures": report_traffic.deliveries_statement(shape),
    }


# A table's clinic: the statement's own parameter, or the clinic of the row it joins.
PINNED = r"(:tenant\b|submission\.tenant_id|messagethread\.tenant_id|message\.tenant_id|outboxmessage\.tenant_id)"


def test_every_statement_shape_pins_each_table_to_the_clinic() -> None:
    """The statements run beneath the ORM's tenant criteria, so each shape carries its own:
    every clinic table it reads is pinned to :tenant, or joined to the clinic of one that is."""
    shapes = [
        report_sql.Shape(dialect, grain, area, source, segments)
        for dialect, segments in (("postgresql", 1), ("sqlite", 1), ("sqlite", 3))
        for grain in report_sql.GRAINS
        for area in (False, True)
        for source in (False, True)
    ]
    for shape in shapes:
        for key, statement in _every_statement(shape).items():
            compiled = statement.compile()
            sql = str(compiled)
            used = _tenant_tables(statement)
            assert used and "tenant" not in used, (shape, key)
            assert re.search(r"\b(submission|message|outboxmessage)\.tenant_id = :tenant\b", sql)
            for table in used:
                assert re.search(rf"\b{table}\.tenant_id = {PINNED}", sql), (shape, key, table)
            if "quote" in used:  # the quote joins its case within the same clinic
                assert "quote.tenant_id = submission.tenant_id" in sql, (shape, key)
            # No clinic is written into the statement: it comes with each run.
            assert not any(isinstance(v, uuid.UUID) for v in compiled.params.values()), key


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_view_binds_its_own_clinic(dialect: str) -> None:
    tenant = uuid.uuid4()
    query = _query(concern_area="acne", source="directory")
    shape, values = _scope(tenant, query, dialect).bind(NOW)
    assert shape == report_sql.Shape(
        dialect, "week", True, True, 1 if dialect == "postgresql" else 2
    )
    assert values["tenant"] == tenant and values["area"] == "acne"
    assert values["source"] == "directory" and values["now"] == NOW
    assert [v for v in values.values() if isinstance(v, uuid.UUID)] == [tenant]
    # A statement of this clinic's shape never runs in another clinic's session.
    with tenant_session(uuid.uuid4()) as session, pytest.raises(TenantScopeError):
        report_sql.rows(session, reports.statements(shape)["received"], values)


def test_what_the_database_runs_for_one_clinic_names_only_it(world: World) -> None:
    seen: list[tuple[str, Any]] = []
    engine = get_engine()

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        reports.clinic_report(world.owner, _query(concern_area="acne"))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    forms = {str(world.b), world.b.hex}
    mine = {str(world.a), world.a.hex}
    figures = [(s, p) for s, p in seen if re.search(r"\bFROM submission\b", s, re.IGNORECASE)]
    assert len(figures) >= 6
    for statement, parameters in seen:
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        texts = {str(v) for v in values} | {getattr(v, "hex", "") for v in values}
        assert not texts & forms, statement
    for statement, parameters in figures:
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        texts = {str(v) for v in values} | {getattr(v, "hex", "") for v in values}
        assert texts & mine, statement


def test_row_level_security_alone_keeps_the_figures_to_the_clinic(pg: Database) -> None:
    """The app's role, with the clinic set for RLS, runs the statements of another clinic's
    scope: it reads nothing. The clinic's own scope reads its rows."""
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    _case(a, at(10, 20, 12), "acne", "clinic_page", "accepted",
          quotes=(("accepted", "10.00", "EUR"),))  # fmt: skip
    _case(b, at(10, 20, 12), "acne", "clinic_page", "accepted",
          quotes=(("accepted", "20.00", "EUR"),))  # fmt: skip
    with pg.engine.connect() as conn:

        def figures(scope_of: uuid.UUID, rls: uuid.UUID) -> dict[str, list[Any]]:
            with conn.begin():
                conn.execute(
                    sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(rls)}
                )
                shape, values = _scope(scope_of, RANGE, "postgresql").bind(NOW)
                run = _every_statement(shape)
                return {
                    k: [tuple(r) for r in conn.execute(s, values).all()] for k, s in run.items()
                }

        with conn.begin():
            assert conn.execute(sa.text("select current_user")).scalar() != "postgres"
        own = figures(a, a)
        assert own["received"] == [("2026-10-19", 1)] and own["funnel"] == [(1, 1, 1, 1)]
        assert own["value"] == [("2026-10-19", "EUR", 1000, 1000)]
        assert own["accepted_value"] == [("EUR", 1000)] and own["reply"]
        assert own["areas"] == [("acne", 1)] and own["timing"]
        other = figures(b, a)
        assert other["received"] == [] and other["funnel"] == [(0, 0, 0, 0)]
        assert other["value"] == [] and other["areas"] == [] and other["timing"] == []
        assert other["accepted_value"] == [] and other["reply"] == []


# ---------------------------------------------------------------------------------------------
# Permissions and audit


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.VIEWER, Role.PROVIDER])
def test_roles_without_the_dashboard_are_refused(world: World, role: Role) -> None:
    actor = _actor(world.a, role, f"{role.value}@a.test")
    for call in (
        lambda: reports.clinic_report(actor, RANGE),
        lambda: reports.clinic_summary(actor, RANGE),
        lambda: reports.record_view(actor, RANGE),
        lambda: reports.record_summary_view(actor, RANGE),
        lambda: reports.record_export(actor, RANGE, "received"),
        lambda: reports.clinic_today(actor),
    ):
        with pytest.raises(PermissionDenied):
            call()


def test_platform_staff_are_refused_outside_and_inside_a_clinic(world: World) -> None:
    for role in (Role.PLATFORM_ADMIN, Role.PLATFORM_SUPPORT):
        user_id, _ = make_user(f"{role.value}@platform.test", platform_role=role.value)
        for tenant in (None, world.a):
            actor = Actor(user_id=user_id, role=role, tenant_id=tenant)
            with pytest.raises(PermissionDenied):
                reports.clinic_report(actor, RANGE)
            with pytest.raises(PermissionDenied):
                reports.record_view(actor, RANGE)
            with pytest.raises(PermissionDenied):
                reports.clinic_summary(actor, RANGE)


def _events(tenant: uuid.UUID, action: str) -> list[AuditEvent]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.chain == str(tenant), AuditEvent.action == action)
                .order_by(col(AuditEvent.seq))
            ).all()
        )


def test_each_view_is_one_audit_event_and_each_export_another(world: World) -> None:
    query = _query(concern_area="acne", source="directory", grain="day")
    reports.clinic_report(world.owner, query)  # computing records nothing by itself
    assert _events(world.a, "reports.viewed") == []
    reports.record_view(world.owner, query)
    reports.record_view(world.manager, RANGE)
    viewed = _events(world.a, "reports.viewed")
    assert [e.details for e in viewed] == [
        {"from": "2026-10-19", "to": "2026-11-01", "grain": "day", "area": "acne",
         "source": "directory"},
        {"from": "2026-10-19", "to": "2026-11-01", "grain": "week", "area": "", "source": ""},
    ]  # fmt: skip
    assert [e.user_id for e in viewed] == [world.owner.user_id, world.manager.user_id]
    reports.record_export(world.owner, RANGE, "by_area")
    exported = _events(world.a, "reports.exported")
    assert len(exported) == 1 and exported[0].target_id == "by_area"
    assert exported[0].details["chart"] == "by_area"
    with pytest.raises(ValueError):
        reports.record_export(world.owner, RANGE, "everything")
    assert _events(world.b, "reports.viewed") == []
    assert action_label("reports.viewed") == "Looked at the clinic's reports"
    assert "CSV" in action_label("reports.exported")


def test_a_summary_view_is_its_own_audit_event(world: World) -> None:
    month = _query(date_from="2026-10-12", date_to="2026-11-10")
    reports.clinic_summary(world.owner, month)  # computing records nothing by itself
    assert _events(world.a, "reports.summary_viewed") == []
    reports.record_summary_view(world.owner, month)
    shown = _events(world.a, "reports.summary_viewed")
    assert len(shown) == 1 and shown[0].user_id == world.owner.user_id
    assert shown[0].details == {
        "from": "2026-10-12", "to": "2026-11-10", "grain": "week", "area": "", "source": "",
    }  # fmt: skip
    assert _events(world.a, "reports.viewed") == []
    assert action_label("reports.summary_viewed") == (
        "Looked at the clinic's figures on the home page"
    )


def test_today_follows_the_clinics_clock(world: World) -> None:
    clock.set_clock(lambda: datetime(2026, 11, 10, 23, 30, tzinfo=UTC))
    assert reports.clinic_today(world.owner) == date(2026, 11, 10)  # London: GMT
    _clinic(world.a, "Asia/Tokyo", "EUR", "en_GB")
    assert reports.clinic_today(world.owner) == date(2026, 11, 11)


# ---------------------------------------------------------------------------------------------
# The query


def test_the_default_is_the_last_90_days_by_week() -> None:
    default = reports.default_query(TODAY)
    assert default == ReportQuery("2026-08-13", "2026-11-10", "week", "", "")
    assert reports.parse_query({}, TODAY) == default
    assert reports.parse_query({"from": " ", "grain": ""}, TODAY) == default


def test_the_query_is_trimmed_and_lower_cased() -> None:
    query = reports.parse_query(
        {"from": " 2026-01-05 ", "to": "2026-02-01", "grain": " Month ", "area": "ACNE ",
         "source": " Directory"},
        TODAY,
    )  # fmt: skip
    assert query == ReportQuery("2026-01-05", "2026-02-01", "month", "acne", "directory")
    # A lone start runs to today; a lone end starts 90 days before it.
    assert reports.parse_query({"from": "2026-11-01"}, TODAY).date_to == "2026-11-10"
    assert reports.parse_query({"to": "2026-03-31"}, TODAY).date_from == "2026-01-01"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from", "The start date must be on or before the end date"),
        ({"from": "2023-01-01", "to": "2026-11-01"}, "range", "Choose a range of at most 3 years"),
        ({"from": "2025-01-01", "to": "2026-11-01", "grain": "day"}, "grain", "A daily view covers at most 400 days: choose weeks or months"),
        ({"grain": "hour"}, "grain", "day, week or month"),
        ({"area": "knees"}, "area", "concern areas"),
        ({"source": "email"}, "source", "multi-clinic form"),
        ({"from": "1/11/2026"}, "from", "YYYY-MM-DD"),
        ({"to": "20261101"}, "to", "YYYY-MM-DD"),
        ({"to": "2026-02-30"}, "to", "not a day"),
    ],
)  # fmt: skip
def test_each_bad_value_is_refused_with_a_sentence(
    params: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(reports.ReportQueryInvalid) as caught:
        reports.parse_query(params, TODAY)
    assert caught.value.field == field and message in caught.value.message
    assert str(caught.value) == caught.value.message


def test_the_longest_ranges_allowed() -> None:
    three_years = reports.parse_query({"from": "2023-11-02", "to": "2026-11-01"}, TODAY)
    assert three_years.grain == "week"
    daily = reports.parse_query({"from": "2025-10-28", "to": "2026-12-01", "grain": "day"}, TODAY)
    assert report_sql.bucket_count(date(2025, 10, 28), date(2026, 12, 1), "day") == 400
    assert daily.grain == "day"


def test_a_query_built_by_hand_is_checked_too(world: World) -> None:
    with pytest.raises(reports.ReportQueryInvalid):
        reports.clinic_report(world.owner, _query(grain="year"))
    with pytest.raises(reports.ReportQueryInvalid):
        reports.clinic_report(world.owner, _query(date_from="2026-11-05"))
