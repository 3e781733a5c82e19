"""The clinic's targets and calendar: checking, saving, recalculating open cases, auditing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    AuditEvent,
    Message,
    MessageThread,
    Patient,
    Role,
    Submission,
    Tenant,
    uuid7,
)
from mi_portal.services import clock, sla_settings
from mi_portal.services.actor import Actor, PermissionDenied
from mi_portal.services.sla_settings import ClosedDay, DayHours, SlaForm, SlaProblem
from tests.conftest import Database
from tests.factories import make_tenant, make_user

# Monday 7 December 2026, 14:00 UTC = 09:00 in New York.
NOW = datetime(2026, 12, 7, 14, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock():  # type: ignore[no-untyped-def]
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


def _actor(tenant_id: uuid.UUID, role: Role) -> Actor:
    user_id, _ = make_user(
        f"{uuid.uuid4().hex[:8]}@staff.test", role=role.value, tenants=(tenant_id,)
    )
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id, home_tenant_id=tenant_id)


def _clinic(slug: str, timezone: str = "America/New_York") -> uuid.UUID:
    tenant_id = make_tenant(slug)
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.timezone = timezone
        session.add(tenant)
        session.commit()
    return tenant_id


def _case(tenant_id: uuid.UUID, received: datetime, **fields: object) -> uuid.UUID:
    with tenant_session(tenant_id) as session:
        patient = Patient(id=uuid7(), full_name="Pat", email=f"{uuid.uuid4().hex[:6]}@example.org")
        session.add(patient)
        session.flush()
        case = Submission(
            id=uuid7(),
            patient_id=patient.id,
            concern_area="acne",
            received_at=received,
            last_activity_at=received,
            sla_due_at=received + timedelta(hours=48),
            first_response_due_at=received + timedelta(hours=24),
            **fields,  # type: ignore[arg-type]
        )
        session.add(case)
        session.commit()
        return case.id


def _dues(tenant_id: uuid.UUID, case_id: uuid.UUID) -> tuple[datetime | None, datetime | None]:
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        return case.first_response_due_at, case.sla_due_at


def _weekdays(opens: str = "09:00", closes: str = "17:00") -> list[DayHours]:
    return [
        DayHours(key, label, key not in ("sat", "sun"), opens, closes)
        for key, label in sla_settings.DAY_NAMES.items()
    ]


def _form(**changes: object) -> SlaForm:
    base = SlaForm("4", "16", False, _weekdays(), [ClosedDay("2026-12-25", "Christmas", False)])
    return replace(base, **changes)  # type: ignore[arg-type]


def test_every_wrong_field_gets_its_own_message() -> None:
    week = _weekdays()
    week[0] = replace(week[0], opens="17:00", closes="09:00")
    week[1] = replace(week[1], opens="9am")
    with pytest.raises(SlaProblem) as caught:
        sla_settings.parse(
            _form(
                first_response_hours="0",
                quote_turnaround_hours="1000",
                week=week,
                closed_days=[ClosedDay("31/12/2026", "", False)],
            )
        )
    errors = caught.value.errors
    assert set(errors) == {
        "first_response_hours",
        "quote_turnaround_hours",
        "mon",
        "tue",
        "closed_days",
    }
    assert "past midnight" in errors["mon"] and "1 to 720" in errors["first_response_hours"]
    closed_week = [replace(d, open=False) for d in _weekdays()]
    with pytest.raises(SlaProblem) as caught:
        sla_settings.parse(_form(week=closed_week))
    assert "at least one day" in caught.value.errors["week"]
    # Every hour counting needs no open day; "12" typed with spaces is still 12.
    parsed = sla_settings.parse(
        _form(every_hour=True, week=closed_week, first_response_hours=" 12 ")
    )
    assert parsed.business_hours == {} and parsed.first_response_hours == 12


@pytest.mark.parametrize("typed", ["²", "٣", "1e3", "12²", "+5", "-1", "1_0", "", "12.5"])
def test_a_target_is_ascii_digits_only(typed: str) -> None:
    # "²" and "٣" pass str.isdigit(): int() refuses the first and reads the second as 3.
    with pytest.raises(SlaProblem) as caught:
        sla_settings.parse(_form(first_response_hours=typed))
    assert set(caught.value.errors) == {"first_response_hours"}
    assert sla_settings.parse(_form(first_response_hours=" 12 ")).first_response_hours == 12


def test_preview_reads_the_typed_settings() -> None:
    parsed = sla_settings.parse(_form())
    # Mon 09:00 EST + 4 business hours = 13:00; + 16 = Tuesday 17:00.
    assert sla_settings.preview("America/New_York", parsed) == (
        "A case received now needs a first reply by 2026-12-07 13:00 EST and a quote by "
        "2026-12-08 17:00 EST."
    )


def test_saving_recalculates_only_the_open_cases_still_waiting(db: Database) -> None:
    a, b = _clinic("sla-a"), _clinic("sla-b")
    owner = _actor(a, Role.CLINIC_OWNER)
    # Received Friday 4 Dec 16:00 EST (21:00 UTC).
    received = datetime(2026, 12, 4, 21, tzinfo=UTC)
    waiting = _case(a, received)
    answered = _case(a, received, first_response_at=received + timedelta(hours=1))
    quoted = _case(a, received, quote_sent_at=received + timedelta(hours=2), status="quoted")
    closed = _case(a, received, status="closed")
    foreign = _case(b, received)
    untouched = {c: _dues(a, c) for c in (answered, quoted, closed)}

    # Waiting and answered (its quote still owed) change; quoted and closed are not open.
    assert sla_settings.save(owner, _form()) == 2
    # Friday 16:00 + 4 h: 1 h Friday, 3 h Monday → Mon 12:00 EST = 17:00 UTC.
    # + 16 h: 1 h Friday, 8 h Monday, 7 h Tuesday → Tue 16:00 EST = 21:00 UTC.
    assert _dues(a, waiting) == (
        datetime(2026, 12, 7, 17, tzinfo=UTC),
        datetime(2026, 12, 8, 21, tzinfo=UTC),
    )
    # Already answered: only the quote's due time moves.
    assert _dues(a, answered) == (untouched[answered][0], datetime(2026, 12, 8, 21, tzinfo=UTC))
    # Quoted (the quote sent) and closed cases keep what they had; so does the other clinic.
    assert _dues(a, quoted) == untouched[quoted] and _dues(a, closed) == untouched[closed]
    assert _dues(b, foreign) == (received + timedelta(hours=24), received + timedelta(hours=48))

    settings = sla_settings.get_settings(owner)
    assert settings.form.first_response_hours == "4" and not settings.form.every_hour
    assert [d.open for d in settings.form.week] == [True] * 5 + [False] * 2
    assert settings.form.closed_days == [ClosedDay("2026-12-25", "Christmas", False)]

    # Saving the same again changes nothing and records nothing.
    assert sla_settings.save(owner, _form()) == 0
    with tenant_session(a) as session:
        events = list(
            session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.action).in_(["clinic.sla_changed", "clinic.hours_changed"]))
                .order_by(col(AuditEvent.seq))
            )
        )
    assert [e.action for e in events] == ["clinic.sla_changed", "clinic.hours_changed"]
    sla, hours = (e.details or {} for e in events)
    assert sla["first_response_hours"] == {"from": 24, "to": 4}
    assert sla["quote_turnaround_hours"] == {"from": 48, "to": 16}
    assert sla["recalculated"] == 2
    assert hours["business_hours"]["from"] == {}
    assert hours["business_hours"]["to"]["mon"] == ["09:00", "17:00"]
    assert hours["closed_days"] == {"from": [], "to": ["2026-12-25"]}


def test_a_case_written_to_counts_as_answered_without_its_first_reply_time(db: Database) -> None:
    a = _clinic("sla-w")
    received = datetime(2026, 12, 4, 21, tzinfo=UTC)
    written, waiting = _case(a, received), _case(a, received)
    with tenant_session(a) as session:
        for case_id, direction in ((written, "outbound"), (waiting, "inbound")):
            thread = MessageThread(id=uuid7(), submission_id=case_id)
            session.add(thread)
            session.flush()
            session.add(Message(id=uuid7(), thread_id=thread.id, direction=direction, body="Hello"))
        session.commit()
    before = _dues(a, written)[0]
    assert sla_settings.save(_actor(a, Role.CLINIC_OWNER), _form()) == 2
    # Only the quote's due time moves for the case written to; the other waits for a reply.
    assert _dues(a, written)[0] == before
    assert _dues(a, waiting)[0] == datetime(2026, 12, 7, 17, tzinfo=UTC)


def test_a_manager_reads_but_does_not_save_and_past_days_can_be_pruned(db: Database) -> None:
    a = _clinic("sla-c", "Europe/London")
    owner, manager = _actor(a, Role.CLINIC_OWNER), _actor(a, Role.CLINIC_MANAGER)
    coordinator = _actor(a, Role.COORDINATOR)
    with pytest.raises(PermissionDenied):
        sla_settings.get_settings(coordinator)
    assert sla_settings.get_settings(manager).can_manage is False
    with pytest.raises(PermissionDenied):
        sla_settings.save(manager, _form())
    days = [ClosedDay("2026-12-01", "", False), ClosedDay("2026-12-07", "Today", False)]
    sla_settings.save(owner, _form(closed_days=days))
    shown = sla_settings.get_settings(owner).form.closed_days
    assert [(d.day, d.past) for d in shown] == [("2026-12-01", True), ("2026-12-07", False)]
    assert sla_settings.prune_past_days(owner) == 1
    assert [d.day for d in sla_settings.get_settings(owner).form.closed_days] == ["2026-12-07"]
    assert sla_settings.get_settings(owner).form.closed_days[0].label == "Today"
    assert sla_settings.prune_past_days(owner) == 0


def test_many_open_cases_are_recalculated_in_one_go(db: Database) -> None:
    a = _clinic("sla-many")
    owner = _actor(a, Role.CLINIC_OWNER)
    start = datetime(2026, 11, 2, 14, tzinfo=UTC)
    with tenant_session(a) as session:
        patient = Patient(id=uuid7(), full_name="Pat", email="many@example.org")
        session.add(patient)
        session.flush()
        ids = []
        for n in range(1200):  # more than one batch
            case = Submission(
                id=uuid7(),
                patient_id=patient.id,
                concern_area="acne",
                received_at=start + timedelta(minutes=37 * n),
            )
            session.add(case)
            ids.append(case.id)
        session.commit()
    assert sla_settings.save(owner, _form()) == 1200
    with tenant_session(a) as session:
        missing = session.exec(
            select(Submission.id).where(col(Submission.sla_due_at).is_(None))
        ).all()
    assert missing == []
    # The last case: received 2 Nov 14:00 UTC + 1199 × 37 min (30 days 19:23) = 3 Dec 09:23 UTC
    # (04:23 EST, Thursday, before opening); + 4 business hours → 13:00 EST = 18:00 UTC.
    assert _dues(a, ids[-1])[0] == datetime(2026, 12, 3, 18, tzinfo=UTC)
