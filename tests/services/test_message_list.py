"""The clinic's conversations: paging, filters, per-user unread, masking, retry, attachments,
and isolation between clinics, on both databases."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import (
    AuditEvent,
    Message,
    MessageAttachment,
    OutboxMessage,
    Role,
    Submission,
    SubmissionImage,
)
from mi_portal.services import clock, message_attachments, messaging, outbox
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.case_lists import SEARCH_BY_REFERENCE
from mi_portal.services.inbox import InboxQuery, inbox_page
from mi_portal.services.message_attachments import AttachmentRefused
from mi_portal.services.message_list import ThreadQuery, thread_page, total_unread
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, owner_session

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def ticking_clock():  # type: ignore[no-untyped-def]
    moments = iter(T0 + timedelta(minutes=i) for i in range(10_000))
    clock.set_clock(lambda: next(moments))
    yield
    clock.set_clock(None)


def _actor(tenant: uuid.UUID, role: Role, email: str) -> Actor:
    user_id, _ = make_user(email, role=role.value, tenants=(tenant,))
    return Actor(user_id=user_id, role=role, tenant_id=tenant, home_tenant_id=tenant)


def _send(actor: Actor, case_id: uuid.UUID) -> None:
    messaging.send_message(actor, case_id, channel="email", subject="Hello", body="How are you?")


def _inbound(tenant: uuid.UUID, case_id: uuid.UUID, body: str = "Any news?") -> None:
    with tenant_session(tenant) as session:
        case = session.get(Submission, (tenant, case_id))
        assert case is not None
        thread = messaging.thread_for_case(session, case)
        messaging.append_inbound(session, thread, channel="email", body=body)
        session.commit()


@pytest.fixture
def world(db: Database):  # type: ignore[no-untyped-def]
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    manager = _actor(a, Role.CLINIC_MANAGER, "manager@a.test")
    coordinator = _actor(a, Role.COORDINATOR, "coord@a.test")
    other = _actor(b, Role.CLINIC_OWNER, "owner@b.test")
    cases = {}
    for name in ("Ava Stone", "Ben Rivers", "Cy Ng"):
        cases[name] = make_case(a, name=name)[1]
    b_case = make_case(b, name="Bo Stone")[1]
    _send(manager, cases["Ava Stone"])  # waiting for the patient
    _send(manager, cases["Ben Rivers"])
    _inbound(a, cases["Ben Rivers"])  # the patient answered: unread for everyone
    _inbound(a, cases["Cy Ng"], "First")
    _inbound(a, cases["Cy Ng"], "Second")
    _send(other, b_case)
    _inbound(b, b_case)
    with tenant_session(a) as session:
        case = session.get(Submission, (a, cases["Cy Ng"]))
        assert case is not None
        case.assignee_id = coordinator.user_id
        session.add(case)
        session.commit()
    return a, b, manager, coordinator, other, cases, b_case


def _patients(actor: Actor, **q: object) -> list[str]:
    return [r.patient for r in thread_page(actor, ThreadQuery(**q)).rows]  # type: ignore[arg-type]


def test_newest_activity_first_with_direction_and_unread(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, *_ = world
    result = thread_page(manager, ThreadQuery())
    assert [r.patient for r in result.rows] == ["Cy Ng", "Ben Rivers", "Ava Stone"]
    assert [r.waiting for r in result.rows] == [False, False, True]
    assert [r.unread for r in result.rows] == [2, 1, 0]
    assert result.total == 3 and not result.masked


def test_filters(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, coordinator, *_ = world
    assert _patients(manager, unread=True) == ["Cy Ng", "Ben Rivers"]
    assert _patients(manager, waiting=True) == ["Ava Stone"]
    assert _patients(coordinator, mine=True) == ["C. N."]
    assert _patients(manager, mine=True) == []
    assert _patients(manager, search="rivers") == ["Ben Rivers"]
    assert _patients(manager, search="%") == []  # a wildcard typed is text


def test_paging(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, *_ = world
    first = thread_page(manager, ThreadQuery(page=0), page_size=2)
    second = thread_page(manager, ThreadQuery(page=1), page_size=2)
    assert [r.patient for r in first.rows] == ["Cy Ng", "Ben Rivers"]
    assert [r.patient for r in second.rows] == ["Ava Stone"]
    assert first.total == second.total == 3
    assert thread_page(manager, ThreadQuery(page=7), page_size=2).rows == []


def test_unread_is_per_user_in_the_list_the_queue_and_the_total(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, coordinator, other, cases, _ = world
    assert total_unread(manager) == total_unread(coordinator) == 3
    messaging.conversation(manager, cases["Cy Ng"])  # the manager reads Cy's thread
    assert _patients(manager, unread=True) == ["Ben Rivers"]
    assert total_unread(manager) == 1
    assert total_unread(coordinator) == 3  # a colleague's reading changes nothing for them
    assert [r.unread for r in thread_page(coordinator, ThreadQuery(unread=True)).rows] == [2, 1]
    queue = {r.patient: r.unread for r in inbox_page(manager, InboxQuery()).rows}
    assert queue == {"Ava Stone": 0, "Ben Rivers": 1, "Cy Ng": 0}
    assert [r.patient for r in inbox_page(manager, InboxQuery(unread=True)).rows] == ["Ben Rivers"]
    assert len(inbox_page(coordinator, InboxQuery(unread=True)).rows) == 2
    _inbound(a, cases["Cy Ng"], "Third")  # a newer message is unread again
    assert total_unread(manager) == 2
    assert thread_page(manager, ThreadQuery(unread=True)).rows[0].unread == 1


def test_masked_roles_see_initials_and_search_by_reference_only(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, coordinator, other, cases, _ = world
    result = thread_page(coordinator, ThreadQuery())
    assert result.masked and [r.patient for r in result.rows] == ["C. N.", "B. R.", "A. S."]
    refused = thread_page(coordinator, ThreadQuery(search="rivers"))
    assert refused.rows == [] and refused.problem == SEARCH_BY_REFERENCE
    ref = str(cases["Ben Rivers"])[-8:]
    assert _patients(coordinator, search=ref.upper()) == ["B. R."]


def test_one_audit_event_per_list_view_naming_the_cases(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, *_ = world
    with owner_session() as session:
        before = len(session.exec(select(AuditEvent.id)).all())
    thread_page(manager, ThreadQuery())
    with owner_session() as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.occurred_at)).all()  # type: ignore[arg-type]
    assert len(events) == before + 1
    assert events[-1].action == "cases.listed" and events[-1].details["view"] == "messages"
    assert len(events[-1].details["cases"]) == 3


def test_clinics_never_see_each_others_threads(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, coordinator, other, cases, b_case = world
    assert _patients(other) == ["Bo Stone"]
    assert total_unread(other) == 1
    assert "Bo Stone" not in _patients(manager, search="stone")
    assert _patients(manager, search=str(b_case)[-8:]) == []
    with pytest.raises(NotFound):
        messaging.conversation(manager, b_case)


def _failed_delivery(tenant: uuid.UUID) -> uuid.UUID:
    with tenant_session(tenant) as session:
        row = session.exec(select(OutboxMessage)).first()
        assert row is not None
        row.status, row.attempts, row.last_error = "failed", 5, "mailbox unavailable"
        session.add(row)
        session.commit()
        return row.id


def test_staff_retry_a_failed_delivery(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, coordinator, other, cases, b_case = world
    failed = _failed_delivery(a)
    view = messaging.conversation(manager, cases["Ava Stone"])
    shown = [m for m in view.messages if m.outbox_id == str(failed)]
    if shown:
        assert shown[0].delivery == "Failed" and shown[0].failure == "mailbox unavailable"
    with pytest.raises(NotFound):
        outbox.retry(other, failed)  # another clinic's delivery answers like a missing one
    with pytest.raises(NotFound):
        outbox.retry(other, uuid.uuid4())
    viewer = _actor(a, Role.VIEWER, "viewer@a.test")
    with pytest.raises(PermissionDenied):
        outbox.retry(viewer, failed)
    outbox.retry(coordinator, failed)
    with tenant_session(a) as session:
        row = session.get(OutboxMessage, (a, failed))
        assert row is not None and row.status == "pending" and row.last_error is None
    with pytest.raises(ValueError, match="Only a failed"):
        outbox.retry(coordinator, failed)
    with owner_session() as session:
        actions = session.exec(select(AuditEvent.action)).all()
    assert "message.retry" in actions


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 90)).save(out, "JPEG")
    return out.getvalue()


def test_pdf_and_photo_attachments(world) -> None:  # type: ignore[no-untyped-def]
    a, b, manager, coordinator, other, cases, b_case = world
    case = cases["Ava Stone"]
    with pytest.raises(AttachmentRefused, match="not a PDF"):
        message_attachments.stage_pdf(manager, case, b"<html>", "x.pdf")
    big = b"%PDF-1.7\n" + b"0" * (message_attachments.MAX_PDF_BYTES)
    with pytest.raises(AttachmentRefused, match="5 MB"):
        message_attachments.stage_pdf(manager, case, big, "big.pdf")
    with pytest.raises(NotFound):
        message_attachments.stage_pdf(other, case, b"%PDF-1.4\n%%EOF", "x.pdf")
    pdf = message_attachments.stage_pdf(manager, case, b"%PDF-1.4\n%%EOF", "../../Plan.pdf")
    assert pdf.storage_key.startswith(f"{a}/") and pdf.display_name == "Plan.pdf"
    assert get_store().get(pdf.storage_key).startswith(b"%PDF-")
    photo = message_attachments.stage_photo(manager, case, _jpeg(), "arm.jpg")
    with tenant_session(a) as session:
        image = session.get(SubmissionImage, (a, uuid.UUID(photo.image_id)))
        assert image is not None and image.submission_id == case
    # Another clinic cannot attach clinic A's photo or object to its own case.
    with pytest.raises(AttachmentRefused):
        message_attachments.attachment_rows(other, b_case, [photo])
    with pytest.raises(AttachmentRefused):
        message_attachments.attachment_rows(other, b_case, [pdf])
    rows = message_attachments.attachment_rows(manager, case, [pdf, photo])
    message_id = messaging.send_message(
        manager, case, channel="email", subject="Plan", body="See attached", attachments=rows
    )
    with tenant_session(a) as session:
        stored = session.exec(
            select(MessageAttachment).where(MessageAttachment.message_id == uuid.UUID(message_id))
        ).all()
        assert sorted(s.kind for s in stored) == ["pdf", "photo"]
        body = session.exec(
            select(OutboxMessage.body).where(OutboxMessage.message_id == uuid.UUID(message_id))
        ).one()
        assert "2 attachments for you" in body
        assert session.exec(select(Message.id)).all()
    lines = messaging.conversation(manager, case).messages
    assert sorted(x.name for x in lines[-1].attachments) == ["Plan.pdf", "arm.jpg"]
