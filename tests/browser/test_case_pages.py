"""Case page, viewer, intake and sign-in as people use them: labels, errors, phones, timeline."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.intake_helpers import jpeg_bytes

PHONE = {"width": 390, "height": 844}
# The signed-in header belongs to the navigation shell (checked by its own tests), not these pages.
SHELL = ("#current-clinic", "#user-menu", "#nav-", "#switch-banner", "#leave-clinic")


def _serious(page, tmp_path: Path, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical findings on this page (all findings kept for reading)."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A dialog fading in or out is half transparent: its colours are judged once it has
    # settled (endless animations such as a spinner are not waited for).
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            """() => document.getAnimations().every(
                a => a.playState !== 'running'
                    || a.effect?.getComputedTiming().iterations === Infinity)""",
            timeout=5_000,
        )
    found = Axe().run(page).response["violations"]
    (tmp_path / f"axe-{name}.json").write_text(json.dumps(found, indent=1))
    return [
        f"{v['id']}: {n['target']}"
        for v in found
        if v["impact"] in ("serious", "critical")
        for n in v["nodes"]
        if not any(part in str(n["target"]) for part in SHELL)
    ]


def _overflow(page, selector: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    """What sticks out past the right edge of the viewport (inside ``selector`` if given)."""
    return page.evaluate(
        """(sel) => {
            const root = sel ? document.querySelector(sel) : document.documentElement;
            const fits = sel
                ? root.scrollWidth <= root.clientWidth + 1
                  && root.getBoundingClientRect().right <= window.innerWidth + 1
                : root.scrollWidth <= window.innerWidth;
            if (fits) return [];
            return [...root.querySelectorAll('*')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .filter(e => e.getBoundingClientRect().width > 0)
                .slice(0, 8)
                .map(e => e.tagName + '#' + e.id + '.' + e.className)
                .concat(['scrollWidth ' + root.scrollWidth]);
        }""",
        selector,
    )


def _case_with_photos(app: RunningApp, slug: str) -> str:
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        row = conn.execute(
            """
            select s.id from submission s join tenant t on t.id = s.tenant_id
            where t.slug = ? and (select count(*) from submissionimage i
                                  where i.submission_id = s.id) >= 2
            order by s.received_at limit 1
            """,
            (slug,),
        ).fetchone()
    assert row, "the seed has cases with several photos"
    return str(uuid.UUID(hex=str(row[0]).replace("-", "")))


def test_intake_labels_errors_previews_and_phone_width(
    browser, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(app_server.url + "/consult")
    choices = page.locator(".clinic-choice")
    expect(choices).to_have_count(3, timeout=30_000)
    expect(page.locator("#intake-submit")).to_have_text("Send to the chosen clinics")
    assert _serious(page, tmp_path, "consult") == []

    # Clicking a consent's words ticks it; its privacy link is still a link.
    privacy = page.locator("#privacy_ack")
    consent = page.locator("label.consent").first
    expect(privacy).to_have_attribute("aria-checked", "false")
    consent.click(position={"x": 34, "y": 8})
    expect(privacy).to_have_attribute("aria-checked", "true")
    link = consent.locator("a")
    expect(link).to_have_text("privacy policy")
    expect(link).to_have_attribute("href", "/privacy")
    page.locator("label.consent").nth(1).locator(":scope > span").click()
    expect(page.locator("#sms_opt_in")).to_have_attribute("aria-checked", "true")
    page.locator("label.consent").nth(1).locator(":scope > span").click()
    expect(page.locator("#sms_opt_in")).to_have_attribute("aria-checked", "false")
    choices.nth(0).locator(":scope > span").click()
    expect(choices.nth(0).locator("[role=checkbox]")).to_have_attribute("aria-checked", "true")
    choices.nth(0).locator(":scope > span").click()

    # A send with nothing chosen: every error at once, each tied to its field, focus on the first
    # (the clinic list, with its error right under it).
    page.locator("#intake-submit").click()
    clinic_error = page.locator("#clinic-choices #error-clinics")
    expect(clinic_error).to_have_text("Choose at least one clinic.", timeout=10_000)
    expect(clinic_error).to_have_attribute("role", "alert")
    expect(page.locator("#full_name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#full_name")).to_have_attribute("aria-describedby", "error-full_name")
    expect(page.locator("#error-full_name")).to_be_visible()
    expect(page.locator("#concern_area")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#phone")).to_have_attribute("aria-invalid", "false")
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.closest('#clinic-choices')"
    )
    save_screenshot(page, "intake-errors", tmp_path)

    # With the clinic chosen and the name missing, focus goes to the name.
    choices.nth(0).locator(":scope > span").click()
    expect(clinic_error).to_have_count(0)
    page.locator("#intake-submit").click()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'full_name'"
    )

    # Chosen photos are listed, each with its own remove button.
    paths = []
    for i in range(3):
        path = tmp_path / f"photo-{i}.jpg"
        path.write_bytes(jpeg_bytes(10 + i))
        paths.append(str(path))
    page.locator("#photos-input").set_input_files(paths)
    expect(page.locator(".selected-photo")).to_have_text(
        ["photo-0.jpg", "photo-1.jpg", "photo-2.jpg"]
    )
    page.locator(".remove-photo").nth(1).click()
    expect(page.locator(".selected-photo")).to_have_text(["photo-0.jpg", "photo-2.jpg"])

    # A file the server refuses: its error goes once other files are chosen.
    bad = tmp_path / "not-a-photo.jpg"
    bad.write_bytes(b"this is not an image")
    page.locator("#full_name").fill("Robin Browser")
    page.locator("#email").fill("robin.cases@example.org")
    page.locator("#date_of_birth").fill("1980-01-20")
    page.locator("#concern_area").click()
    page.get_by_role("option", name="Scars").click()
    page.locator("#photos-input").set_input_files([str(bad)])
    page.locator("#intake-submit").click()
    expect(page.locator("#error-photos")).to_contain_text("not-a-photo.jpg", timeout=20_000)
    expect(page.locator("#photos")).to_have_attribute("aria-invalid", "true")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'photos'")
    page.locator("#photos-input").set_input_files(paths[:1])
    expect(page.locator("#error-photos")).to_have_count(0)

    # On a phone: nothing sideways, and still no serious accessibility finding.
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert _overflow(page) == []
    save_screenshot(page, "intake-phone", tmp_path)
    assert _serious(page, tmp_path, "consult-errors") == []
    context.close()


def test_sign_in_is_labelled_and_fits_a_phone(
    browser, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(app_server.url + "/signin")
    expect(page.get_by_label("Email")).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Password")).to_be_visible()
    assert _overflow(page) == []
    assert _serious(page, tmp_path, "signin") == []
    page.locator("#email").fill("nobody@example.org")
    page.locator("#password").fill("not the password at all")
    page.locator("#sign-in-submit").click()
    expect(page.locator("#form-error")).to_be_visible(timeout=20_000)
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    save_screenshot(page, "signin-phone", tmp_path)
    context.close()


def test_case_page_timeline_groups_views_and_viewer_behaves(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    case_id = _case_with_photos(app_server, "summit-dental")
    sign_in(page, app_server, "manager@summit-dental.test")
    page.goto(f"{app_server.url}/cases/{case_id}")
    expect(page.locator("#case-reference")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name=re.compile(r"^Case"))).to_have_count(1)
    expect(page.get_by_role("heading", name=re.compile(r"^Case [0-9A-F]{8}$"))).to_be_visible()
    assert page.locator("a button, button button, a a").count() == 0
    expect(page.get_by_label("Assignee")).to_be_visible()

    # A few actions, each reloading the case: the looks fold into one line that opens.
    page.locator(".status-move").first.click()
    expect(page.locator("#case-status")).not_to_have_text("New", timeout=20_000)
    page.locator("#note-body").fill("Checked the photos")
    page.locator("#note-submit").click()
    expect(page.locator(".case-note")).to_have_count(1, timeout=20_000)
    page.reload()
    expect(page.locator("#case-reference")).to_be_visible(timeout=30_000)
    group = page.locator(".timeline-group").first
    expect(group).to_be_visible()
    expect(group.locator(".timeline-view").first).to_be_hidden()
    group.locator("summary").click()
    expect(group.locator(".timeline-view").first).to_be_visible()
    assert group.locator(".timeline-view").count() >= 3
    lines = page.locator(".timeline-entry").count()
    assert lines <= 6, f"{lines} timeline lines after two actions"
    assert _serious(page, tmp_path, "case") == []
    save_screenshot(page, "case", tmp_path)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert _overflow(page, "#case-content") == []
    save_screenshot(page, "case-phone", tmp_path)
    page.set_viewport_size({"width": 1280, "height": 800})

    # The viewer: one heading, the photo on screen is not offered as its own comparison.
    page.locator("#open-viewer").click()
    stage = page.locator(".photo-stage[data-stage=main]")
    expect(stage).to_be_visible(timeout=30_000)
    expect(stage.locator("img.photo-preview")).to_have_js_property("complete", True)
    expect(
        page.get_by_role("heading", name=re.compile(r"^Photos of case [0-9A-F]{8}$"))
    ).to_be_visible()
    page.locator("#compare-select").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    texts = options.all_inner_texts()
    assert "This case · photo 1" not in texts and "This case · photo 2" in texts
    page.keyboard.press("Escape")

    # The wheel zooms by a useful amount.
    page.wait_for_timeout(500)
    before = float(stage.get_attribute("data-scale") or 0)
    box = stage.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(400)
    after = float(stage.get_attribute("data-scale") or 0)
    assert after > before * 1.25, (before, after)

    # A notice says what happened, then goes away by itself.
    page.locator("#sensitive-switch").click()
    notice = page.locator("#viewer-notice")
    expect(notice).to_contain_text("Marked sensitive", timeout=10_000)
    expect(notice).to_be_hidden(timeout=8_000)
    page.get_by_text("Sensitive: blur its thumbnail").click()  # the words work the switch too
    expect(notice).to_contain_text("No longer marked sensitive", timeout=10_000)
    expect(notice).to_be_visible()  # a new notice shows afresh
    assert _serious(page, tmp_path, "viewer") == []
    save_screenshot(page, "viewer-page", tmp_path)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    assert _overflow(page, "#viewer-content") == []
    save_screenshot(page, "viewer-phone", tmp_path)
