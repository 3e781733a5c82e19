"""/platform/clinics: the platform's clinics, their life cycle and new clinics."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import described, error_text, field_label
from mi_portal.components.layout import error_callout, notice_callout, page_frame
from mi_portal.components.rights_parts import action_dialog, filter_link, reason_field
from mi_portal.services.clinic_lifecycle import STATUS_LABELS
from mi_portal.state.platform_clinics import BASE, JURISDICTION_CHOICES
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


def _field(key: str, label: str, control: rx.Component, hint: str = "") -> rx.Component:
    return rx.vstack(
        field_label(label, for_=f"new-{key}"),
        control,
        rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray", id=f"hint-{key}")),
        rx.cond(S.form_errors.contains(key), error_text(S.form_errors[key], key=key)),
        spacing="1",
        width="100%",
    )


def _text_input(key: str, label: str, hint: str = "", **props: object) -> rx.Component:
    return _field(
        key,
        label,
        rx.input(
            id=f"new-{key}",
            value=S.form[key],
            on_change=lambda value: S.set_field(key, value),
            width="100%",
            max_length=254,
            **described(S.form_errors.contains(key), key, hint_id=f"hint-{key}" if hint else ""),
            **props,
        ),
        hint,
    )


def _new_clinic() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New clinic"),
            rx.dialog.description(
                "The clinic starts active. Its first owner gets an invitation link to set a "
                "password; they invite everyone else.",
                size="2",
            ),
            rx.vstack(
                _text_input("name", "Clinic name"),
                _text_input(
                    "slug",
                    "Address (slug)",
                    "Patients use /c/<address>/consult. Lowercase letters, digits and hyphens; "
                    "never reused, even after the clinic closes.",
                ),  # fmt: skip
                rx.grid(
                    _text_input("timezone", "Time zone", "Like Europe/Berlin"),
                    _text_input("locale", "Locale", "Like en_US"),
                    _text_input("currency", "Currency", "Like USD"),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                _field(
                    "jurisdiction",
                    "Where the clinic is",
                    rx.el.select(
                        rx.el.option("Choose…", value=""),
                        *[rx.el.option(c["label"], value=c["code"]) for c in JURISDICTION_CHOICES],
                        id="new-jurisdiction",
                        value=S.form["jurisdiction"],
                        on_change=lambda value: S.set_field("jurisdiction", value),
                        style={"width": "100%", "padding": "0.4em"},
                        **described(S.form_errors.contains("jurisdiction"), "jurisdiction"),
                    ),
                ),
                _text_input("owner_name", "Owner's name"),
                _text_input("owner_email", "Owner's email", type="email"),
                spacing="3",
                width="100%",
                margin_top="1em",
            ),
            rx.flex(
                rx.button("Cancel", variant="soft", on_click=S.close_new, id="new-cancel"),
                rx.button("Create clinic", on_click=S.create, id="new-submit"),
                spacing="3",
                justify="end",
                margin_top="1.25em",
            ),
        ),
        open=S.creating,
    )


def _dialogs() -> rx.Component:
    name = S.target["name"].to(str)
    slug = S.target["slug"].to(str)
    confirm = [S.start, S.confirm]
    return rx.fragment(
        action_dialog(
            open=S.confirming == "suspend",
            title=rx.text("Suspend ", name, "?"),
            body="Its staff cannot sign in or work in it, platform staff cannot switch into it, "
            "and its patient pages and links say it is not available. Nothing it holds is "
            "changed; reactivating restores everything.",
            field=reason_field(
                S.text, S.set_text, label="Reason (kept in the audit log)", id="suspend-reason"
            ),
            error=S.dialog_error,
            confirm_label="Suspend",
            on_confirm=confirm,
            on_cancel=S.cancel,
            confirm_id="suspend-confirm",
        ),
        action_dialog(
            open=S.confirming == "reactivate",
            title=rx.text("Reactivate ", name, "?"),
            body="Its staff can sign in again and its patients can send photos again.",
            error=S.dialog_error,
            confirm_label="Reactivate",
            on_confirm=confirm,
            on_cancel=S.cancel,
            confirm_id="reactivate-confirm",
            color="accent",
        ),
        action_dialog(
            open=S.confirming == "offboard",
            title=rx.text("Off-board ", name, "?"),
            body=rx.text(
                "First everything the clinic holds is exported to a private folder on the "
                "server; then every case, photo, message and setting is purged through the "
                "retention purge. Active legal holds stop it. The clinic stays listed as closed "
                "and its address is never given out again. This cannot be undone. Type ",
                rx.code(slug),
                " to confirm.",
            ),
            field=rx.vstack(
                field_label("The clinic's address", for_="offboard-slug"),
                rx.input(
                    value=S.text,
                    on_change=S.set_text,
                    id="offboard-slug",
                    placeholder=slug,
                    width="100%",
                    auto_complete="off",
                ),  # fmt: skip
                width="100%",
                margin_top="0.75em",
            ),
            error=S.dialog_error,
            confirm_label=rx.cond(S.working, "Working…", "Export and purge"),
            on_confirm=confirm,
            on_cancel=S.cancel,
            confirm_id="offboard-confirm",
        ),
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
                                "Send this one-time link to the owner (it is shown only now; "
                                "it expires):",
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
                _new_clinic(),
                _dialogs(),
                spacing="4",
                width="100%",
            ),
        ),
        title="Clinics",
    )
