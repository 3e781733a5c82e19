"""A patient opens an old quote link, is pointed to the current version, saves its PDF and
accepts it by typing their name."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import Quote, Role, Submission, TaxClass, Tenant, User
from mi_portal.services import clock, quotes
from mi_portal.services.actor import Actor
from tests.browser.conftest import RunningApp, save_screenshot
from tests.browser.test_gates import PHONE, _violations
from tests.browser.test_intake import app_db  # noqa: F401  (fixture)
from tests.factories import make_case
from tests.quote_helpers import line

PATIENT = "Quinn Example"


def _two_versions() -> tuple[uuid.UUID, uuid.UUID, str, str, str]:
    """A case of its own in the demo clinic with version 1 sent, then replaced by version 2.

    Returns (clinic, case, version 2's id, version 1's token, version 2's total)."""
    with platform_session() as session:
        lakeside = session.exec(select(Tenant).where(Tenant.slug == "lakeside-derm")).one()
        owner = session.exec(select(User).where(User.email == "owner@lakeside-derm.test")).one()
    tenant_id = lakeside.id
    _patient, case_id = make_case(tenant_id, name=PATIENT)
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        # Older than the demo's cases, so tests that take "the newest case" never take this one.
        case.received_at = clock.now() - timedelta(days=60)
        session.add(case)
        tax = TaxClass(name=f"Browser VAT {uuid.uuid4().hex[:6]}", rate=Decimal("20"))
        session.add(tax)
        session.commit()
        tax_id = str(tax.id)
    actor = Actor(user_id=owner.id, role=Role.CLINIC_OWNER, tenant_id=tenant_id)
    until = (clock.now().date() + timedelta(days=30)).isoformat()
    form: dict[str, object] = {
        "lines": [
            line(description="Laser session", price="250.00", quantity="3", tax=tax_id,
                 discount_kind="percent", discount_value="10"),  # fmt: skip
            line(description="Aftercare cream", price="40.00"),
        ],
        "discount_kind": "", "discount_value": "", "deposit_kind": "amount",
        "deposit_value": "100.00", "valid_until": until, "message": "We look forward to it.",
        "terms": "The deposit is refundable up to 48 hours before the first session.",
    }  # fmt: skip
    first = quotes.start(actor, case_id)
    assert not quotes.save_draft(actor, first, form).errors
    quotes.send(actor, first)
    second = quotes.start(actor, case_id)
    form["lines"][1]["unit_price"] = "35.00"  # type: ignore[index]
    assert not quotes.save_draft(actor, second, form).errors
    quotes.send(actor, second)
    total = quotes.document(actor, second).total
    old_token = quotes.link_token(tenant_id, uuid.UUID(first))
    return tenant_id, case_id, uuid.UUID(second), old_token, total


def test_patient_follows_an_old_link_saves_the_pdf_and_accepts(
    browser,
    app_server: RunningApp,
    app_db: None,  # noqa: F811
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    tenant_id, case_id, second, old_token, total = _two_versions()
    assert total == "$845.00"  # 3 × 250.00 − 10 % = 675.00, + 20 % tax 135.00, + 35.00
    context = browser.new_context(viewport={"width": 1000, "height": 1200}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The replaced version says so and links to the current one; it cannot be answered.
    page.goto(f"{app_server.url}/q/{old_token}")
    expect(page.locator("#quote-notice")).to_contain_text("replaced", timeout=30_000)
    expect(page.locator("#quote-accept")).to_have_count(0)
    assert _violations(page) == []
    page.locator("#quote-current-link").click()

    expect(page.locator("#quote-total")).to_have_text(total, timeout=30_000)
    expect(page.get_by_text("Lakeside Dermatology")).to_be_visible()
    expect(page.locator("#quote-notice")).to_have_count(0)
    expect(page.locator("#quote-lines .quote-line")).to_have_count(2)
    expect(page.locator("#quote-deposit")).to_have_text("$100.00")
    expect(page.locator("#quote-terms")).to_contain_text("refundable up to 48 hours")
    assert "version 2" in page.locator("main").inner_text()
    assert _violations(page) == []

    with page.expect_download() as download:
        page.locator("#quote-pdf").click()
    reference = str(case_id)[-8:].upper()
    assert download.value.suggested_filename == f"quote-{reference}-v2.pdf"
    pdf = tmp_path / "quote.pdf"
    download.value.save_as(pdf)
    from pypdf import PdfReader

    assert total in PdfReader(str(pdf)).pages[0].extract_text()

    page.locator("#quote-accept").click()
    expect(page.locator("#accept-explained")).to_contain_text("type your full name")
    assert _violations(page) == []
    save_screenshot(page, "quote-page", tmp_path)
    page.locator("#accept-name").fill("Somebody Else")
    page.locator("#accept-confirm").click()
    expect(page.locator("#quote-error")).to_contain_text("full name", timeout=20_000)
    expect(page.locator("#accept-name")).to_have_value("Somebody Else")
    page.locator("#accept-name").fill(PATIENT.lower())
    page.locator("#accept-confirm").click()
    expect(page.locator("#quote-done")).to_be_visible(timeout=20_000)
    expect(page.locator("#quote-notice")).to_contain_text("You accepted this quote")
    expect(page.locator("#quote-accepted")).to_contain_text(PATIENT.lower())
    expect(page.locator("#quote-accept")).to_have_count(0)

    with tenant_session(tenant_id) as session:
        quote = session.get(Quote, (tenant_id, second))
        case = session.get(Submission, (tenant_id, case_id))
        assert quote is not None and case is not None
        assert quote.status == "accepted" and quote.accepted_name == PATIENT.lower()
        assert quote.accepted_ip and quote.content_sha256
        assert case.status == "accepted"

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    save_screenshot(page, "quote-page-phone", tmp_path)

    page.goto(f"{app_server.url}/q/{old_token[:-3]}abc")
    expect(page.locator("#quote-invalid")).to_contain_text("not valid", timeout=30_000)
    expect(page.locator("#quote-total")).to_have_count(0)
    assert "Lakeside" not in page.locator("main").inner_text()
    assert errors == []
    context.close()


def test_patient_declines_with_a_reason_on_a_phone(
    browser,
    app_server: RunningApp,
    app_db: None,  # noqa: F811
) -> None:
    tenant_id, case_id, second, _old_token, _total = _two_versions()
    token = quotes.link_token(tenant_id, second)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{app_server.url}/q/{token}")
    expect(page.locator("#quote-total")).to_have_text("$845.00", timeout=30_000)
    page.locator("#quote-decline").click()
    page.locator("#decline-reason").fill("I found a clinic nearer home.")
    page.locator("#decline-reason").blur()
    assert _violations(page) == []
    page.locator("#decline-confirm").click()
    expect(page.locator("#quote-notice")).to_contain_text("You declined this quote", timeout=20_000)
    expect(page.locator("#quote-decline")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    with tenant_session(tenant_id) as session:
        quote = session.get(Quote, (tenant_id, second))
        case = session.get(Submission, (tenant_id, case_id))
        assert quote is not None and case is not None
        assert (
            quote.status == "declined" and quote.decline_reason == "I found a clinic nearer home."
        )
        assert case.status == "declined"
    context.close()
