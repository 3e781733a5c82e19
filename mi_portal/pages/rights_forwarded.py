"""/privacy/forwarded (the clinic's forwarded requests) and /privacy/forwarded/[id] (one, with the
clinic's own matching patients and the answers its kind allows)."""

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
from mi_portal.state.rights_forwarded import ForwardedListState as L
from mi_portal.state.rights_forwarded import ForwardState as D

BASE = "/privacy/forwarded"


def _blocked(state: type[L] | type[D]) -> rx.Component:
    return rx.match(
        state.blocked,
        (
            "switch",
            rx.callout(
                "Forwarded requests belong to a clinic. Switch into a clinic to see them.",
                icon="building_2",
                id="forwarded-needs-clinic",
            ),
        ),
        rx.callout(
            "Only the clinic's owner and managers answer privacy requests.",
            icon="info",
            id="forwarded-denied",
        ),
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.link(
                    row["reference"].to(str),
                    href=BASE + "/" + row["id"].to(str),
                    weight="bold",
                    class_name="forward-link",
                ),  # fmt: skip
                rx.text(row["kind_label"].to(str), " · ", row["status_label"].to(str), size="2"),
                rx.text(
                    "Received ",
                    row["received"].to(str),
                    " · due ",
                    row["due_on"].to(str),
                    size="1",
                    color_scheme="gray",
                ),  # fmt: skip
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
        class_name="forward-row",
    )


def forwarded_page() -> rx.Component:
    return page_frame(
        rx.cond(
            L.blocked != "",
            _blocked(L),
            rx.vstack(
                rx.text(
                    "Privacy-rights requests the platform verified and forwarded to this clinic. "
                    "Answer each before its deadline; the requester is told your answer.",
                    size="2",
                ),
                rx.flex(
                    rx.text("Show:", size="2", weight="medium"),
                    *[
                        filter_link(
                            label,
                            f"{BASE}?status={value}",
                            L.status == value,
                            id=f"filter-status-{value}",
                        )  # fmt: skip
                        for value, label in (
                            ("open", "Open"),
                            ("closed", "Answered"),
                            ("all", "All"),
                        )  # fmt: skip
                    ],
                    spacing="3",
                    wrap="wrap",
                    role="group",
                    aria_label="Filters",
                ),
                rx.cond(
                    L.loading,
                    rx.hstack(rx.spinner(), rx.text("Loading…")),
                    rx.cond(
                        L.rows.length() > 0,  # type: ignore[attr-defined]
                        rx.vstack(
                            rx.foreach(L.rows, _row), spacing="2", width="100%", id="forwarded-list"
                        ),  # fmt: skip
                        rx.text("No requests here.", color_scheme="gray", id="forwarded-empty"),
                    ),
                ),
                spacing="4",
                width="100%",
            ),
        ),
        title="Forwarded privacy requests",
    )


def _case(c: rx.Var) -> rx.Component:
    return rx.el.li(
        rx.link(c["label"].to(str), href="/cases/" + c["id"].to(str), size="2"),
        rx.text(" (", c["status"].to(str), ")", as_="span", size="2", color_scheme="gray"),
    )


def _field(name: str, label: str, value: rx.Var, patient_id: rx.Var, kind: str = "text"):  # type: ignore[no-untyped-def]
    field_id = "fix-" + name + "-" + patient_id.to(str)
    return rx.vstack(
        rx.el.label(label, html_for=field_id, style={"font_size": "var(--font-size-1)"}),
        rx.input(name=name, default_value=value.to(str), id=field_id, type=kind, width="100%"),
        spacing="1",
        width="100%",
    )


def _correction_form(p: rx.Var) -> rx.Component:
    pid = p["id"].to(str)
    return rx.form(
        rx.el.input(type="hidden", name="patient_id", value=pid),
        rx.grid(
            _field("full_name", "Name", p["full_name"], pid),
            _field("email", "Email", p["email"], pid, "email"),
            _field("phone", "Phone", p["phone"], pid, "tel"),
            _field("date_of_birth", "Date of birth", p["date_of_birth"], pid, "date"),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="2",
            width="100%",
        ),
        rx.button(
            "Save corrections",
            type="submit",
            size="2",
            margin_top="0.5em",
            class_name="save-correction",
        ),  # fmt: skip
        on_submit=D.correct,
        width="100%",
    )


def _patient(p: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(p["full_name"].to(str), weight="bold"),
            rx.text(
                p["email"].to(str),
                " ",
                p["phone"].to(str),
                size="2",
                style={"overflow_wrap": "anywhere"},
            ),  # fmt: skip
            rx.cond(
                p["date_of_birth"].to(str) != "",
                rx.text("Born ", p["date_of_birth"].to(str), size="2"),
            ),  # fmt: skip
            rx.el.ul(
                rx.foreach(p["cases"].to(list[dict[str, str]]), _case),
                style={"margin_left": "1.2em"},
            ),  # fmt: skip
            rx.cond(
                (D.forward["kind"].to(str) == "correction") & D.forward["is_open"].to(bool),
                _correction_form(p),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="matching-patient",
    )


_DIALOGS = {
    "deny": ("Deny this request?", "The requester is told your reason.", "Deny"),
    "complete": ("Mark as answered?", "The requester is told your note.", "Send answer"),
    "opt_out": ("Record the opt-out?", "Each matching patient is opted out of the sale and "
                "sharing of their data and of marketing; the requester is told.", "Record"),
    "limit": ("Limit the use of sensitive data?", "Recorded for each matching patient, and "
              "marketing stops; the requester is told.", "Record"),
    "send": ("Send the access package?", "The requester receives an expiring, single-use "
             "link to the package you previewed.", "Send"),
    "erase": ("Erase this person's data?", "Their cases, photos and details are deleted "
              "through the retention purge. Anything under a legal hold or a legal duty is "
              "kept and listed. This cannot be undone.", "Erase"),
}  # fmt: skip


def _dialogs() -> rx.Component:
    fields = {
        "deny": reason_field(D.text, D.set_text, label="Reason", id="text-deny"),
        "complete": reason_field(
            D.text, D.set_text, label="Note to the requester", id="text-complete"
        ),  # fmt: skip
        "erase": rx.vstack(
            rx.el.label(
                rx.text(
                    "Type the reference ",
                    rx.text.strong(D.forward["reference"].to(str)),
                    " to confirm",
                    size="2",
                ),
                html_for="typed-reference",
            ),  # fmt: skip
            rx.input(value=D.typed, on_change=D.set_typed, id="typed-reference", width="100%"),
            spacing="1",
            width="100%",
            margin_top="0.75em",
        ),
    }
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
                color="red" if key in ("deny", "erase") else "blue",
                error=D.dialog_error,
                field=fields.get(key),
            )
            for key, (title, body, label) in _DIALOGS.items()
        ]
    )


def _actions() -> rx.Component:
    kind = D.forward["kind"].to(str)
    button = rx.button
    return rx.cond(
        D.forward["is_open"].to(bool),
        rx.flex(
            rx.cond(
                D.forward["status"].to(str) == "forwarded",
                button("Start work", variant="soft", on_click=D.begin, id="action-start"),
            ),  # fmt: skip
            rx.match(
                kind,
                (
                    "access",
                    rx.fragment(
                        button("Prepare access package", on_click=D.prepare, id="action-prepare"),
                        rx.cond(
                            (D.preview.length() > 0)  # type: ignore[attr-defined]
                            | D.forward["package_ready"].to(bool),
                            button("Send to requester", on_click=D.ask("send"), id="action-send"),
                        ),
                    ),
                ),
                (
                    "deletion",
                    button(
                        "Erase through retention",
                        color_scheme="red",
                        high_contrast=True,
                        on_click=D.ask("erase"),
                        id="action-erase",
                    ),
                ),
                (
                    "opt_out",
                    button("Record opt-out", on_click=D.ask("opt_out"), id="action-opt-out"),
                ),
                ("limit", button("Record limit", on_click=D.ask("limit"), id="action-limit")),
                (
                    "correction",
                    button(
                        "Corrections done: answer", on_click=D.ask("complete"), id="action-complete"
                    ),
                ),
                rx.fragment(),
            ),  # fmt: skip
            button(
                "Deny", variant="soft", color_scheme="red", on_click=D.ask("deny"), id="action-deny"
            ),  # fmt: skip
            spacing="2",
            wrap="wrap",
        ),
        rx.callout(
            rx.text(
                "Answered ",
                D.forward["responded_at"].to(str),
                ": ",
                D.forward["response_note"].to(str),
            ),  # fmt: skip
            icon="check",
            id="forward-answered",
        ),
    )


def _preview() -> rx.Component:
    return rx.cond(
        D.preview.length() > 0,  # type: ignore[attr-defined]
        rx.card(
            rx.vstack(
                rx.heading("Package preview", as_="h2", size="4"),
                rx.text(
                    D.preview["files"].to(str), " files, ", D.preview["size"].to(str), size="2"
                ),  # fmt: skip
                rx.el.ul(
                    rx.foreach(
                        D.preview["counts"].to(list[str]),
                        lambda line: rx.el.li(rx.text(line, size="2")),
                    ),
                    style={"margin_left": "1.2em"},
                ),  # fmt: skip
                # The summary the requester receives, escaped on the server.
                # A scrolling box a keyboard can reach (and scroll) too.
                rx.box(
                    rx.html(D.preview["summary"].to(str)),
                    role="region",
                    aria_label="Summary the requester receives",
                    tab_index=0,
                    max_height="24rem",
                    overflow_y="auto",
                    width="100%",
                    padding="0.75em",
                    border="1px solid var(--gray-a6)",
                    border_radius="var(--radius-2)",
                    # The fragment's own headings and lists, readable inside the page.
                    style={
                        "& h1": {"font_size": "1.1em", "font_weight": "700"},
                        "& h2": {"font_size": "1em", "font_weight": "700", "margin_top": "0.75em"},
                        "& ul": {"list_style": "disc", "padding_left": "1.2em"},
                        "& p, & li": {"font_size": "0.875em", "margin_top": "0.25em"},
                    },
                    id="package-summary",
                ),
                spacing="2",
            ),
            width="100%",
            id="package-preview",
        ),
    )


def _kept() -> rx.Component:
    return rx.cond(
        D.kept.length() > 0,  # type: ignore[attr-defined]
        rx.card(
            rx.heading("Kept, and why", as_="h2", size="4"),
            rx.el.ul(
                rx.foreach(
                    D.kept, lambda k: rx.el.li(rx.text(k["case"], ": ", k["reason"], size="2"))
                ),
                style={"margin_left": "1.2em"},
            ),  # fmt: skip
            width="100%",
            id="erase-kept",
        ),
    )


def _detail() -> rx.Component:
    f = D.forward
    return rx.vstack(
        rx.link("← All forwarded requests", href=BASE, size="2"),
        notice_callout(D.notice, id="forward-notice"),
        error_callout(D.error, id="forward-error"),
        rx.flex(
            rx.heading(f["reference"].to(str), as_="h2", size="5", id="forward-reference"),
            rx.badge(f["status_label"].to(str), color_scheme="blue", id="forward-status"),
            deadline_badge(f["tone"].to(str), f["badge"].to(str), id="forward-deadline"),
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        _actions(),
        _preview(),
        _kept(),
        rx.card(
            rx.vstack(
                detail_line("Asks to", f["kind_label"], "forward-kind"),
                detail_line("Received", f["received"], "forward-received"),
                detail_line("Answer by", f["due_on"], "forward-due"),
                detail_line("Requester", f["requester_name"], "forward-requester"),
                detail_line("Email", f["requester_email"], "forward-email"),
                detail_line("Phone", f["requester_phone"], "forward-phone"),
                detail_line("Agent", f["agent_name"], "forward-agent"),
                detail_line("Agent's email", f["agent_email"], "forward-agent-email"),
                detail_line("Details", f["details"], "forward-details"),
                spacing="2",
                width="100%",
            ),
            width="100%",
        ),
        rx.heading("Your matching patients", as_="h2", size="4"),
        error_callout(D.correction_error, id="correction-error"),
        rx.cond(
            D.patients.length() > 0,  # type: ignore[attr-defined]
            rx.vstack(
                rx.foreach(D.patients, _patient), spacing="2", width="100%", id="matching-patients"
            ),  # fmt: skip
            rx.text(
                "No patient of this clinic has these contact details.", size="2", id="no-patients"
            ),  # fmt: skip
        ),
        _dialogs(),
        spacing="4",
        width="100%",
    )


def forward_page() -> rx.Component:
    return page_frame(
        detail_frame(
            D,
            _blocked(D),
            _detail(),
            back="← All forwarded requests",
            back_href=BASE,
            missing_id="forward-missing",
        ),
        title="Privacy request",
    )
