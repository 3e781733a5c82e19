"""Quote builder page: the draft edited line by line (saved as typed), sending, versions."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mi_portal.components.fields import bare_checkbox, check_label
from mi_portal.components.layout import error_callout, page_frame
from mi_portal.state.inbox import STATUS_LABELS
from mi_portal.state.quote_builder import NO_TAX, QuoteBuilderState

S = QuoteBuilderState
F = S.quote_form
DEBOUNCE_MS = 500
STATUS_COLORS = {
    "draft": "gray",
    "sent": "blue",
    "viewed": "cyan",
    "accepted": "green",
    "declined": "red",
    "expired": "orange",
    "withdrawn": "gray",
    "superseded": "gray",
}
KINDS = (("none", "No discount"), ("amount", "Amount"), ("percent", "Percent"))
DEPOSIT_KINDS = (("none", "No deposit"), ("amount", "Amount"), ("percent", "% of total"))


def _status_badge(status: rx.Var, label: rx.Var, **props: Any) -> rx.Component:
    return rx.badge(
        label,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),  # type: ignore[arg-type]
        **props,
    )


def _case_status() -> rx.Var:
    return rx.match(S.case_status, *STATUS_LABELS.items(), S.case_status)  # type: ignore[return-value]


def _err(message: rx.Var, id: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.text(message, color_scheme="red", size="1", class_name="field-error", id=id),
    )


def _labelled(label: str | rx.Var, control: rx.Component, error: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray", as_="div"),
        control,
        error,
        spacing="1",
        min_width="0",
        width="100%",
    )


def _kind_select(
    value: rx.Var,
    on_change: Any,
    *,
    choices: tuple[tuple[str, str], ...],
    label: rx.Var | str,
    id: rx.Var | str,
) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(aria_label=label, id=id, width="100%"),
        rx.select.content(*[rx.select.item(text, value=key) for key, text in choices]),
        value=value,
        on_change=on_change,
    )


# --- the draft editor ---------------------------------------------------------------------------


def _line(r: rx.Var) -> rx.Component:
    i = r["index"].to(int)
    n = r["number"].to(str)

    def field_id(name: str) -> rx.Var:
        return "line-" + r["index"].to(str) + "-" + name  # type: ignore[return-value]

    def text_input(name: str, label: str, **props: Any) -> rx.Component:
        return _labelled(
            label,
            rx.input(
                value=r[name].to(str),
                on_change=lambda v: S.set_line(i, name, v),
                debounce_timeout=DEBOUNCE_MS,
                aria_label=label + ", line " + n,  # type: ignore[operator]
                aria_invalid=rx.cond(r[f"err_{name}"] != "", "true", "false"),
                id=field_id(name),
                width="100%",
                **props,
            ),
            _err(r[f"err_{name}"].to(str), field_id(name) + "-error"),
        )

    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Line ", n, weight="medium", size="2"),
                rx.spacer(),
                rx.text(
                    r["amount"], weight="medium", class_name="line-amount", id=field_id("amount")
                ),
                rx.icon_button(
                    rx.icon("arrow_up", size=14),
                    size="1",
                    variant="soft",
                    disabled=r["index"] == "0",
                    on_click=S.move_line(i, -1),
                    aria_label="Move line " + n + " up",  # type: ignore[operator]
                ),
                rx.icon_button(
                    rx.icon("arrow_down", size=14),
                    size="1",
                    variant="soft",
                    disabled=r["last"] == "yes",
                    on_click=S.move_line(i, 1),
                    aria_label="Move line " + n + " down",  # type: ignore[operator]
                ),
                rx.icon_button(
                    rx.icon("trash_2", size=14),
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=S.remove_line(i),
                    aria_label="Remove line " + n,  # type: ignore[operator]
                    class_name="line-remove",
                ),
                align="center",
                width="100%",
                spacing="2",
            ),
            text_input("description", "Description", max_length=600),
            rx.grid(
                text_input("quantity", "Quantity", input_mode="numeric"),
                text_input("unit_price", "Unit price", input_mode="decimal"),
                _labelled(
                    "Discount",
                    _kind_select(
                        r["discount_kind"].to(str),
                        lambda v: S.set_line(i, "discount_kind", v),
                        choices=KINDS,
                        label="Discount kind, line " + n,  # type: ignore[operator]
                        id=field_id("discount_kind"),
                    ),
                    _err(r["err_discount_kind"].to(str), field_id("discount_kind") + "-error"),
                ),
                rx.cond(
                    r["discount_kind"] != "none",
                    text_input("discount_value", "Discount value", input_mode="decimal"),
                ),
                _labelled(
                    "Tax",
                    rx.select.root(
                        rx.select.trigger(
                            aria_label="Tax class, line " + n,  # type: ignore[operator]
                            id=field_id("tax_class"),
                            width="100%",
                        ),
                        rx.select.content(
                            rx.select.item("No tax", value=NO_TAX),
                            rx.foreach(
                                S.taxes, lambda t: rx.select.item(t["label"], value=t["id"])
                            ),
                        ),
                        value=r["tax_class"].to(str),
                        on_change=lambda v: S.set_line(i, "tax_class", v),
                    ),
                    _err(r["err_tax_class"].to(str), field_id("tax_class") + "-error"),
                ),
                columns=rx.breakpoints(initial="2", md="5"),
                spacing="3",
                width="100%",
            ),
            rx.cond(
                r["unit_label"] != "",
                rx.text("Per ", r["unit_label"], size="1", color_scheme="gray"),
            ),
            _err(r["err_item"].to(str), field_id("item-error")),
            _err(r["err_package"].to(str), field_id("package-error")),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="quote-line",
    )


def _add_line() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(
                placeholder="Add from the catalog…",
                aria_label="Add a line from the catalog",
                id="add-from-catalog",
                max_width="100%",
            ),
            rx.select.content(
                rx.foreach(S.catalog, lambda c: rx.select.item(c["label"], value=c["key"])),
            ),
            value="",
            on_change=S.add_line,
        ),
        rx.button(
            rx.icon("plus", size=14),
            "Free-text line",
            variant="soft",
            on_click=S.add_line("free"),
            id="add-free-line",
        ),
        wrap="wrap",
        spacing="3",
        align="center",
    )


def _quote_input(key: str, label: str, **props: Any) -> rx.Component:
    return _labelled(
        label,
        rx.input(
            value=F[key],
            on_change=lambda v: S.set_field(key, v),
            debounce_timeout=DEBOUNCE_MS,
            aria_label=label,
            id=f"quote-{key}",
            width="100%",
            **props,
        ),
        _err(F[f"err_{key}"], f"quote-{key}-error"),
    )


def _quote_area(key: str, label: str) -> rx.Component:
    return _labelled(
        label,
        rx.text_area(
            value=F[key],
            on_change=lambda v: S.set_field(key, v),
            debounce_timeout=DEBOUNCE_MS,
            aria_label=label,
            id=f"quote-{key}",
            width="100%",
            rows="3",
        ),
        _err(F[f"err_{key}"], f"quote-{key}-error"),
    )


def _quote_fields() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("The quote", size="3", as_="h2"),
            rx.grid(
                _labelled(
                    "Discount on the quote",
                    _kind_select(
                        F["discount_kind"],
                        lambda v: S.set_field("discount_kind", v),
                        choices=KINDS,
                        label="Discount on the quote",
                        id="quote-discount_kind",
                    ),
                    _err(F["err_discount_kind"], "quote-discount_kind-error"),
                ),
                rx.cond(
                    F["discount_kind"] != "none",
                    _quote_input("discount_value", "Quote discount value", input_mode="decimal"),
                ),
                _labelled(
                    "Deposit",
                    _kind_select(
                        F["deposit_kind"],
                        lambda v: S.set_field("deposit_kind", v),
                        choices=DEPOSIT_KINDS,
                        label="Deposit",
                        id="quote-deposit_kind",
                    ),
                    _err(F["err_deposit_kind"], "quote-deposit_kind-error"),
                ),
                rx.cond(
                    F["deposit_kind"] != "none",
                    _quote_input("deposit_value", "Deposit value", input_mode="decimal"),
                ),
                _quote_input("valid_until", "Valid until", type="date"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            _quote_area("message", "Message to the patient"),
            _quote_area("terms", "Terms"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _amount_row(label: str, value: rx.Var, id: str, *, strong: bool = False) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", weight="bold" if strong else "regular"),
        rx.spacer(),
        rx.text(value, size="2", weight="bold" if strong else "regular", id=id),
        width="100%",
    )


def _totals(amounts: rx.Var, prefix: str) -> rx.Component:
    return rx.vstack(
        _amount_row("Subtotal", amounts["subtotal"], f"{prefix}-subtotal"),
        rx.cond(
            amounts["discount"] != "",
            _amount_row("Discount", amounts["discount"], f"{prefix}-discount"),
        ),
        _amount_row("Tax", amounts["tax"], f"{prefix}-tax"),
        _amount_row("Total", amounts["total"], f"{prefix}-total", strong=True),
        rx.cond(
            amounts["deposit"] != "",
            _amount_row("Deposit", amounts["deposit"], f"{prefix}-deposit"),
        ),
        spacing="1",
        width="100%",
    )


def _draft_totals() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Totals", size="3", as_="h2"),
            rx.cond(
                S.amounts.length() > 0,  # type: ignore[attr-defined]
                _totals(S.amounts, "draft"),
                rx.text(
                    "Correct the marked fields to see the totals.",
                    size="2",
                    color_scheme="orange",
                    id="draft-totals-pending",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _save_status() -> rx.Component:
    return rx.text(
        rx.cond(S.saving, "Saving…", rx.cond(S.saved_at != "", "Saved " + S.saved_at, "")),
        size="1",
        color_scheme="gray",
        id="save-status",
        role="status",
    )


def _draft_actions() -> rx.Component:
    return rx.hstack(
        rx.cond(
            S.may_send,
            rx.button(
                rx.icon("send", size=14), "Send to patient", on_click=S.ask_send, id="send-quote"
            ),
            rx.text("Owners, managers and providers send quotes.", size="2", color_scheme="gray"),
        ),
        rx.button(
            "Discard draft",
            variant="soft",
            color_scheme="red",
            on_click=S.ask_discard,
            id="discard-draft",
        ),
        wrap="wrap",
        spacing="3",
        align="center",
    )


def _editor() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Draft, version ", S.draft_version, size="4", as_="h2"),
            _save_status(),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        _err(F["err_lines"], "quote-lines-error"),
        rx.foreach(S.lines_view, _line),
        rx.cond(
            S.lines_view.length() == 0,  # type: ignore[attr-defined]
            rx.text(
                "No lines yet: add one from the catalog or as free text.",
                size="2",
                color_scheme="gray",
            ),
        ),
        _add_line(),
        _quote_fields(),
        _draft_totals(),
        _draft_actions(),
        spacing="3",
        width="100%",
        id="quote-editor",
    )


def _draft_read_only() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Version " + S.draft_version.to(str) + " is a draft being prepared; it is not sent.",
            icon="info",
            id="draft-read-only",
        ),
        rx.cond(S.amounts.length() > 0, rx.card(_totals(S.amounts, "draft"), width="100%")),  # type: ignore[attr-defined]
        width="100%",
    )


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
                _status_badge(d["status"], d["status_label"], id="shown-status"),
                rx.spacer(),
                rx.cond(
                    S.pdf_url != "",
                    rx.link("Download PDF", href=S.pdf_url, is_external=True, id="download-pdf"),
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
            _totals(d, "shown"),
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
            _status_badge(v["status"], v["status_label"]),
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
    title: str,
    body: rx.Component,
    *,
    open: rx.Var,
    action: Any,
    label: str,
    id: str,
    color: str = "red",
) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(body, as_child=False),
            rx.flex(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", on_click=S.close_dialogs)
                ),
                rx.alert_dialog.action(
                    rx.button(label, color_scheme=color, on_click=action, id=id)
                ),
                spacing="3",
                justify="end",
                margin_top="1em",
            ),
        ),
        open=open,
    )


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
                    ("draft", rx.cond(S.may_edit, _editor(), _draft_read_only())),
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
