"""The page frames: a public one (sign-in) and the navigation shell of signed-in pages."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mi_portal.state.session import SessionState

# Below this breakpoint (80em, 1280 px) the sections fold into the menu button: an owner's eight
# sections beside the clinic and the account menu wrap and squeeze on anything narrower.
_WIDE = "lg"


def _brand() -> rx.Component:
    # Not a heading: each page's own title is its only h1.
    return rx.hstack(
        rx.icon("stethoscope", size=22, aria_hidden="true"),
        rx.text("MI Portal", size="4", weight="bold", white_space="nowrap"),
        align="center",
        spacing="2",
        flex_shrink="0",
    )


def _sections() -> list[tuple[str, str, str, rx.Var[bool] | bool]]:
    """The sections of the app as (label, href, id suffix, shown?); one line per future page."""
    return [
        ("Home", "/", "home", True),
        ("Cases", "/cases", "cases", SessionState.can_view_cases),
        ("Messages", "/messages", "messages", SessionState.can_view_cases),
        ("Reports", "/reports", "reports", SessionState.can_view_reports),
        ("Templates", "/settings/templates", "templates", SessionState.can_manage_templates),
        ("Catalog", "/settings/catalog", "catalog", SessionState.can_manage_catalog),
        ("Clinic settings", "/settings/clinic", "settings", SessionState.can_view_settings),
        ("Clinics", "/platform/clinics", "platform-clinics", SessionState.can_list_clinics),
        (
            "Platform users",
            "/platform/users",
            "platform-users",
            SessionState.can_manage_platform_users,
        ),
        (
            "Platform reports",
            "/platform/reports",
            "platform-reports",
            SessionState.can_view_platform_reports,
        ),
        ("Users", "/admin/users", "users", SessionState.can_manage_users),
        ("Retention", "/settings/retention", "retention", SessionState.can_view_retention),
        ("Privacy requests", "/privacy/requests", "rights", SessionState.can_forward_rights),
        ("Privacy", "/privacy/forwarded", "forwarded", SessionState.can_answer_rights),
        ("Audit log", "/audit", "audit", SessionState.can_view_audit),
    ]


_VISUALLY_HIDDEN = {
    "position": "absolute",
    "width": "1px",
    "height": "1px",
    "overflow": "hidden",
    "clip": "rect(0 0 0 0)",
    "white_space": "nowrap",
}


def _unread_badge(id: str = "nav-unread") -> rx.Component:
    return rx.cond(
        SessionState.unread_messages > 0,
        rx.badge(
            SessionState.unread_messages,
            rx.el.span(" unread", style=_VISUALLY_HIDDEN),
            color_scheme="blue",
            margin_left="0.4em",
            id=id,
        ),
    )


def _can_switch_clinic() -> rx.Var[bool]:
    return SessionState.is_platform | (SessionState.clinic_count > 1)


def _shown(shown: rx.Var[bool] | bool, component: rx.Component) -> rx.Component:
    return component if shown is True else rx.cond(shown, component)


def _wide_nav() -> rx.Component:
    return rx.el.nav(
        rx.hstack(
            *[
                _shown(
                    shown,
                    # Spacing on the links, not the row: a hidden section must leave no gap.
                    rx.link(
                        label,
                        _unread_badge() if key == "messages" else rx.fragment(),
                        href=href,
                        size="2",
                        weight="medium",
                        id=f"nav-{key}",
                        margin_right="1.5em",
                    ),
                )
                for label, href, key, shown in _sections()
            ],
            spacing="0",
            align="center",
        ),
        aria_label="Sections",
        display=rx.breakpoints(initial="none", **{_WIDE: "block"}),
    )


def _narrow_nav() -> rx.Component:
    """The same sections behind one button on phone-sized screens."""
    items = [
        _shown(
            shown,
            rx.menu.item(
                label,
                _unread_badge("menu-unread") if key == "messages" else rx.fragment(),
                on_click=rx.redirect(href),
                id=f"menu-{key}",
            ),
        )
        for label, href, key, shown in _sections()
    ]
    items.append(
        rx.cond(
            _can_switch_clinic(),
            rx.menu.item("Switch clinic", on_click=rx.redirect("/clinics/pick"), id="menu-clinics"),
        )
    )
    return rx.box(
        rx.menu.root(
            rx.menu.trigger(
                rx.icon_button(
                    rx.icon("menu", size=18),
                    variant="ghost",
                    aria_label="Sections",
                    id="nav-menu-button",
                )
            ),
            rx.menu.content(*items, id="nav-menu"),
        ),
        display=rx.breakpoints(initial="block", **{_WIDE: "none"}),
    )


def _clinic() -> rx.Component:
    """The clinic the user works in, with the switcher when there is anywhere else to go."""
    return rx.hstack(
        rx.cond(
            SessionState.clinic_name != "",
            rx.badge(
                SessionState.clinic_name,
                color_scheme="teal",
                size="2",
                id="current-clinic",
                max_width="100%",
                overflow="hidden",
                text_overflow="ellipsis",
                white_space="nowrap",
                display="block",
            ),
        ),
        rx.cond(
            _can_switch_clinic(),
            rx.link(
                rx.cond(SessionState.clinic_name != "", "Switch", "Choose a clinic"),
                href="/clinics/pick",
                size="2",
                id="nav-clinics",
                white_space="nowrap",
                display=rx.breakpoints(initial="none", sm="inline"),
            ),
        ),
        align="center",
        spacing="2",
        min_width="0",
    )


def _user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("circle_user", size=16, aria_hidden="true"),
                rx.text(
                    SessionState.user_name,
                    as_="span",
                    display=rx.breakpoints(initial="none", sm="inline"),
                ),
                variant="ghost",
                id="user-menu",
                aria_label="Account: " + SessionState.user_name,
            )
        ),
        rx.menu.content(
            rx.menu.item(SessionState.user_email, disabled=True),
            rx.menu.item(SessionState.role, disabled=True),
            rx.menu.separator(),
            rx.cond(
                SessionState.can_view_cases,
                rx.menu.item(
                    "Notifications",
                    on_click=rx.redirect("/settings/notifications"),
                    id="menu-notifications",
                ),
            ),
            rx.menu.item("Sign out", on_click=SessionState.sign_out, id="sign-out"),
            rx.menu.item(
                "Sign out everywhere",
                on_click=SessionState.sign_out_everywhere,
                color_scheme="red",
            ),
        ),
    )


def _skip_link() -> rx.Component:
    # Off screen until focused: the first Tab stop, so keyboard users jump past the header.
    return rx.el.a(
        "Skip to content",
        href="#main",
        id="skip-link",
        position="absolute",
        left="-10000px",
        top="0.5em",
        z_index="100",
        padding="0.5em 1em",
        background="var(--color-panel-solid)",
        border="2px solid var(--accent-9)",
        border_radius="var(--radius-2)",
        _focus={"left": "0.5em"},
        # The client router does not move focus for in-page links; do it (no inline script:
        # call_script runs through the event loop, which the page's CSP allows).
        on_click=rx.call_script("document.getElementById('main').focus()"),
    )


def _header() -> rx.Component:
    return rx.el.header(
        rx.hstack(
            _narrow_nav(),
            _brand(),
            _clinic(),
            _wide_nav(),
            rx.spacer(),
            _user_menu(),
            align="center",
            spacing="4",
            width="100%",
            min_width="0",
        ),
        padding_x=rx.breakpoints(initial="1em", **{_WIDE: "1.5em"}),
        padding_y="0.9em",
        border_bottom="1px solid var(--gray-a5)",
        width="100%",
    )


def switch_banner() -> rx.Component:
    """Shown while platform staff work inside a clinic: which, until when, and why."""
    return rx.cond(
        SessionState.switch_until != "",
        rx.callout(
            rx.flex(
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
                gap="2",
                wrap="wrap",
            ),
            icon="shield_alert",
            color_scheme="amber",
            id="switch-banner",
            width="100%",
            border_radius="0",
        ),
    )


def page_frame(
    *children: rx.Component, title: str | rx.Var[str], wide: bool = False
) -> rx.Component:
    """Signed-in frame: the shell, then the page's title (its one h1) and content in ``main``."""
    body = rx.vstack(rx.heading(title, as_="h1", size="7"), *children, spacing="5", width="100%")
    return rx.box(
        _skip_link(),
        _header(),
        switch_banner(),
        rx.el.main(
            rx.box(body, padding=rx.breakpoints(initial="1.5em 1em", sm="2em 1.5em"))
            if wide
            else rx.container(body, size="4", padding_y="2em", padding_x="1em"),
            id="main",
            tab_index=-1,
            outline="none",
        ),
        width="100%",
    )


def public_frame(*children: rx.Component) -> rx.Component:
    """Frame for pages seen before signing in."""
    return rx.el.main(
        rx.center(
            rx.card(
                rx.vstack(_brand(), *children, spacing="4", width="100%"),
                size="4",
                width="100%",
                max_width="440px",
            ),
            min_height="100vh",
            padding="1em",
            background="var(--gray-a2)",
        ),
        id="main",
    )


def error_callout(message: rx.Var, *, id: str = "form-error") -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", id=id, role="alert"),
    )


def notice_callout(message: rx.Var, *, id: str) -> rx.Component:
    """What just went well ("Saved …"), announced politely; nothing while empty."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="check", color_scheme="green", role="status", id=id),
    )


def confirm_dialog(
    title: tuple[Any, ...] | str,
    body: tuple[Any, ...] | rx.Component | str,
    *,
    open: rx.Var,
    on_confirm: Any,
    on_cancel: Any,
    confirm_label: str,
    confirm_id: str,
    cancel_label: str = "Cancel",
    color: str = "red",
) -> rx.Component:
    """The one shape of "are you sure?": a title, what will happen, cancel and confirm."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(*(title if isinstance(title, tuple) else (title,))),
            rx.alert_dialog.description(*(body if isinstance(body, tuple) else (body,))),
            rx.flex(
                rx.alert_dialog.cancel(rx.button(cancel_label, variant="soft", on_click=on_cancel)),
                rx.alert_dialog.action(
                    rx.button(confirm_label, color_scheme=color, on_click=on_confirm, id=confirm_id)
                ),
                spacing="3",
                justify="end",
                margin_top="1em",
            ),
        ),
        open=open,
    )
