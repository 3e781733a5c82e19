"""An agent sends a privacy request for a patient; the patient confirms it with the emailed code."""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import col, select

from mi_portal.db import platform_session
from mi_portal.models import RightsRequest
from tests.browser.conftest import RunningApp, save_screenshot
from tests.browser.test_gates import PHONE, _violations
from tests.browser.test_intake import app_db  # noqa: F401  (fixture)

PATIENT = "pat.rights@example.org"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _emailed_code(app: RunningApp, reference: str) -> str:
    """The code in the email the app's own worker wrote to its mail folder for this request."""
    folder = app.data_dir / "mail"
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if reference in str(parsed["Subject"]) and "code" in str(parsed["Subject"]):
                assert str(parsed["To"]) == PATIENT  # the patient confirms, not the agent
                body = parsed.get_body(("plain",))
                assert body is not None
                found = re.search(r"\b(\d{6})\b", body.get_content())  # type: ignore[attr-defined]
                assert found, "the email carries the code"
                return found.group(1)
        time.sleep(0.5)
    raise AssertionError(f"no code email for request {reference} in {folder}")


def _no_overflow(page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_an_agent_sends_a_request_and_the_patient_confirms_it_by_email(
    browser,
    app_server: RunningApp,
    app_db: None,  # noqa: F811
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1000, "height": 1200})
    page = context.new_page()
    page.goto(app_server.url + "/privacy")
    page.locator(".rights-request-link").first.click()
    expect(page).to_have_url(re.compile(r"/privacy/request$"), timeout=30_000)
    expect(page.locator("#rights-submit")).to_be_visible(timeout=30_000)
    assert _violations(page) == []

    # Everything missing: every error at once.
    page.locator("#rights-submit").click()
    expect(page.locator("#error-kind")).to_be_visible(timeout=20_000)
    expect(page.locator("#error-requester_email")).to_be_visible()
    expect(page.locator("#error-jurisdiction")).to_be_visible()

    page.locator("#kind-access").click()
    expect(page.locator("#kind-access")).to_be_checked()
    page.locator("#who-agent").click()
    expect(page.locator("#agent_name")).to_be_visible(timeout=20_000)
    page.locator("#agent_name").fill("Alex Agent")
    page.locator("#agent_email").fill("alex.agent@example.org")
    letter = tmp_path / "signed-authorisation.pdf"
    letter.write_bytes(PDF)
    page.locator("#authorisation input[type=file]").set_input_files([str(letter)])
    expect(page.locator(".selected-file")).to_have_text("signed-authorisation.pdf")
    page.locator("#jurisdiction").select_option("US-CA")
    page.locator("#requester_name").fill("Pat Rights")
    page.locator("#requester_email").fill("pat.rights@")  # a mistake
    page.locator("#details").fill("Everything you hold, please.")
    page.locator("#rights-submit").click()
    expect(page.locator("#error-requester_email")).to_contain_text("valid email", timeout=20_000)
    # Nothing typed is lost: the fields, the choices and the chosen file are all still there.
    expect(page.locator("#requester_name")).to_have_value("Pat Rights")
    expect(page.locator("#agent_email")).to_have_value("alex.agent@example.org")
    expect(page.locator("#details")).to_have_value("Everything you hold, please.")
    expect(page.locator("#jurisdiction")).to_have_value("US-CA")
    expect(page.locator("#kind-access")).to_be_checked()
    expect(page.locator(".selected-file")).to_have_text("signed-authorisation.pdf")
    assert _violations(page) == []
    _no_overflow(page)
    page.set_viewport_size({"width": 1000, "height": 1200})

    page.locator("#requester_email").fill(PATIENT)
    page.locator("#rights-submit").click()
    expect(page).to_have_url(
        re.compile(r"/privacy/request/verify/RR-[A-Z0-9]{4}-[A-Z0-9]{4}$"), timeout=30_000
    )
    reference = page.url.rsplit("/", 1)[-1]
    expect(page.locator("#verify-reference")).to_have_text(reference, timeout=30_000)

    code = _emailed_code(app_server, reference)
    page.locator("#code").fill("000000" if code != "000000" else "111111")
    page.locator("#code-submit").click()
    expect(page.locator("#error-code")).to_contain_text("4 tries left", timeout=20_000)
    assert _violations(page) == []
    _no_overflow(page)
    save_screenshot(page, "rights-request-code", tmp_path)

    page.locator("#code").fill(code)
    page.locator("#code-submit").click()
    status = page.locator("#verify-status")
    expect(status).to_contain_text(f"Verified. Your reference is {reference}", timeout=20_000)
    expect(status).to_contain_text("you will hear from us by")
    assert _violations(page) == []
    _no_overflow(page)
    save_screenshot(page, "rights-request-verified", tmp_path)

    with platform_session() as session:
        request = session.exec(
            select(RightsRequest).where(col(RightsRequest.reference) == reference)
        ).one()
    assert request.status == "pending" and request.by_agent and request.kind == "access"
    assert request.requester_email == PATIENT and request.jurisdiction == "US-CA"
    assert request.authorisation_type == "application/pdf" and request.due_on is not None
    assert f"{request.due_on:%d %B %Y}" in (status.text_content() or "")

    page.reload()  # the address is the view: a reload shows the same answer
    expect(page.locator("#verify-status")).to_contain_text("Verified", timeout=30_000)
    context.close()
