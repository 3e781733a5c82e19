"""/privacy/requests (platform work list) and /privacy/requests/[reference] (one request)."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import error_callout, notice_callout, page_frame
from mi_portal.components.rights_parts import (
    action_dialog,
    deadline_badge,
    detail_frame,
    detail_line,
    filter_link,
    reason_field,
)
from mi_portal.services.rights import KIND_LABELS
from mi_portal.state.rights_requests import RightsWorkItemState as D
from mi_portal.state.rights_requests import RightsWorkListState as L

BASE = "/privacy/requests"


def _blocked(state: type[L] | type[D]) -> rx.Component:
    return rx.match(
        state.blocked,
        (
            "leave",
            rx.callout(
                "Privacy requests are platform work. Leave the clinic first (the button in the "
                "banner above), then open this page again.",
                icon="log_out",
                id="rights-leave",
            ),
        ),
        rx.callout(
            "Only platform staff work the privacy-rights requests.",
            icon="info",
            id="rights-denied",
        ),
    )


def _href(status: str | rx.Var, kind: str | rx.Var, unverified: bool | rx.Var) -> rx.Var:
    return (
        BASE + "?status=" + rx.Var.create(status).to(str)
        + "&kind=" + rx.Var.create(kind).to(str)
        + rx.cond(unverified, "&unverified=1", "")
    )  # fmt: skip


def _filters() -> rx.Component:
    statuses = [("open", "Open"), ("closed", "Closed"), ("all", "All")]
    kinds = [("", "Any kind"), *KIND_LABELS.items()]
    return rx.vstack(
        rx.flex(
            rx.text("Status:", size="2", weight="medium"),
            *[
                filter_link(
                    label,
                    _href(value, L.kind, L.unverified).to(str),
                    L.status == value,
                    id=f"filter-status-{value}",
                )  # fmt: skip
                for value, label in statuses
            ],
            spacing="3",
            wrap="wrap",
            align="center",
        ),
        rx.flex(
            rx.text("Kind:", size="2", weight="medium"),
            *[
                filter_link(
                    label,
                    _href(L.status, value, L.unverified).to(str),
                    L.kind == value,
                    id=f"filter-kind-{value or 'any'}",
                )  # fmt: skip
                for value, label in kinds
            ],
            spacing="3",
            wrap="wrap",
            align="center",
        ),
        rx.link(
            rx.cond(L.unverified, "Hide unverified requests", "Show unverified requests"),
            href=_href(L.status, L.kind, ~L.unverified).to(str),
            size="2",
            id="filter-unverified",
        ),
        spacing="2",
        width="100%",
        role="group",
        aria_label="Filters",
    )


def _row(row: rx.Var) -> rx.Component:
    reference = row["reference"].to(str)
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.link(
                    reference, href=BASE + "/" + reference, weight="bold", class_name="request-link"
                ),  # fmt: skip
                rx.text(
                    row["kind_label"].to(str), " · ", row["jurisdiction_label"].to(str), size="2"
                ),  # fmt: skip
                rx.text(
                    "Received ",
                    row["received"].to(str),
                    " · ",
                    row["status_label"].to(str),
                    size="1",
                    color_scheme="gray",
                ),  # fmt: skip
                rx.text("Clinics: ", row["clinic_names"].to(str), size="1", color_scheme="gray"),
                spacing="1",
                min_width="0",
            ),
            deadline_badge(row["tone"].to(str), row["badge"].to(str)),
            justify="between",
            align="start",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        width="100%",
        class_name="request-row",
    )


def requests_page() -> rx.Component:
    return page_frame(
        rx.cond(
            L.blocked != "",
            _blocked(L),
            rx.vstack(
                rx.text(
                    "Requests that reached the platform directly. Verified requests are forwarded "
                    "to each clinic holding data; the clinic answers, and the request closes when "
                    "every clinic has answered.",
                    size="2",
                ),
                _filters(),
                rx.cond(
                    L.loading,
                    rx.hstack(rx.spinner(), rx.text("Loading the requests…")),
                    rx.cond(
                        L.rows.length() > 0,  # type: ignore[attr-defined]
                        rx.vstack(
                            rx.foreach(L.rows, _row), spacing="2", width="100%", id="requests-list"
                        ),  # fmt: skip
                        rx.text(
                            "No requests match these filters.",
                            color_scheme="gray",
                            id="requests-empty",
                        ),  # fmt: skip
                    ),
                ),
                spacing="4",
                width="100%",
            ),
        ),
        title="Privacy requests",
    )


def _clinic(c: rx.Var) -> rx.Component:
    return rx.el.li(
        rx.text(c["name"].to(str), " — ", c["status_label"].to(str), size="2"),
        class_name="matched-clinic",
    )


def _step(s: rx.Var) -> rx.Component:
    return rx.el.li(
        rx.text(s["at"].to(str), " · ", s["who"].to(str), size="1", color_scheme="gray"),
        rx.text(s["note"].to(str), size="2"),
        class_name="timeline-step",
    )


_TITLES = {
    "forward": ("Forward this request?", "Each clinic holding data receives its own copy with "
                "the requester's details. No clinic learns of the others.", "Forward"),
    "no_data": ("Close: no data held?", "The request is closed and the requester is told that "
                "no clinic holds data about them.", "Close request"),
    "extend": ("Extend the deadline?", "The deadline moves once, as the law allows; the "
               "requester is told the new date and your reason.", "Extend"),
    "deny": ("Deny this request?", "The request is closed in every clinic; the requester is "
             "told your reason.", "Deny"),
    "withdraw": ("Mark as withdrawn?", "Use this when the requester asked to withdraw. The "
                 "request is closed in every clinic.", "Mark withdrawn"),
}  # fmt: skip


def _dialogs() -> rx.Component:
    return rx.fragment(
        *[
            action_dialog(
                open=D.confirming == key,
                title=title,
                body=body,
                confirm_label=label,
                on_confirm=D.confirm,
                on_cancel=D.cancel,
                confirm_id=f"confirm-{key}",
                color="red" if key in ("deny", "withdraw", "no_data") else "blue",
                error=D.dialog_error,
                field=reason_field(
                    D.text,
                    D.set_text,
                    id=f"text-{key}",
                    label="Note" if key == "withdraw" else "Reason",
                )  # fmt: skip
                if key in ("extend", "deny", "withdraw")
                else None,
            )
            for key, (title, body, label) in _TITLES.items()
        ]
    )


def _buttons() -> rx.Component:
    r = D.request
    items = [
        ("forward", "Forward", "can_forward", "solid"),
        ("no_data", "Close — no data held", "can_close_no_data", "soft"),
        ("extend", "Extend", "can_extend", "soft"),
        ("deny", "Deny", "can_deny", "soft"),
        ("withdraw", "Withdrawn", "can_withdraw", "soft"),
    ]
    return rx.flex(
        *[
            rx.cond(
                r[flag].to(bool),
                rx.button(label, variant=variant, on_click=D.ask(key), id=f"action-{key}"),  # type: ignore[arg-type]
            )
            for key, label, flag, variant in items
        ],
        spacing="2",
        wrap="wrap",
    )


def _detail() -> rx.Component:
    r = D.request
    return rx.vstack(
        rx.link("← All requests", href=BASE, size="2", id="back-to-requests"),
        notice_callout(D.notice, id="request-notice"),
        error_callout(D.error, id="request-error"),
        rx.flex(
            rx.heading(r["reference"].to(str), as_="h2", size="5", id="request-reference"),
            rx.badge(r["status_label"].to(str), color_scheme="blue", id="request-status"),
            deadline_badge(r["tone"].to(str), r["badge"].to(str), id="request-deadline"),
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        _buttons(),
        rx.card(
            rx.vstack(
                detail_line("Kind", r["kind_label"], "request-kind"),
                detail_line("Jurisdiction", r["jurisdiction_label"], "request-jurisdiction"),
                detail_line("Received", r["received"], "request-received"),
                detail_line("Acknowledge by", r["acknowledge_by"], "request-ack"),
                detail_line("Answer due", r["due_on"], "request-due"),
                detail_line("Extension", r["extension_reason"], "request-extension"),
                detail_line("Requester", r["requester_name"], "requester-name"),
                detail_line("Email", r["requester_email"], "requester-email"),
                detail_line("Phone", r["requester_phone"], "requester-phone"),
                detail_line("Agent", r["agent_name"], "agent-name"),
                detail_line("Agent's email", r["agent_email"], "agent-email"),
                detail_line("Details", r["details"], "request-details"),
                detail_line("Outcome", r["outcome_note"], "request-outcome"),
                spacing="2",
                width="100%",
            ),
            width="100%",
        ),
        rx.heading("Clinics holding data", as_="h2", size="4"),
        rx.cond(
            D.clinics.length() > 0,  # type: ignore[attr-defined]
            rx.el.ul(
                rx.foreach(D.clinics, _clinic), id="matched-clinics", style={"margin_left": "1.2em"}
            ),  # fmt: skip
            rx.text(
                "No clinic holds data under these contact details.", size="2", id="no-clinics"
            ),  # fmt: skip
        ),
        rx.heading("Timeline", as_="h2", size="4"),
        rx.cond(
            D.timeline.length() > 0,  # type: ignore[attr-defined]
            rx.el.ol(
                rx.foreach(D.timeline, _step), id="timeline", style={"margin_left": "1.2em"}
            ),  # fmt: skip
            rx.text("Nothing has happened yet.", size="2", color_scheme="gray"),
        ),
        _dialogs(),
        spacing="4",
        width="100%",
    )


def request_page() -> rx.Component:
    return page_frame(
        detail_frame(
            D,
            _blocked(D),
            _detail(),
            back="← All requests",
            back_href=BASE,
            missing_id="request-missing",
        ),
        title="Privacy request",
    )
