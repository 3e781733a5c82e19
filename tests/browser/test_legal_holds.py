"""A manager holds a case, the queue shows it, and releasing it after confirming takes it away."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_case_pages import PHONE, _overflow, _serious

CLINIC = "summit-dental"


def _oldest_case(app: RunningApp) -> str:
    """The clinic's oldest case with no hold of its own (the demo data holds one case)."""
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        (sid,) = conn.execute(
            "select s.id from submission s join tenant t on t.id = s.tenant_id "
            "where t.slug = ? and not exists (select 1 from legalhold h "
            "where h.tenant_id = s.tenant_id and h.submission_id = s.id) "
            "order by s.received_at limit 1",
            (CLINIC,),
        ).fetchone()
    return str(uuid.UUID(hex=str(sid).replace("-", "")))


def _held_references(app: RunningApp) -> set[str]:
    """References of the clinic's cases under a hold in force (on the case itself)."""
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        rows = conn.execute(
            "select h.submission_id from legalhold h join tenant t on t.id = h.tenant_id "
            "where t.slug = ? and h.submission_id is not null and h.released_at is null",
            (CLINIC,),
        ).fetchall()
    return {str(uuid.UUID(hex=str(sid).replace("-", "")))[-8:].upper() for (sid,) in rows}


def test_a_hold_shows_on_the_case_and_in_the_queue_until_released(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    case_id = _oldest_case(app_server)
    reference = case_id[-8:].upper()
    sign_in(page, app_server, f"manager@{CLINIC}.test")
    page.goto(f"{app_server.url}/cases/{case_id}")
    card = page.locator("#case-holds")
    expect(card.locator("#hold-none")).to_be_visible(timeout=30_000)
    expect(page.locator("#case-hold-badge")).to_have_count(0)

    # Place a hold on this case, until a day far ahead.
    page.locator("#hold-scope").select_option("case")
    page.locator("#hold-reason").fill("Complaint under review")
    page.locator("#hold-ends-on").fill("2099-12-31")
    page.locator("#hold-place").click()
    expect(page.locator("#hold-notice")).to_have_text(
        "Legal hold placed on this case.", timeout=20_000
    )
    expect(page.locator("#case-hold-badge")).to_have_text("Legal hold")
    entry = card.locator(".hold-entry")
    expect(entry).to_have_count(1)
    expect(entry.locator(".hold-state")).to_have_text("Active")
    expect(entry).to_contain_text("Complaint under review")
    expect(entry).to_contain_text("until 2099-12-31")
    expect(page.locator("#hold-reason")).to_have_value("")  # emptied once placed
    assert _serious(page, tmp_path, "case-hold") == []
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert _overflow(page) == []
    save_screenshot(page, "case-legal-hold-phone", tmp_path)

    # The queue shows the badge on this case's row, and on no other.
    page.goto(app_server.url + "/cases")
    rows = page.locator(".inbox-row")
    expect(rows.first).to_be_visible(timeout=30_000)
    row = rows.filter(has_text=reference)
    expect(row.locator(".row-hold")).to_have_text("Legal hold")
    # Only held cases carry the badge (the demo data holds one case of its own).
    held = _held_references(app_server)
    assert reference in held
    shown = sum(1 for ref in held if rows.filter(has_text=ref).count())
    expect(page.locator(".row-hold")).to_have_count(shown)
    assert _overflow(page) == []
    save_screenshot(page, "inbox-legal-hold-phone", tmp_path)
    assert _serious(page, tmp_path, "inbox-hold") == []
    page.set_viewport_size({"width": 1280, "height": 800})

    # Release: a reason, then a confirmation; keeping the hold changes nothing.
    row.locator("a.case-link").click()
    entry = page.locator("#case-holds .hold-entry")
    expect(entry).to_have_count(1, timeout=30_000)
    entry.locator(".hold-release-reason input").fill("Complaint resolved")
    entry.locator(".hold-release").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Complaint resolved", timeout=20_000)
    dialog.get_by_role("button", name="Keep the hold").click()
    expect(dialog).to_have_count(0)
    expect(page.locator("#case-hold-badge")).to_be_visible()
    entry.locator(".hold-release").click()
    page.locator("#confirm-release-hold").click()
    expect(page.locator("#hold-notice")).to_have_text("Legal hold released.", timeout=20_000)
    expect(page.locator("#case-hold-badge")).to_have_count(0)
    expect(entry.locator(".hold-state")).to_have_text("Released")
    expect(entry).to_contain_text("Complaint resolved")
    expect(entry.locator(".hold-release")).to_have_count(0)
    # The case's timeline, read afresh, records both.
    page.reload()
    timeline = page.locator(".timeline-entry")
    expect(timeline.filter(has_text="Placed a legal hold")).to_have_count(1, timeout=30_000)
    expect(timeline.filter(has_text="Released a legal hold")).to_have_count(1)

    page.goto(app_server.url + "/cases")
    expect(rows.first).to_be_visible(timeout=30_000)
    expect(rows.filter(has_text=reference)).to_have_count(1)
    expect(rows.filter(has_text=reference).locator(".row-hold")).to_have_count(0)
