"""Privacy requests in the browser: platform staff forward a verified request from the work list;
a clinic owner opens it on the clinic's forwarded page and denies it with a reason."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import col, select

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_case_pages import PHONE, _overflow, _serious

CLINICS = ("lakeside-derm", "summit-dental")


def _plant_request(app: RunningApp) -> str:
    """A verified request matched to two demo clinics, written as intake would leave it."""
    from mi_portal.db import make_engine, platform_session
    from mi_portal.models import RightsRequest, Tenant

    engine = make_engine(f"sqlite:///{app.data_dir / 'mi_portal.db'}")
    try:
        with platform_session(engine=engine) as session:
            clinics = session.exec(select(Tenant.id).where(col(Tenant.slug).in_(CLINICS))).all()
            assert len(clinics) == 2
            now = datetime.now(UTC)
            request = RightsRequest(
                kind="access",
                requester_name="Robin Browser",
                requester_email=f"robin.{uuid.uuid4().hex[:6]}@example.org",
                details="Please send me what you hold.",
                jurisdiction="US-CA",
                regime="ccpa",
                status="pending",
                received_at=now - timedelta(days=50),
                verified_at=now,
                due_on=date.today() - timedelta(days=3),  # overdue: the red badge
                matched_clinics=[str(c) for c in clinics],
            )
            session.add(request)
            session.commit()
            return request.reference
    finally:
        engine.dispose()


def _checks(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    assert _serious(page, tmp_path, name) == []
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert _overflow(page) == []
    save_screenshot(page, f"{name}-phone", tmp_path)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_platform_forwards_and_a_clinic_denies(
    browser, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    reference = _plant_request(app_server)

    platform = browser.new_context(viewport={"width": 1280, "height": 800})
    page = platform.new_page()
    sign_in(page, app_server, "admin@mi-portal.test")
    page.goto(app_server.url + "/privacy/requests")
    row = page.locator(".request-row", has_text=reference)
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".deadline-badge")).to_contain_text("Overdue by 3 days")
    _checks(page, tmp_path, "rights-work-list")

    # A filter is a link: the address carries it, and the list follows.
    page.locator("#filter-kind-deletion").click()
    expect(page).to_have_url(f"{app_server.url}/privacy/requests?status=open&kind=deletion")
    expect(page.locator(".request-row", has_text=reference)).to_have_count(0, timeout=20_000)
    page.locator("#filter-kind-access").click()
    row = page.locator(".request-row", has_text=reference)
    expect(row).to_be_visible(timeout=20_000)

    row.locator(".request-link").click()
    expect(page).to_have_url(f"{app_server.url}/privacy/requests/{reference}")
    expect(page.locator("#requester-name")).to_have_text("Robin Browser", timeout=30_000)
    expect(page.locator(".matched-clinic")).to_have_count(2)
    page.locator("#action-forward").click()
    expect(page.locator("#confirm-forward")).to_be_visible()
    _checks(page, tmp_path, "rights-work-confirm")
    page.locator("#confirm-forward").click()
    expect(page.locator("#request-notice")).to_have_text("Forwarded to 2 clinics.", timeout=30_000)
    expect(page.locator("#request-status")).to_have_text("Forwarded")
    expect(page.locator("#action-forward")).to_have_count(0)
    expect(page.locator(".timeline-step")).to_have_count(1)
    _checks(page, tmp_path, "rights-work-detail")
    platform.close()

    clinic = browser.new_context(viewport={"width": 1280, "height": 800})
    page = clinic.new_page()
    sign_in(page, app_server, "owner@lakeside-derm.test")
    page.goto(app_server.url + "/privacy/forwarded")
    row = page.locator(".forward-row", has_text=reference)
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".deadline-badge")).to_contain_text("Overdue")
    _checks(page, tmp_path, "rights-forwarded-list")
    row.locator(".forward-link").click()
    expect(page.locator("#forward-requester")).to_have_text("Robin Browser", timeout=30_000)
    page.locator("#action-deny").click()
    # Too short a reason: refused inside the dialog, and what was typed stays.
    page.locator("#text-deny").fill("no")
    page.locator("#confirm-deny").click()
    expect(page.locator("#dialog-error")).to_contain_text("at least", timeout=20_000)
    expect(page.locator("#text-deny")).to_have_value("no")
    page.locator("#text-deny").fill("We could not confirm the requester's identity.")
    _checks(page, tmp_path, "rights-forwarded-deny")
    page.locator("#confirm-deny").click()
    expect(page.locator("#forward-notice")).to_contain_text("Request denied", timeout=30_000)
    expect(page.locator("#forward-status")).to_have_text("Denied")
    expect(page.locator("#forward-answered")).to_contain_text("could not confirm")
    _checks(page, tmp_path, "rights-forwarded-detail")
    clinic.close()
