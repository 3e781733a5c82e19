"""Case queue: tabs with live counts, filters in the URL, bulk actions, keyboard navigation."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import error_callout, page_frame
from mi_portal.models import SubmissionStatus
from mi_portal.services.intake import CONCERN_AREAS
from mi_portal.state.inbox import InboxState

STATUS_LABELS = {s.value: s.value.replace("_", " ").capitalize() for s in SubmissionStatus}
SLA_BADGES = {
    "on_time": ("On time", "green"),
    "due_soon": ("Due soon", "amber"),
    "overdue": ("Overdue", "red"),
    "met": ("Quoted in time", "green"),
    "missed": ("Quoted late", "orange"),
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
)


def _tab(label: str, status: str) -> rx.Component:
    active = InboxState.filters.get("status", "") == status  # type: ignore[attr-defined]
    return rx.button(
        label,
        rx.cond(
            status != "", rx.badge(InboxState.counts.get(status, 0), variant="soft", radius="full")
        ),  # type: ignore[attr-defined]
        variant=rx.cond(active, "solid", "soft"),
        size="1",
        on_click=InboxState.show_status(status),
        class_name="status-tab",
        id=f"tab-{status or 'all'}",
    )


def _filters() -> rx.Component:
    f = InboxState.filters
    return rx.form(
        rx.hstack(
            rx.input(
                id="inbox-search",
                name="search",
                placeholder=InboxState.search_hint,
                default_value=f.get("search", ""),
                width="260px",
            ),  # type: ignore[attr-defined]
            rx.el.select(
                rx.el.option("Anyone", value=""),
                rx.el.option("Mine", value="mine"),
                rx.el.option("Unassigned", value="unassigned"),
                rx.foreach(InboxState.members, lambda m: rx.el.option(m["name"], value=m["id"])),
                name="assignee",
                default_value=f.get("assignee", ""),  # type: ignore[attr-defined]
                id="filter-assignee",
                class_name="rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface",
            ),
            rx.el.select(
                rx.el.option("Any concern", value=""),
                *[rx.el.option(label, value=key) for key, label in CONCERN_AREAS.items()],
                name="concern_area",
                default_value=f.get("concern_area", ""),  # type: ignore[attr-defined]
                class_name="rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface",
            ),
            rx.input(
                name="received_from",
                type="date",
                default_value=f.get("received_from", ""),
                title="Received from",
            ),  # type: ignore[attr-defined]
            rx.input(
                name="received_to",
                type="date",
                default_value=f.get("received_to", ""),
                title="Received until",
            ),  # type: ignore[attr-defined]
            rx.el.select(
                rx.el.option("Quote: any", value=""),
                rx.el.option("Has a quote", value="yes"),
                rx.el.option("No quote yet", value="no"),
                name="has_quote",
                default_value=f.get("has_quote", ""),  # type: ignore[attr-defined]
                class_name="rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface",
            ),
            rx.el.select(
                rx.el.option("Sort: SLA due", value="sla_due"),
                rx.el.option("Sort: received", value="received"),
                rx.el.option("Sort: last activity", value="last_activity"),
                name="sort",
                default_value=f.get("sort", "sla_due"),  # type: ignore[attr-defined]
                id="filter-sort",
                class_name="rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface",
            ),
            rx.hstack(
                rx.checkbox(name="desc", default_checked=f.get("desc", "") == "1"),
                rx.text("newest first", size="2"),
                align="center",
            ),  # type: ignore[attr-defined]
            rx.hstack(
                rx.checkbox(
                    name="unread", default_checked=f.get("unread", "") == "1", id="filter-unread"
                ),
                rx.text("unread messages", size="2"),
                align="center",
            ),  # type: ignore[attr-defined]
            rx.button("Apply", type="submit", id="filter-apply"),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        on_submit=InboxState.apply_filters,
        key=InboxState.router.url.to(str),  # re-render with the URL's values after navigation
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
            rx.button("Clear", variant="ghost", on_click=InboxState.select_all(False)),
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
            )
        ),
        rx.table.cell(
            rx.link(row["reference"], href="/cases/" + rid, class_name="case-link", weight="medium")
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(row["patient"], weight="medium", class_name="patient-name"),
                rx.text(row["contact"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(row["concern_area"].to(str).replace("_", " ")),
        rx.table.cell(
            rx.badge(
                row["status"].to(str).replace("_", " "), variant="outline", class_name="row-status"
            )
        ),
        rx.table.cell(rx.text(row["assignee"], class_name="row-assignee")),
        rx.table.cell(row["received_at"], white_space="nowrap"),
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
            )
        ),
        rx.table.cell(
            rx.cond(
                InboxState.can_edit,
                rx.button(
                    "Assign to me",
                    size="1",
                    variant="ghost",
                    on_click=InboxState.assign_to_me(rid),
                    class_name="assign-me",
                    title="a",
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
                            checked=(InboxState.selected.length() > 0)
                            & (InboxState.selected.length() == InboxState.rows.length()),
                        ),
                    )  # type: ignore[attr-defined]
                ),
                *[
                    rx.table.column_header_cell(h)
                    for h in (
                        "",
                        "Case",
                        "Patient",
                        "Concern",
                        "Status",
                        "Assignee",
                        "Received",
                        "Quote SLA",
                        "",
                        "",
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
        rx.hstack(
            _tab("All", ""),
            *[_tab(label, key) for key, label in STATUS_LABELS.items()],
            spacing="2",
            wrap="wrap",
        ),
        _filters(),
        error_callout(InboxState.error),
        rx.cond(
            InboxState.notice != "",
            rx.callout(InboxState.notice, icon="check", color_scheme="green", id="inbox-notice"),
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
                    rx.text(
                        "Keys: j/k move · Enter open · a assign to me · / search",
                        size="1",
                        color_scheme="gray",
                    ),
                    width="100%",
                ),
                rx.callout(
                    "No cases match this view. Clear a filter or pick another tab.",
                    icon="inbox",
                    id="inbox-empty",
                ),
            ),
        ),
        title="Cases",
    )
