"""The case queue as a clinic manager uses it, step by step, with the timeline as the record."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in


def test_filter_page_bulk_assign_open_note_status(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "manager@riverbend-aesthetics.test")
    page.locator("#nav-cases").click()
    rows = page.locator(".inbox-row")
    expect(rows.first).to_be_visible(timeout=30_000)
    total = rows.count()
    assert total >= 7  # seeded cases (plus any intake from other tests)
    save_screenshot(page, "inbox", tmp_path)
    # Paging: a page holds 50; the seeded clinic fits on one page.
    expect(page.locator("#page-label")).to_contain_text("Page 1 of 1")
    expect(page.locator("#page-next")).to_be_disabled()

    # Bulk: unassign the first two rows.
    page.locator(".row-select").nth(0).click()
    page.locator(".row-select").nth(1).click()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.locator("#bulk-assign").click()
    page.get_by_role("option", name="Nobody (unassign)").click()
    expect(page.locator("#inbox-notice")).to_have_text("Updated 2 cases.", timeout=20_000)

    # Filter to unassigned, by received date: each choice applies at once and the URL carries
    # the view, so it can be bookmarked.
    page.locator("#filter-assignee").select_option("unassigned")
    expect(page).to_have_url(app_server.url + "/cases?assignee=unassigned", timeout=20_000)
    page.locator("#filter-sort").select_option("received")
    expect(page).to_have_url(
        app_server.url + "/cases?assignee=unassigned&sort=received", timeout=20_000
    )
    page.goto(page.url)
    expect(rows.first).to_be_visible(timeout=30_000)
    unassigned = rows.count()
    assert unassigned >= 2
    assert all(t == "" for t in page.locator(".row-assignee").all_inner_texts())

    # Bulk-assign two of them to the coordinator: they leave this view.
    page.locator(".row-select").nth(0).click()
    page.locator(".row-select").nth(1).click()
    page.locator("#bulk-assign").click()
    page.get_by_role("option", name="Riverbend Coordinator").click()
    expect(page.locator("#inbox-notice")).to_have_text("Updated 2 cases.", timeout=20_000)
    if unassigned > 2:
        expect(rows).to_have_count(unassigned - 2)
    else:
        expect(page.locator("#inbox-empty")).to_be_visible()

    # Open a case with the keyboard, add a note, move its status.
    page.goto(app_server.url + "/cases?status=new")
    expect(rows.first).to_be_visible(timeout=30_000)
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator("#case-reference")).to_be_visible(timeout=30_000)
    page.locator("#note-body").fill("Called the patient; photos are fine.")
    page.locator("#note-submit").click()
    expect(
        page.locator(".case-note").filter(has_text="Called the patient; photos are fine.")
    ).to_have_count(1, timeout=20_000)
    page.get_by_role("button", name="Move to in review").click()
    expect(page.locator("#case-status")).to_have_text("In review", timeout=20_000)
    timeline = page.locator(".timeline-entry")
    expect(timeline.filter(has_text="Added a note")).to_have_count(1)
    expect(timeline.filter(has_text="Changed status")).to_contain_text("new → in review")
    expect(timeline.filter(has_text="Opened the case").first).to_be_visible()
    save_screenshot(page, "case", tmp_path)


def test_viewer_sees_masked_identities_and_no_bulk_actions(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "coordinator@summit-dental.test")
    page.goto(app_server.url + "/cases")
    names = page.locator(".patient-name")
    expect(names.first).to_be_visible(timeout=30_000)
    assert all(part.endswith(".") for name in names.all_inner_texts() for part in name.split())
    page.keyboard.press("/")
    expect(page.locator("#inbox-search")).to_be_focused()


def test_masked_roles_see_blurred_thumbnails(page, app_server: RunningApp) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, app_server, "viewer@lakeside-derm.test")
    page.goto(app_server.url + "/cases")
    thumbs = page.locator(".row-thumb")
    expect(thumbs.first).to_be_visible(timeout=30_000)
    assert thumbs.count() == page.locator(".row-thumb.blurred").count() > 0
    response = page.request.get(app_server.url + thumbs.first.get_attribute("src"))
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
