"""Users and memberships of the current clinic."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import bare_checkbox, check_label
from mi_portal.components.layout import error_callout, page_frame
from mi_portal.state.users import ROLE_CHOICES, ROLE_NAMES, UsersState


def _role_select(aria_label: rx.Var | str, **props: object) -> rx.Component:
    """Roles are stored as codes and shown as words ("Clinic manager")."""
    return rx.select.root(
        rx.select.trigger(aria_label=aria_label),
        rx.select.content(*[rx.select.item(ROLE_NAMES[r], value=r) for r in ROLE_CHOICES]),
        **props,
    )


def _member_row(member: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(member["full_name"], weight="medium"),
                rx.text(member["email"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(
            _role_select(
                "Role of " + member["full_name"].to(str),
                value=member["role"].to(str),
                on_change=lambda role: UsersState.change_role(member["membership_id"], role),
                size="1",
            )
        ),
        rx.table.cell(
            rx.cond(
                member["active"],
                rx.badge("active", color_scheme="green"),
                rx.badge("disabled", color_scheme="gray"),
            ),
            rx.cond(member["invited"], rx.badge("invited", color_scheme="blue", margin_left="4px")),
            rx.cond(
                ~member["mfa_enrolled"].to(bool),
                rx.badge("no 2-step yet", color_scheme="amber", margin_left="4px"),
            ),
        ),
        rx.table.cell(
            rx.cond(
                member["active"],
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button("Disable", size="1", color_scheme="red", variant="soft")
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Disable access?"),
                        rx.alert_dialog.description(
                            member["full_name"].to(str)
                            + " loses access to this clinic at their next click."
                        ),
                        rx.hstack(
                            rx.alert_dialog.cancel(
                                rx.button("Cancel", variant="soft", color_scheme="gray")
                            ),
                            rx.alert_dialog.action(
                                rx.button(
                                    "Disable",
                                    color_scheme="red",
                                    on_click=UsersState.set_active(member["membership_id"], False),
                                )
                            ),
                            spacing="3",
                            justify="end",
                        ),
                    ),
                ),
                rx.button(
                    "Restore",
                    size="1",
                    variant="soft",
                    on_click=UsersState.set_active(member["membership_id"], True),
                ),
            )
        ),
        class_name="member-row",
    )


def _invite_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="full_name",
                placeholder="Full name",
                aria_label="Full name",
                required=True,
                max_length=200,
            ),
            rx.input(
                name="email",
                type="email",
                placeholder="Email",
                aria_label="Email",
                required=True,
                max_length=254,
            ),
            _role_select("Role of the new user", name="role", default_value="coordinator"),
            rx.button("Invite", type="submit", id="invite-submit"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=UsersState.invite,
        reset_on_submit=True,
    )


def _exposure() -> rx.Component:
    return rx.cond(
        UsersState.is_owner,
        rx.card(
            rx.vstack(
                rx.text(
                    "Who sees patient names and contact details in the case list", weight="medium"
                ),
                rx.text(
                    "Other roles see initials, partial contact details and blurred thumbnails until they open a case (which is audited).",
                    size="2",
                    color_scheme="gray",
                ),
                rx.hstack(
                    *[
                        check_label(
                            bare_checkbox(
                                checked=UsersState.exposure_roles.contains(role),  # type: ignore[attr-defined]
                                on_change=lambda v, role=role: UsersState.set_exposure(role, v),
                                id=f"exposure-{role}",
                            ),
                            ROLE_NAMES[role],
                        )
                        for role in ROLE_CHOICES
                    ],
                    wrap="wrap",
                    spacing="4",
                ),
                spacing="2",
            ),
            width="100%",
        ),
    )


def users_page() -> rx.Component:
    return page_frame(
        _invite_form(),
        error_callout(UsersState.error),
        rx.cond(
            UsersState.notice != "",
            rx.callout(UsersState.notice, icon="check", color_scheme="green", id="users-notice"),
        ),
        rx.cond(
            UsersState.invite_link != "",
            rx.callout(
                rx.text(
                    "Send this one-time link to the new user (valid 3 days): ",
                    rx.code(UsersState.invite_link, id="invite-link"),
                ),
                icon="mail",
            ),
        ),
        _exposure(),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Person"),
                    rx.table.column_header_cell("Role"),
                    rx.table.column_header_cell("Status"),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(UsersState.members, _member_row)),
            width="100%",
        ),
        title="Users",
    )
