"""The platform's clinics page: a new clinic and its first owner, then suspension and back."""

from __future__ import annotations

from pathlib import Path

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in

SLUG = "harbour-skin"
OWNER = "hana@harbour-skin.test"
PASSWORD = "copper meadow lantern violet"


def _row(page):  # type: ignore[no-untyped-def]
    return page.locator(".clinic-row", has_text=f"/c/{SLUG}")


def _owner_signs_in(page, app: RunningApp) -> None:  # type: ignore[no-untyped-def]
    page.goto(app.url + "/signin")
    page.locator("#email").fill(OWNER)
    page.locator("#password").fill(PASSWORD)
    page.locator("#sign-in-submit").click()


def test_admin_creates_a_clinic_whose_owner_starts_then_suspends_and_reactivates_it(
    page, browser, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "admin@mi-portal.test")
    page.goto(app_server.url + "/platform/clinics")
    # The seeded suspended clinic is listed with its reason; the filter lives in the address.
    willow = page.locator(".clinic-row", has_text="/c/willow-skin")
    expect(willow.locator(".status-badge")).to_have_text("Suspended", timeout=20_000)
    expect(willow).to_contain_text("Contract renewal pending")
    page.locator("#filter-suspended").click()
    expect(page).to_have_url(app_server.url + "/platform/clinics?status=suspended")
    expect(page.locator(".clinic-row")).to_have_count(1, timeout=20_000)
    page.locator("#clinic-search").fill("no such clinic")
    page.locator("#clinic-search-submit").click()
    expect(page.locator("#clinics-empty")).to_contain_text("No clinic matches", timeout=20_000)
    assert "status=suspended" in page.url and "q=no+such+clinic" in page.url
    page.goto(app_server.url + "/platform/clinics")

    # A new clinic: a reserved address is named next to its field and nothing typed is lost.
    page.locator("#new-clinic").click()
    page.locator("#new-name").fill("Harbour Skin Clinic")
    page.locator("#new-slug").fill("admin")
    page.locator("#new-timezone").fill("Europe/Berlin")
    page.locator("#new-locale").fill("de_DE")
    page.locator("#new-currency").fill("EUR")
    page.locator("#new-jurisdiction").select_option("DE")
    page.locator("#new-owner_name").fill("Hana Harbour")
    page.locator("#new-owner_email").fill(OWNER)
    page.locator("#new-submit").click()
    expect(page.locator("#error-slug")).to_contain_text("reserved", timeout=20_000)
    expect(page.locator("#new-owner_email")).to_have_value(OWNER)
    save_screenshot(page, "platform-clinics-new", tmp_path)
    page.locator("#new-slug").fill(SLUG)
    page.locator("#new-submit").click()
    link = page.locator("#owner-invite-link")
    expect(link).to_be_visible(timeout=20_000)
    invite_url = link.inner_text()
    expect(_row(page).locator(".status-badge")).to_have_text("Active")
    save_screenshot(page, "platform-clinics", tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    save_screenshot(page, "platform-clinics-phone", tmp_path)
    page.set_viewport_size({"width": 1280, "height": 800})

    # The owner accepts, sets a password, enrols the second factor and sees the empty queue.
    owner_context = browser.new_context(viewport={"width": 1280, "height": 800})
    owner = owner_context.new_page()
    owner.goto(app_server.url + "/invite?" + invite_url.split("?", 1)[1])
    owner.locator("#new-password").fill(PASSWORD)
    owner.locator("#repeat-password").fill(PASSWORD)
    owner.get_by_role("button", name="Set password").click()
    expect(owner.get_by_text("Your password is set.")).to_be_visible(timeout=20_000)
    _owner_signs_in(owner, app_server)
    expect(owner.locator("#manual-key")).to_be_visible(timeout=20_000)
    secret = owner.locator("#manual-key").inner_text().replace(" ", "")
    owner.locator("#code").fill(pyotp.TOTP(secret).now())
    owner.locator("#mfa-confirm").click()
    expect(owner.locator(".recovery-code")).to_have_count(10, timeout=20_000)
    owner.locator("#mfa-continue").click()
    expect(owner.locator("#user-menu")).to_be_visible(timeout=20_000)
    owner.goto(app_server.url + "/cases")
    expect(owner.locator("#inbox-empty")).to_be_visible(timeout=20_000)
    owner_context.close()

    # Suspended: a reason is asked for, the owner's sign-in and the patient page say so.
    _row(page).locator(".suspend-button").click()
    page.locator("#suspend-confirm").click()
    expect(page.locator("#dialog-error")).to_contain_text("Write why", timeout=20_000)
    page.locator("#suspend-reason").fill("Checking the clinic's registration")
    page.locator("#suspend-confirm").click()
    expect(_row(page).locator(".status-badge")).to_have_text("Suspended", timeout=20_000)
    expect(page.locator("#clinics-notice")).to_contain_text("is suspended")
    refused = browser.new_context(viewport={"width": 1280, "height": 800})
    owner = refused.new_page()
    _owner_signs_in(owner, app_server)
    expect(owner.locator("#form-error")).to_have_text(
        "Harbour Skin Clinic is suspended; contact MI Portal support.", timeout=20_000
    )
    owner.goto(app_server.url + f"/c/{SLUG}/consult")
    expect(owner.locator("#intake-closed")).to_contain_text(
        "not taking submissions", timeout=20_000
    )
    owner.goto(app_server.url + "/consult")
    expect(owner.locator("#full_name")).to_be_visible(timeout=20_000)
    expect(owner.get_by_text("Harbour Skin Clinic")).to_have_count(0)

    # Reactivated: the patient page takes submissions again.
    _row(page).locator(".reactivate-button").click()
    page.locator("#reactivate-confirm").click()
    expect(_row(page).locator(".status-badge")).to_have_text("Active", timeout=20_000)
    owner.goto(app_server.url + f"/c/{SLUG}/consult")
    expect(owner.locator("#full_name")).to_be_visible(timeout=20_000)
    expect(owner.locator("#intake-closed")).to_have_count(0)
    refused.close()


def test_support_sees_the_list_read_only(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "support@mi-portal.test")
    page.goto(app_server.url + "/platform/clinics")
    expect(page.locator(".clinic-row").first).to_be_visible(timeout=20_000)
    expect(page.locator("#new-clinic")).to_have_count(0)
    expect(page.locator(".suspend-button")).to_have_count(0)
    expect(page.locator(".reactivate-button")).to_have_count(0)
