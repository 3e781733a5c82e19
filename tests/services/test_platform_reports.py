"""The platform dashboard: exact usage per clinic and month, suppressed trends, no special-category
data, platform staff only, every clinic read in its own read-only session."""

from __future__ import annotations

import dataclasses
import json
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
    platform_trend_tables,
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


def test_a_small_cell_reads_below_eleven_and_cannot_be_recovered(db: Database) -> None:
    gb = _clinic("gb", "GB Clinic", jurisdiction="GB")
    fr = _clinic("fr", "FR Clinic", jurisdiction="FR")
    _cases(gb, at(9, 5), 15)
    _cases(gb, at(10, 5), 20)
    _cases(fr, at(9, 6), 4)
    _cases(fr, at(10, 6), 12)
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-10")
    chart = _trend(report, "trend_received_by_jurisdiction")
    assert chart.columns == ["Month", "France", "United Kingdom", "All cases"]
    # September in France (4 patients) is small. Shown alone, every other cell would give it
    # away through a total; the cheapest cycle through it hides the other three cells.
    assert chart.rows == [
        ["2026-09", SUPPRESSED, SUPPRESSED, "19"],
        ["2026-10", SUPPRESSED, SUPPRESSED, "32"],
        ["All months", "16", "35", "51"],
    ]
    assert [s.values for s in chart.series] == [[None, None], [None, None]]
    # The same clinics' funnel: nothing quoted, so both quoted parts are empty (hidden).
    funnel = _trend(report, "trend_funnel")
    assert funnel.columns == [
        "Month",
        "Not quoted",
        "Quoted, not accepted",
        "Accepted",
        "Received",
    ]
    assert funnel.rows == [
        ["2026-09", "19", SUPPRESSED, SUPPRESSED, "19"],
        ["2026-10", "32", SUPPRESSED, SUPPRESSED, "32"],
        ["All months", "51", SUPPRESSED, SUPPRESSED, "51"],
    ]


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
    assert chart.columns == ["Month", "Clinic page", "Multi-clinic form", "All cases"]
    # The cheapest cycle through September's 8: October's two cells and September's 26.
    assert chart.rows == [
        ["2026-09", SUPPRESSED, SUPPRESSED, "34"],
        ["2026-10", SUPPRESSED, SUPPRESSED, "35"],
        ["All months", "46", "23", "69"],
    ]
    october = platform_reports.platform_report(_admin(), "2026-10", "2026-10")
    chart = _trend(october, "trend_received_by_source")
    assert chart.rows == [["2026-10", "20", "15", "35"], ["All months", "20", "15", "35"]]
    assert [(s.name, s.values) for s in chart.series] == [
        ("Clinic page", [20.0]),
        ("Multi-clinic form", [15.0]),
    ]
    assert [c.key for c in october.trends] == [
        "trend_received_by_source",
        "trend_received_by_jurisdiction",
        "trend_funnel",
        "trend_messages_by_channel",
    ]


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
    # October: 0 not quoted and 3 quoted only are small; the cheapest cycle through both
    # hides September's first two parts (13 + 20), so "received minus accepted" gives away
    # only their sum, never one of them.
    assert funnel.rows == [
        ["2026-09", SUPPRESSED, SUPPRESSED, "12", "45"],
        ["2026-10", SUPPRESSED, SUPPRESSED, "30", "33"],
        ["All months", "20", "16", "42", "78"],
    ]
    assert funnel.series[2].values == [12.0, 30.0]
    assert funnel.series[0].values == [None, None]


def test_patients_not_messages_decide_whether_a_cell_shows(db: Database) -> None:
    a = _clinic("a", "A")
    cases = _cases(a, at(9, 1), 10)
    for case in cases:  # ten patients, two messages each
        _message(a, case, at(9, 2))
        _message(a, case, at(9, 3))
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    chart = _trend(report, "trend_messages_by_channel")
    assert chart.columns == ["Month", "Email", "SMS", "Reply page", "All messages"]
    assert chart.rows[0][1] == SUPPRESSED  # 20 messages, but only 10 patients
    (eleventh,) = _cases(a, at(9, 1))
    _message(a, eleventh, at(9, 4))
    report = platform_reports.platform_report(_admin(), "2026-09", "2026-09")
    chart = _trend(report, "trend_messages_by_channel")
    assert chart.rows == [
        ["2026-09", "21", SUPPRESSED, SUPPRESSED, "21"],
        ["All months", "21", SUPPRESSED, SUPPRESSED, "21"],
    ]
    assert chart.series[0].values == [21.0] and chart.series[1].values == [None]


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
    # (Both parts of the one month are hidden: shown beside its total, the clinic-page cell
    # would give the empty multi-clinic cell away.)
    assert _trend(report, "trend_received_by_source").rows[0][1:] == [SUPPRESSED, SUPPRESSED, "12"]
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
        ("tenant", "jurisdiction", "trend_received_by_jurisdiction"),
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


def test_linked_tables_hide_the_same_row_totals() -> None:
    from mi_portal.services.suppression import Cell, Table

    shared: platform_trend_tables.Source = {("2026-09", ""): (40, 40), ("2026-10", ""): (50, 50)}
    shared[("", "")] = (90, 90)
    # The first table's September total is small in patients (as a primary cell); the second
    # would show it. Both must hide it, each with its own complements.
    small = Table(
        [[Cell(20, 20), Cell(20, 20)], [Cell(25, 25), Cell(25, 25)]],
        [Cell(40, 9), Cell(50, 50)],
        [Cell(45, 45), Cell(45, 45)],
        Cell(90, 90),
    )
    plain = Table(
        [[Cell(15, 15), Cell(25, 25)], [Cell(30, 30), Cell(20, 20)]],
        [Cell(40, 40), Cell(50, 50)],
        [Cell(45, 45), Cell(45, 45)],
        Cell(90, 90),
    )
    trends = [
        platform_trend_tables._Trend("one", "One", [], ("All", shared), "Cases"),  # pyright: ignore[reportPrivateUsage]
        platform_trend_tables._Trend("two", "Two", [], ("All", shared), "Cases"),  # pyright: ignore[reportPrivateUsage]
    ]
    hidden = platform_trend_tables._suppress_linked(trends, {"one": small, "two": plain})  # pyright: ignore[reportPrivateUsage]
    assert (0, 2) in hidden["one"] and (0, 2) in hidden["two"]
    assert len(hidden["two"]) > 1  # not left as the one hidden entry of its row
