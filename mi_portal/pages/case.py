"""Case page: patient summary, answers, photos, status, assignee, internal notes, timeline."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mi_portal.components.fields import field_label
from mi_portal.components.layout import error_callout, page_frame
from mi_portal.components.retention_parts import deidentified_badge, retention_card
from mi_portal.pages.conversation import conversation_panel
from mi_portal.pages.inbox import SLA_BADGES
from mi_portal.pages.legal_holds import case_hold_badge, holds_card
from mi_portal.services.cases import LOOKS_SHOWN
from mi_portal.state.case import CaseState
from mi_portal.state.inbox import STATUS_LABELS
from mi_portal.state.session import SessionState

C = CaseState.case
# The first reply's states read like the quote's (SLA_BADGES), in its own words once done.
FIRST_REPLY_BADGES = {
    **SLA_BADGES,
    "met": ("Answered in time", "green"),
    "missed": ("Answered late", "orange"),
}


def _fact(label: str, value: rx.Var, *, id: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, id=id, word_break="break-word"),
        spacing="0",
        min_width="0",
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Patient", size="3", as_="h2"),
            rx.grid(
                _fact("Name", C["patient_name"], id="patient-name"),
                _fact("Email", C["patient_email"], id="patient-email"),
                _fact(
                    "Phone",
                    rx.cond(C["patient_phone"] != "", C["patient_phone"], "—"),
                    id="patient-phone",
                ),
                _fact(
                    "Age", rx.cond(C["patient_age"] != "", C["patient_age"], "—"), id="patient-age"
                ),
                rx.cond(
                    C["date_of_birth"] != "",
                    _fact("Date of birth", C["date_of_birth"], id="patient-dob"),
                ),
                columns="2",
                spacing="4",
                width="100%",
            ),
            rx.heading("Concern", size="3", as_="h2"),
            rx.text(C["concern"]),
            rx.foreach(
                C["answers"].to(list[dict[str, str]]),
                lambda a: rx.vstack(
                    rx.text(a["question"], size="1", color_scheme="gray"),
                    rx.text(a["answer"]),
                    spacing="0",
                ),
            ),
            spacing="3",
        ),
        width="100%",
    )


def _thumbnail(t: rx.Var, i: rx.Var) -> rx.Component:
    # A sensitive photo stays blurred here; it is seen only by opening it in the viewer.
    return rx.link(
        rx.box(
            rx.image(
                src=t["url"],
                alt=t["display_name"],
                height="128px",
                border_radius="6px",
                style={"filter": rx.cond(t["sensitive"].to(bool), "blur(12px)", "none")},
            ),
            rx.cond(
                t["sensitive"].to(bool),
                rx.badge(
                    "Sensitive · open to view",
                    color_scheme="orange",
                    position="absolute",
                    bottom="6px",
                    left="6px",
                ),
            ),
            position="relative",
            overflow="hidden",
            border_radius="6px",
        ),
        href="/cases/" + C["id"].to(str) + "/photos?photo=" + (i + 1).to(str),
        class_name="case-thumbnail",
    )


def _link_button(icon: str, text: str, subpath: str, *, id: str) -> rx.Component:
    """A link to a page of this case, styled as a button (a button inside a link is two controls)."""
    return rx.button(
        rx.link(
            rx.icon(icon, size=14, aria_hidden="true"),
            text,
            href="/cases/" + C["id"].to(str) + subpath,
            id=id,
        ),
        as_child=True,
        size="1",
        variant="soft",
        high_contrast=True,
    )


def _photos() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Photos", size="3", as_="h2"),
                rx.cond(
                    CaseState.thumbnails.length() > 0,  # type: ignore[attr-defined]
                    _link_button("images", "Open the photo viewer", "/photos", id="open-viewer"),
                ),
                justify="between",
                align="center",
                wrap="wrap",
                width="100%",
            ),
            rx.cond(
                CaseState.thumbnails.length() > 0,  # type: ignore[attr-defined]
                rx.hstack(rx.foreach(CaseState.thumbnails, _thumbnail), wrap="wrap", spacing="3"),
                rx.text("No photos you may see.", color_scheme="gray", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _status_words(status: rx.Var, *, lower: bool = False) -> rx.Var:
    """A status in words ("In review"), never its code."""
    pairs = [(k, label.lower() if lower else label) for k, label in STATUS_LABELS.items()]
    return rx.match(status, *pairs, status)  # type: ignore[return-value]


def _workflow() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Status", size="2", color_scheme="gray"),
                rx.badge(_status_words(C["status"].to(str)), size="2", id="case-status"),
                align="center",
                spacing="3",
            ),
            _target("First reply", "first_response", FIRST_REPLY_BADGES, id="case-first-reply"),
            _target("Quote", "sla", SLA_BADGES, id="case-quote-target"),
            rx.cond(
                CaseState.can_edit,
                rx.vstack(
                    rx.hstack(
                        rx.foreach(
                            C["moves"].to(list[str]),
                            lambda m: rx.button(
                                "Move to ",
                                _status_words(m, lower=True),
                                size="1",
                                variant="soft",
                                high_contrast=True,
                                on_click=CaseState.change_status(m),
                                class_name="status-move",
                            ),
                        ),
                        wrap="wrap",
                        spacing="2",
                    ),
                    rx.hstack(
                        field_label("Assignee", for_="case-assignee"),
                        rx.select.root(
                            rx.select.trigger(placeholder="Unassigned", id="case-assignee"),
                            rx.select.content(
                                rx.select.item("Unassigned", value="none"),
                                rx.foreach(
                                    CaseState.members,
                                    lambda m: rx.select.item(m["name"], value=m["id"]),
                                ),
                            ),
                            value=rx.cond(C["assignee_id"] != "", C["assignee_id"].to(str), "none"),
                            on_change=CaseState.assign,
                        ),
                        align="center",
                        spacing="3",
                    ),
                    spacing="3",
                ),
            ),
            spacing="3",
        ),
        width="100%",
    )


def _target(label: str, key: str, badges: dict[str, tuple[str, str]], *, id: str) -> rx.Component:
    """One service-level target: its state and when it is (or was) due, on the clinic's clock."""
    due = C[key + "_due_at"].to(str)
    return rx.hstack(
        rx.text(label, size="2", color_scheme="gray", min_width="6em"),
        rx.match(
            C[key],
            *[(k, rx.badge(words, color_scheme=color)) for k, (words, color) in badges.items()],
            rx.text("—", size="2", color_scheme="gray"),
        ),  # type: ignore[arg-type]
        rx.cond(due != "", rx.text("due ", due, size="2")),
        align="center",
        spacing="2",
        wrap="wrap",
        id=id,
    )


def _quote() -> rx.Component:
    """The case's latest quote: its status and total, and the way to the quote page."""
    return rx.card(
        rx.vstack(
            rx.heading("Quote", size="3", as_="h2"),
            rx.cond(
                C["quote_status"] != "",
                rx.hstack(
                    rx.text("Version ", C["quote_version"].to(str), size="2"),
                    rx.badge(C["quote_status_label"], id="case-quote-status"),
                    rx.text(C["quote_total"], size="2", weight="medium", id="case-quote-total"),
                    align="center",
                    spacing="3",
                    wrap="wrap",
                ),
                rx.text("No quote yet.", size="2", color_scheme="gray", id="case-quote-none"),
            ),
            _link_button("receipt", "Open the quote", "/quote", id="open-quote"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _notes() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Internal notes", size="3", as_="h2"),
            rx.text("Never shown to the patient.", size="1", color_scheme="gray"),
            rx.foreach(
                C["notes"].to(list[dict[str, str]]),
                lambda n: rx.box(
                    rx.text(n["who"], " · ", n["at"], size="1", color_scheme="gray"),
                    rx.text(n["detail"], white_space="pre-wrap"),
                    class_name="case-note",
                ),
            ),
            rx.cond(
                CaseState.can_edit,
                rx.form(
                    rx.vstack(
                        rx.text_area(
                            name="body",
                            placeholder="Add a note for the team",
                            aria_label="Note for the team",
                            id="note-body",
                            width="100%",
                            max_length=10_000,
                        ),
                        rx.button("Add note", type="submit", id="note-submit"),
                        width="100%",
                    ),
                    on_submit=CaseState.add_note,
                    reset_on_submit=True,
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _timeline_line(t: rx.Var, *, inline: bool = False) -> rx.Component:
    parts = (
        rx.text(t["at"], as_="span", size="1", color_scheme="gray", white_space="nowrap"),
        rx.text(t["who"], as_="span", size="2", weight="medium"),
        rx.text(t["what"], as_="span", size="2"),
        rx.text(t["detail"], as_="span", size="2", color_scheme="gray"),
    )
    layout = {"display": "flex", "flex_wrap": "wrap", "gap": "0 0.5em", "align_items": "baseline"}
    if inline:
        # Inside a <summary>: phrasing content, inline so the disclosure triangle stays beside it.
        # Narrower than the line by the triangle's width, or it wraps below the triangle.
        return rx.el.span(
            *parts,
            style={
                **layout,
                "display": "inline-flex",
                "max_width": "calc(100% - 1.5em)",
                "vertical_align": "top",
            },
        )
    return rx.el.div(*parts, style=layout)


def _timeline_entry(t: rx.Var) -> rx.Component:
    views = t["views"].to(list[dict[str, str]])
    # Repeated looks by one person fold into one line; every access is listed when opened.
    return rx.cond(
        views.length() > 0,  # type: ignore[attr-defined]
        rx.el.details(
            rx.el.summary(_timeline_line(t, inline=True), style={"cursor": "pointer"}),
            rx.el.ul(
                rx.foreach(
                    views, lambda v: rx.el.li(_timeline_line(v), class_name="timeline-view")
                ),
                style={"margin": "0.25em 0 0 1.25em", "padding": 0},
            ),
            class_name="timeline-entry timeline-group",
        ),
        rx.box(_timeline_line(t), class_name="timeline-entry"),
    )


def _timeline() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Timeline", size="3", as_="h2"),
            rx.text(C["zone_caption"], size="1", id="case-zone"),
            rx.cond(
                C["earlier_looks"].to(int) > 0,
                rx.text(
                    f"Every change is listed, and the newest {LOOKS_SHOWN} looks at this case; ",
                    C["earlier_looks"].to(str),
                    " older looks are in the ",
                    rx.cond(
                        SessionState.can_view_audit,
                        rx.link("audit log", href="/audit"),
                        rx.text("audit log", as_="span"),
                    ),
                    ".",
                    size="1",
                    id="case-earlier-looks",
                ),
            ),
            rx.foreach(C["timeline"].to(list[dict[str, Any]]), _timeline_entry),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def case_page() -> rx.Component:
    return page_frame(
        rx.link("← Back to cases", href="/cases", size="2"),
        rx.cond(
            CaseState.loading,
            rx.hstack(rx.spinner(), rx.text("Loading the case…")),
            rx.cond(
                CaseState.not_found,
                rx.callout(
                    "This case does not exist or is not in your clinic.",
                    icon="info",
                    id="case-not-found",
                ),
                rx.cond(
                    CaseState.opened,
                    rx.vstack(
                        rx.flex(
                            rx.text(
                                "Received ",
                                C["received_at"],
                                size="2",
                                color_scheme="gray",
                                id="case-reference",
                            ),
                            case_hold_badge(),
                            gap="3",
                            align="center",
                            wrap="wrap",
                        ),
                        deidentified_badge(),
                        error_callout(CaseState.error),
                        rx.grid(
                            rx.vstack(
                                _summary(),
                                _photos(),
                                conversation_panel(),
                                spacing="4",
                                width="100%",
                                min_width="0",
                            ),
                            rx.vstack(
                                _workflow(),
                                holds_card(),
                                _quote(),
                                _notes(),
                                retention_card(),
                                _timeline(),
                                spacing="4",
                                width="100%",
                                min_width="0",
                            ),
                            columns=rx.breakpoints(initial="1", md="2"),
                            spacing="4",
                            width="100%",
                        ),
                        spacing="3",
                        width="100%",
                        id="case-content",
                    ),
                    # A load that failed shows why, not an empty case.
                    error_callout(CaseState.error),
                ),
            ),
        ),
        # One heading for the page: "Case 3328DDF9" (just "Case" until it has loaded).
        title=CaseState.heading,  # type: ignore[arg-type]
    )
