"""The home page as a person sees it: clinics and their case counts, after signing in."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in


def test_signed_out_visitors_are_sent_to_sign_in(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    page.goto(app_server.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.locator(".clinic-card")).to_have_count(0)


def _case_counts(app: RunningApp) -> dict[str, int]:
    """Cases per active clinic name, read from the app's database."""
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        rows = conn.execute(
            "select t.name, count(s.id) from tenant t left join submission s "
            "on s.tenant_id = t.id where t.active group by t.name"
        ).fetchall()
    return {name: n for name, n in rows}


def test_platform_staff_see_every_clinic_with_counts(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "support@mi-portal.test")
    cards = page.locator(".clinic-card")
    expect(cards).to_have_count(3, timeout=30_000)
    names = [cards.nth(i).locator(".clinic-name").inner_text() for i in range(3)]
    assert names == ["Lakeside Dermatology", "Riverbend Aesthetics", "Summit Dental Studio"]
    # Seeded with 7 each; other tests of the session may have sent a clinic more since.
    expected = _case_counts(app_server)
    counts = [int(cards.nth(i).locator(".case-count").inner_text()) for i in range(3)]
    assert counts == [expected[n] for n in names] and min(counts) >= 7
    opens = [int(cards.nth(i).locator(".open-count").inner_text()) for i in range(3)]
    assert all(0 <= n <= c for n, c in zip(opens, counts, strict=True))
    expect(page.locator("#total-cases")).to_have_text(f"{sum(counts)} cases in all")
    expect(page).to_have_title("MI Portal — Clinics")
    save_screenshot(page, "clinics", tmp_path)


def test_clinic_staff_see_only_their_clinic(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    app_server.cli("seed", "--quiet")  # a second seed adds nothing
    sign_in(page, app_server, "viewer@summit-dental.test")
    cards = page.locator(".clinic-card")
    expect(cards).to_have_count(1, timeout=30_000)
    expect(cards.first.locator(".clinic-name")).to_have_text("Summit Dental Studio")
    expect(page.locator("#current-clinic")).to_have_text("Summit Dental Studio")
    expect(page.locator("#nav-users")).to_have_count(0)  # a viewer manages nobody
    expect(page.locator("#nav-audit")).to_have_count(0)


def test_health_route_answers(app_server: RunningApp) -> None:
    with urllib.request.urlopen(app_server.url + "/api/health", timeout=5) as resp:  # noqa: S310
        assert json.loads(resp.read()) == {"status": "ok", "database": True}
