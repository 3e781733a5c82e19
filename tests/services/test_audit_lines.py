"""The audit log as read: words for codes, and one person's repeated views folded into a line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mi_portal.services.audit import AuditRow
from mi_portal.services.audit_lines import audit_lines
from mi_portal.services.labels import action_label, role_label, target_label

_T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _row(n: int, action: str, *, user: str = "a@x.test", minutes: float = 0, **kw: str) -> AuditRow:
    when = _T0 - timedelta(minutes=minutes)
    values = {
        "id": str(n),
        "occurred_at": when.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "user": user,
        "role": "clinic_owner",
        "action": action,
        "target": kw.get("target", f"object:{n}"),
        "outcome": kw.get("outcome", "ok"),
        "reason": "",
        "ip": "",
        "chain": "clinic",
    }
    return AuditRow(**values)


def test_codes_are_shown_as_words() -> None:
    assert action_label("image.fetch") == "Opened a photo"
    assert action_label("tenant.switch_in") == "Platform staff entered the clinic"
    assert action_label("reports.ran_monthly") == "Reports: ran monthly"  # unknown, still words
    assert role_label("clinic_manager") == "Clinic manager"
    assert target_label("submission:3f2a") == "Case 3f2a"
    assert target_label("") == ""


def test_fifty_photo_fetches_become_one_line_that_keeps_every_event() -> None:
    rows = [_row(i, "image.fetch", minutes=i * 0.1) for i in range(50)]
    lines = audit_lines(rows)
    assert len(lines) == 1
    line = lines[0]
    assert line.count == 50 and line.action_label == "Opened 50 photos"
    assert line.action == "image.fetch"  # the code stays available beside the words
    assert [m.target for m in line.members] == [f"object:{i}" for i in range(50)]
    assert line.occurred_at == rows[0].occurred_at and line.earliest_at == rows[-1].occurred_at
    assert line.role == "Clinic owner"


def test_views_fold_around_other_work_but_not_across_people_windows_or_refusals() -> None:
    rows = [
        _row(1, "case.view", minutes=0, target="submission:c1"),
        _row(2, "case.status_changed", minutes=1, target="submission:c1"),
        _row(3, "case.view", minutes=2, target="submission:c1"),
        _row(4, "case.view", user="b@x.test", minutes=3, target="submission:c1"),
        _row(5, "case.view", minutes=4, target="submission:c1", outcome="denied"),
        _row(6, "case.view", minutes=30, target="submission:c1"),
    ]
    lines = audit_lines(rows)
    assert [(ln.action, ln.user, ln.count) for ln in lines] == [
        ("case.view", "a@x.test", 2),  # rows 1 and 3: same person, within ten minutes
        ("case.status_changed", "a@x.test", 1),
        ("case.view", "b@x.test", 1),  # someone else's view is their own line
        ("case.view", "a@x.test", 1),  # a refused view is never folded away
        ("case.view", "a@x.test", 1),  # half an hour later starts a new line
    ]
    assert lines[0].action_label == "Opened cases 2 times"
    assert lines[0].target_label == "Case c1"  # same record throughout: still named
    assert lines[1].action_label == "Changed a case's status"


def test_a_list_view_names_its_kind_not_none() -> None:
    from mi_portal.models import AuditEvent
    from mi_portal.services import audit

    event = AuditEvent(
        chain="c",
        seq=1,
        occurred_at=_T0,
        action="cases.listed",
        target_type="case_list",
        target_id=None,
        prev_hash="0",
        hash="0",
    )
    row = audit._row(event, "a@x.test")
    assert target_label(row.target) == "Case list"
