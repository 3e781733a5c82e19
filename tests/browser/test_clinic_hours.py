"""The owner changes the quote target on /settings/clinic/hours and the queue's SLA badges follow:
a case twenty days old is overdue at 48 business hours and on time at 720, and overdue again after."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import select

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_gates import _violations
from tests.browser.test_intake import app_db  # noqa: F401  (the fixture, used by name below)
from tests.intake_helpers import form, photos

OWNER = "owner@lakeside-derm.test"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def _old_case(name: str) -> uuid.UUID:
    """A new case of this test's own patient, received twenty days ago, due times worked out again."""
    from mi_portal.models import Patient, Submission, Tenant, utcnow
    from mi_portal.services import intake
    from mi_portal.services.sla_settings import recalculate_open_cases

    email = f"hours-{uuid.uuid4().hex[:8]}@example.org"
    intake.submit(
        clinic_slugs=["lakeside-derm"],
        form=form(email=email, full_name=name),
        photos=photos(1),
        ip="203.0.113.8",
        user_agent="Hours test browser",
        source="clinic_page",
    )
    with tenant_session_for("lakeside-derm") as (session, tenant_id):
        patient = session.exec(select(Patient).where(Patient.email == email)).one()
        case = session.exec(select(Submission).where(Submission.patient_id == patient.id)).one()
        case.received_at = case.last_activity_at = utcnow() - timedelta(days=20)
        session.add(case)
        session.flush()
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        recalculate_open_cases(session, tenant)
        session.commit()
        return case.id


def tenant_session_for(slug: str):  # type: ignore[no-untyped-def]
    import contextlib

    from mi_portal.db import platform_session, tenant_session
    from mi_portal.models import Tenant

    with platform_session() as session:
        tenant_id = session.exec(select(Tenant.id).where(Tenant.slug == slug)).one()

    @contextlib.contextmanager
    def opened():  # type: ignore[no-untyped-def]
        with tenant_session(tenant_id) as session:
            yield session, tenant_id

    return opened()


def _badges(page, words: str) -> int:  # type: ignore[no-untyped-def]
    return page.locator("table").get_by_text(words, exact=True).count()


def _queue(page, app: RunningApp, name: str, badge: str) -> int:  # type: ignore[no-untyped-def]
    """The number of overdue badges on the queue, once this test's case shows ``badge``."""
    page.goto(f"{app.url}/cases")
    row = page.locator("tr", has_text=name)
    expect(row.get_by_text(badge, exact=True)).to_be_visible(timeout=30_000)
    expect(page.locator("#inbox-zone")).to_contain_text("Times in America/New_York")
    return _badges(page, "Overdue")


def _set_quote_target(page, app: RunningApp, hours: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{app.url}/settings/clinic/hours")
    field = page.locator("#hours-quote_turnaround_hours")
    expect(field).to_be_enabled(timeout=30_000)
    # A wrong value is refused under its field, with nothing saved and nothing lost.
    field.fill("0")
    error = page.locator("#error-quote_turnaround_hours")
    expect(error).to_contain_text("from 1 to 720", timeout=20_000)
    expect(field).to_have_attribute("aria-invalid", "true")
    page.locator("#hours-save").click()
    expect(page.locator("#hours-error")).to_contain_text("Nothing was saved", timeout=20_000)
    expect(field).to_have_value("0")
    field.fill(hours)
    expect(error).to_have_count(0, timeout=20_000)
    expect(page.locator("#hours-preview")).to_contain_text("A case received now needs")
    page.locator("#hours-save").click()
    expect(page.locator("#hours-notice")).to_contain_text("recalculated", timeout=30_000)
    expect(field).to_have_value(hours)


def test_the_quote_target_moves_the_queues_badges(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
    app_db: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    name = "Hours Browser"
    case_id = _old_case(name)
    sign_in(page, app_server, OWNER)
    before = _queue(page, app_server, name, "Overdue")
    assert before >= 1

    page.goto(f"{app_server.url}/settings/clinic/hours")
    expect(page.locator("#hours-timezone")).to_have_text("America/New_York", timeout=30_000)
    expect(page.locator("#settings-tab-hours")).to_have_attribute("aria-current", "page")
    expect(page.locator("#hours-open-sat")).not_to_be_checked()
    expect(page.locator("#hours-mon-opens")).to_have_value("09:00")
    expect(page.locator(".hours-closed-day")).to_have_count(2)
    page.wait_for_timeout(500)
    assert _violations(page) == []
    save_screenshot(page, "clinic-hours", tmp_path)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    save_screenshot(page, "clinic-hours-phone", tmp_path)
    page.set_viewport_size(DESKTOP)

    _set_quote_target(page, app_server, "720")
    after = _queue(page, app_server, name, "On time")
    assert after < before

    _set_quote_target(page, app_server, "48")
    assert _queue(page, app_server, name, "Overdue") == before
    # The case page shows both targets on the clinic's clock.
    page.goto(f"{app_server.url}/cases/{case_id}")
    expect(page.locator("#case-quote-target")).to_contain_text("Overdue", timeout=30_000)
    expect(page.locator("#case-quote-target")).to_contain_text(" EST")
    expect(page.locator("#case-first-reply")).to_contain_text("due ")
    expect(page.locator("#case-zone")).to_contain_text("Times in America/New_York")
    save_screenshot(page, "case-targets", tmp_path)
