"""Public intake pages: one clinic's consultation form, and the directory for several clinics."""

from __future__ import annotations

import reflex as rx
from reflex.vars import Var

from mi_portal.components.fields import (
    bare_checkbox,
    check_label,
    described,
    error_text,
    field_label,
)
from mi_portal.components.privacy_links import rights_request_link
from mi_portal.models import ConsentKind
from mi_portal.pages.intake_photos import photo_error_shown, photo_picker
from mi_portal.services.intake import CONCERN_AREAS, MAX_CLINICS
from mi_portal.services.policy import CONSENT_TEXTS, MIN_AGE
from mi_portal.state.intake import IntakeState

POLICY_WORDS = "privacy policy"


def privacy_link(text: str = "Privacy policy") -> rx.Component:
    """The published policy; a new tab, so that nothing typed in the form is lost."""
    # Underlined: inside a sentence a link must not be told apart by colour alone.
    return rx.link(
        text, href="/privacy", is_external=True, underline="always", class_name="privacy-link"
    )


def patient_footer() -> rx.Component:
    """Shown on every patient-facing page."""
    return rx.text(
        privacy_link(),
        " · ",
        rights_request_link(),
        " · Your photos and answers go only to the clinic(s) you choose.",
        size="1",
        color_scheme="gray",
        id="patient-footer",
    )


def _consent_label(kind: ConsentKind) -> list[rx.Component | str]:
    # Exactly the stored text; the words "privacy policy" become the link to it.
    text = CONSENT_TEXTS[kind.value]
    if POLICY_WORDS not in text:
        return [text]
    before, after = text.split(POLICY_WORDS, 1)
    return [before, privacy_link(POLICY_WORDS), after]


def _has_error(key: str) -> Var:
    if key == "photos":
        return photo_error_shown()
    return IntakeState.errors.contains(key)  # type: ignore[attr-defined]


def _error(key: str) -> rx.Component:
    return rx.cond(_has_error(key), error_text(IntakeState.errors[key], key=key))


def _text_field(
    label: str, name: str, *, type_: str = "text", hint: str = "", autocomplete: str = ""
) -> rx.Component:
    hint_id = f"hint-{name}" if hint else ""
    return rx.vstack(
        field_label(label, for_=name),
        rx.input(
            id=name,
            name=name,
            type=type_,
            default_value=getattr(IntakeState, name),
            on_blur=lambda value: IntakeState.update_field(name, value),
            auto_complete=autocomplete,
            width="100%",
            **described(_has_error(name), name, hint_id=hint_id),
        ),
        rx.text(hint, size="1", color_scheme="gray", id=hint_id) if hint else rx.fragment(),
        _error(name),
        spacing="1",
        width="100%",
    )


def _consent(kind: ConsentKind, checked: rx.Var) -> rx.Component:
    name = kind.value
    return rx.vstack(
        check_label(
            bare_checkbox(
                id=name,
                checked=checked,
                on_change=lambda v: IntakeState.update_field(name, v),
                **described(_has_error(name), name),
            ),
            *_consent_label(kind),
            class_name="consent",
        ),
        _error(name),
        spacing="1",
    )


def _clinic_choice(clinic: rx.Var) -> rx.Component:
    slug = clinic["slug"].to(str)
    return check_label(
        bare_checkbox(
            checked=IntakeState.chosen.contains(slug),  # type: ignore[attr-defined]
            on_change=lambda v: IntakeState.toggle_clinic(slug, v),
        ),
        clinic["name"],
        class_name="clinic-choice",
    )


def _clinic_choices() -> rx.Component:
    # A fieldset names the group; its error sits right under the list it is about.
    return rx.el.fieldset(
        rx.el.legend(
            f"Choose up to {MAX_CLINICS} clinics. Each receives its own copy; none learns which "
            "others you chose.",
            style={"font_size": "var(--font-size-2)", "margin_bottom": "0.5em"},
        ),
        rx.vstack(rx.foreach(IntakeState.directory, _clinic_choice), spacing="2"),
        _error("clinics"),
        id="clinic-choices",
        style={"border": "none", "padding": 0, "margin": 0, "min_width": 0},
        **described(_has_error("clinics"), "clinics"),
    )


def _concern() -> rx.Component:
    return rx.vstack(
        field_label("What are the photos about?", for_="concern_area"),
        rx.select.root(
            rx.select.trigger(
                placeholder="Choose one",
                id="concern_area",
                width="100%",
                **described(_has_error("concern_area"), "concern_area"),
            ),
            rx.select.content(
                *[rx.select.item(label, value=key) for key, label in CONCERN_AREAS.items()]
            ),
            on_change=lambda key: IntakeState.update_field("concern_area", key),
        ),
        _error("concern_area"),
        spacing="1",
        width="100%",
    )


def _question(question: rx.Var) -> rx.Component:
    key = question["key"].to(str)
    field_id = "answer-" + key
    error_key = "answer-" + key
    has_error = IntakeState.errors.contains(error_key)  # type: ignore[attr-defined]
    has_help = question["help"].to(str) != ""
    hint_id = rx.cond(has_help, "hint-" + field_id, "")
    with_error = rx.cond(has_help, "hint-" + field_id + " error-" + error_key, "error-" + error_key)
    return rx.vstack(
        rx.el.label(
            question["text"].to(str),
            rx.cond(question["required"].to(bool), " (required)", ""),
            html_for=field_id,
            style={"font_weight": "500", "font_size": "var(--font-size-2)"},
        ),
        rx.text_area(
            name=key,
            default_value=IntakeState.answers.get(key, ""),  # type: ignore[attr-defined]
            on_blur=lambda v: IntakeState.update_answer(key, v),
            width="100%",
            id=field_id,
            aria_invalid=rx.cond(has_error, "true", "false"),
            aria_describedby=rx.cond(has_error, with_error, hint_id),
        ),
        rx.cond(
            has_help,
            rx.text(question["help"].to(str), size="1", color_scheme="gray", id="hint-" + field_id),
        ),
        rx.cond(
            has_error,
            rx.text(
                IntakeState.errors[error_key],
                color_scheme="red",
                size="2",
                class_name="field-error",
                id="error-" + error_key,
                role="alert",
            ),
        ),
        spacing="1",
        width="100%",
        class_name="intake-question",
        # Keyed by question: another area's questions get fresh fields, not the old ones' text.
        key=key,
    )


def _questions() -> rx.Component:
    return rx.vstack(
        rx.cond(
            IntakeState.clinic_slug == "",
            rx.text(
                "These are general questions. Each clinic you choose may ask you more of its own "
                "when it replies.",
                size="1",
                color_scheme="gray",
                id="questions-general",
            ),
        ),
        rx.foreach(IntakeState.questions, _question),
        rx.cond(
            IntakeState.questions_note != "",
            rx.text(IntakeState.questions_note, size="2", color_scheme="amber", role="status"),
        ),
        spacing="4",
        width="100%",
        id="intake-questions",
    )


def _form() -> rx.Component:
    return rx.vstack(
        rx.cond(IntakeState.clinic_slug == "", _clinic_choices()),
        _text_field("Full name", "full_name", autocomplete="name"),
        _text_field("Email", "email", type_="email", autocomplete="email"),
        _text_field("Phone (optional)", "phone", type_="tel", autocomplete="tel"),
        _text_field(
            "Date of birth", "date_of_birth", type_="date", hint=f"You must be {MIN_AGE} or older."
        ),
        _concern(),
        _questions(),
        photo_picker(_error("photos")),
        _consent(ConsentKind.PRIVACY_ACK, IntakeState.privacy_ack),
        _consent(ConsentKind.SMS_OPT_IN, IntakeState.sms_opt_in),
        _consent(ConsentKind.MARKETING_OPT_IN, IntakeState.marketing_opt_in),
        rx.cond(
            IntakeState.failure != "",
            rx.callout(
                IntakeState.failure,
                icon="triangle_alert",
                color_scheme="red",
                id="intake-failure",
                role="alert",
            ),
        ),
        rx.button(
            rx.cond(IntakeState.submitting, rx.spinner(size="2"), rx.fragment()),
            rx.cond(
                IntakeState.clinic_slug == "", "Send to the chosen clinics", "Send to the clinic"
            ),
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
        rx.text(
            "Keep your reference. The clinic will contact you with a quote or questions, using "
            "the contact details you gave.",
            size="2",
        ),
        spacing="3",
    )


def _refused() -> rx.Component:
    return rx.vstack(
        rx.callout(IntakeState.refused, icon="info", color_scheme="amber", id="intake-refused"),
        rx.button(
            "Start again",
            on_click=IntakeState.start_again,
            variant="soft",
            high_contrast=True,
            id="start-again",
        ),
        spacing="3",
    )


def patient_frame(icon: str, title: str, *children: rx.Component) -> rx.Component:
    """The frame of every patient-facing page: one card with its title, the content, the footer."""
    return rx.el.main(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon(icon, aria_hidden="true"),
                    rx.heading(title, size="6", as_="h1"),
                    align="center",
                ),
                *children,
                patient_footer(),
                spacing="4",
                width="100%",
            ),
            size="4",
            width="100%",
            max_width="720px",
        ),
        style={
            "display": "flex",
            "justify_content": "center",
            "padding": "1em",
            "background": "var(--gray-a2)",
            "min_height": "100vh",
        },
    )


def _page() -> rx.Component:
    return patient_frame(
        "stethoscope",
        "Photo consultation",
        rx.cond(
            IntakeState.clinic_name != "",
            rx.text("For ", rx.text.strong(IntakeState.clinic_name), size="3"),
        ),
        rx.cond(
            IntakeState.unknown_clinic,
            rx.callout("This clinic's page does not exist.", icon="info", id="intake-unknown"),
            rx.cond(
                IntakeState.receipts.length() > 0,  # type: ignore[attr-defined]
                _done(),
                rx.cond(IntakeState.refused != "", _refused(), _form()),
            ),
        ),
    )


def clinic_consult() -> rx.Component:
    return _page()


def directory_consult() -> rx.Component:
    return _page()
