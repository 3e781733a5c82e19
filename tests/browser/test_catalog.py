"""A clinic manager builds the catalog: a tax class, an item with a formatted price, a refused
CSV import that names its bad line, a package, and a deactivation that asks first."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_gates import _violations

MANAGER = "manager@lakeside-derm.test"
PHONE = {"width": 390, "height": 844}


def _rows(app: RunningApp, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        return conn.execute(sql, args).fetchall()


def test_manager_adds_a_tax_class_and_an_item(page, app_server: RunningApp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Other tests share the app's database: this one counts only the rows it names.
    tag = uuid.uuid4().hex[:6]
    tax_name, item_name = f"Standard 20 % {tag}", f"Lip filler {tag}"
    sign_in(page, app_server, MANAGER)

    page.locator("#nav-catalog").click()
    expect(page).to_have_url(f"{app_server.url}/settings/catalog", timeout=20_000)
    expect(page.locator("#item-form")).to_be_visible(timeout=30_000)

    # A tax class.
    page.locator("#catalog-tab-taxes").click()
    expect(page.locator("#tax-form")).to_be_visible(timeout=20_000)
    expect(page).to_have_url(f"{app_server.url}/settings/catalog?tab=taxes")
    page.locator("#tax-name").fill(tax_name)
    page.locator("#tax-rate").fill("20")
    page.locator("#tax-form-save").click()
    expect(page.locator("#catalog-notice")).to_be_visible(timeout=20_000)
    tax_row = page.locator(".catalog-tax", has_text=tax_name)
    expect(tax_row).to_contain_text("20 %")

    # An item: a mistyped price is refused under its field and nothing typed is lost.
    page.locator("#catalog-tab-items").click()
    expect(page.locator("#item-form")).to_be_visible(timeout=20_000)
    page.locator("#item-name").fill(item_name)
    page.locator("#item-category").fill("Injectables")
    page.locator("#item-unit").fill("syringe")
    page.locator("#item-price").fill("1320,5O")
    page.locator("#item-tax").select_option(label=f"{tax_name} (20 %)")
    page.locator("#item-form-save").click()
    expect(page.locator("#error-unit_price")).to_have_text("Price must be a number like 120.00.")
    expect(page.locator("#item-name")).to_have_value(item_name)
    expect(page.locator("#item-price")).to_have_attribute("aria-invalid", "true")
    page.locator("#item-price").fill("1320.50")
    page.locator("#item-form-save").click()
    expect(page.locator("#catalog-notice")).to_contain_text(item_name, timeout=20_000)
    row = page.locator(".catalog-item", has_text=item_name)
    expect(row.locator(".catalog-item-price")).to_have_text("$1,320.50")
    expect(row).to_contain_text(f"{tax_name} (20 %)")
    saved = _rows(
        app_server,
        "select i.unit_price, i.unit_label, t.name from treatmentitem i "
        "join taxclass t on t.id = i.tax_class_id where i.name = ?",
        item_name,
    )
    assert saved == [("1320.50", "syringe", tax_name)]
    save_screenshot(page, "catalog-items-desktop", tmp_path)

    # A CSV with one bad line imports nothing and names the line.
    csv_text = (
        "name,category,unit_price,tax_class\n"
        f"Peel {tag},Skin,120.00,{tax_name}\n"
        f"Mask {tag},Skin,12O.00,{tax_name}\n"
    )
    page.locator("#catalog-csv-input").set_input_files(
        files=[{"name": "catalog.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    expect(page.locator(".import-error")).to_have_text(
        ["Line 3: price must be a number like 120.00"], timeout=20_000
    )
    assert _rows(app_server, "select id from treatmentitem where name = ?", f"Peel {tag}") == []

    # A package of three of the item.
    page.locator("#catalog-tab-packages").click()
    expect(page.locator("#package-form")).to_be_visible(timeout=20_000)
    page.locator("#package-name").fill(f"Filler course {tag}")
    page.locator("#package-price").fill("3600")
    page.locator("#package-add-item").select_option(label=item_name)
    expect(page.locator(".package-line")).to_have_count(1)
    page.get_by_label(f"Quantity of {item_name}").fill("3")
    page.locator("#package-form-save").click()
    expect(page.locator("#catalog-notice")).to_be_visible(timeout=20_000)
    package = page.locator(".catalog-package", has_text=f"Filler course {tag}")
    expect(package).to_contain_text(f"3 × {item_name}")
    expect(package).to_contain_text("$3,600.00")
    page.locator("#catalog-tab-items").click()
    expect(page.locator("#item-form")).to_be_visible(timeout=20_000)

    # On a phone the page fits; deactivating asks first, then the item leaves the active list.
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    row.get_by_role("button", name=f"Deactivate {item_name}").click()
    expect(page.get_by_role("alertdialog")).to_contain_text(item_name)
    page.locator("#confirm-deactivate").click()
    expect(page.locator(".catalog-item", has_text=item_name)).to_have_count(0, timeout=20_000)
    page.locator("#catalog-show").select_option("inactive")
    expect(page).to_have_url(f"{app_server.url}/settings/catalog?tab=items&show=inactive")
    expect(page.locator(".catalog-item", has_text=item_name)).to_contain_text("Inactive")
    assert _rows(app_server, "select active from treatmentitem where name = ?", item_name) == [(0,)]

    # Every section passes axe and fits the phone (the gates test opens only the first one).
    for tab, form in (
        ("packages", "#package-form"),
        ("taxes", "#tax-form"),
        ("defaults", "#defaults-form"),
    ):
        page.goto(f"{app_server.url}/settings/catalog?tab={tab}")
        expect(page.locator(form)).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)
        assert _violations(page) == [], tab
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], tab
