"""Sign-in with password and TOTP, platform switch with a reason, banner, audit viewer."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in


def test_wrong_password_shows_a_generic_error_and_keeps_the_email(
    page, app_server: RunningApp
) -> None:  # type: ignore[no-untyped-def]
    page.goto(app_server.url + "/signin")
    page.locator("#email").fill("coordinator@lakeside-derm.test")
    page.locator("#password").fill("not the password")
    page.locator("#sign-in-submit").click()
    expect(page.locator("#form-error")).to_contain_text(
        "Email or password is incorrect", timeout=20_000
    )
    expect(page.locator("#email")).to_have_value("coordinator@lakeside-derm.test")
    page.locator("#email").fill("nobody@nowhere.test")
    page.locator("#password").fill("not the password")
    page.locator("#sign-in-submit").click()
    expect(page.locator("#form-error")).to_contain_text("Email or password is incorrect")


def test_session_cookie_is_http_only(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "viewer@riverbend-aesthetics.test")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["mi_session"]["httpOnly"] is True
    assert cookies["mi_session"]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("mi_session") == -1
    page.locator("#user-menu").click()
    page.locator("#sign-out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=20_000)
    page.goto(app_server.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=20_000)


def test_platform_switch_banner_and_audit(page, app_server: RunningApp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "admin@mi-portal.test")
    page.locator("#nav-clinics").click()
    page.locator("#switch-clinic").click()
    page.get_by_role("option", name="Riverbend Aesthetics").click()
    page.locator("#switch-reason").fill("short")
    page.locator("#switch-submit").click()
    expect(page.locator("#form-error")).to_contain_text("at least 10 characters", timeout=20_000)
    page.locator("#switch-reason").fill("Ticket 7731: clinic cannot see new cases")
    page.locator("#switch-submit").click()
    banner = page.locator("#switch-banner")
    expect(banner).to_be_visible(timeout=20_000)
    expect(banner).to_contain_text("Riverbend Aesthetics")
    expect(banner).to_contain_text("Ticket 7731: clinic cannot see new cases")
    # One clinic on screen, never two.
    expect(page.locator(".clinic-card")).to_have_count(1)
    page.locator("#nav-audit").click()
    page.locator("#filter-action").fill("tenant.switch")
    page.locator("#filter-submit").click()
    rows = page.locator(".audit-row")
    expect(rows.first).to_contain_text("tenant.switch_in", timeout=20_000)
    expect(rows.first).to_contain_text("Ticket 7731: clinic cannot see new cases")
    expect(rows.first).to_contain_text("admin@mi-portal.test")
    save_screenshot(page, "audit-log", tmp_path)
    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    data = Path(download_info.value.path()).read_text()
    exported = list(csv.DictReader(io.StringIO(data)))
    assert any(r["action"] == "tenant.switch_in" and "Ticket 7731" in r["reason"] for r in exported)
    assert all(r["action"].startswith("tenant.switch") for r in exported)
    page.locator("#leave-clinic").click()
    expect(page.locator("#switch-banner")).to_have_count(0, timeout=20_000)
    assert app_server.cli("audit", "verify").count("ok") >= 4


def test_new_user_is_sent_to_enrolment_first(page, app_server: RunningApp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The clinic owner invites someone; the invitee sets a password and must enrol TOTP first.
    sign_in(page, app_server, "owner@lakeside-derm.test")
    page.locator("#nav-users").click()
    page.get_by_placeholder("Full name").fill("Nia Newcomer")
    page.get_by_placeholder("Email").fill("nia@lakeside-derm.test")
    page.locator("#invite-submit").click()
    link = page.locator("#invite-link")
    expect(link).to_be_visible(timeout=20_000)
    invite_url = link.inner_text()
    assert invite_url.startswith("http")
    expect(page.locator(".member-row", has_text="nia@lakeside-derm.test")).to_contain_text(
        "invited"
    )
    page.locator("#exposure-coordinator").click()
    expect(page.locator("#users-notice")).to_contain_text(
        "Saved who sees full patient details", timeout=20_000
    )
    save_screenshot(page, "users", tmp_path)
    page.context.clear_cookies()
    page.goto(app_server.url + "/invite?" + invite_url.split("?", 1)[1])
    page.locator("#new-password").fill("password123")
    page.locator("#repeat-password").fill("password123")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("too common")).to_be_visible(timeout=20_000)
    page.locator("#new-password").fill("lantern orchard velvet")
    page.locator("#repeat-password").fill("lantern orchard velvet")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Your password is set.")).to_be_visible(timeout=20_000)
    page.goto(app_server.url + "/signin")
    page.locator("#email").fill("nia@lakeside-derm.test")
    page.locator("#password").fill("lantern orchard velvet")
    page.locator("#sign-in-submit").click()
    key = page.locator("#manual-key")
    expect(key).to_be_visible(timeout=20_000)
    # Anything else sends her back to enrolment until it is done.
    page.goto(app_server.url + "/audit")
    expect(page.locator("#manual-key")).to_be_visible(timeout=20_000)
    secret = page.locator("#manual-key").inner_text().replace(" ", "")
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.locator("#mfa-confirm").click()
    expect(page.locator(".recovery-code")).to_have_count(10, timeout=20_000)
    page.locator("#mfa-continue").click()
    expect(page.locator(".clinic-card")).to_have_count(1, timeout=20_000)


def test_single_sign_on_through_the_loopback_provider(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    app_server.idp.login_email = "manager@lakeside-derm.test"
    app_server.idp.amr = ["pwd", "otp"]
    page.goto(app_server.url + "/signin")
    page.get_by_role("button", name="Sign in with Lakeside SSO").click()
    expect(page.locator("#current-clinic")).to_have_text("Lakeside Dermatology", timeout=30_000)
    expect(page.locator("#user-menu")).to_contain_text("Lakeside Manager")
    # A stranger to the portal gets a clear refusal and no account.
    page.context.clear_cookies()
    app_server.idp.login_email = "stranger@example.org"
    page.goto(app_server.url + "/signin")
    page.get_by_role("button", name="Sign in with Lakeside SSO").click()
    expect(page.locator("#form-error")).to_contain_text(
        "cannot sign in with single sign-on", timeout=30_000
    )


def test_pages_run_under_the_content_security_policy(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    # The built pages' inline scripts are allowed by hash only: a missing hash shows as a
    # violation in the console (and usually as a page that never hydrates).
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: (
            violations.append(msg.text)
            if "Content Security Policy" in msg.text or "Permissions-Policy" in msg.text
            else None
        ),
    )
    response = page.goto(app_server.url + "/signin")
    assert response is not None
    headers = response.headers
    assert "'sha256-" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"].split("style-src")[0]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["mi_browser"]["httpOnly"] is True  # the sign-in binding
    # The other kinds of response of the real build: API, a built file, a missing page, /ping.
    script = page.locator("script[src^='/assets/'], link[href^='/assets/']").first
    asset = script.get_attribute("src") or script.get_attribute("href")
    for path in ("/api/health", asset, "/no/such/page", "/ping", "/favicon.ico"):
        other = page.request.get(app_server.url + str(path))
        assert other.headers["x-content-type-options"] == "nosniff", path
        assert other.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in other.headers["content-security-policy"], path
        cache = other.headers.get("cache-control", "")
        assert ("no-store" in cache) == (not str(path).startswith("/assets/")), path
    sign_in(page, app_server, "coordinator@lakeside-derm.test")
    page.goto(app_server.url + "/cases")
    expect(page.locator(".inbox-row").first).to_be_visible(timeout=30_000)
    page.keyboard.press("/")  # the inbox's own inline script, allowed by its hash
    expect(page.locator("#inbox-search")).to_be_focused()
    page.goto(app_server.url + "/consult")
    expect(page.get_by_role("heading").first).to_be_visible(timeout=20_000)
    page.goto(app_server.url + "/cases")
    page.locator("#user-menu").click()
    page.locator("#sign-out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=20_000)
    assert violations == []
