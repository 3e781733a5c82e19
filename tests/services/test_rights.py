"""Rights requests between the platform and the clinics: forwarding, closing, extending, each
clinic's answer and its mirror on the platform, on both databases."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    AuditEvent,
    ConsentKind,
    ConsentRecord,
    OutboxMessage,
    Patient,
    PatientLocator,
    PlatformOutboxMessage,
    RightsRequest,
    RightsRequestForward,
    RightsRequestStep,
    Role,
)
from mi_portal.services import clock, consent, rights, rights_locator
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.policy import consent_text_sha256
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
EMAIL = "jo.requester@example.org"


@pytest.fixture(autouse=True)
def fixed_clock():  # type: ignore[no-untyped-def]
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


def make_patient(tenant_id: uuid.UUID, *, name: str, email: str, phone: str | None = None):  # type: ignore[no-untyped-def]
    from mi_portal.models import Submission, uuid7

    with tenant_session(tenant_id) as session:
        patient = Patient(id=uuid7(), full_name=name, email=email, phone=phone)
        session.add(patient)
        session.flush()
        session.add(Submission(id=uuid7(), patient_id=patient.id, concern_area="acne"))
        rights_locator.record_patient(session, patient)
        session.commit()
        return patient.id


def make_request(
    clinics: list[uuid.UUID], *, kind: str = "access", status: str = "pending", **extra: Any
) -> RightsRequest:
    with owner_session() as session:
        request = RightsRequest(
            kind=kind,
            requester_name="Jo Requester",
            requester_email=EMAIL,
            requester_phone="+12025550143",
            details="Please send me my data.",
            jurisdiction="US-CA",
            regime="ccpa",
            status=status,
            received_at=NOW,
            verified_at=NOW,
            acknowledge_by=date(2026, 11, 16),
            due_on=date(2026, 12, 17),
            matched_clinics=[str(c) for c in clinics],
            **extra,
        )
        session.add(request)
        session.commit()
        session.refresh(request)
        session.expunge(request)
        return request


@pytest.fixture
def world(db: Database):  # type: ignore[no-untyped-def]
    a, b, c = (
        make_tenant("clinic-a", "Lakeside"),
        make_tenant("clinic-b", "Hillview"),
        make_tenant("clinic-c", "Riverside"),
    )
    admin, _ = make_user("admin@platform.test", platform_role="platform_admin")
    owner_a, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    manager_b, _ = make_user("manager@b.test", role="clinic_manager", tenants=(b,))
    coord_a, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    return {
        "db": db,
        "a": a,
        "b": b,
        "c": c,
        "platform": Actor(user_id=admin, role=Role.PLATFORM_ADMIN),
        "switched": Actor(user_id=admin, role=Role.PLATFORM_ADMIN, tenant_id=a),
        "owner_a": Actor(user_id=owner_a, role=Role.CLINIC_OWNER, tenant_id=a, home_tenant_id=a),
        "mgr_b": Actor(user_id=manager_b, role=Role.CLINIC_MANAGER, tenant_id=b, home_tenant_id=b),
        "coord_a": Actor(user_id=coord_a, role=Role.COORDINATOR, tenant_id=a, home_tenant_id=a),
        "pa": make_patient(a, name="Jo Requester", email=EMAIL),
        "pb": make_patient(b, name="Jo R.", email="other@example.org", phone="+12025550143"),
    }


def _forwards(tenant_id: uuid.UUID) -> list[RightsRequestForward]:
    with tenant_session(tenant_id) as session:
        rows = list(session.exec(select(RightsRequestForward)).all())
        for r in rows:
            session.expunge(r)
        return rows


def _request(request_id: uuid.UUID) -> RightsRequest:
    with owner_session() as session:
        found = session.get(RightsRequest, request_id)
        assert found is not None
        session.expunge(found)
        return found


def _platform_mail() -> list[PlatformOutboxMessage]:
    with owner_session() as session:
        return list(session.exec(select(PlatformOutboxMessage)).all())


def _events(chain: str, action: str) -> list[AuditEvent]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.action == action)
            ).all()
        )


def test_only_platform_staff_outside_a_clinic_work_the_list(world) -> None:  # type: ignore[no-untyped-def]
    make_request([world["a"]])
    for actor in (world["switched"], world["owner_a"]):
        with pytest.raises(PermissionDenied):
            rights.work_list(actor)
    with pytest.raises(PermissionDenied):
        rights.forwarded_list(world["coord_a"])
    with pytest.raises(PermissionDenied):
        rights.forwarded_list(world["platform"])


def test_work_list_hides_unverified_and_names_the_matched_clinics(world) -> None:  # type: ignore[no-untyped-def]
    pending = make_request([world["a"], world["b"]])
    make_request([], status="unverified")
    rows = rights.work_list(world["platform"])
    assert [r.reference for r in rows] == [pending.reference]
    row = rows[0]
    assert sorted(c.name for c in row.clinics) == ["Hillview", "Lakeside"]
    assert row.tone == "ok" and row.badge == "45 days left"
    assert len(rights.work_list(world["platform"], include_unverified=True)) == 2
    assert rights.work_list(world["platform"], kind="deletion") == []
    with pytest.raises(rights.RightsProblem):
        rights.work_list(world["platform"], status="nonsense")


def test_forward_creates_one_forward_per_matched_clinic_and_none_elsewhere(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"], world["b"]])
    assert rights.forward(world["platform"], request.id) == 2
    for clinic in ("a", "b"):
        rows = _forwards(world[clinic])
        assert len(rows) == 1
        forward = rows[0]
        assert forward.reference == request.reference
        assert forward.requester_email == EMAIL and forward.due_on == request.due_on
    assert _forwards(world["c"]) == []
    after = _request(request.id)
    assert after.status == "forwarded"
    assert after.clinic_status == {str(world["a"]): "forwarded", str(world["b"]): "forwarded"}
    # Idempotent: a second click makes nothing (and is refused, the request moved on).
    with pytest.raises(rights.RightsProblem):
        rights.forward(world["platform"], request.id)
    assert len(_forwards(world["a"])) == 1
    # Audited in the platform chain and in each clinic's own chain, never naming the other.
    assert len(_events("platform", "rights.forwarded")) == 1
    a_events = _events(str(world["a"]), "rights.forwarded")
    assert [e.target_id for e in a_events] == [str(_forwards(world["a"])[0].id)]
    assert str(world["b"]) not in str(a_events[0].details)
    steps = rights.detail(world["platform"], request.reference).timeline
    assert [s.action for s in steps] == ["forwarded"]


def test_forward_is_idempotent_per_clinic(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"], world["b"]])
    # A forward already in clinic A (an earlier run stopped half-way) is not written twice.
    with tenant_session(world["a"]) as session:
        session.add(RightsRequestForward(rights_request_id=request.id, reference=request.reference))
        session.commit()
    assert rights.forward(world["platform"], request.id) == 1
    assert len(_forwards(world["a"])) == 1 and len(_forwards(world["b"])) == 1


def test_close_no_data_is_refused_when_clinics_matched(world) -> None:  # type: ignore[no-untyped-def]
    matched = make_request([world["a"]])
    with pytest.raises(rights.RightsProblem):
        rights.close_no_data(world["platform"], matched.id)
    none = make_request([])
    with pytest.raises(rights.RightsProblem):
        rights.forward(world["platform"], none.id)
    rights.close_no_data(world["platform"], none.id)
    after = _request(none.id)
    assert (after.status, after.outcome) == ("completed", "no_data")
    mail = _platform_mail()
    assert [m.recipient for m in mail] == [EMAIL]
    assert "No clinic" in mail[0].body and none.reference in mail[0].subject
    assert len(_events("platform", "rights.closed_no_data")) == 1


def test_extend_once_only_and_the_clinics_copies_follow(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"]])
    rights.forward(world["platform"], request.id)
    new = rights.extend(world["platform"], request.id, "We need the clinic's archive.")
    assert new == date(2027, 1, 31)  # CCPA: 45 more days
    assert _request(request.id).due_on == new
    assert _forwards(world["a"])[0].due_on == new
    with pytest.raises(rights.RightsProblem):
        rights.extend(world["platform"], request.id, "Again, please.")
    with pytest.raises(rights.RightsProblem):
        rights.extend(world["platform"], make_request([world["a"]]).id, "x")  # too short
    assert any("2027-01-31" in m.body for m in _platform_mail())


def test_withdraw_and_deny_close_and_tell_the_requester(world) -> None:  # type: ignore[no-untyped-def]
    first = make_request([world["a"]])
    rights.forward(world["platform"], first.id)
    rights.withdraw(world["platform"], first.id, "Requester wrote to withdraw it.")
    assert _request(first.id).status == "withdrawn"
    assert _request(first.id).clinic_status == {str(world["a"]): "completed"}
    assert _forwards(world["a"])[0].status == "completed"
    assert rights.forwarded_list(world["owner_a"]) == []
    second = make_request([world["b"]], by_agent=True, agent_name="Ag Ent",
                          agent_email="agent@example.org")  # fmt: skip
    rights.deny(world["platform"], second.id, "The authorisation is not signed.")
    assert _request(second.id).status == "denied"
    told = [m for m in _platform_mail() if "not signed" in m.body]
    assert sorted(m.recipient for m in told) == ["agent@example.org", EMAIL]
    with pytest.raises(rights.RightsProblem):
        rights.deny(world["platform"], second.id, "Once more.")


def test_a_clinic_sees_only_its_own_forward(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"], world["b"]])
    rights.forward(world["platform"], request.id)
    a_rows = rights.forwarded_list(world["owner_a"])
    b_rows = rights.forwarded_list(world["mgr_b"])
    assert len(a_rows) == 1 and len(b_rows) == 1 and a_rows[0].id != b_rows[0].id
    with pytest.raises(NotFound):
        rights.forward_detail(world["owner_a"], b_rows[0].id)
    with pytest.raises(NotFound):
        rights.deny_forward(world["owner_a"], b_rows[0].id, "Not ours to answer.")
    detail = rights.forward_detail(world["owner_a"], a_rows[0].id)
    # Its own patient (by email) and that patient's case; nothing of clinic B, not even a name.
    assert [p.id for p in detail.patients] == [str(world["pa"])]
    assert len(detail.patients[0].cases) == 1
    text = str(detail)
    assert "Hillview" not in text and str(world["b"]) not in text
    assert "Jo R." not in text
    b_detail = rights.forward_detail(world["mgr_b"], b_rows[0].id)
    # B's patient shares only the phone the requester typed, which no code proved theirs.
    assert b_detail.patients == []


def test_the_request_completes_only_when_every_clinic_answered(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"], world["b"]])
    rights.forward(world["platform"], request.id)
    a_id = rights.forwarded_list(world["owner_a"])[0].id
    b_id = rights.forwarded_list(world["mgr_b"])[0].id
    rights.start(world["owner_a"], a_id)
    assert _request(request.id).status == "in_progress"
    rights.finish(world["owner_a"], a_id, status="completed", note="Sent.", result={"x": 1})
    after = _request(request.id)
    assert after.status == "in_progress" and after.clinic_status[str(world["a"])] == "completed"
    # A late "started" from another tab never reopens an answer.
    rights.record_clinic_answer(request.id, world["a"], "in_progress")
    assert _request(request.id).clinic_status[str(world["a"])] == "completed"
    rights.deny_forward(world["mgr_b"], b_id, "We hold nothing we may release.")
    after = _request(request.id)
    assert (after.status, after.outcome) == ("completed", "answered")
    assert after.closed_at is not None
    # Each clinic told the requester from its own outbox; the platform sent the closing note.
    with tenant_session(world["b"]) as session:
        mail = list(session.exec(select(OutboxMessage)).all())
    assert [m.recipient for m in mail] == [EMAIL] and "hold nothing" in mail[0].body
    assert "Lakeside" not in mail[0].body
    assert any("Every organisation" in m.body for m in _platform_mail())
    with pytest.raises(ValueError):
        rights.finish(world["owner_a"], a_id, status="completed", note="Again", result={})
    with owner_session() as session:
        steps = session.exec(
            select(RightsRequestStep.action).where(RightsRequestStep.request_id == request.id)
        ).all()
    assert list(steps).count("clinic_answered") == 2 and "closed" in steps


def test_all_clinics_denying_denies_the_request(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"]])
    rights.forward(world["platform"], request.id)
    rights.deny_forward(world["owner_a"], rights.forwarded_list(world["owner_a"])[0].id,
                        "We cannot verify this person.")  # fmt: skip
    assert _request(request.id).status == "denied"


def test_correct_audits_old_and_new_and_updates_the_locator(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"]], kind="correction")
    rights.forward(world["platform"], request.id)
    forward_id = rights.forwarded_list(world["owner_a"])[0].id
    with pytest.raises(ValueError):
        rights.correct(world["owner_a"], forward_id, world["pa"], {"email": "not an email"})
    with pytest.raises(ValueError):
        rights.correct(world["owner_a"], forward_id, world["pa"], {"concern_area": "x"})
    with pytest.raises(NotFound):
        rights.correct(world["owner_a"], forward_id, world["pb"], {"full_name": "X"})
    changed = rights.correct(
        world["owner_a"], forward_id, world["pa"],
        {"email": "Jo.New@Example.org", "date_of_birth": "1990-04-05", "full_name": "Jo Requester"},
    )  # fmt: skip
    assert changed == ["date_of_birth", "email"]
    with tenant_session(world["a"]) as session:
        patient = session.get(Patient, (world["a"], world["pa"]))
        assert patient is not None and patient.email == "jo.new@example.org"
        digests = set(session.exec(select(PatientLocator.digest)).all())
    assert rights_locator.digest("email", "jo.new@example.org") in digests
    assert rights_locator.digest("email", EMAIL) not in digests
    event = _events(str(world["a"]), "rights.corrected")[0]
    assert event.target_id == str(world["pa"])
    assert event.details["old"] == {"email": EMAIL, "date_of_birth": None}
    assert event.details["new"] == {"email": "jo.new@example.org", "date_of_birth": "1990-04-05"}
    # The corrected patient is still this request's patient, though the email changed.
    detail = rights.forward_detail(world["owner_a"], forward_id)
    assert [p.id for p in detail.patients] == [str(world["pa"])]
    assert detail.result["corrected"] == ["date_of_birth", "email"]


def test_opt_out_writes_consents_and_answers(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"]], kind="opt_out")
    rights.forward(world["platform"], request.id)
    forward_id = rights.forwarded_list(world["owner_a"])[0].id
    with pytest.raises(ValueError):
        rights.limit(world["owner_a"], forward_id)  # a different kind of request
    with tenant_session(world["a"]) as session:
        consent.record(session, world["pa"], ConsentKind.MARKETING_OPT_IN, True, source="intake")
        session.commit()
        assert consent.current(session, world["pa"], ConsentKind.MARKETING_OPT_IN)
    assert rights.opt_out(world["owner_a"], forward_id) == 1
    with tenant_session(world["a"]) as session:
        rows = session.exec(
            select(ConsentRecord.kind, ConsentRecord.granted).where(
                ConsentRecord.patient_id == world["pa"]
            )
        ).all()
    assert set(rows) == {
        (ConsentKind.SALE_SHARING_OPT_OUT.value, True),
        (ConsentKind.MARKETING_OPT_IN.value, True),
        (ConsentKind.MARKETING_OPT_IN.value, False),
    }
    with tenant_session(world["a"]) as session:
        hashes = session.exec(
            select(ConsentRecord.kind, ConsentRecord.text_sha256, ConsentRecord.source)
        ).all()
    by_kind = {k: (h, src) for k, h, src in hashes if src == "rights_request"}
    assert by_kind[ConsentKind.SALE_SHARING_OPT_OUT.value] == (
        consent_text_sha256(ConsentKind.SALE_SHARING_OPT_OUT.value),
        "rights_request",
    )
    with tenant_session(world["a"]) as session:
        assert not consent.current(session, world["pa"], ConsentKind.MARKETING_OPT_IN)
    assert _request(request.id).status == "completed"
    with tenant_session(world["b"]) as session:
        assert session.exec(select(ConsentRecord)).all() == []


def test_concurrent_answers_by_two_clinics_keep_both(world) -> None:  # type: ignore[no-untyped-def]
    if world["db"].kind != "postgres":
        pytest.skip("row locks across connections: PostgreSQL")
    request = make_request([world["a"], world["b"]])
    rights.forward(world["platform"], request.id)
    ids = {
        "owner_a": rights.forwarded_list(world["owner_a"])[0].id,
        "mgr_b": rights.forwarded_list(world["mgr_b"])[0].id,
    }
    barrier, errors = threading.Barrier(2), []

    def answer(who: str) -> None:
        try:
            barrier.wait()
            rights.finish(world[who], ids[who], status="completed", note="Done.", result={})
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(repr(exc))

    threads = [threading.Thread(target=answer, args=(w,)) for w in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    after = _request(request.id)
    assert after.clinic_status == {str(world["a"]): "completed", str(world["b"]): "completed"}
    assert after.status == "completed"
    with owner_session() as session:
        closing = session.exec(
            select(PlatformOutboxMessage).where(col(PlatformOutboxMessage.body).contains("Every"))
        ).all()
    assert len(closing) == 1


def test_row_level_security_keeps_each_clinics_forward_to_itself(world) -> None:  # type: ignore[no-untyped-def]
    if world["db"].kind != "postgres":
        pytest.skip("row-level security: PostgreSQL")
    import sqlalchemy as sa

    request = make_request([world["a"], world["b"]])
    rights.forward(world["platform"], request.id)
    for mine, other in (("a", "b"), ("b", "a")):
        with world["db"].engine.connect() as conn, conn.begin():
            conn.execute(
                sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(world[mine])}
            )
            seen = set(
                conn.execute(sa.text("select tenant_id::text from rightsrequestforward")).scalars()
            )
            assert seen == {str(world[mine])}
            changed = conn.execute(
                sa.text("update rightsrequestforward set status = 'denied' where tenant_id = :t"),
                {"t": str(world[other])},
            ).rowcount
            assert changed == 0
    assert {f.status for f in _forwards(world["a"]) + _forwards(world["b"])} == {"forwarded"}
