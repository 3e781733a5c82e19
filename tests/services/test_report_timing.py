"""The dashboard's timing and traffic figures equal hand-computed values, on both databases.

Clinic A keeps New York time (EST, UTC−5, over the range). The range is Mon 2 Nov – Sun 15 Nov
2026 by week: [2 Nov 05:00 UTC, 16 Nov 05:00 UTC). "Now" is 30 Nov 2026 12:00 UTC.

Cases of clinic A (hours after receipt; due = the target, "-" = none):

    case  received (UTC)  area  source       status     assignee  reply (due)  quote (due)
    c1    3 Nov 14:00     acne  clinic_page  quoted     Ann       0.5 (4)      30 (48)
    c2    4 Nov 14:00     acne  directory    accepted   Ann       1 (4)        50 (48)
    c3    10 Nov 10:00    hair  clinic_page  in_review  Ben       6 (4)        - (48)
    c4    11 Nov 10:00    hair  directory    new        -         24 (4)       - (-)
    c5    12 Nov 10:00    acne  clinic_page  new        -         - (4)        - (due 5 Dec)
    c6    14 Nov 10:00    acne  clinic_page  in_review  Ann       170 (4)      - (48)
    c7    20 Oct 12:00    acne  clinic_page  quoted     Ben       2 (4)        - (-)      before
    c8    16 Nov 04:30    hair  clinic_page  closed     -         2 (4)        - (-)      15 Nov EST
    c9    16 Nov 05:30    hair  directory    new        Ben       - (4)        - (-)      after

Clinic B has its own case, messages and deliveries in the same range: none of them may count.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from mi_portal.db import TenantScopeError, platform_session, tenant_session
from mi_portal.models import Message, MessageThread, OutboxMessage, Submission, Tenant, User
from mi_portal.services import report_sql
from mi_portal.services.report_timing import timing_charts
from mi_portal.services.report_types import Chart, ReportQuery
from tests.factories import make_case, make_tenant, make_user

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
ZONE = "America/New_York"
H = timedelta(hours=1)
RANGE = ReportQuery(date_from="2026-11-02", date_to="2026-11-15", grain="week")
WEEKS = ["Week of 2 Nov 2026", "Week of 9 Nov 2026"]
BIN_LABELS = ["< 1 h", "1–4 h", "4–8 h", "8–24 h", "1–2 days", "2–7 days", "> 7 days"]
MESSAGE_SERIES = [
    "Sent · Email",
    "Sent · SMS",
    "Received · Email",
    "Received · SMS",
    "Received · Reply page",
]


def at(day: int, hour: float, month: int = 11) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC) + hour * H


@dataclass(frozen=True)
class Clinics:
    a: uuid.UUID
    b: uuid.UUID
    empty: uuid.UUID


def _user(email: str, name: str, tenant: uuid.UUID) -> uuid.UUID:
    user_id, _ = make_user(email, role="coordinator", tenants=(tenant,), enrolled=False)
    with platform_session() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.full_name = name
        session.add(user)
        session.commit()
    return user_id


def _zone(tenant: uuid.UUID, zone: str) -> None:
    with platform_session() as session:
        row = session.get(Tenant, tenant)
        assert row is not None
        row.timezone = zone
        session.add(row)
        session.commit()


def _case(
    tenant: uuid.UUID,
    received: datetime,
    *,
    area: str,
    source: str,
    status: str,
    assignee: uuid.UUID | None = None,
    reply: float | None = None,
    reply_due: float | None = 4,
    quote: float | None = None,
    quote_due: float | datetime | None = 48,
) -> uuid.UUID:
    _, case_id = make_case(tenant, status=status)
    with tenant_session(tenant) as session:
        row = session.get(Submission, (tenant, case_id))
        assert row is not None
        row.received_at = received
        row.concern_area = area
        row.source = source
        row.assignee_id = assignee
        row.first_response_at = None if reply is None else received + reply * H
        row.first_response_due_at = None if reply_due is None else received + reply_due * H
        row.quote_sent_at = None if quote is None else received + quote * H
        if isinstance(quote_due, datetime):
            row.sla_due_at = quote_due
        else:
            row.sla_due_at = None if quote_due is None else received + quote_due * H
        session.add(row)
        session.commit()
    return case_id


def _messages(
    tenant: uuid.UUID,
    case_id: uuid.UUID,
    messages: list[tuple[str, str, datetime, list[tuple[str, str]]]],
) -> None:
    """(direction, channel, written at, [(delivery status, kind)…]) for one case's thread."""
    with tenant_session(tenant) as session:
        thread = MessageThread(submission_id=case_id)
        session.add(thread)
        session.flush()
        for direction, channel, when, deliveries in messages:
            message = Message(
                thread_id=thread.id, direction=direction, channel=channel, body="x", created_at=when
            )
            session.add(message)
            session.flush()
            for status, kind in deliveries:
                session.add(
                    OutboxMessage(
                        message_id=message.id, channel=channel, recipient="p@example.org",
                        body="x", status=status, kind=kind, created_at=when,
                    )
                )  # fmt: skip
        session.commit()


def _world() -> Clinics:
    a, b, empty = make_tenant("timing-a"), make_tenant("timing-b"), make_tenant("timing-empty")
    for tenant in (a, b, empty):
        _zone(tenant, ZONE)
    ann = _user("ann@example.org", "Ann Lee", a)
    ben = _user("ben@example.org", "Ben Okafor", a)
    zed = _user("zed@example.org", "Zed Other", b)
    c1 = _case(a, at(3, 14), area="acne", source="clinic_page", status="quoted", assignee=ann, reply=0.5, quote=30)  # fmt: skip
    _case(a, at(4, 14), area="acne", source="directory", status="accepted", assignee=ann, reply=1, quote=50)  # fmt: skip
    c3 = _case(a, at(10, 10), area="hair", source="clinic_page", status="in_review", assignee=ben, reply=6)  # fmt: skip
    _case(a, at(11, 10), area="hair", source="directory", status="new", reply=24, quote_due=None)  # fmt: skip
    c5 = _case(a, at(12, 10), area="acne", source="clinic_page", status="new", quote_due=at(5, 0, 12))  # fmt: skip
    _case(a, at(14, 10), area="acne", source="clinic_page", status="in_review", assignee=ann, reply=170)  # fmt: skip
    c7 = _case(a, at(20, 12, 10), area="acne", source="clinic_page", status="quoted", assignee=ben, reply=2, quote_due=None)  # fmt: skip
    _case(a, at(16, 4.5), area="hair", source="clinic_page", status="closed", reply=2, quote_due=None)  # fmt: skip
    _case(a, at(16, 5.5), area="hair", source="directory", status="new", assignee=ben, quote_due=None)  # fmt: skip
    sent, failed, delivered, pending = "sent", "failed", "delivered", "pending"
    patient, notice = "patient_message", "staff_notice"
    _messages(a, c1, [
        ("outbound", "email", at(3, 14.5), [(sent, patient)]),
        ("inbound", "email", at(4, 9), []),
        ("inbound", "portal", at(5, 9), []),
        ("outbound", "email", at(2, 4.5), [(failed, patient)]),  # 1 Nov 23:30 EST: before
    ])  # fmt: skip
    _messages(a, c3, [
        ("outbound", "sms", at(10, 16), [(failed, patient), (pending, patient)]),
        ("inbound", "sms", at(11, 8), [(failed, notice)]),  # a notice to staff: not counted
    ])  # fmt: skip
    _messages(a, c7, [
        ("outbound", "email", at(9, 4), [(failed, patient)]),  # 8 Nov 23:00 EST: week of 2 Nov
        ("outbound", "email", at(16, 4.5), [(delivered, patient)]),  # 15 Nov 23:30 EST
    ])  # fmt: skip
    _messages(a, c5, [("outbound", "email", at(16, 5.5), [(failed, patient)])])  # after

    b1 = _case(b, at(3, 14), area="acne", source="clinic_page", status="new", assignee=zed, reply=0.5)  # fmt: skip
    _messages(b, b1, [
        ("outbound", "sms", at(3, 15), [(failed, patient)]),
        ("inbound", "email", at(4, 9), []),
    ])  # fmt: skip
    return Clinics(a, b, empty)


def _report(tenant: uuid.UUID, query: ReportQuery) -> tuple[dict[str, Chart], dict[str, str]]:
    start, end = report_sql.utc_range(
        ZONE, date.fromisoformat(query.date_from), date.fromisoformat(query.date_to)
    )
    with tenant_session(tenant) as session:
        row = session.get(Tenant, tenant)
        assert row is not None
        charts, stats = timing_charts(session, row, query, start, end, NOW)
    keys = [c.key for c in charts]
    assert keys == ["first_response", "first_quote", "workload", "messages", "delivery_failures"]
    assert [s.key for s in stats] == [
        "first_reply_on_time", "first_reply_median", "quote_on_time", "open_now",
    ]  # fmt: skip
    return {c.key: c for c in charts}, {s.key: s.value for s in stats}


def _bins(chart: Chart) -> list[int]:
    assert chart.x == BIN_LABELS
    assert [row[0] for row in chart.rows] == BIN_LABELS
    counts = [int(row[1]) for row in chart.rows]
    assert chart.series[0].values == [float(n) for n in counts]
    return counts


def _series(chart: Chart) -> dict[str, list[float | None]]:
    return {s.name: s.values for s in chart.series}


@pytest.fixture
def clinics(db) -> Clinics:  # type: ignore[no-untyped-def]
    return _world()


def test_every_figure_of_the_range(clinics: Clinics) -> None:
    charts, stats = _report(clinics.a, RANGE)
    # Cohort c1–c6 and c8 (c8 arrived 15 Nov 23:30 EST); c7 before, c9 after.
    reply = charts["first_response"]
    # c1 0.5 h; c2 exactly 1 h and c8 2 h; c3 6 h; c4 exactly 24 h; c6 170 h.
    assert _bins(reply) == [1, 2, 1, 0, 1, 0, 1]
    assert reply.columns == ["Time to first reply", "Cases"]
    # Met c1 c2 c8, missed c3 c4 c6, unanswered and overdue c5: 3 of 7.
    assert stats["first_reply_on_time"] == "42.9 %"
    # Median of 0.5, 1, 2, 6, 24, 170.
    assert stats["first_reply_median"] == "4.0 h"
    assert "42.9 % (3 of 7)" in reply.caption and "4.0 h" in reply.caption

    quote = charts["first_quote"]
    assert _bins(quote) == [0, 0, 0, 0, 1, 1, 0]  # c1 30 h, c2 50 h
    assert quote.columns == ["Time to first quote", "Cases"]
    # Met c1, missed c2, overdue c3 and c6; c4 and c8 have no target, c5's is still ahead.
    assert stats["quote_on_time"] == "25.0 %"
    assert "25.0 % (1 of 4)" in quote.caption and "40.0 h" in quote.caption

    workload = charts["workload"]
    assert workload.columns == ["Assignee", "Open cases", "Median age (days)"]
    # Ben: c3 20.08, c7 41.0, c9 14.27 days; Ann: c1 26.92, c6 16.08; nobody: c4 19.08, c5 18.08.
    assert workload.rows == [
        ["Ben Okafor", "3", "20.1"],
        ["Ann Lee", "2", "21.5"],
        ["Unassigned", "2", "18.6"],
    ]
    assert workload.x == ["Ben Okafor", "Ann Lee", "Unassigned"]
    assert _series(workload) == {
        "Open cases": [3.0, 2.0, 2.0],
        "Median age (days)": [20.1, 21.5, 18.6],
    }
    assert stats["open_now"] == "7"  # the workload's cases, whatever the range

    messages = charts["messages"]
    assert messages.x == WEEKS
    assert _series(messages) == {
        "Sent · Email": [2.0, 1.0],
        "Sent · SMS": [0.0, 1.0],
        "Received · Email": [1.0, 0.0],
        "Received · SMS": [0.0, 1.0],
        "Received · Reply page": [1.0, 0.0],
    }
    assert [s.name for s in messages.series] == MESSAGE_SERIES
    assert messages.columns == ["Period", "Direction", "Channel", "Messages"]
    assert messages.rows[:5] == [
        ["Week of 2 Nov 2026", "Sent", "Email", "2"],
        ["Week of 2 Nov 2026", "Sent", "SMS", "0"],
        ["Week of 2 Nov 2026", "Received", "Email", "1"],
        ["Week of 2 Nov 2026", "Received", "SMS", "0"],
        ["Week of 2 Nov 2026", "Received", "Reply page", "1"],
    ]
    assert sum(int(r[3]) for r in messages.rows) == 7

    failures = charts["delivery_failures"]
    assert failures.columns == ["Channel", "Deliveries", "Failed", "Failure rate"]
    assert failures.rows == [["Email", "3", "1", "33.3 %"], ["SMS", "2", "1", "50.0 %"]]
    assert _series(failures) == {"Deliveries": [3.0, 2.0], "Failed": [1.0, 1.0]}
    assert "2 of 5" in failures.caption and "40.0 %" in failures.caption


def test_a_missing_reply_or_quote_is_late_only_while_the_case_waits_for_it(
    clinics: Clinics,
) -> None:
    """As the queue's badge: past its due time without the reply (or quote), a case is late
    while new or in review; archived or closed without one, it is judged no more.

        e1  archived   no reply (due 4 h), no quote (due 48 h): neither late
        e2  closed     reply after 2 h (met), no quote (due 48 h): the quote not late
        e3  in_review  no reply, no quote, both due long ago: both late
        e4  declined   no reply (due 4 h): not late
    """
    hour = at(13, 10)
    _case(clinics.a, hour, area="acne", source="clinic_page", status="archived")
    _case(clinics.a, hour, area="acne", source="clinic_page", status="closed", reply=2)
    _case(clinics.a, hour, area="acne", source="clinic_page", status="in_review")
    _case(clinics.a, hour, area="acne", source="clinic_page", status="declined", quote_due=None)
    charts, stats = _report(clinics.a, RANGE)
    # Reply: met c1 c2 c8 e2, missed c3 c4 c6, overdue c5 e3: 4 of 9.
    assert stats["first_reply_on_time"] == "44.4 %"
    assert "44.4 % (4 of 9)" in charts["first_response"].caption
    # Quote: met c1, missed c2, overdue c3 c6 e3 (in review); e1 and e2 are not waiting: 1 of 5.
    assert stats["quote_on_time"] == "20.0 %"
    assert "20.0 % (1 of 5)" in charts["first_quote"].caption
    assert _bins(charts["first_response"]) == [1, 3, 1, 0, 1, 0, 1]  # e2's 2 h joins 1–4 h
    # Archived with a quote sent late: still missed (judged by the time it took).
    _case(clinics.a, hour, area="acne", source="clinic_page", status="archived", reply=1, quote=50)
    _, stats = _report(clinics.a, RANGE)
    assert stats["first_reply_on_time"] == "50.0 %"  # 5 of 10
    assert stats["quote_on_time"] == "16.7 %"  # 1 of 6


def test_concern_area_filter_applies_to_every_figure(clinics: Clinics) -> None:
    charts, stats = _report(clinics.a, ReportQuery("2026-11-02", "2026-11-15", "week", "acne"))
    # Cohort c1 c2 c5 c6.
    assert _bins(charts["first_response"]) == [1, 1, 0, 0, 0, 0, 1]
    assert stats["first_reply_on_time"] == "50.0 %"  # met c1 c2, missed c6, overdue c5
    assert stats["first_reply_median"] == "1.0 h"
    assert _bins(charts["first_quote"]) == [0, 0, 0, 0, 1, 1, 0]
    assert stats["quote_on_time"] == "33.3 %"  # met c1, missed c2, overdue c6
    assert charts["workload"].rows == [
        ["Ann Lee", "2", "21.5"],
        ["Ben Okafor", "1", "41.0"],
        ["Unassigned", "1", "18.1"],
    ]
    # The messages of c1 and c7 (c3 is hair).
    assert _series(charts["messages"]) == {
        "Sent · Email": [2.0, 1.0],
        "Sent · SMS": [0.0, 0.0],
        "Received · Email": [1.0, 0.0],
        "Received · SMS": [0.0, 0.0],
        "Received · Reply page": [1.0, 0.0],
    }
    assert charts["delivery_failures"].rows == [["Email", "3", "1", "33.3 %"]]


def test_source_filter_applies_to_every_figure(clinics: Clinics) -> None:
    query = ReportQuery("2026-11-02", "2026-11-15", "week", source="directory")
    charts, stats = _report(clinics.a, query)
    # Cohort c2 c4.
    assert _bins(charts["first_response"]) == [0, 1, 0, 0, 1, 0, 0]  # 1 h, 24 h
    assert stats["first_reply_on_time"] == "50.0 %"
    assert stats["first_reply_median"] == "12.5 h"
    assert _bins(charts["first_quote"]) == [0, 0, 0, 0, 0, 1, 0]
    assert stats["quote_on_time"] == "0.0 %"  # c2 late; c4 has no target
    assert charts["workload"].rows == [["Ben Okafor", "1", "14.3"], ["Unassigned", "1", "19.1"]]
    # No directory case has a message.
    assert charts["messages"].rows == [] and charts["delivery_failures"].rows == []
    both = ReportQuery("2026-11-02", "2026-11-15", "week", "hair", "directory")
    charts, stats = _report(clinics.a, both)
    assert _bins(charts["first_response"]) == [0, 0, 0, 0, 1, 0, 0]  # c4
    assert stats["first_reply_on_time"] == "0.0 %"
    assert stats["quote_on_time"] == "—"


def test_month_grain_and_the_clinic_clock(clinics: Clinics) -> None:
    # November in New York: [1 Nov 04:00 UTC (EDT), 1 Dec 05:00 UTC (EST)).
    charts, stats = _report(clinics.a, ReportQuery("2026-11-01", "2026-11-30", "month"))
    messages = charts["messages"]
    assert messages.x == ["Nov 2026"]
    assert _series(messages) == {
        "Sent · Email": [5.0],
        "Sent · SMS": [1.0],
        "Received · Email": [1.0],
        "Received · SMS": [1.0],
        "Received · Reply page": [1.0],
    }
    assert charts["delivery_failures"].rows == [["Email", "5", "3", "60.0 %"], ["SMS", "2", "1", "50.0 %"]]  # fmt: skip
    # c9 joins the cohort: unanswered and overdue; 3 of 8 on time.
    assert stats["first_reply_on_time"] == "37.5 %"
    days = _report(clinics.a, ReportQuery("2026-11-02", "2026-11-15", "day"))[0]["messages"]
    assert len(days.x) == 14 and days.x[6] == "8 Nov 2026"
    # 9 Nov 04:00 UTC is 8 Nov 23:00 in New York.
    assert _series(days)["Sent · Email"][6] == 1.0


def test_an_empty_range_has_empty_charts(clinics: Clinics) -> None:
    charts, stats = _report(clinics.a, ReportQuery("2025-01-06", "2025-01-12", "day"))
    for key in ("first_response", "first_quote", "messages", "delivery_failures"):
        assert charts[key].rows == [] and charts[key].empty, key
        assert charts[key].series == [] and charts[key].x == [], key
    assert stats == {
        "first_reply_on_time": "—",
        "first_reply_median": "—",
        "quote_on_time": "—",
        "open_now": "7",
    }
    # The workload is the open cases now, whatever the dates.
    assert [r[:2] for r in charts["workload"].rows] == [
        ["Ben Okafor", "3"],
        ["Ann Lee", "2"],
        ["Unassigned", "2"],
    ]
    charts, _ = _report(clinics.empty, RANGE)
    assert all(c.rows == [] for c in charts.values())


def test_another_clinics_rows_never_count(clinics: Clinics) -> None:
    charts, stats = _report(clinics.b, RANGE)
    assert _bins(charts["first_response"]) == [1, 0, 0, 0, 0, 0, 0]
    assert stats["first_reply_on_time"] == "100.0 %"
    assert charts["workload"].rows == [["Zed Other", "1", "26.9"]]
    assert _series(charts["messages"]) == {
        "Sent · Email": [0.0, 0.0],
        "Sent · SMS": [1.0, 0.0],
        "Received · Email": [1.0, 0.0],
        "Received · SMS": [0.0, 0.0],
        "Received · Reply page": [0.0, 0.0],
    }
    assert charts["delivery_failures"].rows == [["SMS", "1", "1", "100.0 %"]]
    # Clinic A's session never reads B's rows, even asked for them by B's id: it refuses.
    start, end = report_sql.utc_range(ZONE, date(2026, 11, 2), date(2026, 11, 15))
    with tenant_session(clinics.a) as session:
        other = session.get(Tenant, clinics.b)
        assert other is not None
        with pytest.raises(TenantScopeError):
            timing_charts(session, other, RANGE, start, end, NOW)
