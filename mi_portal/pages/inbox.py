"""Case queue: tabs with live counts, filters in the URL, bulk actions, keyboard navigation."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import error_callout, page_frame
from mi_portal.pages.inbox_filters import filter_bar, status_tabs
from mi_portal.pages.legal_holds import hold_badge
from mi_portal.state.inbox import STATUS_LABELS, InboxState

SLA_BADGES = {
    "on_time": ("On time", "green"),
    "due_soon": ("Due soon", "amber"),
    "overdue": ("Overdue", "red"),
    # Short: the column says it is the quote's target, and a phone has little room.
    "met": ("Met", "green"),
    "missed": ("Missed", "orange"),
}

# j/k move, Enter opens, a assigns to me, / searches. Plain DOM: no state round trip per key.
KEYBOARD = """
if (!window.__miInboxKeys) {
  window.__miInboxKeys = true;
  document.addEventListener('keydown', (e) => {
    if (!document.getElementById('inbox-table')) return;
    const tag = (document.activeElement && document.activeElement.tagName) || '';
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(tag) || e.metaKey || e.ctrlKey || e.altKey) {
      if (e.key === 'Escape') document.activeElement.blur();
      return;
    }
    const rows = Array.from(document.querySelectorAll('.inbox-row'));
    let i = rows.findIndex((r) => r.dataset.active === '1');
    if (e.key === '/') { e.preventDefault(); document.getElementById('inbox-search')?.focus(); return; }
    if (e.key === 'Enter' && i >= 0) { rows[i].querySelector('a.case-link')?.click(); return; }
    if (e.key === 'a' && i >= 0) { rows[i].querySelector('.assign-me')?.click(); return; }
    if (e.key === 'j') i = Math.min(rows.length - 1, i + 1);
    else if (e.key === 'k') i = Math.max(0, i - 1);
    else return;
    rows.forEach((r) => { r.dataset.active = ''; });
    if (rows[i]) { rows[i].dataset.active = '1'; rows[i].scrollIntoView({ block: 'nearest' }); }
  });
}
"""

ROW_STYLE = (
    ".inbox-row[data-active='1'] { outline: 2px solid var(--accent-9); outline-offset: -2px;"
    " background: var(--accent-a2); }"
    " .row-thumb { width: 44px; height: 44px; object-fit: cover; border-radius: 4px; display: block; }"
    " .row-thumb.blurred { filter: blur(6px); }"
    " .sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;"
    " overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }"
    " .filter-search { width: 260px; max-width: 100%; }"
    " .filter-date { display: flex; flex-direction: column; gap: 2px; }"
    " .filter-select { max-width: 100%; }"
    # On a phone the table keeps what a row needs to be picked: the rest is on the case page.
    " @media (max-width: 720px) { #inbox-table .col-wide { display: none; }"
    " .filter-search { width: 100%; } #inbox-table .patient-contact { display: none; }"
    " #inbox-table { --table-cell-padding: 4px; } .inbox-keys { display: none; }"
    # The button keeps its name for assistive technology; only the words leave the narrow row.
    " .assign-label { position: absolute; width: 1px; height: 1px; overflow: hidden;"
    " clip: rect(0, 0, 0, 0); white-space: nowrap; } }"
)


def _bulk_bar() -> rx.Component:
    return rx.cond(
        InboxState.selected.length() > 0,  # type: ignore[attr-defined]
        rx.hstack(
            rx.text(
                InboxState.selected.length(),
                " selected",
                size="2",
                weight="medium",
                id="selected-count",
            ),  # type: ignore[attr-defined]
            rx.select.root(
                rx.select.trigger(placeholder="Assign to…", id="bulk-assign"),
                rx.select.content(
                    rx.select.item("Nobody (unassign)", value="none"),
                    rx.foreach(
                        InboxState.members, lambda m: rx.select.item(m["name"], value=m["id"])
                    ),
                ),
                on_change=InboxState.bulk_assign,
                value="",
            ),
            rx.select.root(
                rx.select.trigger(placeholder="Set status…", id="bulk-status"),
                rx.select.content(
                    *[
                        rx.select.item(label, value=key)
                        for key, label in STATUS_LABELS.items()
                        if key != "new"
                    ]
                ),
                on_change=InboxState.bulk_status,
                value="",
            ),
            rx.button(
                "Clear", variant="ghost", high_contrast=True, on_click=InboxState.select_all(False)
            ),
            padding="0.6em",
            border_radius="8px",
            background="var(--accent-a3)",
            align="center",
            spacing="3",
        ),
    )


def _sla(row: rx.Var) -> rx.Component:
    return rx.match(
        row["sla"],
        *[
            (key, rx.badge(label, color_scheme=color, title=row["sla_due_at"]))
            for key, (label, color) in SLA_BADGES.items()
        ],  # type: ignore[arg-type]
        rx.text("—", color_scheme="gray"),
    )


def _row(row: rx.Var) -> rx.Component:
    rid = row["id"].to(str)
    return rx.table.row(
        rx.table.cell(
            rx.cond(
                InboxState.can_edit,
                rx.checkbox(
                    checked=InboxState.selected.contains(rid),
                    on_change=lambda v: InboxState.toggle_selected(rid, v),
                    class_name="row-select",
                    aria_label="Select case " + row["reference"].to(str),
                ),  # type: ignore[attr-defined]
            )
        ),
        rx.table.cell(
            rx.cond(
                row["thumbnail"].to(str) != "",
                rx.cond(
                    row["blur"].to(bool),
                    rx.el.img(src=row["thumbnail"].to(str), alt="", class_name="row-thumb blurred"),
                    rx.el.img(src=row["thumbnail"].to(str), alt="", class_name="row-thumb"),
                ),
            ),
            class_name="col-wide",
        ),
        rx.table.cell(
            rx.flex(
                rx.link(
                    row["reference"], href="/cases/" + rid, class_name="case-link", weight="medium"
                ),
                hold_badge(row["held"].to(bool), class_name="row-hold"),
                direction="column",
                align="start",
                gap="1",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(row["patient"], weight="medium", class_name="patient-name"),
                rx.text(
                    row["contact"], size="1", color_scheme="gray", class_name="patient-contact"
                ),
                spacing="0",
            )
        ),
        rx.table.cell(row["concern_label"], class_name="col-wide row-concern"),
        rx.table.cell(rx.badge(row["status_label"], variant="outline", class_name="row-status")),
        rx.table.cell(rx.text(row["assignee"], class_name="row-assignee"), class_name="col-wide"),
        rx.table.cell(row["received_at"], white_space="nowrap", class_name="col-wide"),
        rx.table.cell(_sla(row)),
        rx.table.cell(
            rx.hstack(
                rx.hstack(
                    rx.icon("image", size=14),
                    rx.text(row["photos"], size="2"),
                    spacing="1",
                    align="center",
                    title="photos",
                ),
                rx.cond(
                    row["unread"].to(int) > 0, rx.badge(row["unread"], " new", color_scheme="blue")
                ),
                spacing="2",
            ),
            class_name="col-wide",
        ),
        rx.table.cell(
            rx.cond(
                InboxState.can_edit & ~row["mine"].to(bool),
                rx.button(
                    rx.icon("user_plus", size=14, aria_hidden="true"),
                    rx.el.span("Assign to me", class_name="assign-label"),
                    size="1",
                    variant="ghost",
                    on_click=InboxState.assign_to_me(rid),
                    class_name="assign-me",
                    title="Assign to me (a)",
                    white_space="nowrap",
                ),
            )
        ),
        class_name="inbox-row",
    )


def _table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell(
                    rx.cond(
                        InboxState.can_edit,
                        rx.checkbox(
                            on_change=InboxState.select_all,
                            id="select-all",
                            aria_label="Select every case on this page",
                            checked=(InboxState.selected.length() > 0)
                            & (InboxState.selected.length() == InboxState.rows.length()),
                        ),
                        rx.el.span("Selection", class_name="sr-only"),
                    )  # type: ignore[attr-defined]
                ),
                *[
                    rx.table.column_header_cell(
                        rx.el.span(h, class_name="sr-only") if hidden else h,
                        class_name="col-wide" if wide else "",
                    )
                    for h, hidden, wide in (
                        ("Photo", True, True),
                        ("Case", False, False),
                        ("Patient", False, False),
                        ("Concern", False, True),
                        ("Status", False, False),
                        ("Assignee", False, True),
                        ("Received", False, True),
                        ("Quote SLA", False, False),
                        ("Photos and messages", True, True),
                        ("Actions", True, False),
                    )
                ],
            )
        ),
        rx.table.body(rx.foreach(InboxState.rows, _row)),
        width="100%",
        size="1",
        id="inbox-table",
    )


def inbox_page() -> rx.Component:
    return page_frame(
        rx.script(KEYBOARD),
        rx.el.style(ROW_STYLE),
        rx.match(
            InboxState.blocked,
            ("switch", _needs_clinic()),
            (
                "denied",
                rx.callout(
                    "Your role does not include the case queue.",
                    icon="info",
                    id="inbox-denied",
                    high_contrast=True,
                ),
            ),
            _queue(),
        ),
        title="Cases",
    )


def _needs_clinic() -> rx.Component:
    return rx.callout(
        rx.text(
            "Cases belong to a clinic. Switch into the clinic you are helping to see its queue: ",
            rx.link(
                "choose a clinic",
                href="/clinics/pick",
                id="inbox-switch-link",
                underline="always",
                high_contrast=True,
            ),
            ".",
        ),
        icon="building_2",
        id="inbox-needs-clinic",
        high_contrast=True,
    )


def _queue() -> rx.Component:
    return rx.vstack(
        status_tabs(),
        filter_bar(),
        error_callout(InboxState.error),
        rx.cond(
            InboxState.notice != "",
            rx.callout(
                InboxState.notice,
                icon="check",
                color_scheme="green",
                high_contrast=True,
                id="inbox-notice",
                role="status",
            ),
        ),
        _bulk_bar(),
        rx.cond(
            InboxState.loading,
            rx.hstack(rx.spinner(), rx.text("Loading cases…"), id="inbox-loading"),
            rx.cond(
                InboxState.total > 0,
                rx.vstack(
                    _table(),
                    rx.hstack(
                        rx.button(
                            "Previous",
                            variant="soft",
                            disabled=InboxState.page == 0,
                            on_click=InboxState.go_to_page(InboxState.page - 1),
                            id="page-prev",
                        ),
                        rx.text(
                            "Page ",
                            InboxState.page + 1,
                            " of ",
                            InboxState.page_count,
                            " · ",
                            InboxState.total,
                            " cases",
                            size="2",
                            id="page-label",
                        ),
                        rx.button(
                            "Next",
                            variant="soft",
                            disabled=InboxState.page + 1 >= InboxState.page_count,
                            on_click=InboxState.go_to_page(InboxState.page + 1),
                            id="page-next",
                        ),
                        align="center",
                        spacing="3",
                    ),
                    rx.text(InboxState.zone_caption, size="1", id="inbox-zone"),
                    rx.text(
                        "Keys: j/k move · Enter open · a assign to me · / search",
                        size="1",
                        color_scheme="gray",
                        class_name="inbox-keys",
                    ),
                    width="100%",
                ),
                rx.callout(
                    "No cases match this view. Clear a filter or pick another tab.",
                    icon="inbox",
                    id="inbox-empty",
                    high_contrast=True,
                ),
            ),
        ),
        spacing="5",
        width="100%",
        id="inbox",
    )
