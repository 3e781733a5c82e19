"""A platform admin invites support staff, resets a clinic user's lost second factor (who then
has to enrol again), and disables then re-enables an account.

The accounts acted on are demo users no other browser test signs in as: the coordinator of
Riverbend Aesthetics (left needing enrolment) and the locum (enabled again at the end).
"""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_case_pages import PHONE, _overflow, _serious

ADMIN = "admin@mi-portal.test"
LOST = "coordinator@riverbend-aesthetics.test"
LOCUM = "locum@mi-portal.test"
NEW = "sky.support@mi-portal.test"


def _db(app: RunningApp, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        return conn.execute(sql, args).fetchall()


def _emailed_body(app: RunningApp, to: str, subject_part: str) -> str:
    """The plain text of the email the app's own worker wrote to its mail folder for ``to``."""
    folder = app.data_dir / "mail"
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if str(parsed["To"]) == to and subject_part in str(parsed["Subject"]):
                body = parsed.get_body(("plain",))
                assert body is not None
                return str(body.get_content())  # type: ignore[attr-defined]
        time.sleep(0.5)
    raise AssertionError(f"no email to {to} in {folder}")


def _row(page, css: str, email: str):  # type: ignore[no-untyped-def]
    return page.locator(f'{css}[data-email="{email}"]')


def _find(page, app: RunningApp, query: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#user-search").fill(query)
    page.locator("#search-submit").click()
    expect(page).to_have_url(f"{app.url}/platform/users?q={query.replace('@', '%40')}")
    expect(page.locator("#search-results")).to_be_visible(timeout=20_000)


def test_invite_reset_second_factor_and_disable(
    page, browser, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, ADMIN)
    page.goto(app_server.url + "/platform/users")
    expect(_row(page, ".staff-row", ADMIN)).to_contain_text("You", timeout=30_000)
    expect(page.locator("#search-hint")).to_be_visible()

    # Inviting an address that has a clinic account is refused, and what was typed stays.
    page.locator("#invite-full_name").fill("Sky Support")
    page.locator("#invite-email").fill(LOCUM)
    page.locator("#invite-submit").click()
    expect(page.locator("#error-invite-email")).to_contain_text("stay separate", timeout=20_000)
    expect(page.locator("#invite-email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#invite-full_name")).to_have_value("Sky Support")

    page.locator("#invite-email").fill(NEW)
    page.locator("#invite-role").select_option("platform_support")
    page.locator("#invite-submit").click()
    expect(page.locator("#platform-users-notice")).to_contain_text("Invitation sent")
    invited = _row(page, ".staff-row", NEW)
    expect(invited.locator(".account-status")).to_have_text("invited")
    expect(invited.locator(".account-role")).to_have_value("platform_support")
    expect(page.locator("#invite-full_name")).to_have_value("")
    expect(page.locator("#error-invite-email")).to_have_count(0)
    # The link goes out through the platform's outbox, nowhere else.
    assert "/invite?token=" in _emailed_body(app_server, NEW, "platform account")
    save_screenshot(page, "platform-users", tmp_path)

    # A clinic user is found by email, with their clinic and role, and their second factor reset.
    _find(page, app_server, LOST)
    found = _row(page, ".result-row", LOST)
    expect(found).to_contain_text("Riverbend Aesthetics — Coordinator")
    expect(found.locator(".account-no-mfa")).to_have_count(0)
    found.locator(".action-reset").click()
    page.locator("#confirm-reset").click()
    expect(page.locator("#dialog-error")).to_contain_text("Give a reason", timeout=20_000)
    save_screenshot(page, "platform-users-reset-dialog", tmp_path)
    page.locator("#reason-reset").fill("Lost phone; identity checked on a video call")
    page.locator("#confirm-reset").click()
    expect(page.locator("#platform-users-notice")).to_contain_text("second factor was reset")
    expect(found.locator(".account-no-mfa")).to_be_visible()
    assert _db(app_server, "select totp_enabled_at from user_account where email = ?", LOST) == [
        (None,)
    ]
    assert len(_db(app_server, "select id from platformoutbox where recipient = ?", LOST)) == 1

    # Disable the locum everywhere (a reason is required), then enable the account again.
    _find(page, app_server, LOCUM)
    locum = _row(page, ".result-row", LOCUM)
    expect(locum).to_contain_text("Lakeside Dermatology — Provider")
    locum.locator(".action-disable").click()
    page.locator("#confirm-disable").click()
    expect(page.locator("#dialog-error")).to_contain_text("Give a reason", timeout=20_000)
    page.locator("#reason-disable").fill("Contract ended")
    page.locator("#confirm-disable").click()
    expect(page.locator("#platform-users-notice")).to_contain_text("disabled everywhere")
    expect(locum.locator(".account-status")).to_have_text("disabled")
    assert _serious(page, tmp_path, "platform-users-search") == []
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert _overflow(page) == []
    save_screenshot(page, "platform-users-phone", tmp_path)
    locum.locator(".action-enable").click()
    page.locator("#confirm-enable").click()
    expect(page.locator("#platform-users-notice")).to_contain_text("can sign in again")
    expect(locum.locator(".account-status")).to_have_text("active")

    # The reset user's password now leads to setting up two-step sign-in, not to a code prompt.
    from mi_portal.jobs.seed import DEMO_PASSWORD

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    other = context.new_page()
    other.goto(app_server.url + "/signin")
    other.locator("#email").fill(LOST)
    other.locator("#password").fill(DEMO_PASSWORD)
    other.locator("#sign-in-submit").click()
    expect(other.locator("#manual-key")).to_be_visible(timeout=30_000)
    expect(other).to_have_url(re.compile(r"/mfa/enroll/?$"))
    context.close()
