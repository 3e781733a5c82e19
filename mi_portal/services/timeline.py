"""The case timeline as people read it: repeated looks by one person folded into one line.

Every access stays in the audit log and in the line's ``views``; only the display is grouped, so
that opening a case five times while working on it does not bury the changes made to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mi_portal.services.clinic_time import UTC_ZONE, clock_time

# Actions that only look at the case; everything else (a change, a download) stays its own line.
VIEW_ACTIONS = frozenset(
    {
        "case.view",
        "cases.listed",
        "images.thumbnails_listed",
        "image.view",
        "images.viewer_opened",
        "image.full_viewed",
        "images.urls_renewed",
        "image.full_url_renewed",
        "thread.viewed",
        "quote.viewed_by_staff",
    }
)
WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    who: str
    what: str
    detail: str
    # For a grouped line: every access it stands for, oldest first (empty for a single event).
    views: list[TimelineEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Happening:
    """One audit event on the case, with what the grouping needs to know about it."""

    when: datetime
    person: str
    action: str
    entry: TimelineEntry


def group_views(
    happenings: Sequence[Happening], *, window: timedelta = WINDOW, where: ZoneInfo = UTC_ZONE
) -> list[TimelineEntry]:
    """Fold each person's looks within ``window`` of their first look into that first line.

    A look joins the person's open group even when someone's change came in between: the group
    keeps its place at its first look and says until when it lasted.
    """
    slots: list[list[Happening]] = []
    open_group: dict[str, tuple[datetime, int]] = {}
    for h in happenings:
        if h.action in VIEW_ACTIONS and h.person:
            started = open_group.get(h.person)
            if started is not None and h.when - started[0] <= window:
                slots[started[1]].append(h)
                continue
            open_group[h.person] = (h.when, len(slots))
        slots.append([h])
    return [_line(slot, where) for slot in slots]


def _line(slot: list[Happening], where: ZoneInfo) -> TimelineEntry:
    first = slot[0].entry
    if len(slot) == 1:
        return first
    more = len(slot) - 1
    until = clock_time(slot[-1].when, where)
    return TimelineEntry(
        at=first.at,
        who=first.who,
        what=first.what,
        detail=f"and {more} more {'look' if more == 1 else 'looks'} until {until}",
        views=[h.entry for h in slot],
    )
