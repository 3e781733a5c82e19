"""A patient opens the reply link, reads the clinic's message, replies with a photo, stops SMS."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    ConsentKind,
    Message,
    MessageAttachment,
    MessageThread,
    Patient,
    Role,
    Submission,
    Tenant,
    User,
)
from mi_portal.services import consent, messaging
from mi_portal.services.actor import Actor
from tests.browser.conftest import RunningApp, save_screenshot
from tests.browser.test_gates import PHONE, _violations
from tests.browser.test_intake import app_db  # noqa: F401  (fixture)
from tests.intake_helpers import jpeg_bytes
from tests.reply_helpers import reply_token

CLINIC_SAYS = "Hello, could you send one more photo in daylight?"


def _conversation() -> tuple[str, object, object, str]:
    """The clinic (its owner) writes to the patient of its newest case; returns the link token."""
    with platform_session() as session:
        lakeside = session.exec(select(Tenant).where(Tenant.slug == "lakeside-derm")).one()
        owner = session.exec(select(User).where(User.email == "owner@lakeside-derm.test")).one()
    with tenant_session(lakeside.id) as session:
        case = session.exec(
            select(Submission).order_by(col(Submission.received_at).desc()).limit(1)
        ).one()
        patient = session.get(Patient, (lakeside.id, case.patient_id))
        assert patient is not None
        patient.phone = patient.phone or "+1 202 555 0143"
        session.add(patient)
        consent.record(session, patient.id, ConsentKind.SMS_OPT_IN, True, source="staff")
        session.commit()
        case_id, patient_id = case.id, patient.id
    actor = Actor(user_id=owner.id, role=Role.CLINIC_OWNER, tenant_id=lakeside.id)
    messaging.send_message(actor, case_id, channel="email", subject="Your photos", body=CLINIC_SAYS)
    return reply_token(lakeside.id, case_id), lakeside.id, patient_id, owner.full_name


def test_patient_replies_with_a_photo_and_stops_text_messages(
    browser,
    app_server: RunningApp,
    app_db: None,  # noqa: F811
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    token, tenant_id, patient_id, staff_name = _conversation()
    context = browser.new_context(viewport={"width": 1000, "height": 1200})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{app_server.url}/m/{token}")
    expect(page.get_by_text(CLINIC_SAYS)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Lakeside Dermatology", exact=True)).to_be_visible()
    # Staff appear by first name only.
    first, *rest = staff_name.split()
    thread = page.locator("#reply-thread").inner_text()
    assert first in thread and all(part not in thread for part in rest)
    assert _violations(page) == []

    page.locator("#reply-text").fill("Here it is, taken by the window.")
    photo = tmp_path / "daylight.jpg"
    photo.write_bytes(jpeg_bytes(42))
    page.locator("#reply-photos input[type=file]").set_input_files([str(photo)])
    expect(page.locator(".selected-photo")).to_have_count(1)
    page.locator("#reply-send").click()
    expect(page.locator("#reply-notice")).to_be_visible(timeout=60_000)
    mine = page.locator(".reply-message.mine")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("Here it is, taken by the window.")
    expect(mine).to_contain_text("daylight.jpg")
    expect(page.locator("#reply-text")).to_have_value("")
    with tenant_session(tenant_id) as session:  # type: ignore[arg-type]
        # This patient's messages only: the demo data has answers from other patients.
        stored = session.exec(
            select(Message)
            .join(MessageThread, col(MessageThread.id) == Message.thread_id)
            .join(Submission, col(Submission.id) == MessageThread.submission_id)
            .where(Message.direction == "inbound", Submission.patient_id == patient_id)
        ).all()
        # This patient's photos only: other tests of the run answer other cases with photos.
        photos = session.exec(
            select(MessageAttachment).where(
                MessageAttachment.kind == "photo",
                col(MessageAttachment.message_id).in_([m.id for m in stored]),
            )
        )
        assert [m.body for m in stored] == ["Here it is, taken by the window."]
        assert len(list(photos)) == 1

    expect(page.locator("#sms-state")).to_contain_text("You agreed")
    page.locator("#sms-withdraw").click()
    expect(page.locator("#sms-state")).to_contain_text("does not send", timeout=20_000)
    expect(page.locator("#sms-notice")).to_contain_text("no more text messages")
    with tenant_session(tenant_id) as session:  # type: ignore[arg-type]
        assert not consent.current(session, patient_id, ConsentKind.SMS_OPT_IN)  # type: ignore[arg-type]
    save_screenshot(page, "reply-page", tmp_path)

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    save_screenshot(page, "reply-page-phone", tmp_path)

    page.goto(f"{app_server.url}/m/{token[:-3]}abc")
    expect(page.locator("#reply-invalid")).to_contain_text(
        "expired or is not valid", timeout=30_000
    )
    expect(page.get_by_text(CLINIC_SAYS)).to_have_count(0)
    assert _violations(page) == []
    assert errors == []
    context.close()
