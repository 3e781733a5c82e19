"""Sign-in, second-factor enrolment and invitation pages."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import field_label
from mi_portal.components.layout import error_callout, public_frame
from mi_portal.components.qrcode import qr_code
from mi_portal.state.mfa import MfaState
from mi_portal.state.signin import SignInState
from mi_portal.state.users import AcceptInviteState


def _invalid_when(error: rx.Var) -> dict[str, object]:
    """A failed try marks the fields and points them at the message (``form-error``)."""
    return {
        "aria_invalid": rx.cond(error != "", "true", "false"),
        "aria_describedby": rx.cond(error != "", "form-error", ""),
    }


def _link_button(label: str, href: str, *, id: str = "") -> rx.Component:
    # A link that looks like a button (a button inside a link is two controls in one).
    extra = {"id": id} if id else {}
    return rx.button(rx.link(label, href=href, **extra), as_child=True, width="100%")


def _password_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            field_label("Email", for_="email"),
            rx.input(
                id="email",
                **_invalid_when(SignInState.error),
                name="email",
                type="email",
                default_value=SignInState.email,
                auto_complete="username",
                required=True,
                width="100%",
            ),
            field_label("Password", for_="password"),
            rx.input(
                id="password",
                **_invalid_when(SignInState.error),
                name="password",
                type="password",
                auto_complete="current-password",
                required=True,
                width="100%",
            ),
            error_callout(SignInState.error),
            rx.button("Continue", type="submit", width="100%", id="sign-in-submit"),
            spacing="2",
            width="100%",
        ),
        on_submit=SignInState.submit_password,
        width="100%",
    )


def _one_time_code_form(
    *, on_submit, error: rx.Var, submit_id: str, extra: tuple[rx.Component, ...] = ()
) -> rx.Component:  # type: ignore[no-untyped-def]
    """The second-step form: a TOTP or recovery code, cleared after each try."""
    return rx.form(
        rx.vstack(
            field_label(
                "Enter the 6-digit code from your authenticator app, or a recovery code.",
                for_="code",
            ),
            rx.input(
                id="code",
                **_invalid_when(error),
                name="code",
                auto_complete="one-time-code",
                required=True,
                width="100%",
                auto_focus=True,
            ),
            error_callout(error),
            rx.button("Verify", type="submit", width="100%", id=submit_id),
            *extra,
            spacing="2",
            width="100%",
        ),
        on_submit=on_submit,
        reset_on_submit=True,
        width="100%",
    )


def _code_form() -> rx.Component:
    return _one_time_code_form(
        on_submit=SignInState.submit_code,
        error=SignInState.error,
        submit_id="code-submit",
        extra=(
            rx.button(
                "Use another account",
                variant="ghost",
                type="button",
                on_click=SignInState.start_over,
                width="100%",
            ),
        ),
    )


def _sso_buttons() -> rx.Component:
    return rx.cond(
        SignInState.providers.length() > 0,  # type: ignore[attr-defined]
        rx.vstack(
            rx.hstack(
                rx.separator(size="4"),
                rx.text("or", size="1", color_scheme="gray"),
                rx.separator(size="4"),
                align="center",
                width="100%",
            ),
            rx.foreach(
                SignInState.providers,
                lambda p: rx.button(
                    "Sign in with ",
                    p["label"],
                    variant="outline",
                    width="100%",
                    class_name="sso-button",
                    on_click=SignInState.start_sso(p["name"]),
                ),
            ),
            width="100%",
            spacing="2",
        ),
    )


def signin() -> rx.Component:
    return public_frame(
        rx.heading("Sign in", size="6"),
        rx.cond(
            SignInState.step == "code", _code_form(), rx.fragment(_password_form(), _sso_buttons())
        ),
    )


def _verify_form() -> rx.Component:
    return _one_time_code_form(
        on_submit=MfaState.verify, error=MfaState.error, submit_id="mfa-verify"
    )


def mfa_enroll() -> rx.Component:
    return public_frame(
        rx.heading(
            rx.cond(MfaState.mode == "verify", "Two-step sign-in", "Set up two-step sign-in"),
            size="6",
        ),
        rx.cond(MfaState.mode == "verify", _verify_form(), _enrol_steps()),
    )


def _enrol_steps() -> rx.Component:
    return rx.fragment(
        rx.cond(
            MfaState.recovery_codes.length() > 0,  # type: ignore[attr-defined]
            rx.vstack(
                rx.callout("Two-step sign-in is on.", icon="check", color_scheme="green"),
                rx.text(
                    "Keep these recovery codes somewhere safe. Each works once, and they are shown only now.",
                    size="2",
                ),
                rx.grid(
                    rx.foreach(
                        MfaState.recovery_codes, lambda c: rx.code(c, class_name="recovery-code")
                    ),
                    columns="2",
                    spacing="2",
                ),
                _link_button("Continue", "/", id="mfa-continue"),
                spacing="3",
                width="100%",
            ),
            rx.cond(
                MfaState.otpauth_uri != "",
                rx.form(
                    rx.vstack(
                        rx.text(
                            "Your role can see patient photos, so a second step is required. Scan this code with an authenticator app:",
                            size="2",
                        ),
                        rx.center(
                            rx.box(
                                qr_code(value=MfaState.otpauth_uri, size=180),
                                padding="8px",
                                background="white",
                            ),
                            width="100%",
                        ),
                        rx.text("Or enter this key by hand:", size="2"),
                        rx.code(MfaState.manual_key, id="manual-key", size="3"),
                        field_label("Then type the 6-digit code the app shows:", for_="code"),
                        rx.input(
                            id="code",
                            **_invalid_when(MfaState.error),
                            name="code",
                            auto_complete="one-time-code",
                            input_mode="numeric",
                            required=True,
                            width="100%",
                        ),
                        error_callout(MfaState.error),
                        rx.button("Turn on", type="submit", width="100%", id="mfa-confirm"),
                        spacing="2",
                        width="100%",
                    ),
                    on_submit=MfaState.confirm,
                    reset_on_submit=True,
                    width="100%",
                ),
                rx.hstack(rx.spinner(), rx.text("Preparing…")),
            ),
        ),
    )


def accept_invite() -> rx.Component:
    return public_frame(
        rx.heading("Choose your password", size="6"),
        rx.cond(
            AcceptInviteState.done,
            rx.vstack(
                rx.callout("Your password is set.", icon="check", color_scheme="green"),
                _link_button("Sign in", "/signin"),
                width="100%",
            ),
            rx.form(
                rx.vstack(
                    field_label("New password", for_="new-password"),
                    rx.text(
                        "At least 12 characters. A few unrelated words make a strong password.",
                        size="2",
                        id="password-hint",
                    ),
                    rx.input(
                        aria_describedby="password-hint",
                        name="password",
                        type="password",
                        auto_complete="new-password",
                        required=True,
                        width="100%",
                        id="new-password",
                    ),
                    field_label("Repeat the password", for_="repeat-password"),
                    rx.input(
                        name="repeat",
                        type="password",
                        auto_complete="new-password",
                        required=True,
                        width="100%",
                        id="repeat-password",
                    ),
                    rx.foreach(
                        AcceptInviteState.problems,
                        lambda p: rx.callout(
                            p, icon="triangle_alert", color_scheme="red", role="alert"
                        ),
                    ),
                    rx.button("Set password", type="submit", width="100%"),
                    spacing="2",
                    width="100%",
                ),
                on_submit=AcceptInviteState.accept,
                width="100%",
            ),
        ),
    )
