"""Public intake pages: one clinic's consultation form, and the directory for several clinics."""

from __future__ import annotations

import reflex as rx

from mi_portal.services.intake import CONCERN_AREAS, MAX_CLINICS, MAX_PHOTOS, QUESTIONS
from mi_portal.state.intake import IntakeState

PRIVACY_TEXT = (
    "I have read the privacy policy. My photos and answers go only to the clinic(s) I choose, "
    "which decide how long they keep them."
)
SMS_TEXT = "Send me text messages about my consultation (optional; never shared with anyone)."
MARKETING_TEXT = "Send me offers and news from the clinic(s) (optional)."


def _error(key: str) -> rx.Component:
    return rx.cond(
        IntakeState.errors.contains(key),  # type: ignore[attr-defined]
        rx.text(
            IntakeState.errors[key],
            color_scheme="red",
            size="2",
            class_name="field-error",
            id=f"error-{key}",
        ),
    )


def _text_field(
    label: str, name: str, *, type_: str = "text", hint: str = "", autocomplete: str = ""
) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
        rx.input(
            id=name,
            name=name,
            type=type_,
            default_value=getattr(IntakeState, name),
            on_blur=lambda value: IntakeState.update_field(name, value),
            auto_complete=autocomplete,
            width="100%",
        ),
        rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")),
        _error(name),
        spacing="1",
        width="100%",
    )


def _consent(name: str, text: str, checked: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.checkbox(
                id=name, checked=checked, on_change=lambda v: IntakeState.update_field(name, v)
            ),
            rx.text(text, as_="label", html_for=name, size="2"),
            align="start",
            spacing="2",
        ),
        _error(name),
        spacing="1",
    )


def _clinic_choice(clinic: rx.Var) -> rx.Component:
    slug = clinic["slug"].to(str)
    return rx.hstack(
        rx.checkbox(
            checked=IntakeState.chosen.contains(slug),  # type: ignore[attr-defined]
            on_change=lambda v: IntakeState.toggle_clinic(slug, v),
            class_name="clinic-choice",
        ),
        rx.text(clinic["name"], size="2"),
        align="center",
    )


def _form() -> rx.Component:
    return rx.vstack(
        rx.cond(
            IntakeState.clinic_slug == "",
            rx.vstack(
                rx.text(
                    f"Choose up to {MAX_CLINICS} clinics. Each receives its own copy; none learns which others you chose.",
                    size="2",
                ),
                rx.foreach(IntakeState.directory, _clinic_choice),
                _error("clinics"),
                spacing="2",
                width="100%",
            ),
        ),
        _text_field("Full name", "full_name", autocomplete="name"),
        _text_field("Email", "email", type_="email", autocomplete="email"),
        _text_field("Phone (optional)", "phone", type_="tel", autocomplete="tel"),
        _text_field(
            "Date of birth", "date_of_birth", type_="date", hint="You must be 16 or older."
        ),
        rx.vstack(
            rx.text("What are the photos about?", size="2", weight="medium"),
            rx.select.root(
                rx.select.trigger(placeholder="Choose one", id="concern_area"),
                rx.select.content(
                    *[rx.select.item(label, value=key) for key, label in CONCERN_AREAS.items()]
                ),
                on_change=lambda key: IntakeState.update_field("concern_area", key),
            ),
            _error("concern_area"),
            spacing="1",
            width="100%",
        ),
        *[
            rx.vstack(
                rx.text(label, size="2", weight="medium"),
                rx.text_area(
                    name=key,
                    on_blur=lambda v, key=key: IntakeState.update_answer(key, v),
                    width="100%",
                    id=f"answer-{key}",
                ),
                spacing="1",
                width="100%",
            )
            for key, label in QUESTIONS.items()
        ],
        rx.vstack(
            rx.text(
                f"Photos (JPEG, PNG or WebP, up to {MAX_PHOTOS}, 20 MB each)",
                size="2",
                weight="medium",
            ),
            rx.upload(
                rx.vstack(
                    rx.icon("image_plus"),
                    rx.text("Drop photos here or click to choose", size="2"),
                    align="center",
                ),
                id="photos",
                multiple=True,
                accept={
                    "image/jpeg": [".jpg", ".jpeg"],
                    "image/png": [".png"],
                    "image/webp": [".webp"],
                },
                max_files=MAX_PHOTOS,
                border="1px dashed var(--gray-a7)",
                padding="1.5em",
                width="100%",
            ),
            rx.foreach(
                rx.selected_files("photos"),
                lambda f: rx.text(f, size="1", class_name="selected-photo"),
            ),
            _error("photos"),
            spacing="1",
            width="100%",
        ),
        _consent("privacy_ack", PRIVACY_TEXT, IntakeState.privacy_ack),
        _consent("sms_opt_in", SMS_TEXT, IntakeState.sms_opt_in),
        _consent("marketing_opt_in", MARKETING_TEXT, IntakeState.marketing_opt_in),
        rx.cond(
            IntakeState.failure != "",
            rx.callout(
                IntakeState.failure, icon="triangle_alert", color_scheme="red", id="intake-failure"
            ),
        ),
        rx.button(
            rx.cond(IntakeState.submitting, rx.spinner(size="2"), rx.fragment()),
            "Send to the clinic",
            on_click=IntakeState.submit(rx.upload_files(upload_id="photos")),
            disabled=IntakeState.submitting,
            id="intake-submit",
            size="3",
        ),
        spacing="4",
        width="100%",
    )


def _done() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Thank you. Your photos were received.",
            icon="check",
            color_scheme="green",
            id="intake-done",
        ),
        rx.foreach(
            IntakeState.receipts,
            lambda r: rx.text(
                r["clinic_name"], ": reference ", rx.code(r["reference"]), class_name="receipt"
            ),
        ),
        rx.text("The clinic will reply with a quote or questions by email.", size="2"),
        spacing="3",
    )


def _page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("stethoscope"),
                    rx.heading("Photo consultation", size="6"),
                    align="center",
                ),
                rx.cond(
                    IntakeState.clinic_name != "",
                    rx.text("For ", rx.text.strong(IntakeState.clinic_name), size="3"),
                ),
                rx.cond(
                    IntakeState.unknown_clinic,
                    rx.callout(
                        "This clinic's page does not exist.", icon="info", id="intake-unknown"
                    ),
                    rx.cond(IntakeState.receipts.length() > 0, _done(), _form()),  # type: ignore[attr-defined]
                ),
                spacing="4",
                width="100%",
            ),
            size="4",
            width="100%",
            max_width="720px",
        ),
        padding="1em",
        background="var(--gray-a2)",
        min_height="100vh",
    )


def clinic_consult() -> rx.Component:
    return _page()


def directory_consult() -> rx.Component:
    return _page()
