"""The image viewer as a clinician uses it: zoom, pan, rotate, draw, reload, compare, download."""

from __future__ import annotations

import io
import sqlite3
import uuid
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in


def _returning_patients_later_case(app: RunningApp, slug: str) -> str:
    """The seed gives each clinic a patient who came back: their later case has an earlier one."""
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        row = conn.execute(
            """
            select s.id from submission s
            join patient p on p.tenant_id = s.tenant_id and p.id = s.patient_id
            join tenant t on t.id = s.tenant_id
            where t.slug = ? and lower(p.email) in (
                select lower(email) from patient where tenant_id = t.id
                group by lower(email) having count(*) > 1)
            order by s.received_at desc limit 1
            """,
            (slug,),
        ).fetchone()
    assert row, "the seed has a returning patient in every clinic"
    return str(uuid.UUID(hex=str(row[0]).replace("-", "")))


def _transform(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator(".photo-stage[data-stage=main] .react-transform-component").evaluate(
        "e => e.style.transform"
    )


def test_zoom_pan_rotate_draw_reload_compare_download(
    page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    case_id = _returning_patients_later_case(app_server, "summit-dental")
    sign_in(page, app_server, "provider@summit-dental.test")
    page.goto(f"{app_server.url}/cases/{case_id}")
    page.locator("#open-viewer").click()
    expect(page).to_have_url(f"{app_server.url}/cases/{case_id}/photos", timeout=20_000)
    stage = page.locator(".photo-stage[data-stage=main]")
    expect(stage).to_be_visible(timeout=30_000)
    expect(stage.locator("img.photo-preview")).to_have_js_property("complete", True)
    page.wait_for_timeout(500)  # the stage fits the photo once it has its size
    fitted = float(stage.get_attribute("data-scale") or 0)
    assert fitted > 0

    # Zoom with the button and the wheel; pan by dragging; rotate with the keyboard; reset.
    page.locator("#zoom-in").click()
    expect(stage).not_to_have_attribute("data-scale", f"{fitted:.3f}", timeout=5_000)
    zoomed = float(stage.get_attribute("data-scale") or 0)
    assert zoomed > fitted
    box = stage.bounding_box()
    assert box
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(400)
    assert float(stage.get_attribute("data-scale") or 0) > zoomed
    # 1:1 is one pixel of the 2400 px original per screen pixel: 1.5 times the 1600 px preview,
    # which is past the preview's resolution, so the stored original is fetched.
    page.locator("#zoom-actual").click()
    expect(stage).to_have_attribute("data-scale", "1.500", timeout=5_000)
    expect(stage).to_have_attribute("data-full", "loaded", timeout=20_000)
    before = _transform(page)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 60, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert _transform(page) != before  # moved
    page.keyboard.press("r")
    expect(stage).to_have_attribute("data-rotation", "90")
    page.locator("#flip").click()
    expect(stage).to_have_attribute("data-flipped", "true")
    page.locator("#reset-view").click()
    expect(stage).to_have_attribute("data-rotation", "0")
    expect(stage).to_have_attribute("data-flipped", "false")
    page.wait_for_timeout(400)

    # Draw an arrow, then a text marker.
    overlay = stage.locator(".photo-overlay")
    page.get_by_role("radio", name="Arrow").first.click()
    expect(stage).to_have_attribute("data-tool", "arrow")
    page.mouse.move(cx - 120, cy - 80)
    page.mouse.down()
    page.mouse.move(cx - 30, cy - 10, steps=6)
    page.mouse.up()
    expect(overlay.locator("[data-kind=arrow]")).to_have_count(1, timeout=10_000)
    page.get_by_role("radio", name="Text").first.click()
    expect(stage).to_have_attribute("data-tool", "text")
    page.mouse.click(cx + 60, cy + 40)
    expect(page.locator("#marker-text")).to_be_visible(timeout=10_000)
    page.locator("#marker-text").fill("Margin to check")
    page.locator("#marker-save").click()
    expect(overlay.locator("[data-kind=text]")).to_contain_text("Margin to check", timeout=10_000)
    expect(page.locator(".marker-row")).to_have_count(2)

    # Reload: the markers come back from the database.
    page.reload()
    expect(stage).to_be_visible(timeout=30_000)
    expect(overlay.locator("[data-kind=arrow]")).to_have_count(1, timeout=20_000)
    expect(overlay.locator("[data-kind=text]")).to_contain_text("Margin to check")
    page.locator("#toggle-markers").click()
    expect(overlay.locator("[data-annotation-id]")).to_have_count(0)
    page.locator("#toggle-markers").click()
    expect(overlay.locator("[data-annotation-id]")).to_have_count(2)

    # Select one's own arrow and drag it somewhere else.
    page.locator(".marker-row").filter(has_text="arrow").first.click()
    arrow = overlay.locator("[data-kind=arrow]")
    expect(arrow).to_have_attribute("data-selected", "true")
    was = arrow.bounding_box()
    assert was
    mx, my = was["x"] + was["width"] / 2, was["y"] + was["height"] / 2
    page.mouse.move(mx, my)
    page.mouse.down()
    page.mouse.move(mx + 60, my + 40, steps=8)
    page.mouse.up()
    expect(page.locator("#viewer-notice")).to_have_text("Marker moved.", timeout=10_000)
    now = arrow.bounding_box()
    assert now and now["x"] > was["x"] + 20 and now["y"] > was["y"] + 10
    page.wait_for_timeout(500)
    save_screenshot(page, "viewer", tmp_path)

    # Arrow keys move between the case's photos (and wrap round).
    thumbs = page.locator(".viewer-thumb")
    count = thumbs.count()
    page.keyboard.press("ArrowRight")
    expect(thumbs.nth(1 % count)).to_have_attribute("data-current", "true")
    page.keyboard.press("ArrowLeft")
    expect(thumbs.nth(0)).to_have_attribute("data-current", "true")

    # Compare with the patient's earlier case, zoom and pan kept in step.
    page.locator("#compare-select").click()
    page.get_by_role("option").filter(has_text="Earlier case").first.click()
    expect(page.locator("#compare-view")).to_be_visible(timeout=20_000)
    other = page.locator(".photo-stage[data-stage=compare]")
    expect(other.locator("img.photo-preview")).to_have_js_property("complete", True)
    page.locator("#zoom-in").click()
    page.wait_for_timeout(600)
    # The same zoom relative to each photo's fit (the two photos differ in size), the same place.
    left, right = stage.get_attribute("data-zoom"), other.get_attribute("data-zoom")
    assert left == right and float(left or 0) > 1
    save_screenshot(page, "viewer-compare", tmp_path)

    # Download: a warning first, then a watermarked JPEG without metadata.
    page.locator("#download-open").click()
    expect(page.locator("#download-warning")).to_contain_text("no longer protected")
    with page.expect_download() as info:
        page.locator("#download-confirm").click()
    download = info.value
    assert download.suggested_filename.endswith("-photo-1-preview.jpg")
    data = Path(download.path()).read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and not image.getexif() and "icc_profile" not in image.info
    expect(page.locator("#viewer-notice")).to_contain_text("watermark")

    # Mark the photo sensitive: on the case page its thumbnail is blurred until opened here.
    page.locator("#sensitive-switch").click()
    expect(page.locator("#viewer-notice")).to_contain_text("Marked sensitive")
    page.goto(f"{app_server.url}/cases/{case_id}")
    first = page.locator(".case-thumbnail img").first
    expect(first).to_be_visible(timeout=20_000)
    assert "blur" in first.evaluate("e => getComputedStyle(e).filter")
    expect(page.locator(".case-thumbnail").first).to_contain_text("Sensitive")
