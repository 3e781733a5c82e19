"""The queue's status tabs and filter bar: each control shows the URL's value and changes it."""

from __future__ import annotations

import reflex as rx

from mi_portal.services.intake import CONCERN_AREAS
from mi_portal.state.inbox import STATUS_LABELS, InboxState


def _tab(label: str, status: str) -> rx.Component:
    active = InboxState.filters.get("status", "") == status  # type: ignore[attr-defined]
    count = InboxState.all_count if status == "" else InboxState.counts.get(status, 0)  # type: ignore[attr-defined]
    return rx.button(
        label,
        rx.badge(count, variant="surface", radius="full", high_contrast=True),
        variant=rx.cond(active, "solid", "soft"),
        high_contrast=True,  # the theme's teal on its own tint is below 4.5:1 at this size
        size="1",
        on_click=InboxState.show_status(status),
        class_name="status-tab",
        id=f"tab-{status or 'all'}",
        aria_pressed=rx.cond(active, "true", "false"),
    )


def _select(
    label: str, key: str, options: list[rx.Component], *, default: str = ""
) -> rx.Component:
    """A select bound to the view: it shows the URL's value and a change moves to a new URL."""
    return rx.el.select(
        *options,
        value=InboxState.view.get(key, default),  # type: ignore[attr-defined]
        on_change=lambda value: InboxState.choose(key, value),
        id=f"filter-{key.replace('_', '-')}",
        aria_label=label,
        class_name="rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface filter-select",
    )


def _date(label: str, key: str) -> rx.Component:
    return rx.el.label(
        rx.text(label, size="1", color_scheme="gray"),
        rx.input(
            name=key,
            type="date",
            value=InboxState.view.get(key, ""),  # type: ignore[attr-defined]
            on_change=lambda value: InboxState.edit(key, value),
            id=f"filter-{key.replace('_', '-')}",
        ),
        class_name="filter-date",
    )


def filter_bar() -> rx.Component:
    v = InboxState.view
    # Selects and ticks apply at once; typed text waits for Enter or Apply. Only the typed
    # fields are in the form: the rest reach the server through their own change events.
    return rx.flex(
        rx.form(
            rx.flex(
                rx.input(
                    id="inbox-search",
                    name="search",
                    type="search",
                    placeholder=InboxState.search_hint,
                    aria_label="Search cases",
                    value=v.get("search", ""),  # type: ignore[attr-defined]
                    on_change=lambda value: InboxState.edit("search", value),
                    class_name="filter-search",
                ),
                _date("Received from", "received_from"),
                _date("Received until", "received_to"),
                rx.button("Apply", type="submit", id="filter-apply", high_contrast=True),
                spacing="2",
                wrap="wrap",
                align="end",
            ),
            on_submit=InboxState.apply_filters,
            id="inbox-filters",
            role="search",
            aria_label="Search the queue",
        ),
        _select(
            "Assignee",
            "assignee",
            [
                rx.el.option("Anyone", value=""),
                rx.el.option("Mine", value="mine"),
                rx.el.option("Unassigned", value="unassigned"),
                rx.foreach(InboxState.members, lambda m: rx.el.option(m["name"], value=m["id"])),
            ],
        ),
        _select(
            "Concern",
            "concern_area",
            [
                rx.el.option("Any concern", value=""),
                *[rx.el.option(label, value=key) for key, label in CONCERN_AREAS.items()],
            ],
        ),
        _select(
            "Quote",
            "has_quote",
            [
                rx.el.option("Quote: any", value=""),
                rx.el.option("Has a quote", value="yes"),
                rx.el.option("No quote yet", value="no"),
            ],
        ),
        _select(
            "Sort by",
            "sort",
            [
                rx.el.option("Sort: SLA due", value=""),
                rx.el.option("Sort: received", value="received"),
                rx.el.option("Sort: last activity", value="last_activity"),
            ],
        ),
        rx.checkbox(
            "newest first",
            checked=v.get("desc", "") == "1",  # type: ignore[attr-defined]
            on_change=lambda checked: InboxState.tick("desc", checked),
            id="filter-desc",
        ),
        rx.checkbox(
            "unread messages",
            checked=v.get("unread", "") == "1",  # type: ignore[attr-defined]
            on_change=lambda checked: InboxState.tick("unread", checked),
            id="filter-unread",
        ),
        spacing="3",
        wrap="wrap",
        align="end",
        width="100%",
        id="inbox-filter-bar",
    )


def status_tabs() -> rx.Component:
    return rx.flex(
        _tab("All", ""),
        *[_tab(label, key) for key, label in STATUS_LABELS.items()],
        spacing="2",
        wrap="wrap",
        role="group",
        aria_label="Status",
    )
