"""Gates every page passes: axe-core finds no serious or critical violation, and a 390 px wide
phone never scrolls sideways.

The pages are taken from the app's own registry, so a new page that is not listed here fails
the test instead of going unchecked.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, sign_in

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Route (as registered) → who opens it: None for the public, else a demo user.
WHO = {
    "signin": None,
    "invite": None,
    "consult": None,
    "c/[slug]/consult": None,
    "privacy": None,
    "privacy/request": None,
    "privacy/request/verify/[reference]": None,
    "m/[token]": None,
    "q/[token]": None,
    "index": "owner@lakeside-derm.test",
    "cases": "owner@lakeside-derm.test",
    "cases/[id]": "owner@lakeside-derm.test",
    "cases/[id]/photos": "owner@lakeside-derm.test",
    "cases/[id]/quote": "owner@lakeside-derm.test",
    "clinics/pick": "owner@lakeside-derm.test",
    "admin/users": "owner@lakeside-derm.test",
    "audit": "owner@lakeside-derm.test",
    "settings/notifications": "owner@lakeside-derm.test",
    "messages": "owner@lakeside-derm.test",
    "settings/templates": "owner@lakeside-derm.test",
    "settings/catalog": "owner@lakeside-derm.test",
    "settings/retention": "owner@lakeside-derm.test",
    "settings/clinic/hours": "owner@lakeside-derm.test",
    "settings/clinic/questions": "owner@lakeside-derm.test",
    "settings/clinic": "owner@lakeside-derm.test",
    "privacy/requests": "admin@mi-portal.test",
    "platform/users": "admin@mi-portal.test",
    "privacy/requests/[reference]": "admin@mi-portal.test",
    "platform/clinics": "admin@mi-portal.test",
    "platform/reports": "admin@mi-portal.test",
    "reports": "owner@lakeside-derm.test",
    "privacy/forwarded": "owner@lakeside-derm.test",
    "privacy/forwarded/[id]": "owner@lakeside-derm.test",
    "mfa/enroll": "owner@lakeside-derm.test",
    "404": None,
}
BLOCKING = {"serious", "critical"}


def _registered_routes() -> set[str]:
    import mi_portal.mi_portal as main

    return set(main.app._unevaluated_pages)


def _a_case(app: RunningApp) -> str:
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        (sid,) = conn.execute(
            "select s.id from submission s join tenant t on t.id = s.tenant_id "
            "where t.slug = 'lakeside-derm' order by s.received_at desc limit 1"
        ).fetchone()
    return str(uuid.UUID(hex=str(sid).replace("-", "")))


def _url(route: str, case_id: str) -> str:
    if route == "index":
        return "/"
    if route == "404":
        return "/no-such-page"
    return "/" + route.replace("[reference]", "RR-2345-6789").replace(
        "[slug]", "lakeside-derm"
    ).replace("[id]", case_id)


def test_every_registered_page_is_checked() -> None:
    missing = _registered_routes() - set(WHO)
    assert missing == set(), f"add these pages to the gates: {sorted(missing)}"


@pytest.fixture(scope="module")
def signed_in_context(browser, app_server: RunningApp) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """One signed-in browser context per demo user of the map, made when first needed."""
    contexts: dict[str, object] = {}

    def context_for(email: str):  # type: ignore[no-untyped-def]
        if email not in contexts:
            context = browser.new_context(viewport=DESKTOP)
            page = context.new_page()
            sign_in(page, app_server, email)
            page.close()
            contexts[email] = context
        return contexts[email]

    yield context_for
    for context in contexts.values():
        context.close()  # type: ignore[attr-defined]


def _open(context, app: RunningApp, url: str):  # type: ignore[no-untyped-def]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app.url + url)
    page.wait_for_load_state("networkidle")
    expect(page.locator("body")).to_be_visible()
    page.wait_for_timeout(800)  # the page's own data arrives over the event socket
    return page, errors


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])}×): {v['nodes'][0]['target']}"
        for v in found
        if v.get("impact") in BLOCKING
    ]


@pytest.mark.parametrize("route", sorted(WHO))
def test_page_passes_axe_and_fits_a_phone(
    route: str, browser, app_server: RunningApp, signed_in_context
) -> None:  # type: ignore[no-untyped-def]
    url = _url(route, _a_case(app_server))
    public = WHO[route] is None
    who = WHO[route]
    context = browser.new_context(viewport=DESKTOP) if who is None else signed_in_context(who)
    try:
        page, errors = _open(context, app_server, url)
        problems = _violations(page)
        assert problems == [], f"{url}: {problems}"
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{url} is {width} px wide on a 390 px phone"
        assert errors == [], f"{url}: JavaScript errors {errors}"
        page.close()
    finally:
        if public:
            context.close()
