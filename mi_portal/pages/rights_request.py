"""Public privacy-rights request pages: the form, and the page that takes the emailed code."""

from __future__ import annotations

import reflex as rx
from reflex.vars import Var

from mi_portal.components.fields import described, error_text, field_label
from mi_portal.pages.intake import patient_frame
from mi_portal.services.rights_deadlines import JURISDICTIONS
from mi_portal.services.rights_intake import KIND_LABELS
from mi_portal.state.rights_request import RightsRequestState, RightsVerifyState

S = RightsRequestState
_FIELDSET = {"border": "none", "padding": 0, "margin": 0, "min_width": 0}
_LEGEND = {"font_size": "var(--font-size-2)", "font_weight": "500", "margin_bottom": "0.5em"}


def _has_error(key: str) -> Var:
    return S.errors.contains(key)  # type: ignore[attr-defined]


def _error(key: str) -> rx.Component:
    return rx.cond(_has_error(key), error_text(S.errors[key], key=key))


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
            default_value=getattr(S, name),
            on_blur=lambda value: S.update_field(name, value),
            auto_complete=autocomplete,
            width="100%",
            **described(_has_error(name), name, hint_id=hint_id),
        ),
        rx.text(hint, size="1", color_scheme="gray", id=hint_id) if hint else rx.fragment(),
        _error(name),
        spacing="1",
        width="100%",
    )


def _radio(
    group: str, value: str, checked: Var, on_change: rx.EventHandler, *text: rx.Component | str
) -> rx.Component:  # type: ignore[type-arg]
    return rx.el.label(
        rx.el.input(
            type="radio",
            name=group,
            value=value,
            id=f"{group}-{value}",
            checked=checked,
            on_change=on_change,
            style={"margin_top": "0.25em", "flex_shrink": 0},
        ),
        rx.box(*text),
        style={"display": "flex", "gap": "0.5em", "align_items": "start", "cursor": "pointer"},
    )


def _kinds() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend("What are you asking for?", style=_LEGEND),
        rx.vstack(
            *[
                _radio(
                    "kind",
                    key,
                    S.kind == key,
                    S.update_field("kind", key),  # type: ignore[arg-type]
                    rx.text(title, as_="span", size="2", weight="medium"),
                    rx.text(line, as_="p", size="1", color_scheme="gray"),
                )
                for key, (title, line) in KIND_LABELS.items()
            ],
            spacing="2",
        ),
        _error("kind"),
        id="kind-choices",
        style=_FIELDSET,
        **described(_has_error("kind"), "kind"),
    )


def _who() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend("Who is making this request?", style=_LEGEND),
        rx.vstack(
            _radio(
                "who",
                "patient",
                ~S.by_agent,
                S.update_field("by_agent", "patient"),  # type: ignore[arg-type]
                rx.text("I am the patient", as_="span", size="2"),
            ),
            _radio(
                "who",
                "agent",
                S.by_agent,
                S.update_field("by_agent", "agent"),  # type: ignore[arg-type]
                rx.text("I am an authorised agent acting for the patient", as_="span", size="2"),
            ),
            spacing="2",
        ),
        id="who-choices",
        style=_FIELDSET,
    )


def _authorisation() -> rx.Component:
    upload = rx.upload(
        rx.vstack(
            rx.icon("file_up", aria_hidden="true"),
            rx.text("Drop the signed authorisation here or click to choose", size="2"),
            align="center",
        ),
        id="authorisation",
        multiple=False,
        max_files=1,
        accept={
            "application/pdf": [".pdf"],
            "image/jpeg": [".jpg", ".jpeg"],
            "image/png": [".png"],
        },
        border="1px dashed var(--gray-a7)",
        padding="1.5em",
        width="100%",
        cursor="pointer",
    )
    zone = upload.children[0]
    zone.special_props = [
        *zone.special_props,
        Var(
            _js_expr=(
                '({role: "group", "aria-labelledby": "authorisation-label", "aria-invalid": '
                + str(rx.cond(_has_error("authorisation"), "true", "false"))
                + ', "aria-describedby": '
                + str(rx.cond(_has_error("authorisation"), "error-authorisation", ""))
                + "})"
            ),
            _var_data=_has_error("authorisation")._get_all_var_data(),
        ),
    ]
    zone.children[0].id = "authorisation-input"
    return rx.vstack(
        field_label(
            "The patient's signed authorisation (PDF, JPEG or PNG, up to 10 MB)",
            for_="authorisation-input",
            id="authorisation-label",
        ),
        upload,
        rx.foreach(
            rx.selected_files("authorisation"),
            lambda name: rx.text(
                name, size="2", class_name="selected-file", word_break="break-all"
            ),
        ),
        _error("authorisation"),
        spacing="1",
        width="100%",
    )


def _agent_fields() -> rx.Component:
    return rx.vstack(
        _text_field("Your name (the agent)", "agent_name", autocomplete="name"),
        _text_field("Your email", "agent_email", type_="email", autocomplete="email"),
        _authorisation(),
        spacing="4",
        width="100%",
    )


def _jurisdiction() -> rx.Component:
    return rx.vstack(
        field_label("Where does the patient live?", for_="jurisdiction"),
        rx.el.select(
            rx.el.option("Choose a state or country", value=""),
            *[rx.el.option(label, value=code) for code, label in JURISDICTIONS],
            id="jurisdiction",
            value=S.jurisdiction,
            on_change=lambda value: S.update_field("jurisdiction", value),
            class_name="rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface",
            style={"width": "100%", "max_width": "100%"},
            **described(_has_error("jurisdiction"), "jurisdiction"),
        ),
        _error("jurisdiction"),
        spacing="1",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Ask a clinic that uses this service about the data it holds on you. We confirm "
            "the request by email, then pass it to every clinic that holds data about you.",
            size="2",
        ),
        _kinds(),
        _who(),
        rx.cond(S.by_agent, _agent_fields()),
        _jurisdiction(),
        _text_field("The patient's full name", "requester_name", autocomplete="name"),
        _text_field(
            "The patient's email",
            "requester_email",
            type_="email",
            autocomplete="email",
            hint="We send a code to this address: the patient confirms the request with it.",
        ),
        _text_field("The patient's phone (optional)", "requester_phone", type_="tel"),
        rx.vstack(
            field_label("Details (optional)", for_="details"),
            rx.text_area(
                id="details",
                name="details",
                default_value=S.details,
                on_blur=lambda value: S.update_field("details", value),
                width="100%",
                rows="4",
                **described(_has_error("details"), "details", hint_id="hint-details"),
            ),
            rx.text(
                "For a correction, say what is wrong and what it should be.",
                size="1",
                color_scheme="gray",
                id="hint-details",
            ),
            _error("details"),
            spacing="1",
            width="100%",
        ),
        rx.cond(
            S.failure != "",
            rx.callout(
                S.failure,
                icon="triangle_alert",
                color_scheme="red",
                id="rights-failure",
                role="alert",
            ),
        ),
        rx.button(
            rx.cond(S.submitting, rx.spinner(size="2"), rx.fragment()),
            "Send the request",
            on_click=S.submit(rx.upload_files(upload_id="authorisation")),  # type: ignore[call-arg]
            disabled=S.submitting,
            id="rights-submit",
            size="3",
        ),
        spacing="4",
        width="100%",
    )


def rights_request_page() -> rx.Component:
    return patient_frame("shield_check", "Privacy request", _form())


V = RightsVerifyState


def _code_form() -> rx.Component:
    has_error = V.code_error != ""
    return rx.form(
        rx.vstack(
            field_label("Code from the email", for_="code"),
            rx.input(
                id="code",
                name="code",
                input_mode="numeric",
                auto_complete="one-time-code",
                max_length=12,
                width="100%",
                **described(has_error, "code", hint_id="hint-code"),
            ),
            rx.text(
                "We sent a 6-digit code to the patient's email. It works for 10 minutes.",
                size="1",
                color_scheme="gray",
                id="hint-code",
            ),
            rx.cond(has_error, error_text(V.code_error, key="code")),
            rx.button("Confirm", type="submit", id="code-submit", size="3"),
            spacing="2",
            width="100%",
        ),
        on_submit=V.check_code,
        reset_on_submit=True,
        width="100%",
    )


def _resend() -> rx.Component:
    return rx.button(
        "Send a new code",
        on_click=V.resend,
        variant="soft",
        high_contrast=True,
        id="code-resend",
    )


def _new_request() -> rx.Component:
    return rx.link("Make a new request", href="/privacy/request", underline="always")


def _callout(color: str, icon: str) -> rx.Component:
    return rx.callout(V.message, icon=icon, color_scheme=color, id="verify-status", role="status")  # type: ignore[arg-type]


def _verify_body() -> rx.Component:
    return rx.match(
        V.view,
        ("", rx.spinner()),
        ("verified", _callout("green", "check")),
        ("closed", rx.vstack(_callout("amber", "info"), _new_request(), spacing="3")),
        ("exhausted", rx.vstack(_callout("amber", "info"), _new_request(), spacing="3")),
        (
            "locked",
            rx.vstack(_callout("amber", "info"), _resend(), spacing="3", width="100%"),
        ),
        (
            "expired",
            rx.vstack(_callout("amber", "info"), _resend(), spacing="3", width="100%"),
        ),
        rx.vstack(
            rx.cond(
                V.view == "limited",
                _callout("red", "triangle_alert"),
                rx.cond(V.message != "", _callout("blue", "info")),
            ),
            _code_form(),
            rx.text("No email after a few minutes? Check the spam folder, then:", size="2"),
            _resend(),
            spacing="3",
            width="100%",
        ),
    )


def rights_verify_page() -> rx.Component:
    return patient_frame(
        "shield_check",
        "Confirm your privacy request",
        rx.cond(
            V.shown_reference != "",
            rx.text("Reference ", rx.code(V.shown_reference, id="verify-reference"), size="2"),
        ),
        _verify_body(),
    )
