"""The dashboards' SQL helpers give the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import Quote, Submission
from mi_portal.services import report_sql
from tests.factories import make_case, make_quote, make_tenant


def _dialect(session) -> str:  # type: ignore[no-untyped-def]
    return session.get_bind().dialect.name


def _receive(tenant, submission_id, when: datetime) -> None:  # type: ignore[no-untyped-def]
    with tenant_session(tenant) as session:
        row = session.get(Submission, (tenant, submission_id))
        assert row is not None
        row.received_at = when
        session.add(row)
        session.commit()


def test_utc_range_is_the_clinic_local_days() -> None:
    start, end = report_sql.utc_range("America/New_York", date(2026, 3, 7), date(2026, 3, 8))
    # EST (−5) at the start; the 8th is the day summer time begins (−4 from 07:00 UTC).
    assert start == datetime(2026, 3, 7, 5, tzinfo=UTC)
    assert end == datetime(2026, 3, 9, 4, tzinfo=UTC)


def test_offsets_find_each_change_to_the_second() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2027, 1, 1, tzinfo=UTC)
    segments = report_sql.offsets("Europe/London", start, end)
    assert segments == (
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 0),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), 60),
        (None, 0),
    )
    assert report_sql.offsets("UTC", start, end) == ((None, 0),)


@pytest.mark.parametrize(
    ("grain", "expected"),
    [
        ("day", ["2026-03-01", "2026-03-02", "2026-03-03"]),
        ("week", ["2026-02-23", "2026-03-02"]),
        ("month", ["2026-03-01"]),
    ],
)
def test_bucket_labels_cover_the_range(grain: str, expected: list[str]) -> None:
    assert report_sql.bucket_labels(date(2026, 3, 1), date(2026, 3, 3), grain) == expected
    assert report_sql.bucket_count(date(2026, 3, 1), date(2026, 3, 3), grain) == len(expected)


def test_bucket_labels_of_months_cross_the_year() -> None:
    labels = report_sql.bucket_labels(date(2026, 11, 15), date(2027, 2, 1), "month")
    assert labels == ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]
    assert report_sql.bucket_count(date(2026, 11, 15), date(2027, 2, 1), "month") == 4
    assert report_sql.bucket_caption("2026-11-02", "week") == "Week of 2 Nov 2026"
    assert report_sql.bucket_caption("2026-11-01", "month") == "Nov 2026"
    assert report_sql.bucket_caption("2026-11-02", "day") == "2 Nov 2026"


def test_local_buckets_follow_the_clinic_clock_across_summer_time(db) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant("bucket-clinic")
    # Instants near midnight New York time, before and after the change of 8 March 2026.
    instants = {
        datetime(2026, 3, 8, 4, 30, tzinfo=UTC): "2026-03-07",  # 23:30 EST on the 7th
        datetime(2026, 3, 8, 5, 30, tzinfo=UTC): "2026-03-08",  # 00:30 EST on the 8th
        datetime(2026, 3, 9, 3, 59, tzinfo=UTC): "2026-03-08",  # 23:59 EDT on the 8th
        datetime(2026, 3, 9, 4, 0, tzinfo=UTC): "2026-03-09",  # 00:00 EDT on the 9th
        datetime(2026, 3, 2, 5, 0, tzinfo=UTC): "2026-03-02",  # Monday 00:00 EST
    }
    for when in instants:
        _, case = make_case(tenant)
        _receive(tenant, case, when)
    start, end = report_sql.utc_range("America/New_York", date(2026, 3, 1), date(2026, 3, 10))
    with tenant_session(tenant) as session:
        dialect = _dialect(session)
        for grain, expected in (
            ("day", {"2026-03-07": 1, "2026-03-08": 2, "2026-03-09": 1, "2026-03-02": 1}),
            ("week", {"2026-03-02": 4, "2026-03-09": 1}),
            ("month", {"2026-03-01": 5}),
        ):
            bucket = report_sql.local_bucket(
                Submission.received_at, "America/New_York", grain, start, end, dialect
            )
            rows = session.exec(
                select(bucket, sa.func.count())
                .where(Submission.tenant_id == tenant)
                .group_by(bucket)
            ).all()
            assert dict(rows) == expected, grain


def test_hours_between_and_medians(db) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant("hours-clinic")
    base = datetime(2026, 5, 1, 9, tzinfo=UTC)
    hours = {"acne": [1.5, 3.0, 10.0, 2.0], "hair": [4.0]}
    for area, values in hours.items():
        for value in values:
            _, case = make_case(tenant)
            with tenant_session(tenant) as session:
                row = session.get(Submission, (tenant, case))
                assert row is not None
                row.concern_area = area
                row.received_at = base
                row.first_response_at = base + timedelta(hours=value)
                session.add(row)
                session.commit()
    with tenant_session(tenant) as session:
        dialect = _dialect(session)
        elapsed = report_sql.hours_between(
            Submission.received_at, Submission.first_response_at, dialect
        )
        total = session.exec(select(sa.func.sum(elapsed))).one()
        assert float(total) == pytest.approx(20.5)
        medians = session.execute(report_sql.median_by(Submission.concern_area, elapsed, [])).all()
        assert {k: float(v) for k, v in medians} == {
            "acne": pytest.approx(2.5),
            "hair": pytest.approx(4.0),
        }
        overall = session.execute(report_sql.median_by(sa.literal(0), elapsed, [])).all()
        assert [float(v) for _, v in overall] == [pytest.approx(3.0)]


def test_money_sums_are_exact(db) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant("money-clinic")
    # Sums a float would get wrong: 0.10 + 0.20 and many cents.
    for total in ("0.10", "0.20", "1234567.89", "0.01"):
        _, case = make_case(tenant)
        make_quote(tenant, case, total=total)
    with tenant_session(tenant) as session:
        dialect = _dialect(session)
        raw = session.exec(select(report_sql.money_cents_sum(Quote.total, dialect))).one()
        assert report_sql.cents(raw) == Decimal("1234568.20")
        none = session.exec(
            select(report_sql.money_cents_sum(Quote.total, dialect)).where(Quote.status == "x")
        ).one()
        assert report_sql.cents(none) == Decimal("0.00")
    assert report_sql.share(1, 8) == "12.5 %"
    assert report_sql.share(1, 0) == "—"
