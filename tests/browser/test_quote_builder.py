"""A manager answers a case with a quote from the catalog, the patient accepts, the case follows."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in

MANAGER = "manager@lakeside-derm.test"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BLOCKING = {"serious", "critical"}

# Runs in the app's environment (its database): a small catalog of this test's own, named with
# a suffix so that other tests' rows never match.
PLANT_CATALOG = """
import sys, uuid
from decimal import Decimal
from mi_portal.db import tenant_session
from mi_portal.models import TaxClass, TreatmentItem
tenant, suffix = uuid.UUID(sys.argv[1]), sys.argv[2]
with tenant_session(tenant) as session:
    vat = TaxClass(name=f"VAT {suffix}", rate=Decimal("20"))
    session.add(vat)
    session.flush()
    session.add(TreatmentItem(name=f"Filler {suffix}", unit_label="syringe",
                              unit_price=Decimal("300.00"), tax_class_id=vat.id))
    session.add(TreatmentItem(name=f"Peel {suffix}", unit_price=Decimal("120.00")))
    session.commit()
"""

# The patient's link to the case's latest sent version, and the name on the case.
PATIENT_LINK = """
import json, sys, uuid
from sqlmodel import col, select
from mi_portal.config import get_settings
from mi_portal.db import tenant_session
from mi_portal.models import Patient, Quote, Submission
from mi_portal.services import quotes
tenant, case_id = uuid.UUID(sys.argv[1]), uuid.UUID(sys.argv[2])
with tenant_session(tenant) as session:
    quote = session.exec(select(Quote).where(Quote.submission_id == case_id,
                         Quote.status == "sent").order_by(col(Quote.version).desc())).first()
    case = session.get(Submission, (tenant, case_id))
    patient = session.get(Patient, (tenant, case.patient_id))
    token = quotes.link_token(tenant, quote.id)
    base = get_settings().frontend_origin.rstrip("/")
    print(json.dumps({"link": f"{base}/q/{token}", "token": token, "name": patient.full_name}))
"""


def _rows(app: RunningApp, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        return conn.execute(sql, args).fetchall()


def _id(raw: object) -> str:
    return str(uuid.UUID(hex=str(raw).replace("-", "")))


def _fresh_case(app: RunningApp) -> tuple[str, str]:
    """(clinic id, case id) of a Lakeside case open for quoting, with no quote or conversation."""
    tenant, case = _rows(
        app,
        """
        select t.id, s.id from submission s join tenant t on t.id = s.tenant_id
        where t.slug = 'lakeside-derm' and s.status in ('new', 'in_review')
          and not exists (select 1 from quote q where q.submission_id = s.id)
          and not exists (select 1 from messagethread m where m.submission_id = s.id)
        order by s.received_at desc limit 1
        """,
    )[0]
    return _id(tenant), _id(case)


def _in_app(app: RunningApp, script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=app.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _pick(page, trigger: str, option: str | re.Pattern[str]) -> None:  # type: ignore[no-untyped-def]
    page.locator(trigger).click()
    page.get_by_role("option", name=option).click()


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
        for v in found
        if v.get("impact") in BLOCKING
    ]


def _fits_a_phone(page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{width} px wide on a 390 px phone"
    page.set_viewport_size(DESKTOP)


def accept_as_patient(browser, app: RunningApp, tenant: str, case: str) -> None:  # type: ignore[no-untyped-def]
    """The patient opens the emailed link in a browser of their own and accepts with their name."""
    found = json.loads(_in_app(app, PATIENT_LINK, tenant, case))
    assert found["link"].startswith(app.url + "/q/")
    context = browser.new_context(viewport={"width": 390, "height": 900})
    try:
        patient = context.new_page()
        patient.goto(found["link"])
        expect(patient.locator("#quote-total")).to_contain_text(
            re.compile(r"768[.,]00"), timeout=30_000
        )
        patient.locator("#quote-accept").click()
        patient.locator("#accept-name").fill(found["name"])
        patient.locator("#accept-confirm").click()
        expect(patient.locator("#quote-done")).to_be_visible(timeout=20_000)
        expect(patient.locator("#quote-notice")).to_contain_text("You accepted this quote")
    finally:
        context.close()


def test_a_manager_quotes_from_the_catalog_and_the_patient_accepts(
    browser, page, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    tenant, case = _fresh_case(app_server)
    suffix = uuid.uuid4().hex[:6]
    _in_app(app_server, PLANT_CATALOG, tenant, suffix)
    sign_in(page, app_server, MANAGER)

    # From the case page to its quote page.
    page.goto(f"{app_server.url}/cases/{case}")
    expect(page.locator("#case-quote-none")).to_be_visible(timeout=30_000)
    page.locator("#open-quote").click()
    expect(page.locator("#quote-empty")).to_be_visible(timeout=30_000)
    page.locator("#start-quote").click()
    expect(page.locator("#quote-editor")).to_be_visible(timeout=20_000)

    # Two lines from the catalog: the taxed one filled with its price, unit and tax class.
    _pick(page, "#add-from-catalog", re.compile(f"^Filler {suffix}"))
    expect(page.locator(".quote-line")).to_have_count(1, timeout=20_000)
    _pick(page, "#add-from-catalog", re.compile(f"^Peel {suffix}"))
    expect(page.locator(".quote-line")).to_have_count(2, timeout=20_000)
    expect(page.locator("#line-0-description")).to_have_value(f"Filler {suffix}")
    expect(page.locator("#line-0-unit_price")).to_have_value("300.00")
    expect(page.locator("#line-0-tax_class")).to_contain_text(f"VAT {suffix}")
    expect(page.locator("#line-1-tax_class")).to_contain_text("No tax")
    # 300 taxed at 20 % and 120 untaxed.
    expect(page.locator("#draft-tax")).to_contain_text(re.compile(r"60[.,]00"), timeout=20_000)
    expect(page.locator("#draft-total")).to_contain_text(re.compile(r"480[.,]00"))

    # Two syringes with 10 % off that line: 540 net, 108 tax, total 768.
    page.locator("#line-0-quantity").fill("2")
    _pick(page, "#line-0-discount_kind", "Percent")
    page.locator("#line-0-discount_value").fill("10")
    expect(page.locator("#line-0-amount")).to_contain_text(re.compile(r"540[.,]00"), timeout=20_000)
    expect(page.locator("#draft-tax")).to_contain_text(re.compile(r"108[.,]00"))
    expect(page.locator("#draft-total")).to_contain_text(re.compile(r"768[.,]00"))
    expect(page.locator("#save-status")).to_contain_text("Saved")

    # A mistyped price: the error beside it, and nothing typed is lost on reload.
    page.locator("#line-1-unit_price").fill("12o")
    expect(page.locator("#line-1-unit_price-error")).to_be_visible(timeout=20_000)
    expect(page.locator("#draft-totals-pending")).to_be_visible()
    page.wait_for_timeout(300)
    page.reload()
    expect(page.locator("#line-1-unit_price")).to_have_value("12o", timeout=30_000)
    expect(page.locator("#line-0-quantity")).to_have_value("2")
    expect(page.locator("#line-0-discount_value")).to_have_value("10")
    assert _violations(page) == []
    _fits_a_phone(page)
    page.locator("#line-1-unit_price").fill("120")
    expect(page.locator("#draft-total")).to_contain_text(re.compile(r"768[.,]00"), timeout=20_000)
    save_screenshot(page, "quote-builder-desktop", tmp_path)

    # Send, after confirming the total.
    page.locator("#send-quote").click()
    expect(page.locator("#send-total")).to_contain_text(re.compile(r"768[.,]00"), timeout=20_000)
    page.locator("#confirm-send").click()
    expect(page.locator("#quote-notice")).to_contain_text("sent", timeout=20_000)
    expect(page.locator("#shown-status")).to_have_text("Sent")
    expect(page.locator("#shown-total")).to_contain_text(re.compile(r"768[.,]00"))
    expect(page.locator("#revise-quote")).to_be_visible()
    # The dialog fades out: check the page once it is gone, not a half-transparent button.
    expect(page.locator("#confirm-send")).to_have_count(0, timeout=10_000)
    assert _violations(page) == []
    _fits_a_phone(page)
    with page.expect_download(timeout=30_000) as download:
        page.locator("#download-pdf").click()
    saved = tmp_path / "staff-quote.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")

    accept_as_patient(browser, app_server, tenant, case)

    page.goto(f"{app_server.url}/cases/{case}")
    expect(page.locator("#case-status")).to_have_text("Accepted", timeout=30_000)
    expect(page.locator("#case-quote-status")).to_have_text("Accepted")
    expect(
        page.locator(".timeline-entry", has_text="The patient accepted the quote")
    ).to_have_count(1)
    page.locator("#open-quote").click()
    expect(page.locator("#shown-accepted")).to_be_visible(timeout=30_000)
    expect(page.locator("#revise-quote")).to_have_count(0)
    save_screenshot(page, "quote-builder-accepted", tmp_path)
