"""/platform/users: platform staff and their roles, invitations, and any account found by email
or name (Disable, Reset second factor)."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import NATIVE_SELECT, described, error_text, field_label
from mi_portal.components.layout import error_callout, notice_callout, page_frame
from mi_portal.components.rights_parts import action_dialog, reason_field
from mi_portal.state.platform_users import ROLE_CHOICES, ROLE_NAMES
from mi_portal.state.platform_users import PlatformUsersState as S

_STATUS_COLORS = {"active": "green", "invited": "blue", "disabled": "gray"}
_WRAP = {"overflow_wrap": "anywhere"}


def _blocked() -> rx.Component:
    return rx.match(
        S.blocked,
        (
            "leave",
            rx.callout(
                "Platform accounts are managed from outside every clinic. Leave the clinic first "
                "(the button in the banner above), then open this page again.",
                icon="log_out",
                id="platform-users-leave",
            ),
        ),
        rx.callout(
            "Only platform admins manage platform accounts.",
            icon="info",
            id="platform-users-denied",
        ),
    )


def _role_options() -> list[rx.Component]:
    return [rx.el.option(ROLE_NAMES[r], value=r) for r in ROLE_CHOICES]


def _badges(row: rx.Var) -> rx.Component:
    status = row["status"].to(str)
    return rx.flex(
        rx.cond(row["is_self"].to(bool), rx.badge("You", color_scheme="teal")),
        rx.badge(
            status,
            color_scheme=rx.match(status, *_STATUS_COLORS.items(), "gray"),  # type: ignore[arg-type]
            class_name="account-status",
        ),
        rx.cond(
            ~row["mfa"].to(bool),
            rx.badge("no second factor", color_scheme="amber", class_name="account-no-mfa"),
        ),
        spacing="2",
        wrap="wrap",
    )


def _role_control(row: rx.Var) -> rx.Component:
    """Staff: the platform role, changeable (after a confirmation) for anyone but oneself."""
    name, user_id = row["name"].to(str), row["id"].to(str)
    return rx.cond(
        row["is_self"].to(bool),
        rx.text(row["role_label"].to(str), size="2"),
        rx.el.select(
            *_role_options(),
            value=row["role"].to(str),
            on_change=lambda role: S.ask("role", user_id, role),
            aria_label="Platform role of " + name,
            class_name=NATIVE_SELECT + " account-role",
            style={"max_width": "100%"},
        ),
    )


def _memberships(row: rx.Var) -> rx.Component:
    """Search results: platform role, or the clinics the person works in (names and roles)."""
    clinics = row["clinics"].to(list[dict[str, str]])
    return rx.cond(
        row["role"].to(str) != "",
        rx.text(row["role_label"].to(str), size="2"),
        rx.cond(
            clinics.length() > 0,  # type: ignore[attr-defined]
            rx.el.ul(
                rx.foreach(
                    clinics,
                    lambda c: rx.el.li(rx.text(c["name"], " — ", c["role"], size="2")),
                ),
                class_name="account-clinics",
                style={"margin": 0, "padding_left": "1.2em"},
            ),
            rx.text("No clinic", size="2", color_scheme="gray"),
        ),
    )


def _actions(row: rx.Var, *, staff: bool) -> rx.Component:
    user_id, name = row["id"].to(str), row["name"].to(str)
    status = row["status"].to(str)
    return rx.cond(
        row["is_self"].to(bool),
        rx.fragment(),
        rx.flex(
            rx.cond(
                status == "invited",
                rx.button(
                    "Send invitation again",
                    size="1",
                    variant="soft",
                    on_click=S.ask("resend", user_id, ""),
                    aria_label="Send the invitation again to " + name,
                    class_name="action-resend",
                ),
            )
            if staff
            else rx.fragment(),
            rx.cond(
                row["mfa"].to(bool),
                rx.button(
                    "Reset second factor",
                    size="1",
                    variant="soft",
                    on_click=S.ask("reset", user_id, ""),
                    aria_label="Reset the second factor of " + name,
                    class_name="action-reset",
                ),
            ),
            rx.cond(
                status == "disabled",
                rx.button(
                    "Enable",
                    size="1",
                    variant="soft",
                    on_click=S.ask("enable", user_id, ""),
                    aria_label="Enable " + name,
                    class_name="action-enable",
                ),
                rx.button(
                    "Disable",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=S.ask("disable", user_id, ""),
                    aria_label="Disable " + name,
                    class_name="action-disable",
                ),
            ),
            spacing="2",
            wrap="wrap",
        ),
    )


def _account(row: rx.Var, *, staff: bool) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.flex(
                    rx.text(row["name"].to(str), weight="medium", style=_WRAP),
                    _badges(row),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.text(row["email"].to(str), size="2", color_scheme="gray", style=_WRAP),
                _role_control(row) if staff else _memberships(row),
                rx.text("Last seen: ", row["last_seen"].to(str), size="1", color_scheme="gray"),
                spacing="1",
                min_width="0",
            ),
            _actions(row, staff=staff),
            justify="between",
            align="start",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        width="100%",
        class_name="staff-row" if staff else "result-row",
        data_email=row["email"].to(str),
    )


def _staff() -> rx.Component:
    return rx.vstack(
        rx.heading("Platform staff", as_="h2", size="4"),
        rx.cond(
            S.loading,
            rx.hstack(rx.spinner(), rx.text("Loading the accounts…")),
            rx.cond(
                S.staff.length() > 0,  # type: ignore[attr-defined]
                rx.vstack(
                    rx.foreach(S.staff, lambda r: _account(r, staff=True)),
                    spacing="2",
                    width="100%",
                    id="staff-list",
                ),
                rx.text("No platform staff yet.", color_scheme="gray", id="staff-empty"),
            ),
        ),
        spacing="3",
        width="100%",
    )


def _field(label: str, key: str, control: rx.Component) -> rx.Component:
    return rx.vstack(
        field_label(label, for_=f"invite-{key}"),
        control,
        rx.cond(
            S.invite_errors.contains(key),  # type: ignore[attr-defined]
            error_text(S.invite_errors[key], key=f"invite-{key}"),
        ),
        spacing="1",
        flex="1 1 14em",
        min_width="0",
    )


def _invite_form() -> rx.Component:
    def error_for(key: str) -> dict[str, object]:
        return described(S.invite_errors.contains(key), f"invite-{key}")  # type: ignore[attr-defined]

    return rx.vstack(
        rx.heading("Invite platform staff", as_="h2", size="4"),
        rx.text(
            "The person gets an email with a one-time link to choose a password, then sets up "
            "two-step sign-in. Platform accounts are separate from clinic accounts: use an "
            "address that has no clinic account.",
            size="2",
            color_scheme="gray",
        ),
        rx.form(
            rx.flex(
                _field(
                    "Full name",
                    "full_name",
                    rx.input(
                        id="invite-full_name",
                        name="full_name",
                        max_length=200,
                        auto_complete="off",
                        width="100%",
                        **error_for("full_name"),
                    ),
                ),
                _field(
                    "Email",
                    "email",
                    rx.input(
                        id="invite-email",
                        name="email",
                        type="email",
                        max_length=254,
                        auto_complete="off",
                        width="100%",
                        **error_for("email"),
                    ),
                ),
                _field(
                    "Platform role",
                    "role",
                    rx.el.select(
                        *_role_options(),
                        id="invite-role",
                        name="role",
                        default_value="platform_support",
                        class_name=NATIVE_SELECT,
                        style={"width": "100%"},
                        **error_for("role"),
                    ),
                ),
                rx.box(
                    rx.button("Send invitation", type="submit", id="invite-submit"),
                    align_self="end",
                ),
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            on_submit=S.invite,
            reset_on_submit=False,
            width="100%",
        ),
        spacing="2",
        width="100%",
    )


def _results() -> rx.Component:
    return rx.cond(
        S.query == "",
        rx.text(
            "Search for anyone with an account (platform or clinic) to disable them or reset "
            "their second factor.",
            size="2",
            color_scheme="gray",
            id="search-hint",
        ),
        rx.cond(
            S.query.length() < 2,  # type: ignore[attr-defined]
            rx.text("Type at least two characters.", size="2", id="search-short"),
            rx.cond(
                S.results.length() > 0,  # type: ignore[attr-defined]
                rx.vstack(
                    rx.foreach(S.results, lambda r: _account(r, staff=False)),
                    spacing="2",
                    width="100%",
                    id="search-results",
                ),
                rx.text(
                    "No account matches “", S.query, "”.", size="2", id="search-empty"
                ),  # fmt: skip
            ),
        ),
    )


def _search() -> rx.Component:
    return rx.vstack(
        rx.heading("Find any user", as_="h2", size="4"),
        rx.form(
            rx.flex(
                rx.box(
                    field_label("Email or name", for_="user-search"),
                    rx.input(
                        id="user-search",
                        name="q",
                        type="search",
                        default_value=S.query,
                        key=S.query,
                        max_length=254,
                        width="100%",
                    ),
                    flex="1 1 16em",
                    min_width="0",
                ),
                rx.box(rx.button("Search", type="submit", id="search-submit"), align_self="end"),
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            on_submit=S.search,
            reset_on_submit=False,
            width="100%",
            role="search",
        ),
        rx.cond(S.loading, rx.fragment(), _results()),
        spacing="3",
        width="100%",
    )


def _dialogs() -> rx.Component:
    name = S.target_name
    role_name = rx.match(S.new_role, *ROLE_NAMES.items(), "").to(str)
    dialogs = [
        ("role", "Change the platform role?", "Change role", "blue", False,
         name + " becomes " + role_name.lower() + ". Admins manage accounts and "
         "clinics; support staff help clinics and change no accounts."),
        ("disable", "Disable this account everywhere?", "Disable", "red", True,
         name + " is signed out at once and can no longer sign in, on the platform or in any "
         "clinic, until an admin enables the account again."),
        ("enable", "Enable this account?", "Enable", "blue", False,
         name + " can sign in again with their password and second factor."),
        ("resend", "Send the invitation again?", "Send", "blue", False,
         "A new link is emailed to " + name + "; the earlier link stops working."),
        ("reset", "Reset the second factor?", "Reset second factor", "red", True,
         name + "'s authenticator codes and recovery codes stop working, every session ends, "
         "and they are told by email. They set up two-step sign-in again at their next sign-in. "
         "Check who is asking before you do this."),
    ]  # fmt: skip
    return rx.fragment(
        *[
            action_dialog(
                open=S.confirming == key,
                title=title,
                body=body,
                confirm_label=label,
                on_confirm=S.confirm_reset if key == "reset" else S.confirm,
                on_cancel=S.cancel,
                confirm_id=f"confirm-{key}",
                color=color,
                error=S.dialog_error,
                field=reason_field(
                    S.reason,
                    S.set_reason,
                    label="Reason (kept in the audit log)",
                    id=f"reason-{key}",
                )  # fmt: skip
                if needs_reason
                else None,
            )
            for key, title, label, color, needs_reason, body in dialogs
        ]
    )


def platform_users_page() -> rx.Component:
    return page_frame(
        rx.cond(
            S.blocked != "",
            _blocked(),
            rx.vstack(
                rx.text(
                    "Platform staff, their roles and invitations. Find any account to disable it "
                    "everywhere at once or to reset a lost second factor.",
                    size="2",
                ),
                notice_callout(S.notice, id="platform-users-notice"),
                error_callout(S.error, id="platform-users-error"),
                _staff(),
                _invite_form(),
                _search(),
                _dialogs(),
                spacing="5",
                width="100%",
            ),
        ),
        title="Platform users",
    )
