"""The audit log as people read it: words for codes, and repeated views folded into one line.

Only the display is folded: every event stays recorded and the CSV export lists each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mi_portal.services.audit import AuditRow
from mi_portal.services.labels import VIEW_PLURALS, action_label, role_label, target_label

GROUP_WINDOW = timedelta(minutes=10)
_STAMP = "%Y-%m-%d %H:%M:%S UTC"


@dataclass
class AuditEntry:
    """One event inside a folded line."""

    occurred_at: str = ""
    target: str = ""
    target_label: str = ""


@dataclass
class AuditLine:
    """One line of the log: a single event, or a person's repeated views of one kind."""

    occurred_at: str = ""
    earliest_at: str = ""
    user: str = ""
    role: str = ""
    action: str = ""
    action_label: str = ""
    target: str = ""
    target_label: str = ""
    outcome: str = ""
    reason: str = ""
    chain: str = ""
    count: int = 1
    members: list[AuditEntry] = field(default_factory=list)


def _when(row: AuditRow) -> datetime | None:
    try:
        return datetime.strptime(row.occurred_at, _STAMP)
    except ValueError:
        return None


def _line(row: AuditRow) -> AuditLine:
    return AuditLine(
        occurred_at=row.occurred_at,
        earliest_at=row.occurred_at,
        user=row.user,
        role=role_label(row.role) if row.role else "",
        action=row.action,
        action_label=action_label(row.action),
        target=row.target,
        target_label=target_label(row.target),
        outcome=row.outcome,
        reason=row.reason,
        chain=row.chain,
    )


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        occurred_at=row.occurred_at, target=row.target, target_label=target_label(row.target)
    )


def audit_lines(rows: Sequence[AuditRow], *, window: timedelta = GROUP_WINDOW) -> list[AuditLine]:
    """Rows (newest first) as lines; one person's successful views of one kind within ``window``
    of the line's newest one share that line, which stands where its newest view stood."""
    lines: list[AuditLine] = []
    # (user, chain, action) -> the open line and the time of its newest view
    open_lines: dict[tuple[str, str, str], tuple[AuditLine, datetime]] = {}
    for row in rows:
        when = _when(row)
        foldable = row.action in VIEW_PLURALS and row.outcome == "ok" and when is not None
        if not foldable:
            lines.append(_line(row))
            continue
        assert when is not None
        key = (row.user, row.chain, row.action)
        held = open_lines.get(key)
        if held is not None and held[1] - when <= window:
            line = held[0]
            if line.count == 1:
                line.members = [AuditEntry(line.occurred_at, line.target, line.target_label)]
            line.members.append(_entry(row))
            line.count += 1
            line.earliest_at = row.occurred_at
            line.action_label = VIEW_PLURALS[row.action].format(n=line.count)
            if line.target != row.target:
                line.target = line.target_label = ""
            continue
        line = _line(row)
        open_lines[key] = (line, when)
        lines.append(line)
    return lines
