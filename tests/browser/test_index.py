"""The front page as a person sees it: the seeded clinics and their case counts."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot


def test_front_page_lists_clinics_with_case_counts(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page.goto(app_server.url + "/")
    cards = page.locator(".clinic-card")
    expect(cards).to_have_count(3, timeout=30_000)
    expect(page.get_by_role("heading", name="Clinics", exact=True)).to_be_visible()
    names = [cards.nth(i).locator(".clinic-name").inner_text() for i in range(3)]
    assert names == ["Lakeside Dermatology", "Riverbend Aesthetics", "Summit Dental Studio"]
    counts = [cards.nth(i).locator(".case-count").inner_text() for i in range(3)]
    assert counts == ["7", "7", "7"]
    opens = [int(cards.nth(i).locator(".open-count").inner_text()) for i in range(3)]
    assert all(0 <= n <= 7 for n in opens)
    expect(page.locator("#total-cases")).to_have_text("21 cases in all")
    expect(page).to_have_title("MI Portal — Clinics")
    save_screenshot(page, "clinics", tmp_path)


def test_counts_follow_the_database(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    # Seeding again adds nothing, and a reload still shows what the database holds.
    app_server.cli("seed", "--quiet")
    page.goto(app_server.url + "/")
    expect(page.locator("#total-cases")).to_have_text("21 cases in all", timeout=30_000)


def test_health_route_answers(app_server: RunningApp) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(app_server.url + "/api/health", timeout=5) as resp:  # noqa: S310
        assert json.loads(resp.read()) == {"status": "ok", "database": True}
