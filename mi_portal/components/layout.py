"""The page frames: a public one (sign-in) and the signed-in one with menu and switch banner."""

from __future__ import annotations

import reflex as rx

from mi_portal.state.session import SessionState


def _brand() -> rx.Component:
    return rx.hstack(
        rx.icon("stethoscope", size=22),
        rx.heading("MI Portal", size="5"),
        align="center",
        spacing="2",
    )


def _nav_link(label: str, href: str, *, id: str) -> rx.Component:
    return rx.link(label, href=href, size="2", weight="medium", id=id, underline="none")


def switch_banner() -> rx.Component:
    """Shown while platform staff work inside a clinic: which, until when, and why."""
    return rx.cond(
        SessionState.switch_until != "",
        rx.callout(
            rx.hstack(
                rx.text(
                    "Platform access to ",
                    rx.text.strong(SessionState.clinic_name),
                    " until ",
                    SessionState.switch_until,
                    ". Reason: ",
                    SessionState.switch_reason,
                ),
                rx.spacer(),
                rx.button(
                    "Leave clinic",
                    size="1",
                    variant="soft",
                    on_click=SessionState.leave_clinic,
                    id="leave-clinic",
                ),
                width="100%",
                align="center",
            ),
            icon="shield_alert",
            color_scheme="amber",
            id="switch-banner",
            width="100%",
            border_radius="0",
        ),
    )


def _header() -> rx.Component:
    return rx.hstack(
        _brand(),
        rx.hstack(
            _nav_link("Home", "/", id="nav-home"),
            rx.cond(SessionState.can_view_cases, _nav_link("Cases", "/cases", id="nav-cases")),
            rx.cond(
                SessionState.is_platform | (SessionState.clinic_count > 1),
                _nav_link("Clinics", "/clinics/pick", id="nav-clinics"),
            ),
            rx.cond(
                SessionState.can_manage_users, _nav_link("Users", "/admin/users", id="nav-users")
            ),
            rx.cond(SessionState.can_view_audit, _nav_link("Audit log", "/audit", id="nav-audit")),
            spacing="5",
            padding_left="2em",
        ),
        rx.spacer(),
        rx.cond(
            SessionState.clinic_name != "",
            rx.badge(SessionState.clinic_name, color_scheme="teal", size="2", id="current-clinic"),
        ),
        rx.menu.root(
            rx.menu.trigger(
                rx.button(
                    rx.icon("circle_user", size=16),
                    SessionState.user_name,
                    variant="ghost",
                    id="user-menu",
                )
            ),
            rx.menu.content(
                rx.menu.item(SessionState.user_email, disabled=True),
                rx.menu.item(SessionState.role, disabled=True),
                rx.menu.separator(),
                rx.menu.item("Sign out", on_click=SessionState.sign_out, id="sign-out"),
                rx.menu.item(
                    "Sign out everywhere",
                    on_click=SessionState.sign_out_everywhere,
                    color_scheme="red",
                ),
            ),
        ),
        padding_x="1.5em",
        padding_y="0.9em",
        border_bottom="1px solid var(--gray-a5)",
        align="center",
        width="100%",
    )


def page_frame(*children: rx.Component, title: str, wide: bool = False) -> rx.Component:
    """Signed-in frame: header, switch banner, then the page's content (``wide``: full width)."""
    body = rx.vstack(rx.heading(title, size="7"), *children, spacing="5", width="100%")
    return rx.box(
        _header(),
        switch_banner(),
        rx.box(body, padding="2em 1.5em")
        if wide
        else rx.container(body, size="4", padding_y="2em"),
        width="100%",
    )


def public_frame(*children: rx.Component) -> rx.Component:
    """Frame for pages seen before signing in."""
    return rx.center(
        rx.card(
            rx.vstack(_brand(), *children, spacing="4", width="100%"),
            size="4",
            width="100%",
            max_width="440px",
        ),
        min_height="100vh",
        padding="1em",
        background="var(--gray-a2)",
    )


def error_callout(message: rx.Var, *, id: str = "form-error") -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", id=id, role="alert"),
    )
