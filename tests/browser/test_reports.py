"""The dashboards in a real browser: the owner's charts render with data, a filter changes the
address and the figures, a CSV matches its table; a bad address is explained; the platform admin
sees usage and suppressed trends; roles without reports are refused.

Browser tests share one app database, so expected values come from the page's own other figures
(the concern-area table before filtering), never from fixed counts.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import expect

from mi_portal.services.intake_questions import CONCERN_AREAS
from mi_portal.services.report_types import SUPPRESSED
from mi_portal.state.overview import SUMMARY_KEYS
from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_gates import _violations

OWNER = "owner@lakeside-derm.test"
COORDINATOR = "coordinator@lakeside-derm.test"
ADMIN = "admin@mi-portal.test"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SLOW = 60_000


def _table(page, key: str) -> tuple[list[str], list[list[str]]]:  # type: ignore[no-untyped-def]
    table = page.locator(f"#table-{key}")
    header = [t.strip() for t in table.locator("thead th").all_inner_texts()]
    rows = [
        [c.strip() for c in row.locator("th, td").all_inner_texts()]
        for row in table.locator("tbody tr").all()
    ]
    return header, rows


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text) or 0)


def _received_total(page) -> int:  # type: ignore[no-untyped-def]
    _, rows = _table(page, "received")
    return sum(_number(row[1]) for row in rows)


def _wait_for_charts(page) -> None:  # type: ignore[no-untyped-def]
    """Until the figures on the page are those of the page's address."""
    url = urlparse(page.url)
    shown = (url.path.rstrip("/") or "/") + (f"?{url.query}" if url.query else "")
    expect(page.locator("#report-charts")).to_have_attribute("data-shown", shown, timeout=SLOW)
    expect(page.locator("#plot-received svg.main-svg").first).to_be_visible(timeout=SLOW)


def _fits_a_phone(page, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(600)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    save_screenshot(page, f"{name}-phone", tmp_path)
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(300)


def test_owner_filters_the_dashboard_and_downloads_a_table(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
    tmp_path: Path,
) -> None:
    sign_in(page, app_server, OWNER)
    expect(page.locator("#nav-reports")).to_be_visible()
    page.goto(app_server.url + "/reports")
    _wait_for_charts(page)
    # Every figure of the page is a drawn plotly chart with bars, or an empty state.
    panels = page.locator(".chart-panel")
    assert panels.count() >= 5
    for i in range(panels.count()):
        panel = panels.nth(i)
        drawn = panel.locator("svg.main-svg").count()
        assert drawn or panel.locator(".chart-empty, .chart-undrawable").count()
    expect(page.locator("#plot-received .point, #plot-received .bars path").first).to_be_attached()

    total = _received_total(page)
    assert total > 0
    expect(page.locator("#stat-received .stat-value")).to_have_text(re.compile(rf"^{total}\b"))
    _, areas = _table(page, "by_area")
    assert sum(_number(r[1]) for r in areas) == total
    page.mouse.move(5, 5)
    assert _violations(page) == []
    save_screenshot(page, "reports-desktop", tmp_path)
    _fits_a_phone(page, "reports", tmp_path)

    # A concern area: the address says it, the control shows it, every figure follows it.
    label, count = areas[-1][0], _number(areas[-1][1])
    key = next(k for k, v in CONCERN_AREAS.items() if v == label)
    page.locator("#report-area").select_option(key)
    expect(page).to_have_url(re.compile(rf"/reports\?.*area={key}"), timeout=SLOW)
    expect(page.locator("#report-area")).to_have_value(key)
    _wait_for_charts(page)
    expect(page.locator("#table-by_area tbody tr")).to_have_count(1, timeout=SLOW)
    expect(page.locator("#stat-received .stat-value")).to_have_text(re.compile(rf"^{count}\b"))
    assert _received_total(page) == count

    # Grouped by month: the periods are months.
    page.locator("#report-grain").select_option("month")
    expect(page).to_have_url(re.compile(r"grain=month"), timeout=SLOW)
    expect(page).to_have_url(re.compile(rf"area={key}"))
    _wait_for_charts(page)
    _, periods = _table(page, "received")
    assert periods and all(re.fullmatch(r"[A-Z][a-z]{2} \d{4}", p[0]) for p in periods)
    assert _received_total(page) == count

    # The CSV is the table.
    header, rows = _table(page, "received")
    with page.expect_download() as info:
        page.locator("#csv-received").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    data = Path(download.path()).read_text(encoding="utf-8")
    parsed = list(csv.reader(io.StringIO(data)))
    assert parsed[0] == header and parsed[1:] == rows

    # Back to every area: the browser's back button restores the address and the figures.
    page.go_back()
    page.go_back()
    expect(page).to_have_url(re.compile(r"/reports/?$"), timeout=SLOW)
    expect(page.locator("#report-area")).to_have_value("")
    _wait_for_charts(page)
    assert _received_total(page) == total

    # A quick range writes its dates into the address and the date fields show them.
    page.locator("#range-30").click()
    expect(page).to_have_url(re.compile(r"/reports\?from=\d{4}-\d\d-\d\d&to="), timeout=SLOW)
    _wait_for_charts(page)
    start = re.search(r"from=([\d-]+)", page.url)
    assert start is not None
    expect(page.locator("#report-from")).to_have_value(start.group(1))


def test_a_bad_address_is_explained_and_the_defaults_shown(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
) -> None:
    sign_in(page, app_server, OWNER)
    page.goto(app_server.url + "/reports?from=2026-13-45&grain=fortnight")
    expect(page.locator("#report-problem")).to_be_visible(timeout=SLOW)
    expect(page).to_have_url(re.compile(r"/reports/?$"), timeout=SLOW)
    expect(page.locator("#report-grain")).to_have_value("week")
    _wait_for_charts(page)

    # A range without cases says so instead of drawing empty charts.
    page.goto(app_server.url + "/reports?from=2020-01-01&to=2020-01-31")
    expect(page.locator("#empty-received")).to_contain_text(
        "No cases received in this range", timeout=SLOW
    )
    expect(page.locator("#plot-received")).to_have_count(0)
    expect(page.locator("#csv-received")).to_have_count(0)


def test_home_page_summary_links_to_the_reports(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
    tmp_path: Path,
) -> None:
    sign_in(page, app_server, OWNER)
    page.goto(app_server.url + "/")
    # Four headline figures of the last 30 days (the summary is computed after the page shows).
    expect(page.locator("#home-summary .stat-card")).to_have_count(len(SUMMARY_KEYS), timeout=SLOW)
    expect(page.locator("#stat-received .stat-value")).to_have_text(re.compile(r"^\d+$"))
    save_screenshot(page, "home-reports-summary", tmp_path)
    page.locator("#open-reports").click()
    expect(page).to_have_url(re.compile(r"/reports\?from=\d{4}-\d\d-\d\d&to="), timeout=SLOW)
    _wait_for_charts(page)


def test_coordinator_is_refused_the_reports(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
) -> None:
    sign_in(page, app_server, COORDINATOR)
    expect(page.locator("#nav-cases")).to_be_visible()
    expect(page.locator("#nav-reports")).to_have_count(0)
    # The home page has loaded its clinic, and shows no figures or way to the reports.
    expect(page.locator(".clinic-card").first).to_be_visible(timeout=SLOW)
    expect(page.locator("#home-reports")).to_have_count(0)
    page.goto(app_server.url + "/reports")
    expect(page.locator("#reports-denied")).to_be_visible(timeout=SLOW)
    expect(page.locator(".chart-panel")).to_have_count(0)


def test_platform_admin_sees_usage_and_suppressed_trends(
    page,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
    tmp_path: Path,
) -> None:
    sign_in(page, app_server, ADMIN)
    expect(page.locator("#nav-platform-reports")).to_be_visible()
    page.goto(app_server.url + "/platform/reports")
    expect(page.locator("#platform-charts")).to_be_visible(timeout=SLOW)
    expect(page.locator("#plot-usage svg.main-svg").first).to_be_visible(timeout=SLOW)
    header, rows = _table(page, "usage")
    assert header[:2] == ["Month", "Clinic"] and rows
    # Each demo clinic has few patients in a month: trend cells show the suppression mark.
    expect(page.locator("#platform-charts td", has_text=SUPPRESSED).first).to_be_visible()
    expect(page.locator("#suppression-note")).to_contain_text("1 to 10 patients")
    # One row per month, suppressed on its own: nothing is added up over months.
    _, funnel = _table(page, "trend_funnel")
    assert funnel and all(re.fullmatch(r"\d{4}-\d\d", row[0]) for row in funnel)
    expect(page.locator("#platform-charts td", has_text="All months")).to_have_count(0)
    with page.expect_download() as info:
        page.locator("#csv-usage").click()
    parsed = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    assert parsed[0] == header and parsed[1:] == rows[: len(parsed) - 1]
    page.mouse.move(5, 5)
    assert _violations(page) == []
    save_screenshot(page, "platform-reports-desktop", tmp_path)
    # On a phone the trend tables fit; the usage table scrolls in its region and says so.
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(600)
    expect(page.locator("#chart-usage .report-scroll-hint")).to_be_visible()
    expect(page.locator("#chart-trend_funnel .report-scroll-hint")).to_have_count(0)
    for key in ("trend_received_by_source", "trend_funnel", "trend_messages_by_channel"):
        box = page.locator(f"#table-{key}")
        fits = "e => e.querySelector('table').getBoundingClientRect().width"
        assert box.evaluate(fits + " <= e.getBoundingClientRect().width + 1"), key
    _fits_a_phone(page, "platform-reports", tmp_path)
    # A clinic's dashboard is not the platform's: platform roles never see one.
    page.goto(app_server.url + "/reports")
    expect(page.locator("#reports-denied")).to_be_visible(timeout=SLOW)
