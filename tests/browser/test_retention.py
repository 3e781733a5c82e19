"""The clinic owner sets a retention period after seeing its effect; a sweep of a case made due
leaves a de-identified record the case page says is one; a manager is refused the page."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import col, select

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_gates import _violations
from tests.browser.test_intake import app_db  # noqa: F401  (the fixture, used by name below)
from tests.intake_helpers import form, photos

OWNER = "owner@lakeside-derm.test"
MANAGER = "manager@lakeside-derm.test"
PHONE = {"width": 390, "height": 844}


def _lakeside() -> uuid.UUID:
    from mi_portal.db import platform_session
    from mi_portal.models import Tenant

    with platform_session() as session:
        return session.exec(select(Tenant.id).where(Tenant.slug == "lakeside-derm")).one()


def _old_case(tenant_id: uuid.UUID, email: str) -> uuid.UUID:
    """A new case of this test's own patient, all of whose activity is moved 11 years back."""
    from mi_portal.db import tenant_session
    from mi_portal.models import Message, MessageThread, Patient, Submission, utcnow
    from mi_portal.services import intake
    from mi_portal.services.retention_rules import activity_clock

    intake.submit(
        clinic_slugs=["lakeside-derm"],
        form=form(email=email, full_name="Retention Browser"),
        photos=photos(1),
        ip="203.0.113.7",
        user_agent="Retention test browser",
        source="clinic_page",
    )
    long_ago = utcnow() - timedelta(days=4000)
    with tenant_session(tenant_id) as session:
        patient = session.exec(select(Patient).where(Patient.email == email)).one()
        case = session.exec(select(Submission).where(Submission.patient_id == patient.id)).one()
        case.received_at = case.last_activity_at = long_ago
        session.add(case)
        threads = list(
            session.exec(select(MessageThread.id).where(MessageThread.submission_id == case.id))
        )
        for message in session.exec(select(Message).where(col(Message.thread_id).in_(threads))):
            message.created_at = long_ago
            session.add(message)
        session.commit()
        assert activity_clock(session, [case.id]) == {case.id: long_ago}
        return case.id


def _fits_and_passes_axe(page) -> None:  # type: ignore[no-untyped-def]
    page.mouse.move(5, 700)  # no link left under the pointer from the last click
    page.wait_for_timeout(500)
    assert _violations(page) == []
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size({"width": 1280, "height": 800})


def test_owner_sets_a_period_and_a_sweep_leaves_a_deidentified_record(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
    app_db: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    from mi_portal.db import tenant_session
    from mi_portal.models import RetentionPolicy, Submission
    from mi_portal.services import retention

    tenant_id = _lakeside()
    days = random.randint(200, 364)  # this run's own value: the history entry is this test's
    sign_in(page, app_server, OWNER)
    page.locator("#nav-retention").click()
    expect(page).to_have_url(f"{app_server.url}/settings/retention", timeout=20_000)
    row = page.locator("#retention-row-inference")
    expect(row.locator(".retention-default")).to_be_visible(timeout=30_000)
    expect(page.locator("#retention-days-inference")).to_have_value("365")
    _fits_and_passes_axe(page)

    # A period out of range is refused under its row; a good one shows its effect first.
    page.locator("#retention-days-inference").fill("0")
    expect(row.locator(".retention-error")).to_contain_text("whole number", timeout=20_000)
    expect(page.locator("#retention-days-inference")).to_have_attribute("aria-invalid", "true")
    page.locator("#retention-days-inference").fill(str(days))
    preview = page.locator("#retention-preview")
    expect(preview).to_contain_text("not saved yet", timeout=20_000)
    expect(preview).to_contain_text("On the next run: ")
    expect(row.locator(".retention-error")).to_have_count(0)
    save_screenshot(page, "retention-settings", tmp_path)

    page.locator("#retention-save").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("On the next run: ")
    page.locator("#retention-confirm").click()
    expect(page.locator("#retention-notice")).to_contain_text("saved", timeout=20_000)
    expect(row.locator(".retention-default")).to_have_count(0)
    expect(page.locator(".retention-history-entry").first).to_contain_text(
        f"Inferences: 365 days, delete (default) → {days} days, delete"
    )
    with tenant_session(tenant_id) as session:
        saved = session.exec(
            select(RetentionPolicy.retain_days).where(RetentionPolicy.category == "inference")
        ).all()
    assert saved == [days]
    _fits_and_passes_axe(page)

    # A case whose activity is long past: the sweep de-identifies it (counting only this case).
    case_id = _old_case(tenant_id, f"retention-{uuid.uuid4().hex[:8]}@example.org")
    result = retention.sweep(tenant_id, trigger="cli")
    assert result.failed == 0 and result.run_id is not None
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None and case.deidentified_at is not None
    page.goto(f"{app_server.url}/cases/{case_id}")
    expect(page.locator("#case-deidentified")).to_have_text("De-identified record", timeout=30_000)
    expect(page.locator("#patient-name")).to_have_text("Anonymous patient")
    expect(page.locator("#case-retention")).to_contain_text("Photos: cleared")
    expect(page.locator("#case-retention-deidentified")).to_be_visible()
    _fits_and_passes_axe(page)

    # The run is listed with its proof, which downloads as JSON naming no case.
    page.goto(f"{app_server.url}/settings/retention")
    run = page.locator(".retention-run").first
    expect(run).to_contain_text("Command", timeout=30_000)
    with page.expect_download() as download:
        run.locator(".retention-proof").click()
    proof = json.loads(Path(download.value.path()).read_text())
    assert proof["run"] == str(result.run_id) and proof["clinic"] == "lakeside-derm"
    assert str(case_id) not in json.dumps(proof)


def test_a_manager_is_refused_the_page(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, MANAGER)
    expect(page.locator("#nav-catalog")).to_be_visible(timeout=20_000)
    expect(page.locator("#nav-retention")).to_have_count(0)
    page.goto(f"{app_server.url}/settings/retention")
    expect(page.locator("#retention-denied")).to_be_visible(timeout=30_000)
    expect(page.locator("#retention-table")).to_have_count(0)
