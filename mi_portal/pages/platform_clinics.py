"""/platform/clinics: the platform's clinics, their life cycle and new clinics."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.clinic_parts import lifecycle_dialogs, new_clinic_dialog
from mi_portal.components.layout import error_callout, notice_callout, page_frame
from mi_portal.components.rights_parts import filter_link
from mi_portal.services.clinic_lifecycle import STATUS_LABELS
from mi_portal.state.platform_clinics import BASE
from mi_portal.state.platform_clinics import PlatformClinicsState as S

STATUS_COLORS = {"active": "green", "suspended": "amber", "offboarding": "orange", "closed": "gray"}


def _blocked() -> rx.Component:
    return rx.match(
        S.blocked,
        (
            "leave",
            rx.callout(
                "The list of clinics is platform work. Leave the clinic first (the button in the "
                "banner above), then open this page again.",
                icon="log_out",
                id="clinics-leave",
            ),
        ),
        rx.callout(
            "Only platform staff see the list of clinics.", icon="info", id="clinics-denied"
        ),
    )


def _href(status: str) -> rx.Var:
    query = rx.cond(S.search != "", "&q=" + S.search.to(str), "")
    return (BASE + "?status=" + status + query).to(str)  # type: ignore[operator]


def _filters() -> rx.Component:
    choices = [("", "All"), *STATUS_LABELS.items()]
    return rx.flex(
        rx.flex(
            rx.text("Status:", size="2", weight="medium"),
            *[
                filter_link(label, _href(value), S.status == value, id=f"filter-{value or 'all'}")
                for value, label in choices
            ],
            spacing="3",
            wrap="wrap",
            align="center",
            role="group",
            aria_label="Status",
        ),
        rx.form(
            rx.flex(
                rx.input(
                    name="q",
                    id="clinic-search",
                    placeholder="Name or address",
                    aria_label="Search clinics by name or address",
                    default_value=S.search,
                    key=S.search,
                    max_length=100,
                ),
                rx.button("Search", type="submit", variant="soft", id="clinic-search-submit"),
                spacing="2",
            ),
            on_submit=S.apply_search,
            role="search",
        ),
        justify="between",
        align="center",
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def _actions(row: rx.Var) -> rx.Component:
    status, tenant_id = row["status"].to(str), row["id"].to(str)
    return rx.cond(
        S.can_manage,
        rx.flex(
            rx.cond(
                status == "active",
                rx.button(
                    "Suspend",
                    size="1",
                    variant="soft",
                    color_scheme="amber",
                    on_click=S.ask("suspend", tenant_id),
                    class_name="suspend-button",
                ),  # fmt: skip
            ),
            rx.cond(
                status == "suspended",
                rx.button(
                    "Reactivate",
                    size="1",
                    variant="soft",
                    on_click=S.ask("reactivate", tenant_id),
                    class_name="reactivate-button",
                ),  # fmt: skip
            ),
            rx.cond(
                status != "closed",
                rx.button(
                    "Off-board",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=S.ask("offboard", tenant_id),
                    class_name="offboard-button",
                ),  # fmt: skip
            ),
            spacing="2",
            wrap="wrap",
        ),
    )


def _row(row: rx.Var) -> rx.Component:
    status = row["status"].to(str)
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.flex(
                    rx.text(row["name"].to(str), weight="bold"),
                    rx.badge(
                        row["status_label"].to(str),
                        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),  # type: ignore[arg-type]
                        class_name="status-badge",
                    ),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.text("/c/", row["slug"].to(str), size="2", class_name="clinic-slug"),
                rx.text(
                    "Created ",
                    row["created"].to(str),
                    " · Staff ",
                    row["staff"].to(str),
                    " · Last activity ",
                    row["last_activity"].to(str),
                    size="1",
                    color_scheme="gray",
                ),  # fmt: skip
                rx.cond(
                    (status != "active") & (row["status_reason"].to(str) != ""),
                    rx.text(
                        "Reason: ",
                        row["status_reason"].to(str),
                        size="1",
                        color_scheme="gray",
                        style={"overflow_wrap": "anywhere"},
                    ),  # fmt: skip
                ),
                spacing="1",
                min_width="0",
            ),
            _actions(row),
            justify="between",
            align="start",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        width="100%",
        class_name="clinic-row",
    )


def _list() -> rx.Component:
    return rx.cond(
        S.loading,
        rx.hstack(rx.spinner(), rx.text("Loading clinics…")),
        rx.cond(
            S.rows.length() > 0,  # type: ignore[attr-defined]
            rx.vstack(rx.foreach(S.rows, _row), spacing="3", width="100%", id="clinic-list"),
            rx.callout(
                rx.cond(
                    (S.status != "") | (S.search != ""),
                    "No clinic matches this filter.",
                    "There are no clinics yet.",
                ),
                icon="building_2",
                id="clinics-empty",
            ),
        ),
    )


def platform_clinics_page() -> rx.Component:
    return page_frame(
        rx.cond(
            S.blocked != "",
            _blocked(),
            rx.vstack(
                rx.flex(
                    rx.text(
                        rx.cond(
                            S.can_manage,
                            "Every clinic on MI Portal. Create, suspend, reactivate or off-board "
                            "one here.",
                            "Every clinic on MI Portal (read-only for support).",
                        ),
                        size="2",
                    ),
                    rx.cond(
                        S.can_manage,
                        rx.button(
                            rx.icon("plus", size=16, aria_hidden="true"),
                            "New clinic",
                            on_click=S.open_new,
                            id="new-clinic",
                        ),  # fmt: skip
                    ),
                    justify="between",
                    align="center",
                    spacing="3",
                    wrap="wrap",
                    width="100%",
                ),
                error_callout(S.error, id="clinics-error"),
                notice_callout(S.notice, id="clinics-notice"),
                rx.cond(
                    S.invite_link != "",
                    rx.callout(
                        rx.vstack(
                            rx.text(
                                "The owner has been emailed this one-time link. It is shown "
                                "only now, in case the email does not arrive; it expires:",
                                size="2",
                            ),
                            rx.code(
                                S.invite_link,
                                id="owner-invite-link",
                                style={"overflow_wrap": "anywhere"},
                            ),
                            spacing="1",
                        ),
                        icon="mail",
                        id="owner-invite",
                    ),
                ),
                _filters(),
                _list(),
                new_clinic_dialog(),
                lifecycle_dialogs(),
                spacing="4",
                width="100%",
            ),
        ),
        title="Clinics",
    )
