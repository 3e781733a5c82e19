"""The clinic owner renames the clinic, picks a brand colour and uploads a logo; the clinic's
patient form shows them; a colour white text cannot be read on is refused with its ratio; a
manager sees the settings read-only."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_gates import _violations

OWNER = "owner@lakeside-derm.test"
MANAGER = "manager@lakeside-derm.test"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
NEW_NAME = "Lakeside Dermatology & Skin"


def _logo_png() -> bytes:
    image = Image.new("RGBA", (300, 120), (0, 0, 0, 0))
    for x in range(20, 280):
        for y in range(30, 90):
            image.putpixel((x, y), (29, 78, 216, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _fits_and_passes_axe(page, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page.mouse.move(5, 700)
    page.wait_for_timeout(500)
    assert _violations(page) == []
    save_screenshot(page, f"{name}-desktop", tmp_path)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    save_screenshot(page, f"{name}-phone", tmp_path)
    page.set_viewport_size(DESKTOP)


def _save(page, section: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"#save-{section}").click()


def test_owner_brands_the_patient_form(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
    tmp_path: Path,
) -> None:
    sign_in(page, app_server, OWNER)
    page.goto(app_server.url + "/settings/clinic")
    name = page.locator("#name")
    expect(name).to_have_value("Lakeside Dermatology", timeout=30_000)
    expect(page.locator("#settings-tab-profile")).to_have_attribute("aria-current", "page")

    # A too-light colour is refused with its ratio; the typed colour stays to be corrected.
    page.locator("#brand_color").fill("#ffd700")
    _save(page, "branding")
    error = page.locator("#error-brand_color")
    expect(error).to_contain_text("1.40:1", timeout=20_000)
    expect(error).to_contain_text("at least 4.5:1")
    expect(page.locator("#brand_color")).to_have_value("#ffd700")
    save_screenshot(page, "clinic-settings-contrast-error", tmp_path)

    page.locator("#brand_color").fill("#1d4ed8")
    _save(page, "branding")
    expect(page.locator("#notice-branding")).to_contain_text("saved", timeout=20_000)
    expect(error).to_have_count(0)

    name.fill(NEW_NAME)
    _save(page, "profile")
    expect(page.locator("#notice-profile")).to_contain_text("Profile saved", timeout=20_000)

    page.locator("#clinic-logo-input").set_input_files(
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": _logo_png()}]
    )
    expect(page.locator("#current-logo")).to_be_visible(timeout=30_000)
    expect(page.locator("#notice-logo")).to_contain_text("Logo saved")
    expect(page.locator("#consult-url")).to_have_text(app_server.url + "/c/lakeside-derm/consult")
    _fits_and_passes_axe(page, "clinic-settings", tmp_path)

    # The clinic's form, as a patient sees it: its logo (named for the clinic) and its colour.
    patient = page.context.browser.new_context(viewport=DESKTOP)
    form = patient.new_page()
    form.goto(app_server.url + "/c/lakeside-derm/consult")
    logo = form.locator("#clinic-logo")
    expect(logo).to_be_visible(timeout=30_000)
    expect(logo).to_have_attribute("alt", NEW_NAME)
    form.wait_for_function("document.querySelector('#clinic-logo').naturalWidth > 0")
    expect(form.locator("#intake-submit")).to_have_css("background-color", "rgb(29, 78, 216)")
    expect(form.locator("#clinic-brand")).to_have_css("border-bottom-color", "rgb(29, 78, 216)")
    _fits_and_passes_axe(form, "clinic-branded-consult", tmp_path)
    patient.close()

    # Back to the product's look and name, so the rest of the suite finds the seeded clinic.
    page.locator("#remove-logo").click()
    page.locator("#confirm-remove-logo").click()
    expect(page.locator("#no-logo")).to_be_visible(timeout=20_000)
    page.locator("#reset-branding").click()
    expect(page.locator("#brand_color")).to_have_value("", timeout=20_000)
    page.locator("#name").fill("Lakeside Dermatology")
    _save(page, "profile")
    expect(page.locator("#notice-profile")).to_contain_text("Profile saved", timeout=20_000)


def test_manager_reads_the_settings_only(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
) -> None:
    sign_in(page, app_server, MANAGER)
    page.goto(app_server.url + "/settings/clinic")
    expect(page.locator("#settings-read-only")).to_be_visible(timeout=30_000)
    expect(page.locator("#name")).to_be_disabled()
    expect(page.locator("#timezone")).to_be_disabled()
    expect(page.locator("#save-profile")).to_have_count(0)
    expect(page.locator("#clinic-logo-input")).to_have_count(0)
    expect(page.locator("#copy-link")).to_be_visible()
    # Copying puts the server's own address on the clipboard and says so on the button.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.url)
    page.locator("#copy-link").click()
    expect(page.locator("#copy-link")).to_contain_text("Copied", timeout=20_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == app_server.url + "/c/lakeside-derm/consult"
