"""The legal-hold parts of the case page: the header badge, the card and its release dialog."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import field_label
from mi_portal.components.layout import confirm_dialog, error_callout, notice_callout
from mi_portal.state.legal_holds import HoldsState as S

BADGE_LABEL = "Legal hold"
BADGE_COLOR = "purple"
_SELECT = "rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface"


def hold_badge(held: rx.Var, *, id: str = "", class_name: str = "") -> rx.Component:
    """The one "Legal hold" badge, for the queue's rows and the case's header."""
    extra = {"id": id} if id else {}
    return rx.cond(
        held,
        rx.badge(
            rx.icon("lock", size=12, aria_hidden="true"),
            BADGE_LABEL,
            color_scheme=BADGE_COLOR,
            class_name=class_name,
            white_space="nowrap",
            **extra,
        ),
    )


def case_hold_badge() -> rx.Component:
    return hold_badge(S.held, id="case-hold-badge")


def _release_form(h: rx.Var) -> rx.Component:
    return rx.form(
        rx.flex(
            rx.el.input(type="hidden", name="hold_id", value=h["id"].to(str)),
            rx.input(
                name="reason",
                placeholder="Reason for the release",
                aria_label="Reason for releasing this hold",
                max_length=1000,
                class_name="hold-release-reason",
                flex="1 1 12em",
                min_width="0",
            ),
            rx.button(
                "Release…",
                type="submit",
                size="2",
                variant="soft",
                color_scheme="red",
                class_name="hold-release",
            ),
            gap="2",
            wrap="wrap",
            width="100%",
        ),
        on_submit=S.ask_release,
        width="100%",
    )


def _hold(h: rx.Var) -> rx.Component:
    active = h["active"].to(bool)
    return rx.box(
        rx.vstack(
            rx.flex(
                rx.badge(
                    h["state_label"],
                    color_scheme=rx.cond(active, BADGE_COLOR, "gray"),
                    class_name="hold-state",
                ),
                rx.text(h["scope_label"], size="2", weight="medium", class_name="hold-scope"),
                gap="2",
                align="center",
                wrap="wrap",
            ),
            rx.text(h["reason"], white_space="pre-wrap", class_name="hold-reason"),
            rx.text(
                "Placed by ",
                h["placed_by"],
                " · ",
                h["placed_at"],
                rx.cond(h["ends_on"] != "", rx.fragment(" · until ", h["ends_on"])),
                size="1",
                color_scheme="gray",
            ),
            rx.cond(
                h["released_at"] != "",
                rx.text(
                    "Released by ",
                    h["released_by"],
                    " · ",
                    h["released_at"],
                    ": ",
                    h["release_reason"],
                    size="1",
                    color_scheme="gray",
                    white_space="pre-wrap",
                ),
            ),
            rx.cond(S.can_manage & active, _release_form(h)),
            spacing="1",
            width="100%",
        ),
        padding_y="0.5em",
        border_top="1px solid var(--gray-a5)",
        width="100%",
        class_name="hold-entry",
    )


def _place_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Place a hold", size="2", as_="h3"),
            field_label("What to hold", for_="hold-scope"),
            rx.el.select(
                rx.el.option("This case", value="case"),
                rx.el.option("Every case of this patient", value="patient"),
                name="scope",
                id="hold-scope",
                default_value="case",
                class_name=_SELECT,
                max_width="100%",
            ),
            field_label("Reason", for_="hold-reason"),
            rx.text_area(name="reason", id="hold-reason", max_length=1000, width="100%"),
            field_label("End date (optional)", for_="hold-ends-on"),
            rx.input(type="date", name="ends_on", id="hold-ends-on"),
            rx.button("Place hold", type="submit", id="hold-place"),
            spacing="2",
            width="100%",
        ),
        on_submit=S.place,
        width="100%",
    )


def _confirm() -> rx.Component:
    return confirm_dialog(
        "Release this legal hold?",
        (
            "Retention applies again to what it covered, unless another hold remains. ",
            "Reason recorded: “",
            S.confirm_reason,
            "”.",
        ),
        open=S.confirm_id != "",
        on_confirm=S.release,
        on_cancel=S.cancel_release,
        confirm_label="Release hold",
        confirm_id="confirm-release-hold",
        cancel_label="Keep the hold",
    )


def holds_card() -> rx.Component:
    """Every hold on this case or its patient; placing and releasing for those who may."""
    return rx.card(
        rx.vstack(
            rx.heading("Legal hold", size="3", as_="h2"),
            rx.text(
                "While a hold is active, retention never deletes or de-identifies what it covers.",
                size="1",
                color_scheme="gray",
            ),
            error_callout(S.error, id="hold-error"),
            notice_callout(S.notice, id="hold-notice"),
            rx.cond(
                S.holds.length() > 0,  # type: ignore[attr-defined]
                rx.vstack(rx.foreach(S.holds, _hold), spacing="0", width="100%"),
                rx.text("No legal hold.", size="2", color_scheme="gray", id="hold-none"),
            ),
            rx.cond(S.can_manage, _place_form()),
            _confirm(),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="case-holds",
    )
