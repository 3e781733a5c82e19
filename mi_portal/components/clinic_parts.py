"""The platform's clinics page's dialogs: a new clinic, and suspend, reactivate, off-board."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import described, error_text, field_label
from mi_portal.components.rights_parts import action_dialog, reason_field
from mi_portal.state.platform_clinics import JURISDICTION_CHOICES
from mi_portal.state.platform_clinics import PlatformClinicsState as S


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


def new_clinic_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New clinic"),
            rx.dialog.description(
                "The clinic starts active. Its first owner is emailed an invitation link to set "
                "a password; they invite everyone else.",
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


def lifecycle_dialogs() -> rx.Component:
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
