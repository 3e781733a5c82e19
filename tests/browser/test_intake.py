"""A patient sends two photos; the clinic's user opens the signed thumbnail; others cannot."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from mi_portal.config import reset_settings
from mi_portal.services.actor import Actor
from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.intake_helpers import jpeg_bytes


@pytest.fixture
def app_db(app_server: RunningApp) -> Iterator[None]:
    """Point this test process at the running app's database, store and secret key."""
    old = os.environ.get("MI_DATA_DIR")
    os.environ["MI_DATA_DIR"] = str(app_server.data_dir)
    reset_settings()
    from mi_portal.db import dispose_engines
    from mi_portal.storage import get_store

    get_store.cache_clear()
    yield
    dispose_engines()
    if old is None:
        os.environ.pop("MI_DATA_DIR", None)
    else:
        os.environ["MI_DATA_DIR"] = old
    reset_settings()
    get_store.cache_clear()


def _fill(page, tmp_path: Path, *, born: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#full_name").fill("Robin Browser")
    page.locator("#email").fill("robin.browser@example.org")
    page.locator("#phone").fill("+1 202 555 0177")
    page.locator("#date_of_birth").fill(born)
    page.locator("#concern_area").click()
    page.get_by_role("option", name="Acne").click()
    page.locator("#answer-how_long").fill("About a year")
    paths = []
    for i in range(2):
        path = tmp_path / f"phone-photo-{i}.jpg"
        path.write_bytes(jpeg_bytes(100 + i))
        paths.append(str(path))
    page.locator("#photos input[type=file]").set_input_files(paths)
    expect(page.locator(".selected-photo")).to_have_count(2)
    page.locator("#privacy_ack").click()


def _session_actor(context) -> Actor:  # type: ignore[no-untyped-def]
    """The actor the server rebuilds from the session cookie this browser context holds."""
    from mi_portal.services.auth import resolve

    token = next(c["value"] for c in context.cookies() if c["name"] == "mi_session")
    signed = resolve(token)
    assert signed is not None
    return signed.actor


def test_patient_submits_and_clinic_user_opens_the_signed_thumbnail(
    browser, app_server: RunningApp, app_db: None, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    patient = browser.new_context(viewport={"width": 1000, "height": 1200})
    page = patient.new_page()
    page.goto(app_server.url + "/c/lakeside-derm/consult")
    expect(page.get_by_text("Lakeside Dermatology")).to_be_visible(timeout=30_000)
    # Under 18: refused, and the form with everything typed in it is gone.
    _fill(page, tmp_path, born="2015-06-01")
    page.locator("#intake-submit").click()
    expect(page.locator("#intake-refused")).to_contain_text("at least 18", timeout=20_000)
    expect(page.locator("#full_name")).to_have_count(0)
    page.locator("#start-again").click()
    expect(page.locator("#full_name")).to_have_value("")
    _fill(page, tmp_path, born="1991-06-01")
    save_screenshot(page, "intake", tmp_path)
    page.locator("#intake-submit").click()
    expect(page.locator("#intake-done")).to_be_visible(timeout=60_000)
    expect(page.locator(".receipt")).to_have_count(1)
    patient.close()

    from mi_portal.db import platform_session, tenant_session
    from mi_portal.models import Patient, Submission, Tenant, User
    from mi_portal.services import photos

    with platform_session() as session:
        lakeside = session.exec(select(Tenant).where(Tenant.slug == "lakeside-derm")).one()
        provider = session.exec(
            select(User).where(User.email == "provider@lakeside-derm.test")
        ).one()
        outsider = session.exec(
            select(User).where(User.email == "provider@riverbend-aesthetics.test")
        ).one()
    with tenant_session(lakeside.id) as session:
        patient_row = session.exec(
            select(Patient).where(Patient.email == "robin.browser@example.org")
        ).one()
        submission = session.exec(
            select(Submission).where(Submission.patient_id == patient_row.id)
        ).one()
    from mi_portal.models import AuditEvent

    def fetches() -> list[AuditEvent]:
        with tenant_session(lakeside.id) as session:
            return list(
                session.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == "image.fetch", AuditEvent.user_id == provider.id
                    )
                )
            )

    clinic = browser.new_context()
    clinic_page = clinic.new_page()
    sign_in(clinic_page, app_server, "provider@lakeside-derm.test")
    # Links are bound to the sign-in session: issue them for the one this browser holds.
    actor = _session_actor(clinic)
    assert actor.user_id == provider.id and actor.tenant_id == lakeside.id
    links = photos.thumbnails(actor, submission.id)
    assert len(links) == 2
    short = photos.thumbnails(actor, submission.id, lifetime=1)[0]
    before = len(fetches())
    response = clinic_page.request.get(app_server.url + links[0].url)
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.body()[:2] == b"\xff\xd8"
    after = fetches()
    # The byte fetch itself is audited, in the clinic's chain.
    assert len(after) == before + 1 and after[-1].chain == str(lakeside.id)
    time.sleep(2.2)
    assert clinic_page.request.get(app_server.url + short.url).status == 404  # expired
    clinic.close()

    other = browser.new_context()
    other_page = other.new_page()
    sign_in(other_page, app_server, "provider@riverbend-aesthetics.test")
    assert (
        other_page.request.get(app_server.url + links[0].url).status == 404
    )  # another clinic's user
    # Even a URL bound to their own session (as if they were in the clinic) is refused.
    outsider_actor = replace(_session_actor(other), tenant_id=lakeside.id)
    assert outsider_actor.user_id == outsider.id
    forged = photos.thumbnails(outsider_actor, submission.id)[0]
    assert other_page.request.get(app_server.url + forged.url).status == 404
    other.close()


def test_directory_sends_one_case_to_two_clinics(
    page, app_server: RunningApp, app_db: None, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page.goto(app_server.url + "/consult")
    choices = page.locator(".clinic-choice")
    expect(choices).to_have_count(3, timeout=30_000)
    choices.nth(1).click()
    choices.nth(2).click()
    _fill(page, tmp_path, born="1980-01-20")
    page.locator("#intake-submit").click()
    expect(page.locator(".receipt")).to_have_count(2, timeout=60_000)
    expect(page.locator("#intake-done")).to_be_visible()
