"""The case timeline folds one person's repeated looks into one line and keeps every access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from mi_portal.models import AuditEvent, Role
from mi_portal.services import cases, clock
from mi_portal.services.actor import Actor
from mi_portal.services.timeline import Happening, TimelineEntry, group_views
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, owner_session

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _h(minutes: float, person: str, action: str, what: str = "") -> Happening:
    when = T0 + timedelta(minutes=minutes)
    entry = TimelineEntry(when.strftime("%H:%M"), person.title(), what or action, "")
    return Happening(when=when, person=person, action=action, entry=entry)


def test_one_persons_looks_within_the_window_become_one_line() -> None:
    lines = group_views(
        [
            _h(0, "ann", "case.view", "Opened the case"),
            _h(0.1, "ann", "images.thumbnails_listed"),
            _h(1, "ann", "case.status_changed", "Changed status"),
            _h(1.1, "ann", "case.view"),
            _h(1.2, "ann", "images.thumbnails_listed"),
            _h(2, "ann", "case.note_added", "Added a note"),
            _h(2.1, "ann", "case.view"),
        ]
    )
    assert [(line.what, len(line.views)) for line in lines] == [
        ("Opened the case", 5),
        ("Changed status", 0),
        ("Added a note", 0),
    ]
    assert lines[0].detail == "and 4 more looks until 09:02"
    assert [v.at for v in lines[0].views] == ["09:00", "09:00", "09:01", "09:01", "09:02"]


def test_other_people_and_later_looks_start_their_own_lines() -> None:
    lines = group_views(
        [
            _h(0, "ann", "case.view"),
            _h(1, "bob", "case.view"),
            _h(2, "ann", "image.view"),
            _h(11, "ann", "case.view"),  # more than 10 minutes after ann's first look
            _h(12, "ann", "case.view"),
            _h(13, "", "case.view"),  # no person: never folded
            _h(14, "", "case.view"),
        ]
    )
    assert [(line.who, len(line.views)) for line in lines] == [
        ("Ann", 2),
        ("Bob", 0),
        ("Ann", 2),
        ("", 0),
        ("", 0),
    ]
    assert lines[0].detail == "and 1 more look until 09:02"


def test_changes_and_downloads_are_never_folded() -> None:
    lines = group_views([_h(i, "ann", "image.downloaded") for i in range(3)])
    assert len(lines) == 3 and all(not line.views for line in lines)


def test_a_case_worked_on_shows_its_changes_not_a_wall_of_views(db: Database) -> None:
    a = make_tenant("clinic-a")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    mgr = Actor(user_id=manager, role=Role.CLINIC_MANAGER, tenant_id=a, home_tenant_id=a)
    _, case_id = make_case(a, name="Ava Stone")
    now = [T0]
    clock.set_clock(lambda: now[0])
    try:
        cases.case_detail(mgr, case_id)
        for minutes, act in (
            (1, lambda: cases.change_status(mgr, case_id, "in_review")),
            (2, lambda: cases.add_note(mgr, case_id, "Needs a daylight photo")),
            (3, lambda: cases.assign(mgr, case_id, str(manager))),
        ):
            now[0] = T0 + timedelta(minutes=minutes)
            act()
            cases.case_detail(mgr, case_id)  # the page reloads the case after each action
        now[0] = T0 + timedelta(minutes=30)
        timeline = cases.case_detail(mgr, case_id).timeline
    finally:
        clock.set_clock(None)
    assert [(t.what, len(t.views)) for t in timeline] == [
        ("Opened the case", 4),
        ("Changed status", 0),
        ("Added a note", 0),
        ("Changed assignee", 0),
        ("Opened the case", 0),
    ]
    # Every access is still recorded, one audit event each.
    with owner_session() as session:
        views = session.exec(select(AuditEvent).where(AuditEvent.action == "case.view")).all()
    assert len(views) == 5


@pytest.mark.parametrize("action", ["some.new_action"])
def test_an_unknown_action_is_described_in_words(db: Database, action: str) -> None:
    from mi_portal.services import audit

    a = make_tenant("clinic-a")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    mgr = Actor(user_id=manager, role=Role.CLINIC_MANAGER, tenant_id=a, home_tenant_id=a)
    _, case_id = make_case(a)
    audit.record(mgr, action, target_type="submission", target_id=case_id)
    whats = [t.what for t in cases.case_detail(mgr, case_id).timeline]
    assert action not in whats and "Other activity" in whats
