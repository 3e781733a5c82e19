"""A member turns an email notice off and on; the choice is kept across a reload."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in

MANAGER = "manager@lakeside-derm.test"


def test_a_member_changes_which_notices_they_receive(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, MANAGER)
    expect(page.locator("#user-menu")).to_contain_text(re.compile(r"\S"), timeout=20_000)
    # Reached from the account menu.
    page.locator("#user-menu").click()
    page.locator("#menu-notifications").click()
    expect(page).to_have_url(app_server.url + "/settings/notifications")
    new_case = page.locator("#notice-new_case")
    expect(new_case).to_have_attribute("data-state", "checked", timeout=20_000)
    # Clicking the words toggles the box (a real label).
    page.get_by_text("A new case arrives for the clinic").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(new_case).to_have_attribute("data-state", "unchecked")
    save_screenshot(page, "notification-settings", tmp_path)
    page.reload()
    expect(page.locator("#notice-new_case")).to_have_attribute(
        "data-state", "unchecked", timeout=20_000
    )
    page.locator("#notice-new_case").click()
    expect(page.locator("#notice-new_case")).to_have_attribute("data-state", "checked")
