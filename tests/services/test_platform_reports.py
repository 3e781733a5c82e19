"""The platform dashboard: exact usage per clinic and month, suppressed trends, no special-category
data, platform staff only, every clinic read in its own read-only session."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, col, select

from mi_portal.db import TenantScopeError, platform_session, tenant_session
from mi_portal.models import (
    AuditEvent,
    CaseNote,
    ImageRendition,
    Message,
    MessageAttachment,
    MessageThread,
    OutboxMessage,
    Patient,
    Quote,
    Role,
    Submission,
    SubmissionImage,
    Tenant,
    uuid7,
)
from mi_portal.services import (
    audit,
    clock,
    platform_reports,
    platform_trends,
)
from mi_portal.services.actor import Actor, PermissionDenied
from mi_portal.services.platform_reports import MonthsInvalid, default_months, parse_months
from mi_portal.services.report_types import SUPPRESSED, PlatformReport
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session


def at(month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def _admin(role: Role = Role.PLATFORM_ADMIN) -> Actor:
    uid, _ = make_user(f"{role.value}-{uuid.uuid4().hex[:6]}@mi.test", platform_role=role.value)
    return Actor(user_id=uid, role=role)


def _clinic(slug: str, name: str, *, jurisdiction: str = "", status: str = "active") -> uuid.UUID:
    tenant_id = make_tenant(slug, name)
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.jurisdiction, tenant.status = jurisdiction, status
        session.add(tenant)
        session.commit()
    return tenant_id


def _cases(
    tenant_id: uuid.UUID,
    received: datetime,
    count: int = 1,
    *,
    quote_sent_at: datetime | None = None,
    accepted: bool = False,
    concern_area: str = "acne",
    answers: dict[str, Any] | None = None,
    source: str = "clinic_page",
) -> list[uuid.UUID]:
    """``count`` patients with one case each, received at ``received``; the case ids."""
    ids = []
    with tenant_session(tenant_id) as session:
        for _ in range(count):
            patient = Patient(id=uuid7(), full_name="Pat", email=f"{uuid.uuid4().hex[:8]}@x.org")
            session.add(patient)
            session.flush()
            case = Submission(
                id=uuid7(),
                patient_id=patient.id,
                concern_area=concern_area,
                answers=answers or {},
                received_at=received,
                quote_sent_at=quote_sent_at,
                source=source,
            )
            session.add(case)
            session.flush()
            if accepted:
                session.add(Quote(submission_id=case.id, total=Decimal("10.00"), status="accepted"))
            ids.append(case.id)
        session.commit()
    return ids


def _photo(
    tenant_id: uuid.UUID,
    case_id: uuid.UUID,
    added: datetime,
    sizes: tuple[int, ...],
    name: str = "a.jpg",
) -> uuid.UUID:
    image_id = uuid7()
    with tenant_session(tenant_id) as session:
        session.add(
            SubmissionImage(
                id=image_id,
                submission_id=case_id,
                display_name=name,
                content_type="image/jpeg",
                width=1,
                height=1,
                byte_size=sizes[0],
                sha256="0" * 64,
                created_at=added,
            )
        )
        session.flush()
        for kind, size in zip(("original", "preview", "thumbnail"), sizes, strict=False):
            session.add(
                ImageRendition(
                    image_id=image_id,
                    kind=kind,
                    storage_key=f"{tenant_id}/{uuid.uuid4().hex}",
                    content_type="image/jpeg",
                    width=1,
                    height=1,
                    byte_size=size,
                    sha256="0" * 64,
                )
            )
        session.commit()
    return image_id


def _message(
    tenant_id: uuid.UUID,
    case_id: uuid.UUID,
    written: datetime,
    *,
    channel: str = "email",
    body: str = "hello",
    pdf_bytes: int | None = None,
    photo: uuid.UUID | None = None,
    attached_bytes: int = 0,
) -> uuid.UUID:
    with tenant_session(tenant_id) as session:
        thread = session.exec(
            select(MessageThread).where(MessageThread.submission_id == case_id)
        ).first()
        if thread is None:
            thread = MessageThread(id=uuid7(), submission_id=case_id, subject="subject")
            session.add(thread)
            session.flush()
        message = Message(
            id=uuid7(),
            thread_id=thread.id,
            direction="outbound",
            channel=channel,
            body=body,
            created_at=written,
        )
        session.add(message)
        session.flush()
        if pdf_bytes is not None:
            session.add(
                MessageAttachment(
                    message_id=message.id,
                    kind="pdf",
                    display_name="plan.pdf",
                    content_type="application/pdf",
                    byte_size=pdf_bytes,
                    storage_key=f"{tenant_id}/{uuid.uuid4().hex}",
                    created_at=written,
                )
            )
        if photo is not None:
            session.add(
                MessageAttachment(
                    message_id=message.id,
                    kind="photo",
                    image_id=photo,
                    display_name="a.jpg",
                    content_type="image/jpeg",
                    byte_size=attached_bytes,
                    created_at=written,
                )
            )
        session.commit()
        return message.id


def _outbox(tenant_id: uuid.UUID, channel: str, sent: datetime | None, status: str) -> None:
    with tenant_session(tenant_id) as session:
        session.add(
            OutboxMessage(
                channel=channel,
                kind="staff_notice",
                recipient="someone@x.org",
                body="b",
                status=status,
                sent_at=sent,
                created_at=sent or at(9, 1),
            )
        )
        session.commit()


def _acted(actor: Actor, moment: datetime, action: str = "case.viewed") -> None:
    clock.set_clock(lambda: moment)
    try:
        audit.record(actor, action, target_type="submission", target_id="x")
    finally:
        clock.set_clock(None)


def _usage_rows(report: PlatformReport) -> list[list[str]]:
    return report.usage.rows


@pytest.fixture
def usage_world(db: Database) -> dict[str, uuid.UUID]:
    """Three counted clinics, one closed; September and October 2026 (UTC)."""
    alder = _clinic("alder", "Alder Clinic", jurisdiction="GB")
    birch = _clinic("birch", "Birch Clinic", jurisdiction="FR", status="suspended")
    _clinic("cedar", "Cedar Clinic", status="closed")
    a1, a2 = _cases(alder, at(9, 3)) + _cases(alder, at(9, 30, 23, 59, 59))
    (a3,) = _cases(alder, at(10, 31, 23, 59, 59))
    _cases(alder, at(8, 31, 23, 59, 59))  # before the range
    _cases(alder, at(11, 1, 0, 0, 0))  # after it
    (b1,) = _cases(birch, at(10, 2))
    # Photos: bytes are the sum of each photo's renditions.
    p1 = _photo(alder, a1, at(9, 3), (1000, 200, 50))
    _photo(alder, a2, at(9, 30), (2000, 300, 60))
    _photo(alder, a3, at(10, 31), (500, 100))
    _photo(alder, a3, at(11, 1, 0, 0, 1), (9999,))  # after the range
    _photo(birch, b1, at(10, 2), (4000, 400, 40))
    # Messages: a PDF is stored bytes of its own; a case photo sent again is not.
    _message(alder, a1, at(9, 4), pdf_bytes=7000)
    _message(alder, a1, at(10, 5), photo=p1, attached_bytes=1000)
    _message(birch, b1, at(10, 3), pdf_bytes=123)
    # Deliveries sent per channel (a failed one never sent; a pending one not yet).
    _outbox(alder, "email", at(9, 4), "sent")
    _outbox(alder, "email", at(9, 5), "delivered")
    _outbox(alder, "sms", at(9, 6), "sent")
    _outbox(alder, "email", None, "failed")
    _outbox(alder, "email", None, "pending")
    _outbox(alder, "sms", at(10, 1, 0, 0, 0), "sent")
    _outbox(birch, "sms", at(10, 9), "delivered")
    # Staff: two of Alder's act in September (one twice), one in October; a platform admin
    # switched into Alder is not its staff.
    owner, _ = make_user("owner@alder.test", role="clinic_owner", tenants=(alder,))
    nurse, _ = make_user("nurse@alder.test", role="provider", tenants=(alder,))
    as_owner = Actor(user_id=owner, role=Role.CLINIC_OWNER, tenant_id=alder)
    as_nurse = Actor(user_id=nurse, role=Role.PROVIDER, tenant_id=alder)
    _acted(as_owner, at(9, 10))
    _acted(as_owner, at(9, 11))
    _acted(as_nurse, at(9, 12))
    _acted(as_nurse, at(10, 12))
    admin = _admin()
    _acted(Actor(user_id=admin.user_id, role=admin.role, tenant_id=alder), at(10, 13))
    birch_staff, _ = make_user("desk@birch.test", role="coordinator", tenants=(birch,))
    _acted(Actor(user_id=birch_staff, role=Role.COORDINATOR, tenant_id=birch), at(10, 14))
    return {"alder": alder, "birch": birch}


def test_usage_per_clinic_and_month_is_exact(usage_world: dict[str, uuid.UUID]) -> None:
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-10")
    assert report.usage.columns == [
        "Month",
        "Clinic",
        "Cases",
        "Photos",
        "Bytes stored",
        "Emails sent",
        "SMS sent",
        "Active staff",
    ]
    assert _usage_rows(report) == [
        # 2 cases; photos 1250 + 2360 bytes, a 7000-byte PDF; 2 emails, 1 SMS; owner and nurse.
        ["2026-09", "Alder Clinic", "2", "2", str(1250 + 2360 + 7000), "2", "1", "2"],
        # 1 case; a 600-byte photo (the re-sent case photo adds nothing); 1 SMS; the nurse.
        ["2026-10", "Alder Clinic", "1", "1", "600", "0", "1", "1"],
        # The suspended clinic counts; the closed one has nothing left and is not listed.
        ["2026-10", "Birch Clinic", "1", "1", str(4440 + 123), "0", "1", "1"],
    ]
    assert report.usage.kind == "stacked_bar" and report.usage.key == "usage"
    assert report.usage.x == ["Sep 2026", "Oct 2026"]
    assert [(s.name, s.values) for s in report.usage.series] == [
        ("Alder Clinic", [2.0, 1.0]),
        ("Birch Clinic", [0.0, 1.0]),
    ]
    assert report.usage.csv_bytes().decode().splitlines()[1] == (
        "2026-09,Alder Clinic,2,2,10610,2,1,2"
    )
    # One month alone: only October's rows.
    october = platform_reports.platform_report(_admin(), "2026-10", "2026-10")
    assert [r[:3] for r in october.usage.rows] == [
        ["2026-10", "Alder Clinic", "1"],
        ["2026-10", "Birch Clinic", "1"],
    ]


def _trend(report: PlatformReport, key: str) -> Any:
    return next((c for c in report.trends if c.key == key), None)


KEYS = ["trend_received_by_source", "trend_funnel", "trend_messages_by_channel"]


def test_the_usage_table_gives_no_hidden_trend_cell_away(db: Database) -> None:
    # The review's case: per-clinic cases are exact in usage (billing), so a trend by clinic
    # jurisdiction would be the usage table regrouped: there is none. The received trends show
    # each month's total, which is the usage table's sum for the month.
    gb = _clinic("gb", "GB Clinic", jurisdiction="GB")
    fr = _clinic("fr", "FR Clinic", jurisdiction="FR")
    _cases(gb, at(9, 5), 15)
    _cases(gb, at(10, 5), 20)
    _cases(fr, at(9, 6), 4)
    _cases(fr, at(10, 6), 12)
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-10")
    assert [c.key for c in report.trends] == KEYS
    source = _trend(report, "trend_received_by_source")
    assert source.columns == ["Month", "Clinic page", "Multi-clinic form", "All cases"]
    assert source.rows == [["2026-09", "19", "0", "19"], ["2026-10", "32", "0", "32"]]
    funnel = _trend(report, "trend_funnel")
    assert funnel.columns == ["Month", "Not quoted", "Quoted, not accepted", "Accepted", "Received"]
    assert funnel.rows == [["2026-09", "19", "0", "0", "19"], ["2026-10", "32", "0", "0", "32"]]
    for month in ("2026-09", "2026-10"):
        usage = sum(int(r[2]) for r in report.usage.rows if r[0] == month)
        assert [r[-1] for r in source.rows if r[0] == month] == [str(usage)]


def test_cases_by_the_form_they_came_through(db: Database) -> None:
    a, b = _clinic("a", "A"), _clinic("b", "B")
    _cases(a, at(9, 1), 12)
    _cases(a, at(9, 2), 3, source="directory")
    _cases(b, at(9, 3), 14)
    _cases(b, at(9, 4), 5, source="directory")  # 8 directory patients in September: small
    _cases(a, at(10, 1), 20)
    _cases(b, at(10, 2), 15, source="directory")
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-10")
    chart = _trend(report, "trend_received_by_source")
    # September's 8 would be the total (34, public) minus 26: the 26 is hidden too.
    assert chart.rows == [
        ["2026-09", SUPPRESSED, SUPPRESSED, "34"],
        ["2026-10", "20", "15", "35"],
    ]
    assert [(s.name, s.values) for s in chart.series] == [
        ("Clinic page", [None, 20.0]),
        ("Multi-clinic form", [None, 15.0]),
    ]
    october = platform_reports.platform_report(_admin(), "2026-10", "2026-10")
    assert _trend(october, "trend_received_by_source").rows == [["2026-10", "20", "15", "35"]]


def test_a_month_reads_the_same_whatever_the_range(db: Database) -> None:
    # The review's case: Sep..Oct minus Sep..Sep gave October's hidden 3 through the "All
    # months" row. Every month is now suppressed on its own, with nothing summed over months.
    a, b = _clinic("a", "A"), _clinic("b", "B")
    _cases(a, at(8, 5), 14)
    _cases(b, at(8, 6), 2, source="directory")
    _cases(a, at(9, 5), 20)
    _cases(b, at(9, 6), 15, source="directory")
    _cases(a, at(10, 5), 20, quote_sent_at=at(10, 6))
    _cases(b, at(10, 6), 3, source="directory", accepted=True)
    for case in _cases(b, at(9, 7), 4):
        _message(b, case, at(9, 8), channel="sms")
    seen: dict[tuple[str, str], list[str]] = {}
    for month_from, month_to in (
        ("2026-09", "2026-09"),
        ("2026-09", "2026-10"),
        ("2026-08", "2026-10"),
    ):
        report = platform_reports.platform_report(_admin(), month_from, month_to)
        for chart in report.trends:
            assert not any(row[0] == "All months" for row in chart.rows)
            for row in chart.rows:
                assert seen.setdefault((chart.key, row[0]), row) == row
    assert seen[("trend_received_by_source", "2026-09")] == ["2026-09", "24", "15", "39"]
    assert seen[("trend_received_by_source", "2026-10")] == [
        "2026-10", SUPPRESSED, SUPPRESSED, "23"
    ]  # fmt: skip
    assert seen[("trend_funnel", "2026-10")] == ["2026-10", "0", SUPPRESSED, SUPPRESSED, "23"]
    assert seen[("trend_messages_by_channel", "2026-09")] == ["2026-09", "0", SUPPRESSED, "0"]


def test_the_funnel_counts_quoted_and_accepted_cases_per_month(db: Database) -> None:
    a = _clinic("a", "A")
    b = _clinic("b", "B")
    _cases(a, at(9, 1), 8, quote_sent_at=at(9, 2))
    _cases(b, at(9, 1), 5, quote_sent_at=at(9, 3))  # 13 quoted in September across clinics
    _cases(a, at(9, 4), 12, accepted=True)  # accepted counts as quoted even without a date
    _cases(b, at(9, 5), 20)
    _cases(a, at(10, 1), 30, quote_sent_at=at(10, 2), accepted=True)
    _cases(b, at(10, 1), 3, quote_sent_at=at(10, 2))
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-10")
    funnel = _trend(report, "trend_funnel")
    # September: 20 not quoted, 8 + 5 quoted and not accepted, 12 accepted (45 received).
    # October: 3 quoted only is small; 33 - 0 would give it away, so 30 accepted is hidden too
    # (the pair describes 33 patients). The empty "not quoted" shows 0.
    assert funnel.rows == [
        ["2026-09", "20", "13", "12", "45"],
        ["2026-10", "0", SUPPRESSED, SUPPRESSED, "33"],
    ]
    assert [s.values for s in funnel.series] == [[20.0, 0.0], [13.0, None], [12.0, None]]


def test_received_minus_not_quoted_gives_no_small_quoted_group_away(db: Database) -> None:
    # The review's case: 25 unquoted in one clinic, 3 quoted (1 accepted) in another. With
    # only the quoted parts hidden, 28 - 25 = 3 quoted patients: every part is hidden.
    a, b = _clinic("a", "A"), _clinic("b", "B")
    _cases(a, at(9, 5), 25)
    _cases(b, at(9, 6), 2, quote_sent_at=at(9, 7))
    _cases(b, at(9, 6), 1, quote_sent_at=at(9, 7), accepted=True)
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    assert _trend(report, "trend_funnel").rows == [
        ["2026-09", SUPPRESSED, SUPPRESSED, SUPPRESSED, "28"]
    ]


def test_a_month_of_fewer_than_eleven_patients_shows_only_its_total(db: Database) -> None:
    a = _clinic("a", "A")
    _cases(a, at(9, 5), 5)
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    # Shown as 5 / 0 / 0, "not quoted" would be the total: the zeros are hidden too.
    assert _trend(report, "trend_funnel").rows == [
        ["2026-09", SUPPRESSED, SUPPRESSED, SUPPRESSED, "5"]
    ]
    assert _trend(report, "trend_received_by_source").rows == [
        ["2026-09", SUPPRESSED, SUPPRESSED, "5"]
    ]


def test_patients_not_messages_decide_whether_a_cell_shows(db: Database) -> None:
    a = _clinic("a", "A")
    cases = _cases(a, at(9, 1), 10)
    for case in cases:  # ten patients, two messages each
        _message(a, case, at(9, 2))
        _message(a, case, at(9, 3))
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    chart = _trend(report, "trend_messages_by_channel")
    # No total: the messages of a month are not public, so only small cells are hidden.
    assert chart.columns == ["Month", "Email", "SMS", "Reply page"]
    assert chart.rows == [["2026-09", SUPPRESSED, "0", "0"]]  # 20 messages, but 10 patients
    (eleventh,) = _cases(a, at(9, 1))
    _message(a, eleventh, at(9, 4))
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    chart = _trend(report, "trend_messages_by_channel")
    assert chart.rows == [["2026-09", "21", "0", "0"]]
    assert chart.series[0].values == [21.0] and chart.series[1].values == [0.0]


def test_special_category_data_reaches_no_platform_figure(db: Database) -> None:
    a = _clinic("a", "A", jurisdiction="GB")
    secret = "zqxsecret"
    cases = _cases(
        a,
        at(9, 1),
        12,
        concern_area=f"{secret}-area",
        answers={"What worries you": f"{secret}-answer"},
        quote_sent_at=at(9, 2),
    )
    for case in cases:
        _message(a, case, at(9, 2), body=f"{secret}-body")
        _photo(a, case, at(9, 1), (10,), name=f"{secret}-photo.jpg")
        with tenant_session(a) as session:
            session.add(CaseNote(submission_id=case, body=f"{secret}-note"))
            session.commit()
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    text = json.dumps(dataclasses.asdict(report))
    assert secret not in text
    # The report is not empty: the cases, photos and messages are counted.
    assert report.usage.rows == [["2026-09", "A", "12", "12", "120", "0", "0", "0"]]
    assert _trend(report, "trend_received_by_source").rows[0][1:] == ["12", "0", "12"]
    assert _trend(report, "trend_messages_by_channel").rows[0][1] == "12"
    # No trend is over a special-category or image column, whatever the declaration says.
    for names in platform_trends.TREND_COLUMNS.values():
        for name in names:
            table, column = name.split(".")
            category = SQLModel.metadata.tables[table].c[column].info.get("category")
            assert category not in platform_trends.REFUSED
    # A statement reading concern_area is refused before it runs.
    with pytest.raises(platform_trends.UndeclaredColumn):
        platform_trends._check(  # pyright: ignore[reportPrivateUsage]
            select(col(Submission.concern_area), sa.func.count()).group_by(
                col(Submission.concern_area)
            ),
            platform_trends.allowed_trends(),
        )


@pytest.mark.parametrize(
    ("table", "column", "gone"),
    [
        ("message", "channel", "trend_messages_by_channel"),
        ("submission", "source", "trend_received_by_source"),
        ("quote", "status", "trend_funnel"),
    ],
)
def test_a_column_tagged_special_category_takes_its_trend_out(
    db: Database, monkeypatch: pytest.MonkeyPatch, table: str, column: str, gone: str
) -> None:
    a = _clinic("a", "A", jurisdiction="GB")
    for case in _cases(a, at(9, 1), 12, accepted=True):
        _message(a, case, at(9, 2))
    before = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    assert gone in [c.key for c in before.trends]
    target = SQLModel.metadata.tables[table].c[column]
    monkeypatch.setattr(target, "info", {**target.info, "category": "special_category"})
    after = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    keys = [c.key for c in after.trends]
    assert gone not in keys
    assert len(keys) == len(before.trends) - 1  # the others are still there


def test_a_statement_reading_an_undeclared_column_never_runs(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clinic("a", "A")
    declared = dict(platform_trends.TREND_COLUMNS)
    declared["trend_messages_by_channel"] = tuple(
        n for n in declared["trend_messages_by_channel"] if n != "message.channel"
    )
    monkeypatch.setattr(platform_trends, "TREND_COLUMNS", declared)
    with pytest.raises(platform_trends.UndeclaredColumn, match="message.channel"):
        platform_reports.platform_report(_admin(), "2026-09", "2026-09")


def test_platform_staff_outside_a_clinic_only(db: Database) -> None:
    a = _clinic("a", "A")
    for role in (Role.PLATFORM_ADMIN, Role.PLATFORM_SUPPORT):
        actor = _admin(role)
        assert platform_reports.platform_report(actor, "2026-09", "2026-10").month_to == "2026-10"
        switched = Actor(user_id=actor.user_id, role=role, tenant_id=a)
        with pytest.raises(PermissionDenied):
            platform_reports.platform_report(switched, "2026-09", "2026-10")
        with pytest.raises(PermissionDenied):
            platform_reports.record_view(switched, "2026-09", "2026-10")
    for role in (Role.CLINIC_OWNER, Role.CLINIC_MANAGER, Role.VIEWER):
        staff = Actor(user_id=uuid.uuid4(), role=role, tenant_id=a)
        with pytest.raises(PermissionDenied):
            platform_reports.platform_report(staff, "2026-09", "2026-10")
        with pytest.raises(PermissionDenied):
            platform_reports.record_view(staff, "2026-09", "2026-10")


def test_a_view_is_one_event_in_the_platform_chain(db: Database) -> None:
    _clinic("a", "A")
    actor = _admin(Role.PLATFORM_SUPPORT)
    platform_reports.record_view(actor, "2026-05", "2026-10")
    with owner_session() as session:
        events = list(
            session.exec(select(AuditEvent).where(AuditEvent.action == "reports.platform_viewed"))
        )
    assert [(e.chain, e.user_id, e.details) for e in events] == [
        ("platform", actor.user_id, {"from": "2026-05", "to": "2026-10"})
    ]
    assert audit.verify_chain("platform") is None


def test_month_ranges_from_the_url() -> None:
    today = date(2026, 11, 17)
    assert default_months(today) == ("2026-06", "2026-11")
    assert default_months(date(2026, 3, 1)) == ("2025-10", "2026-03")
    assert parse_months({}, today) == ("2026-06", "2026-11")
    assert parse_months({"from": "2025-12", "to": "2026-02"}, today) == ("2025-12", "2026-02")
    assert parse_months({"to": "2026-02"}, today) == ("2025-09", "2026-02")
    assert parse_months({"from": "2024-12", "to": "2026-11"}, today) == ("2024-12", "2026-11")
    bad = [
        ({"from": "2026-13"}, "from", "YYYY-MM"),
        ({"from": "26-01"}, "from", "YYYY-MM"),
        ({"to": "2026-1"}, "to", "YYYY-MM"),
        ({"to": "2026-12"}, "to", "current month"),
        ({"from": "2026-10", "to": "2026-09"}, "from", "not be after"),
        ({"from": "2024-11", "to": "2026-11"}, "from", "at most 24 months"),
    ]
    for params, field, words in bad:
        with pytest.raises(MonthsInvalid) as caught:
            parse_months(params, today)
        assert caught.value.field == field and words in caught.value.message


def test_each_clinic_is_read_in_its_own_read_only_session(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _clinic("a", "A"), _clinic("b", "B", status="suspended")
    _clinic("c", "C", status="closed")
    opened: list[tuple[uuid.UUID, bool]] = []
    real = platform_reports.tenant_session

    @contextmanager
    def watched(tenant_id: uuid.UUID, **kwargs: Any) -> Iterator[Any]:
        opened.append((tenant_id, kwargs.get("read_only", False)))
        with real(tenant_id, **kwargs) as session:
            yield session

    monkeypatch.setattr(platform_reports, "tenant_session", watched)
    platform_reports.platform_report(_admin(), "2026-09", "2026-10")
    assert sorted(opened) == sorted([(a, True), (b, True)])


def test_a_read_only_session_writes_nothing(db: Database) -> None:
    a = _clinic("a", "A")
    with tenant_session(a, read_only=True) as session:
        session.add(Patient(full_name="P", email="p@x.org"))
        with pytest.raises(TenantScopeError):
            session.flush()


def test_the_aggregate_session_sees_one_clinic_even_without_the_filter(pg: Database) -> None:
    a, b = _clinic("a", "A"), _clinic("b", "B")
    _cases(a, at(9, 1), 3)
    _cases(b, at(9, 1), 5)
    with tenant_session(a, read_only=True) as session:
        # Straight on the connection: no ORM tenant criteria, only row-level security.
        bare = sa.select(sa.func.count()).select_from(SQLModel.metadata.tables["submission"])
        assert session.connection().execute(bare).scalar_one() == 3
        # And the transaction is read-only in the database itself.
        with pytest.raises(DBAPIError, match="read-only"):
            session.connection().execute(
                sa.update(SQLModel.metadata.tables["tenant"]).values(name="X")
            )
        session.rollback()
    counts = platform_reports.platform_report(_admin(), "2026-09", "2026-09").usage.rows
    assert [r[1:3] for r in counts] == [["A", "3"], ["B", "5"]]


def test_the_service_refuses_months_after_the_current_one(db: Database) -> None:
    _clinic("a", "A")
    clock.set_clock(lambda: at(10, 15))
    try:
        assert (
            platform_reports.platform_report(_admin(), "2026-09", "2026-10").month_to == "2026-10"
        )
        with pytest.raises(MonthsInvalid) as caught:
            platform_reports.platform_report(_admin(), "2026-10", "2026-11")
        assert caught.value.field == "to" and "current month" in caught.value.message
        with pytest.raises(MonthsInvalid):
            platform_reports.platform_report(_admin(), "2026-12", "2026-12")
    finally:
        clock.set_clock(None)


# --- everything a viewer sees together, on random data ------------------------------------

STAGE_OF = {"none": 0, "quoted": 1, "accepted": 2}
CHANNEL_OF = {"email": 0, "sms": 1, "portal": 2}
SOURCE_OF = {"clinic_page": 0, "directory": 1}


def _random_world(rng: random.Random) -> dict[str, Any]:
    """Two or three clinics with random cases (some patients with two) and messages in
    August–October; the truth per month and cell as sets of (clinic, patient) keys."""
    truth: dict[str, Any] = {"cases": {}, "source": {}, "funnel": {}, "messages": {}}
    for c in range(rng.randint(2, 3)):
        tenant = _clinic(f"r{c}", f"Random {c}")
        with tenant_session(tenant) as session:
            for month in (8, 9, 10):
                for _ in range(rng.choice([0, 2, 5, 9, 14, 22])):
                    patient = Patient(id=uuid7(), full_name="P", email=f"{uuid.uuid4().hex}@x.org")
                    session.add(patient)
                    session.flush()
                    for k in range(1 if rng.random() < 0.8 else 2):
                        day = rng.randint(1, 28)
                        source = rng.choice(list(SOURCE_OF))
                        stage = rng.choice(["none", "none", "quoted", "accepted"])
                        case = Submission(
                            id=uuid7(),
                            patient_id=patient.id,
                            concern_area="acne",
                            received_at=at(month, day),
                            quote_sent_at=at(month, day) if stage != "none" else None,
                            source=source,
                        )
                        session.add(case)
                        session.flush()
                        if stage == "accepted":
                            session.add(
                                Quote(submission_id=case.id, total=Decimal("1"), status="accepted")
                            )
                        key, label = (tenant, patient.id), f"2026-{month:02d}"
                        truth["cases"].setdefault(label, []).append(key)
                        truth["source"].setdefault((label, SOURCE_OF[source]), []).append(key)
                        truth["funnel"].setdefault((label, STAGE_OF[stage]), []).append(key)
                        if k == 0 and rng.random() < 0.5:
                            thread = MessageThread(id=uuid7(), submission_id=case.id)
                            session.add(thread)
                            session.flush()
                            for _ in range(rng.randint(1, 3)):
                                channel = rng.choice(list(CHANNEL_OF))
                                session.add(
                                    Message(
                                        thread_id=thread.id,
                                        direction="inbound",
                                        channel=channel,
                                        body="b",
                                        created_at=at(month, day, 13),
                                    )
                                )
                                cell = (label, CHANNEL_OF[channel])
                                truth["messages"].setdefault(cell, []).append(key)
            session.commit()
    return truth


def _check_row(row: list[str], cells: list[list[Any]], *, public_total: int | None) -> None:
    """One shown month against the truth: every visible cell exact and of 0 or 11+ patients;
    the hidden cells, whose sum a reader gets as total − visible, describe nobody, 11+ patients
    or the whole total; no hidden cell alone; a small total hides all."""
    shown = row[1 : 1 + len(cells)]
    hidden = {j for j, v in enumerate(shown) if v == SUPPRESSED}
    patients = [len(set(c)) for c in cells]
    for j, v in enumerate(shown):
        if j not in hidden:
            assert v == str(len(cells[j])) and (patients[j] == 0 or patients[j] >= 11), row
    if public_total is None:
        assert len(row) == 1 + len(cells)
        assert hidden == {j for j, p in enumerate(patients) if 0 < p < 11}, row
        return
    assert row[-1] == str(public_total) == str(sum(len(c) for c in cells)), row
    together = len({key for j in hidden for key in cells[j]})
    non_zero = {j for j, c in enumerate(cells) if c}
    assert together == 0 or together >= 11 or non_zero <= hidden, row
    assert len(hidden) != 1, row
    everyone = len({key for c in cells for key in c})
    if 0 < everyone < 11:
        assert hidden == set(range(len(cells))), row


@pytest.mark.parametrize("seed", range(5))
def test_no_hidden_cell_can_be_worked_out_from_all_that_is_shown(db: Database, seed: int) -> None:
    truth = _random_world(random.Random(seed))
    widths = {"trend_received_by_source": 2, "trend_funnel": 3, "trend_messages_by_channel": 3}
    level = {
        "trend_received_by_source": "source",
        "trend_funnel": "funnel",
        "trend_messages_by_channel": "messages",
    }
    seen: dict[tuple[str, str], list[str]] = {}
    ranges = [
        ("2026-08", "2026-10"),
        ("2026-09", "2026-10"),
        ("2026-09", "2026-09"),
        ("2026-10", "2026-10"),
    ]
    for month_from, month_to in ranges:
        report = platform_reports.platform_report(_admin(), month_from, month_to)
        assert [c.key for c in report.trends] == KEYS
        for chart in report.trends:
            for row in chart.rows:
                month = row[0]
                # The same month reads the same in every range: no difference to take.
                assert seen.setdefault((chart.key, month), row) == row
                cells = [
                    truth[level[chart.key]].get((month, j), []) for j in range(widths[chart.key])
                ]
                public = None
                if chart.key != "trend_messages_by_channel":
                    # The total a reader has anyway: the usage table's cases of the month.
                    public = sum(int(r[2]) for r in report.usage.rows if r[0] == month)
                    assert public == len(truth["cases"].get(month, []))
                _check_row(row, cells, public_total=public)
    assert len(seen) == 3 * 3
