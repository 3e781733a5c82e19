"""The navigation shell and the pages around the queue, as a person sees them."""

from __future__ import annotations

import re
import sqlite3
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in

OWNER = "owner@lakeside-derm.test"
PHONE = {"width": 390, "height": 844}


def _wait_live(page) -> None:  # type: ignore[no-untyped-def]
    expect(page.locator("h1")).to_have_count(1, timeout=20_000)
    expect(page.locator("#user-menu")).to_contain_text(re.compile(r"\S"), timeout=20_000)


def test_skip_link_moves_focus_to_main(page, app_server: RunningApp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, OWNER)
    _wait_live(page)
    page.keyboard.press("Tab")
    skip = page.locator("#skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    save_screenshot(page, "shell-home", tmp_path)
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    assert page.locator("header h1").count() == 0  # the page's own title is its only h1


def test_phone_width_menu_and_no_horizontal_scroll(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, OWNER)
    page.set_viewport_size(PHONE)
    for path in ("/", "/admin/users", "/audit", "/clinics/pick"):
        page.goto(app_server.url + path)
        _wait_live(page)
        page.wait_for_timeout(500)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide"
        header = page.evaluate("(() => { const h = document.querySelector('header');"
                               " return [h.scrollWidth, h.clientWidth]; })()")  # fmt: skip
        assert header[0] <= header[1], f"{path}: header overflows {header}"
        save_screenshot(
            page, "phone" + (path.replace("/", "-") if path != "/" else "-home"), tmp_path
        )
    page.goto(app_server.url + "/")
    _wait_live(page)
    expect(page.locator("#nav-cases")).to_be_hidden()
    page.locator("#nav-menu-button").click()
    for key in ("home", "cases", "users", "audit"):
        expect(page.locator(f"#menu-{key}")).to_be_visible()
    save_screenshot(page, "phone-menu", tmp_path)
    page.locator("#menu-audit").click()
    expect(page).to_have_url(re.compile(r"/audit/?$"), timeout=20_000)
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")


def test_home_card_opens_the_queue_and_shows_the_patient_form_link(
    page, app_server: RunningApp
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "manager@lakeside-derm.test")
    expect(page.locator("#home-intro")).to_have_text("Your clinic's cases at a glance.")
    link = page.locator("#patient-form-link")
    expected = app_server.env["MI_FRONTEND_ORIGIN"] + "/c/lakeside-derm/consult"
    expect(link).to_have_text(expected, timeout=20_000)
    expect(link).to_have_attribute("href", expected)
    expect(page.locator("#copy-form-link")).to_be_visible()
    page.locator(".clinic-link").first.click()
    expect(page).to_have_url(re.compile(r"/cases/?$"), timeout=20_000)


def test_platform_cards_lead_to_the_switch_with_the_clinic_chosen(
    page, app_server: RunningApp
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "support@mi-portal.test")
    expect(page.locator("#home-intro")).to_contain_text("Clinics on the platform")
    expect(page.locator("#patient-form")).to_have_count(0)
    # Other tests may add clinics: the card is found by its clinic, not its place.
    page.locator(".clinic-link", has_text="Riverbend Aesthetics").click()
    expect(page).to_have_url(re.compile(r"/clinics/pick/?\?clinic=riverbend"), timeout=20_000)
    expect(page.locator("#switch-clinic")).to_contain_text("Riverbend Aesthetics", timeout=20_000)


def test_one_clinic_manager_is_not_told_of_several_clinics(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "manager@lakeside-derm.test")
    page.goto(app_server.url + "/clinics/pick")
    expect(page.locator(".choose-clinic")).to_have_count(1, timeout=20_000)
    expect(page.locator("#picker-intro")).not_to_contain_text("several")
    expect(page.locator("#nav-clinics")).to_have_count(0)


def test_unknown_address_has_a_way_back(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    page.goto(app_server.url + "/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found", timeout=20_000)
    page.locator("#back-home").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=20_000)


def test_users_page_names_its_controls_in_words(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, OWNER)
    page.goto(app_server.url + "/admin/users")
    expect(page.locator(".member-row").first).to_be_visible(timeout=20_000)
    expect(page.get_by_role("combobox", name="Role of the new user")).to_be_visible()
    expect(page.get_by_role("combobox", name="Role of Lakeside Manager")).to_contain_text(
        "Clinic manager"
    )
    expect(page.get_by_role("checkbox", name="Clinic manager")).to_be_visible()
    assert "clinic_manager" not in page.locator("main").inner_text()


def test_audit_log_reads_as_words_and_folds_repeated_views(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, OWNER)
    # Look at a case twice, so the newest page of the log holds repeated views of this person
    # whatever other tests did before.
    with sqlite3.connect(app_server.data_dir / "mi_portal.db") as conn:
        (sid,) = conn.execute(
            "select s.id from submission s join tenant t on t.id = s.tenant_id "
            "where t.slug = 'lakeside-derm' order by s.received_at desc limit 1"
        ).fetchone()
    case_url = f"{app_server.url}/cases/{uuid.UUID(hex=str(sid).replace('-', ''))}"
    for _ in range(2):
        page.goto(case_url)
        expect(page.locator("#patient-name")).to_be_visible(timeout=20_000)
    page.goto(app_server.url + "/audit")
    expect(page.locator(".audit-row").first).to_be_visible(timeout=20_000)
    group = page.locator(".audit-group", has=page.locator("summary[title='case.view']")).first
    summary = group.locator("summary")
    expect(summary).to_have_text(re.compile(r"^Opened cases \d+ times$"))
    expect(summary).to_have_attribute("title", "case.view")
    items = group.locator("li")
    expect(items.first).to_be_hidden()
    summary.click()
    expect(items.first).to_be_visible()
    save_screenshot(page, "audit-folded", tmp_path)
    assert items.count() >= 2


def test_shell_pages_pass_axe(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    sign_in(page, app_server, OWNER)
    found = {}
    for path in ("/", "/admin/users", "/audit", "/clinics/pick", "/no-such-page"):
        page.goto(app_server.url + path)
        expect(page.locator("h1")).to_have_count(1, timeout=20_000)
        page.wait_for_timeout(800)
        violations = Axe().run(page).response["violations"]
        bad = [
            f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found[path] = bad
    assert found == {}, "\n".join(f"{p}: {b}" for p, b in found.items())
