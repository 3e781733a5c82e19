"""Quote builder page: the draft edited line by line (saved as typed), sending, versions."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mi_portal.components.fields import bare_checkbox, check_label
from mi_portal.components.layout import confirm_dialog, error_callout, page_frame
from mi_portal.components.quote_editor import draft_read_only, editor
from mi_portal.components.quote_parts import status_badge, totals
from mi_portal.state.inbox import STATUS_LABELS
from mi_portal.state.quote_builder import QuoteBuilderState

S = QuoteBuilderState


def _case_status() -> rx.Var:
    return rx.match(S.case_status, *STATUS_LABELS.items(), S.case_status)  # type: ignore[return-value]


# --- one version, read-only ---------------------------------------------------------------------


def _doc_line(line: rx.Var) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(line["description"], weight="medium", size="2"),
            rx.spacer(),
            rx.text(line["amount"], size="2", class_name="doc-line-amount"),
            width="100%",
            align="start",
        ),
        rx.text(
            line["quantity"].to(str),
            " × ",
            line["unit_price"],
            rx.cond(line["unit_label"] != "", " per " + line["unit_label"].to(str), ""),
            rx.cond(line["discount"] != "", " · " + line["discount"].to(str), ""),
            rx.cond(line["tax"] != "", " · " + line["tax"].to(str), ""),
            size="1",
            color_scheme="gray",
        ),
        width="100%",
        padding_y="0.4em",
        border_bottom="1px solid var(--gray-a4)",
        class_name="doc-line",
    )


def _document() -> rx.Component:
    d = S.shown
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Version ", d["version"].to(str), size="4", as_="h2"),
                status_badge(d["status"], d["status_label"], id="shown-status"),
                rx.spacer(),
                rx.button(
                    "Download PDF",
                    on_click=S.download_pdf,
                    variant="soft",
                    size="1",
                    id="download-pdf",
                ),
                align="center",
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            rx.text(
                rx.cond(d["sent_on"] != "", "Sent " + d["sent_on"].to(str) + " · ", ""),
                "Valid until ",
                d["valid_until"].to(str),
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                d["accepted_name"] != "",
                rx.callout(
                    "Accepted by " + d["accepted_name"].to(str) + " on " + d["accepted_at"].to(str),
                    icon="circle_check",
                    color_scheme="green",
                    id="shown-accepted",
                ),
            ),
            rx.cond(
                d["status"] == "declined",
                rx.callout(
                    "Declined"
                    + rx.cond(  # type: ignore[operator]
                        d["decline_reason"] != "", ": " + d["decline_reason"].to(str), "."
                    ),
                    icon="circle_x",
                    color_scheme="red",
                    id="shown-declined",
                ),
            ),
            rx.foreach(d["lines"].to(list[dict[str, Any]]), _doc_line),
            totals(d, "shown"),
            rx.cond(
                d["message"] != "",
                rx.vstack(
                    rx.text("Message to the patient", size="1", color_scheme="gray"),
                    rx.text(d["message"], white_space="pre-wrap", size="2"),
                    spacing="0",
                ),
            ),
            rx.cond(
                d["terms"] != "",
                rx.vstack(
                    rx.text("Terms", size="1", color_scheme="gray"),
                    rx.text(d["terms"], white_space="pre-wrap", size="2"),
                    spacing="0",
                ),
            ),
            rx.hstack(
                rx.cond(
                    S.may_revise,
                    rx.button(
                        rx.icon("pencil", size=14), "Revise", on_click=S.start, id="revise-quote"
                    ),
                ),
                rx.cond(
                    S.may_withdraw,
                    rx.button(
                        "Withdraw",
                        variant="soft",
                        color_scheme="red",
                        on_click=S.ask_withdraw,
                        id="withdraw-quote",
                    ),
                ),
                rx.cond(
                    S.draft_version > 0,
                    rx.link(
                        "Go to the draft (version ", S.draft_version, ")", href=_address(), size="2"
                    ),
                ),
                wrap="wrap",
                spacing="3",
                align="center",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="quote-document",
    )


# --- versions, dialogs, page --------------------------------------------------------------------


def _address() -> rx.Var:
    return "/cases/" + S.case_id + "/quote"  # type: ignore[return-value]


def _version(v: rx.Var) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.text("Version ", v["version"].to(str), size="2", weight="medium"),
            status_badge(v["status"], v["status_label"]),
            rx.spacer(),
            rx.text(v["total"], size="2"),
            width="100%",
            align="center",
            spacing="2",
        ),
        href=_address() + "?v=" + v["version"].to(str),
        class_name="quote-version",
        underline="none",
        width="100%",
    )


def _versions() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Versions", size="3", as_="h2"),
            rx.foreach(S.versions, _version),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="quote-versions",
    )


def _confirm(
    title: str, body: rx.Component, *, open: rx.Var, action: Any, label: str, id: str,
    color: str = "red",
) -> rx.Component:  # fmt: skip
    return confirm_dialog(
        title, body, open=open, on_confirm=action, on_cancel=S.close_dialogs,
        confirm_label=label, confirm_id=id, color=color,
    )  # fmt: skip


def _send_dialog() -> rx.Component:
    return _confirm(
        "Send this quote to the patient?",
        rx.vstack(
            rx.text(
                "Total ", rx.text(S.amounts["total"], as_="span", weight="bold", id="send-total")
            ),
            rx.text("The patient receives an email with a link to the quote."),
            rx.cond(
                S.sms_possible,
                check_label(
                    bare_checkbox(
                        checked=S.send_sms,
                        on_change=S.set_send_sms,
                        id="send-sms",
                    ),
                    "Also send a text message (the patient agreed to texts)",
                ),
            ),
            spacing="2",
        ),
        open=S.send_open,
        action=S.send,
        label="Send",
        id="confirm-send",
        color="blue",
    )


def _dialogs() -> rx.Component:
    return rx.fragment(
        _send_dialog(),
        _confirm(
            "Withdraw this quote?",
            rx.text("The patient's link will say the quote was withdrawn."),
            open=S.withdraw_open,
            action=S.withdraw,
            label="Withdraw",
            id="confirm-withdraw",
        ),
        _confirm(
            "Discard this draft?",
            rx.text("What was typed in this version is deleted."),
            open=S.discard_open,
            action=S.discard,
            label="Discard",
            id="confirm-discard",
        ),
    )


def _body() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Case status", size="2", color_scheme="gray"),
            rx.badge(_case_status(), size="2", id="quote-case-status"),
            align="center",
            spacing="3",
        ),
        error_callout(S.error, id="quote-error"),
        rx.cond(
            S.notice != "", rx.callout(S.notice, icon="check", id="quote-notice", role="status")
        ),
        rx.cond(
            S.version_missing,
            rx.callout(
                "That version does not exist; showing the current one.",
                icon="info",
                id="version-missing",
            ),
        ),
        rx.grid(
            rx.box(
                rx.match(
                    S.mode,
                    ("draft", rx.cond(S.may_edit, editor(), draft_read_only())),
                    ("document", _document()),
                    rx.vstack(
                        rx.text("No quote for this case yet.", id="quote-empty"),
                        rx.cond(
                            S.may_edit,
                            rx.button(
                                rx.icon("plus", size=14),
                                "Start a quote",
                                on_click=S.start,
                                id="start-quote",
                            ),
                        ),
                        spacing="3",
                    ),
                ),
                width="100%",
                min_width="0",
            ),
            rx.box(
                rx.cond(S.versions.length() > 0, _versions()),  # type: ignore[attr-defined]
                width="100%",
                min_width="0",
            ),
            columns=rx.breakpoints(initial="1", md="3fr 1fr"),
            spacing="4",
            width="100%",
        ),
        _dialogs(),
        spacing="3",
        width="100%",
        id="quote-content",
    )


def quote_builder_page() -> rx.Component:
    return page_frame(
        rx.link(
            rx.cond(S.case_id != "", "← Back to the case", "← Back to cases"),
            href="/cases/" + S.case_id,
            size="2",
            id="back-to-case",
        ),
        rx.cond(
            S.loading,
            rx.hstack(rx.spinner(), rx.text("Loading the quote…")),
            rx.cond(
                S.not_found,
                rx.callout(
                    "This case does not exist or is not in your clinic.",
                    icon="info",
                    id="quote-not-found",
                ),
                _body(),
            ),
        ),
        title=S.heading,  # type: ignore[arg-type]
    )
