"""Clinic picker for clinic users; clinic switcher (with a reason) for platform staff."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import error_callout, page_frame
from mi_portal.state.clinics import ClinicPickerState


def _member_choice(clinic: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text(clinic["name"], weight="bold"),
                rx.text(clinic["role"], size="1", color_scheme="gray"),
                spacing="0",
            ),
            rx.spacer(),
            rx.button(
                "Work here",
                on_click=ClinicPickerState.choose(clinic["id"]),
                class_name="choose-clinic",
            ),
            align="center",
            width="100%",
        ),
        width="100%",
    )


def _platform_switch() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text(
                "Platform staff enter one clinic at a time, for at most one hour. The reason is recorded "
                "in the clinic's audit log and the platform's.",
                size="2",
                color_scheme="gray",
            ),
            rx.text("Clinic", as_="label", size="2", weight="medium", id="switch-clinic-label"),
            rx.select.root(
                rx.select.trigger(
                    placeholder="Choose a clinic",
                    id="switch-clinic",
                    width="100%",
                    aria_labelledby="switch-clinic-label",
                ),
                rx.select.content(
                    rx.foreach(
                        ClinicPickerState.clinics,
                        lambda c: rx.select.item(c["name"], value=c["id"]),
                    ),
                ),
                name="tenant_id",
                required=True,
                # Coming from a clinic's card on the home page: that clinic is already chosen.
                default_value=ClinicPickerState.preselected,
                key=ClinicPickerState.preselected,
            ),
            rx.text("Reason", as_="label", html_for="switch-reason", size="2", weight="medium"),
            rx.text_area(
                id="switch-reason",
                name="reason",
                placeholder="e.g. Ticket 4821: clinic asked for help with a stuck case",
                required=True,
                max_length=500,
                width="100%",
            ),
            error_callout(ClinicPickerState.error),
            rx.button("Switch in", type="submit", id="switch-submit"),
            spacing="2",
            width="100%",
            max_width="520px",
        ),
        on_submit=ClinicPickerState.switch_in,
    )


def clinic_picker() -> rx.Component:
    return page_frame(
        rx.cond(
            ClinicPickerState.is_platform,
            _platform_switch(),
            rx.vstack(
                rx.cond(
                    ClinicPickerState.clinics.length() > 1,  # type: ignore[attr-defined]
                    rx.text(
                        "You work for several clinics. Choose where to work now; we remember it for next time.",
                        color_scheme="gray",
                        id="picker-intro",
                    ),
                    rx.text(
                        "The clinic you work for. Open it to see its cases.",
                        color_scheme="gray",
                        id="picker-intro",
                    ),
                ),
                error_callout(ClinicPickerState.error),
                rx.cond(
                    ClinicPickerState.clinics.length() > 0,  # type: ignore[attr-defined]
                    rx.vstack(
                        rx.foreach(ClinicPickerState.clinics, _member_choice),
                        width="100%",
                        max_width="520px",
                    ),
                    rx.callout(
                        "You are not a member of any clinic yet. Ask a clinic owner to invite you.",
                        icon="info",
                    ),
                ),
                width="100%",
            ),
        ),
        title="Clinics",
    )
