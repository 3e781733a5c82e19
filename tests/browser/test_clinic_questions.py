"""The clinic owner adds an intake question for one concern area; the clinic's own patient form
asks it once that area is chosen; the owner retires it and the form asks the standard ones again."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_gates import _violations

OWNER = "owner@lakeside-derm.test"
PHONE = {"width": 390, "height": 844}
QUESTION = "Which scar treatments have you tried?"
CONSULT = "/c/lakeside-derm/consult"


def _choose_scars(page) -> None:  # type: ignore[no-untyped-def]
    page.locator("#concern_area").click()
    page.get_by_role("option", name="Scars").click()


def test_owner_adds_a_question_the_patient_form_asks_it_then_owner_retires_it(
    browser,  # type: ignore[no-untyped-def]
    app_server: RunningApp,
    tmp_path: Path,
) -> None:
    owner = browser.new_context(viewport={"width": 1280, "height": 900})
    page = owner.new_page()
    sign_in(page, app_server, OWNER)
    page.goto(app_server.url + "/settings/clinic/questions?area=scarring")
    # The control shows what the address says; no questions of the clinic's own yet.
    expect(page.locator("#question-area")).to_contain_text("Scars", timeout=20_000)
    expect(page.locator("#questions-empty")).to_contain_text("standard questions")

    # Too short: the error is under the field and what was typed stays.
    page.locator("#question-text").fill("Hi")
    page.locator("#question-required").click()
    page.locator("#question-add").click()
    expect(page.locator("#error-question-text")).to_contain_text("at least 3")
    expect(page.locator("#question-text")).to_have_value("Hi")
    page.locator("#question-text").fill(QUESTION)
    page.locator("#question-help_text").fill("Creams, laser, peels…")
    page.locator("#question-add").click()
    expect(page.locator("#questions-notice")).to_contain_text("Question added")
    expect(page.locator("#questions-list .question-text")).to_have_text([QUESTION])
    expect(page.locator("#questions-list .question-required")).to_have_count(1)
    expect(page.locator("#question-text")).to_have_value("")
    save_screenshot(page, "clinic-questions", tmp_path)
    assert _violations(page) == []
    page.set_viewport_size(PHONE)
    save_screenshot(page, "clinic-questions-phone", tmp_path)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide at 390px"
    page.set_viewport_size({"width": 1280, "height": 900})

    # The patient: the standard questions until "Scars" is chosen, then the clinic's own.
    patient = browser.new_context(viewport={"width": 1000, "height": 1200})
    form = patient.new_page()
    form.goto(app_server.url + CONSULT)
    expect(form.locator("#answer-how_long")).to_be_visible(timeout=30_000)
    _choose_scars(form)
    asked = form.locator(".intake-question label")
    expect(asked).to_have_text([QUESTION + " (required)"], timeout=20_000)
    expect(form.locator("#answer-how_long")).to_have_count(0)
    expect(form.get_by_text("Creams, laser, peels…")).to_be_visible()
    # Left unanswered, the required question has its own error under it.
    form.locator("#intake-submit").click()
    error = form.locator(".intake-question .field-error")
    expect(error).to_have_text("Answer this question.", timeout=20_000)
    form.set_viewport_size(PHONE)
    error.scroll_into_view_if_needed()
    save_screenshot(form, "intake-clinic-question-phone", tmp_path)
    width = form.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the form is {width}px wide at 390px"
    # The multi-clinic form keeps the standard questions.
    directory = patient.new_page()
    directory.goto(app_server.url + "/consult")
    expect(directory.locator("#answer-how_long")).to_be_visible(timeout=30_000)
    expect(directory.locator("#questions-general")).to_be_visible()
    patient.close()

    # The owner retires it, after confirming; it moves to the retired list.
    page.locator(".question-retire").first.click()
    expect(page.get_by_role("alertdialog")).to_contain_text(QUESTION)
    page.locator("#confirm-retire").click()
    expect(page.locator("#questions-retired .question-text")).to_have_text([QUESTION])
    expect(page.locator("#questions-empty")).to_be_visible()
    save_screenshot(page, "clinic-questions-retired", tmp_path)
    owner.close()

    # The patient form asks the standard questions for scars again.
    again = browser.new_context(viewport={"width": 1000, "height": 1200})
    form = again.new_page()
    form.goto(app_server.url + CONSULT)
    expect(form.locator("#answer-how_long")).to_be_visible(timeout=30_000)
    _choose_scars(form)
    expect(form.locator("#answer-how_long")).to_be_visible()
    expect(form.get_by_text(QUESTION)).to_have_count(0)
    again.close()
