"""Staff write to a patient with a template, see the answer as unread, and reading clears it."""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.intake_helpers import jpeg_bytes

OWNER = "owner@lakeside-derm.test"
PHONE = {"width": 390, "height": 844}

# Runs in the app's environment (its database): the patient's answer, as an inbound path stores it.
PLANT_REPLY = """
import sys, uuid
from mi_portal.db import tenant_session
from mi_portal.models import Submission
from mi_portal.services import messaging
tenant, case = uuid.UUID(sys.argv[1]), uuid.UUID(sys.argv[2])
with tenant_session(tenant) as session:
    row = session.get(Submission, (tenant, case))
    thread = messaging.thread_for_case(session, row)
    messaging.append_inbound(session, thread, channel="email", body="Thank you, it looks better.")
    session.commit()
"""


def _quiet_case(app: RunningApp) -> tuple[str, str]:
    """(clinic id, case id) of a Lakeside case with no conversation yet."""
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        tenant, case = conn.execute(
            """
            select t.id, s.id from submission s join tenant t on t.id = s.tenant_id
            where t.slug = 'lakeside-derm'
              and not exists (select 1 from messagethread m where m.submission_id = s.id)
            order by s.received_at limit 1
            """
        ).fetchone()
    return (
        str(uuid.UUID(hex=str(tenant).replace("-", ""))),
        str(uuid.UUID(hex=str(case).replace("-", ""))),
    )


def _rows(app: RunningApp, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        return conn.execute(sql, args).fetchall()


def _pick(page, trigger: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(trigger).click()
    page.get_by_role("option", name=option).click()


def test_templated_email_then_the_reply_is_unread_until_read(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    tenant, case = _quiet_case(app_server)
    hex_case = uuid.UUID(case).hex
    sign_in(page, app_server, OWNER)

    # The clinic's template, written on the settings page.
    page.goto(app_server.url + "/settings/templates")
    expect(page.locator("#template-form")).to_be_visible(timeout=30_000)
    page.locator("#template-name").fill("Check-in")
    page.locator("#template-subject").fill("Your case {{ case.reference }}")
    page.locator("#template-body").fill("Hello {{ patient.first_name }}, how is it going?")
    page.locator("#template-save").click()
    expect(page.locator("#templates-notice")).to_be_visible(timeout=20_000)
    expect(page.locator(".template-name", has_text="Check-in")).to_be_visible()
    save_screenshot(page, "messaging-templates-desktop", tmp_path)
    # A template retired after confirming: no longer offered, can be brought back.
    page.locator("#template-name").fill("Old news")
    page.locator("#template-subject").fill("News")
    page.locator("#template-body").fill("Hello {{ patient.first_name }}")
    page.locator("#template-save").click()
    row = page.locator(".template-row", has_text="Old news")
    expect(row).to_be_visible(timeout=20_000)
    row.locator(".template-retire").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("“Old news” will no longer be offered")
    page.locator("#confirm-retire").click()
    expect(row.locator(".template-reactivate")).to_be_visible(timeout=20_000)

    # The case: choose the template, preview, send.
    page.goto(f"{app_server.url}/cases/{case}")
    expect(page.locator("#compose")).to_be_visible(timeout=30_000)
    _pick(page, "#compose-template", "Check-in")
    expect(page.locator("#compose-subject")).to_have_value("Your case {{ case.reference }}")
    page.locator("#compose-preview").click()
    reference = case[-8:].upper()
    expect(page.locator("#preview-subject")).to_have_text(f"Subject: Your case {reference}")
    expect(page.locator("#preview-body")).to_contain_text("how is it going?")
    page.locator("#compose-send").click()
    expect(page.locator("#conversation-notice")).to_be_visible(timeout=20_000)
    expect(page.locator(".message.outbound")).to_have_count(1)
    # The app's own worker may already have handed it to the (file) mail transport.
    expect(page.locator(".message.outbound .delivery-state")).to_have_text(
        re.compile("^(Queued|Sending|Sent)$")
    )
    messages = _rows(
        app_server,
        "select m.id, m.subject from message m join messagethread t on t.id = m.thread_id "
        "where replace(t.submission_id, '-', '') = ? and m.direction = 'outbound'",
        hex_case,
    )
    assert len(messages) == 1 and messages[0][1] == f"Your case {reference}"
    outbox = _rows(
        app_server,
        "select status, channel from outboxmessage where message_id = ?",
        messages[0][0],
    )
    assert len(outbox) == 1 and outbox[0][1] == "email"
    assert outbox[0][0] in ("pending", "claimed", "sending", "sent")
    page.set_viewport_size({"width": 1280, "height": 800})
    save_screenshot(page, "messaging-case-desktop", tmp_path)
    page.set_viewport_size(PHONE)
    save_screenshot(page, "messaging-case-phone", tmp_path)
    page.set_viewport_size({"width": 1280, "height": 800})

    # The patient answers.
    subprocess.run(
        [sys.executable, "-c", PLANT_REPLY, tenant, case],
        env=app_server.env,
        check=True,
        capture_output=True,
    )
    page.goto(app_server.url + "/messages?unread=1")
    row = page.locator(".thread-row", has=page.locator(".thread-link", has_text=reference))
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".thread-unread")).to_have_text(re.compile(r"^1\s*unread$"))
    expect(page.locator("#nav-unread")).to_be_visible()
    before = int(re.sub(r"\D", "", page.locator("#nav-unread").inner_text()))
    save_screenshot(page, "messaging-messages-desktop", tmp_path)
    page.set_viewport_size(PHONE)
    save_screenshot(page, "messaging-messages-phone", tmp_path)
    page.set_viewport_size({"width": 1280, "height": 800})

    # The queue shows it too.
    page.goto(app_server.url + "/cases?unread=1")
    expect(page.locator(".case-link", has_text=reference)).to_be_visible(timeout=30_000)

    # Reading the case clears it for this user.
    page.goto(f"{app_server.url}/cases/{case}")
    expect(page.locator(".message.inbound")).to_have_count(1, timeout=30_000)
    page.goto(app_server.url + "/messages?unread=1")
    expect(page.locator("#threads-table").or_(page.locator("#threads-empty")).first).to_be_visible(
        timeout=30_000
    )
    expect(page.locator(".thread-link", has_text=reference)).to_have_count(0)
    after_text = page.locator("#nav-unread")
    after = int(re.sub(r"\D", "", after_text.inner_text())) if after_text.count() else 0
    assert after == before - 1


def test_a_failed_delivery_shows_its_reason_and_can_be_retried(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    found = _rows(
        app_server,
        "select t.submission_id, o.id from outboxmessage o "
        "join message m on m.id = o.message_id join messagethread t on t.id = m.thread_id "
        "join tenant c on c.id = o.tenant_id "
        "where o.status = 'failed' and c.slug = 'lakeside-derm' limit 1",
    )
    assert found, "the demo data has a failed delivery"
    case = str(uuid.UUID(hex=str(found[0][0]).replace("-", "")))
    sign_in(page, app_server, OWNER)
    page.goto(f"{app_server.url}/cases/{case}")
    failed = page.locator(".message.outbound", has=page.locator(".message-retry"))
    expect(failed).to_have_count(1, timeout=30_000)
    expect(failed.locator(".delivery-state")).to_have_text("Failed")
    expect(failed).to_contain_text("refused the address")
    save_screenshot(page, "messaging-case-failed-desktop", tmp_path)
    failed.locator(".message-retry").click()
    expect(page.locator("#conversation-notice")).to_contain_text("sent again", timeout=20_000)
    expect(page.locator(".message-retry")).to_have_count(0)
    status = _rows(app_server, "select status from outboxmessage where id = ?", found[0][1])
    # Back in the queue (or already handed over again by the app's worker).
    assert status and status[0][0] in ("pending", "claimed", "sending", "sent")


def _emailed_reply_link(app: RunningApp, reference: str) -> str:
    """The reply link in the email the app's own worker wrote to its mail folder."""
    folder = app.data_dir / "mail"
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if reference in str(parsed["Subject"]):
                body = parsed.get_body(("plain",))
                assert body is not None
                found = re.search(r"/m/(\S+)", body.get_content())  # type: ignore[attr-defined]
                assert found, "the email carries the patient's reply link"
                return found.group(1)
        time.sleep(0.5)
    raise AssertionError(f"no email for case {reference} in {folder}")


def test_the_patient_answers_the_emailed_link_with_a_photo_and_staff_read_it(
    browser, page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _tenant, case = _quiet_case(app_server)
    reference = case[-8:].upper()
    sign_in(page, app_server, OWNER)

    # Staff send the clinic's template; the app's worker delivers it (file transport here).
    page.goto(f"{app_server.url}/cases/{case}")
    expect(page.locator("#compose")).to_be_visible(timeout=30_000)
    _pick(page, "#compose-template", "Photos received")
    page.locator("#compose-send").click()
    expect(page.locator("#conversation-notice")).to_be_visible(timeout=20_000)
    token = _emailed_reply_link(app_server, reference)
    page.reload()
    expect(page.locator(".message.outbound .delivery-state")).to_have_text("Sent", timeout=30_000)

    # The patient, in a browser of their own, opens the link and answers with a photo.
    patient = browser.new_context(viewport={"width": 390, "height": 844})
    reply = patient.new_page()
    reply.goto(f"{app_server.url}/m/{token}")
    expect(reply.get_by_text("thank you for your photos", exact=False)).to_be_visible(
        timeout=30_000
    )
    reply.locator("#reply-text").fill("Here is one in daylight.")
    photo = tmp_path / "daylight.jpg"
    photo.write_bytes(jpeg_bytes(7))
    reply.locator("#reply-photos input[type=file]").set_input_files([str(photo)])
    expect(reply.locator(".selected-photo")).to_have_count(1)
    reply.locator("#reply-send").click()
    expect(reply.locator("#reply-notice")).to_be_visible(timeout=60_000)
    patient.close()

    # Staff see it as unread, open the case, and the count drops.
    page.goto(app_server.url + "/messages?unread=1")
    row = page.locator(".thread-row", has=page.locator(".thread-link", has_text=reference))
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".thread-unread")).to_have_text(re.compile(r"^1\s*unread$"))
    before = int(re.sub(r"\D", "", page.locator("#nav-unread").inner_text()))
    page.goto(f"{app_server.url}/cases/{case}")
    inbound = page.locator(".message.inbound")
    expect(inbound).to_have_count(1, timeout=30_000)
    expect(inbound).to_contain_text("Here is one in daylight.")
    expect(inbound).to_contain_text("daylight.jpg")
    page.goto(app_server.url + "/messages?unread=1")
    expect(page.locator("#threads-table").or_(page.locator("#threads-empty")).first).to_be_visible(
        timeout=30_000
    )
    expect(page.locator(".thread-link", has_text=reference)).to_have_count(0)
    after_text = page.locator("#nav-unread")
    after = int(re.sub(r"\D", "", after_text.inner_text())) if after_text.count() else 0
    assert after == before - 1
