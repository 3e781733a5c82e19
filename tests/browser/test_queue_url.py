"""The case queue's URL is its one source of truth: controls, rows and address always agree."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in

SELECTS = {
    "assignee": "#filter-assignee",
    "concern_area": "#filter-concern-area",
    "has_quote": "#filter-has-quote",
    "sort": "#filter-sort",
}
TEXTS = {
    "search": "#inbox-search",
    "received_from": "#filter-received-from",
    "received_to": "#filter-received-to",
}
TICKS = {"desc": "#filter-desc", "unread": "#filter-unread"}


def _settled(page) -> None:  # type: ignore[no-untyped-def]
    listed = page.locator(".inbox-row").first.or_(page.locator("#inbox-empty"))
    expect(listed).to_be_visible(timeout=30_000)


def _shown(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The view the controls show, as URL parameters."""
    shown = {k: page.locator(s).input_value() for k, s in {**SELECTS, **TEXTS}.items()}
    for key, selector in TICKS.items():
        shown[key] = "1" if page.locator(selector).get_attribute("aria-checked") == "true" else ""
    active = page.locator(".status-tab[aria-pressed='true']")
    shown["status"] = (active.get_attribute("id") or "").removeprefix("tab-").replace("all", "")
    return {k: v for k, v in shown.items() if v}


def _url_view(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The URL's view; a text search appears there only as an opaque handle (`q`)."""
    view = {k: v for k, v in parse_qsl(urlsplit(page.url).query) if k != "page"}
    if view.pop("q", ""):
        view["search"] = "<handle>"
    return view


def _as_url_shows(expected: dict[str, str]) -> dict[str, str]:
    return {**expected, "search": "<handle>"} if expected.get("search") else expected


def _references(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("a.case-link").all_inner_texts()


def _fresh_references(page, app: RunningApp, view: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    """The rows the view lists when opened in a new tab: what 'in step' is compared to (a search
    handle belongs to its tab, so the new tab is given the search itself)."""
    other = page.context.new_page()
    try:
        other.goto(app.url + "/cases?" + urlencode(view))
        _settled(other)
        return _references(other)
    finally:
        other.close()


def _eventually(page, get: Callable[[], object], expected: object, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while (got := get()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {got!r} != {expected!r}")
        # Not time.sleep: Playwright's sync API updates page.url only while it is waited on.
        page.wait_for_timeout(200)


def _in_step(page, app: RunningApp, expected: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """The URL is the expected view, the controls show exactly it, the rows are its rows."""
    _eventually(page, lambda: _url_view(page), _as_url_shows(expected), "URL")
    if expected.get("search"):
        assert expected["search"] not in page.url  # never the typed text itself
    _settled(page)
    _eventually(page, lambda: _shown(page), expected, "controls")
    wanted = _fresh_references(page, app, expected)
    _eventually(page, lambda: _references(page), wanted, "rows")


def _serious_axe_violations(page, within: str = "#inbox") -> list[tuple[str, list[object]]]:  # type: ignore[no-untyped-def]
    """Serious or critical axe-core findings inside the page's content (the shell is its own)."""
    found = Axe().run(page, context={"include": [[within]]}).response["violations"]
    return [
        (v["id"], [n["target"] for n in v["nodes"]][:3])
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_deep_link_shows_its_controls_and_rows(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "manager@lakeside-derm.test")
    page.goto(app_server.url + "/cases?concern_area=acne&sort=received&desc=1")
    _settled(page)
    expect(page.locator("#filter-concern-area option:checked")).to_have_text("Acne")
    expect(page.locator("#filter-sort option:checked")).to_have_text("Sort: received")
    expect(page.locator("#filter-desc")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#filter-unread")).to_have_attribute("aria-checked", "false")
    _in_step(page, app_server, {"concern_area": "acne", "sort": "received", "desc": "1"})
    # Labels, never codes: every row says "Acne", newest first.
    concerns = page.locator(".row-concern").all_inner_texts()
    assert concerns and set(concerns) == {"Acne"}
    received = page.locator(".inbox-row td:nth-child(8)").all_inner_texts()
    assert received == sorted(received, reverse=True)


def test_a_sequence_of_changes_keeps_exactly_what_is_shown(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "owner@lakeside-derm.test")
    page.goto(app_server.url + "/cases")
    _in_step(page, app_server, {})
    page.locator("#tab-new").click()
    _in_step(page, app_server, {"status": "new"})
    page.locator("#filter-concern-area").select_option("acne")
    _in_step(page, app_server, {"status": "new", "concern_area": "acne"})
    page.locator("#filter-assignee").select_option("mine")
    _in_step(page, app_server, {"status": "new", "concern_area": "acne", "assignee": "mine"})
    # The checkbox's own text ticks it.
    page.get_by_text("unread messages", exact=True).click()
    view = {"status": "new", "concern_area": "acne", "assignee": "mine", "unread": "1"}
    _in_step(page, app_server, view)
    page.get_by_text("newest first", exact=True).click()
    _in_step(page, app_server, {**view, "desc": "1"})
    page.locator("#filter-assignee").select_option("")
    page.get_by_text("unread messages", exact=True).click()
    _in_step(page, app_server, {"status": "new", "concern_area": "acne", "desc": "1"})
    page.locator("#tab-all").click()
    _in_step(page, app_server, {"concern_area": "acne", "desc": "1"})
    page.locator("#inbox-search").fill("Garcia")
    page.locator("#inbox-search").press("Enter")
    _in_step(page, app_server, {"concern_area": "acne", "search": "Garcia", "desc": "1"})


def test_the_header_link_resets_every_control_and_the_search(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "provider@lakeside-derm.test")
    page.goto(app_server.url + "/cases")
    _settled(page)
    names = page.locator(".patient-name").all_inner_texts()
    page.locator("#filter-concern-area").select_option("scarring")
    page.get_by_text("unread messages", exact=True).click()
    _in_step(page, app_server, {"concern_area": "scarring", "unread": "1"})
    page.locator("#inbox-search").fill("typed, never applied")
    page.locator("#nav-cases").click()
    _in_step(page, app_server, {})
    # A patient who exists is found: no hidden filter is left behind.
    page.locator("#inbox-search").fill(names[0])
    page.locator("#filter-apply").click()
    _in_step(page, app_server, {"search": names[0]})
    expect(page.locator(".patient-name").first).to_have_text(names[0])
    # Clicking "Cases" while already on plain /cases clears typed text too.
    page.locator("#nav-cases").click()
    _in_step(page, app_server, {})
    page.locator("#inbox-search").fill("half typed")
    page.locator("#nav-cases").click()
    expect(page.locator("#inbox-search")).to_have_value("", timeout=20_000)


def test_back_and_forward_keep_controls_and_rows_in_step(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "manager@riverbend-aesthetics.test")
    page.goto(app_server.url + "/cases")
    _in_step(page, app_server, {})
    page.locator("#inbox-search").fill("example.org")
    page.locator("#inbox-search").press("Enter")
    _in_step(page, app_server, {"search": "example.org"})
    page.locator("#filter-concern-area").select_option("pigmentation")
    _in_step(page, app_server, {"search": "example.org", "concern_area": "pigmentation"})
    page.get_by_text("unread messages", exact=True).click()
    last = {"search": "example.org", "concern_area": "pigmentation", "unread": "1"}
    _in_step(page, app_server, last)
    page.go_back()
    _in_step(page, app_server, {"search": "example.org", "concern_area": "pigmentation"})
    page.go_back()
    _in_step(page, app_server, {"search": "example.org"})
    page.go_back()
    _in_step(page, app_server, {})  # no search and no "unread" left ticked on plain /cases
    page.go_forward()
    _in_step(page, app_server, {"search": "example.org"})
    page.go_forward()
    page.go_forward()
    _in_step(page, app_server, last)


def test_controls_are_named_and_the_queue_fits_a_phone(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "coordinator@lakeside-derm.test")
    page.goto(app_server.url + "/cases")
    _settled(page)
    rows = page.locator(".inbox-row").count()
    select_case = page.get_by_role("checkbox", name=re.compile(r"^Select case [0-9A-F]{8}$"))
    expect(select_case).to_have_count(rows)
    expect(page.get_by_role("checkbox", name="Select every case on this page")).to_have_count(1)
    for name in ("Assignee", "Concern", "Quote", "Sort by"):
        expect(page.get_by_role("combobox", name=name)).to_have_count(1)
    for name in ("newest first", "unread messages", "Search cases", "Received from"):
        expect(page.get_by_label(name, exact=True)).to_have_count(1)
    # The texts are real labels wrapping their controls, so a click on the words ticks the box.
    assert page.locator("label:has(#filter-desc)").inner_text().strip() == "newest first"
    expect(page.get_by_role("heading", level=1, name="Cases", exact=True)).to_have_count(1)
    # "Assign to me" only on rows that are not mine already; "All" counts every case.
    others = page.locator(".inbox-row").filter(has=page.locator(".assign-me"))
    first = others.first.locator("a.case-link").inner_text()
    others.first.locator(".assign-me").click()
    expect(page.locator("#inbox-notice")).to_have_text("Assigned to you.", timeout=20_000)
    row = page.locator(".inbox-row").filter(has_text=first)
    expect(row.locator(".assign-me")).to_have_count(0)
    counts = [int(t) for t in page.locator(".status-tab .rt-Badge").all_inner_texts()]
    assert counts[0] == sum(counts[1:]) > 0
    assert _serious_axe_violations(page) == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert _serious_axe_violations(page) == []
    save_screenshot(page, "queue-phone", tmp_path)
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll('#inbox *'))
            .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > 390.5)
            .map((e) => e.id || e.className || e.tagName)"""
    )
    assert wide == [], wide


def test_platform_staff_outside_a_clinic_are_told_to_switch(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "admin@mi-portal.test")
    page.goto(app_server.url + "/cases")
    message = page.locator("#inbox-needs-clinic")
    expect(message).to_contain_text("Switch into the clinic", timeout=30_000)
    expect(page.locator("#inbox-switch-link")).to_have_attribute("href", "/clinics/pick")
    expect(page.locator("#inbox-loading")).to_have_count(0)
    page.wait_for_timeout(1000)
    expect(page.locator("[data-sonner-toast]")).to_have_count(0)
    assert _serious_axe_violations(page, "#inbox-needs-clinic") == []
