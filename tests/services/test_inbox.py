"""The case queue and the case: every filter, sort and search, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    AuditEvent,
    Message,
    MessageThread,
    Patient,
    Quote,
    Role,
    Submission,
    uuid7,
)
from mi_portal.services import cases, clock
from mi_portal.services.actor import Actor, NotFound
from mi_portal.services.case_lists import SEARCH_BY_REFERENCE
from mi_portal.services.inbox import InboxQuery, inbox_page
from tests.conftest import Database
from tests.factories import make_quote, make_tenant, make_user, owner_session

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock():  # type: ignore[no-untyped-def]
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


def _case(
    tenant_id: uuid.UUID,
    name: str,
    email: str,
    phone: str | None,
    *,
    status: str = "new",
    concern: str = "acne",
    hours_ago: float = 1,
    assignee: uuid.UUID | None = None,
    quote: bool = False,
    unread: bool = False,
) -> uuid.UUID:
    received = NOW - timedelta(hours=hours_ago)
    with tenant_session(tenant_id) as session:
        patient = Patient(id=uuid7(), full_name=name, email=email, phone=phone)
        session.add(patient)
        session.flush()
        case = Submission(
            id=uuid7(),
            patient_id=patient.id,
            status=status,
            concern_area=concern,
            received_at=received,
            last_activity_at=received + timedelta(minutes=5),
            sla_due_at=received + timedelta(hours=48),
            assignee_id=assignee,
        )
        session.add(case)
        session.flush()
        if quote:
            session.add(Quote(submission_id=case.id, total=Decimal("10.00"), status="sent"))
        if unread:
            thread = MessageThread(id=uuid7(), submission_id=case.id)
            session.add(thread)
            session.flush()
            session.add(Message(thread_id=thread.id, direction="inbound", body="Any news?"))
        session.commit()
        return case.id


@pytest.fixture
def world(db: Database):  # type: ignore[no-untyped-def]
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    coordinator, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    ids = {
        "ava": _case(
            a, "Ava Stone", "ava@example.org", "+1 555 0100 111", hours_ago=50, assignee=manager
        ),
        "ben": _case(
            a,
            "Ben Rivers",
            "ben@example.org",
            None,
            status="in_review",
            concern="rosacea",
            hours_ago=40,
            quote=True,
        ),
        "cy": _case(
            a,
            "Cy Ng",
            "cy@example.org",
            "+1 555 0100 333",
            status="quoted",
            hours_ago=10,
            unread=True,
            assignee=coordinator,
        ),
        "dee": _case(a, "Dee Stone", "dee@elsewhere.org", "+44 20 7946 0958", hours_ago=2),
    }
    ids["b_stone"] = _case(b, "Bo Stone", "bo@example.org", "+1 555 0100 999", hours_ago=1)
    mgr = Actor(user_id=manager, role=Role.CLINIC_MANAGER, tenant_id=a, home_tenant_id=a)
    crd = Actor(user_id=coordinator, role=Role.COORDINATOR, tenant_id=a, home_tenant_id=a)
    return a, b, mgr, crd, ids


def _names(actor: Actor, **q: object) -> list[str]:
    return [r.patient for r in inbox_page(actor, InboxQuery(**q)).rows]  # type: ignore[arg-type]


def test_each_filter(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    assert _names(mgr, status="in_review") == ["Ben Rivers"]
    assert _names(mgr, assignee="mine") == ["Ava Stone"]
    assert sorted(_names(mgr, assignee="unassigned")) == ["Ben Rivers", "Dee Stone"]
    assert _names(mgr, assignee=str(crd.user_id)) == ["Cy Ng"]
    assert _names(mgr, assignee="not-a-user") == []
    assert _names(mgr, concern_area="rosacea") == ["Ben Rivers"]
    assert sorted(_names(mgr, received_from="2026-11-28")) == ["Cy Ng", "Dee Stone"]
    assert sorted(_names(mgr, received_to="2026-11-26")) == ["Ava Stone", "Ben Rivers"]
    assert _names(mgr, received_from="2026-11-27", received_to="2026-11-27") == []
    assert _names(mgr, has_quote="yes") == ["Ben Rivers"]
    assert "Ben Rivers" not in _names(mgr, has_quote="no")
    assert _names(mgr, unread=True) == ["Cy Ng"]
    make_quote(a, ids["ava"], status="draft")  # a draft alone is not a quote the patient has
    assert _names(mgr, has_quote="yes") == ["Ben Rivers"]


def test_each_sort(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, *_ = world
    assert _names(mgr, sort="sla_due") == ["Ava Stone", "Ben Rivers", "Cy Ng", "Dee Stone"]
    assert _names(mgr, sort="received", descending=True) == [
        "Dee Stone",
        "Cy Ng",
        "Ben Rivers",
        "Ava Stone",
    ]
    assert _names(mgr, sort="last_activity") == ["Ava Stone", "Ben Rivers", "Cy Ng", "Dee Stone"]
    assert _names(mgr, sort="nonsense") == _names(mgr, sort="sla_due")


def test_search_by_name_email_phone_never_crosses_clinics(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, *_ = world
    assert sorted(_names(mgr, search="stone")) == [
        "Ava Stone",
        "Dee Stone",
    ]  # Bo Stone is clinic B's
    assert _names(mgr, search="ELSEWHERE.org") == ["Dee Stone"]
    assert _names(mgr, search="0100 333") == ["Cy Ng"]
    assert _names(mgr, search="5550100999") == []  # B's patient's phone
    assert _names(mgr, search="bo@example.org") == []
    # Wildcards are text: they match only names or emails that contain them.
    assert _names(mgr, search="%") == [] and _names(mgr, search="_") == []
    assert _names(mgr, search="a_s") == []  # would match "Ava Stone" if _ were a wildcard
    # A reference's hex letters are not phone punctuation: the digits of "7a94b6" are no
    # search of Dee Stone's "+44 20 7946 0958", while the number typed as a number finds her.
    assert _names(mgr, search="7a94b6") == []
    assert _names(mgr, search="7946 0958") == ["Dee Stone"]
    assert _names(mgr, search="(020) 7946-0958") == []  # the leading 0 is not in her number
    assert _names(mgr, search="20 7946-0958") == ["Dee Stone"]


def test_status_counts_paging_and_sla(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, *_ = world
    page = inbox_page(mgr, InboxQuery(status="new"), page_size=1)
    assert page.total == 2 and len(page.rows) == 1
    assert (
        page.status_counts["new"] == 2
        and page.status_counts["in_review"] == 1
        and page.status_counts["quoted"] == 1
    )
    second = inbox_page(mgr, InboxQuery(status="new", page=1), page_size=1)
    assert second.rows[0].id != page.rows[0].id
    sla = {r.patient: r.sla for r in inbox_page(mgr, InboxQuery()).rows}
    assert (
        sla["Ava Stone"] == "overdue"
        and sla["Dee Stone"] == "on_time"
        and sla["Ben Rivers"] == "due_soon"
    )
    assert sla["Cy Ng"] == "none"  # quoted, no send time recorded


def test_masking_for_roles_that_do_not_need_identity(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    ava_ref = str(ids["ava"])[-8:].upper()  # a masked role finds a case by its reference only
    row = next(r for r in inbox_page(crd, InboxQuery(search=ava_ref)).rows)
    assert (
        row.masked
        and row.patient == "A. S."
        and "ava@" not in row.contact
        and row.contact.startswith("a•••@example.org")
    )
    assert "111" not in row.contact and row.contact.endswith("•••11")
    assert inbox_page(mgr, InboxQuery(search="ava")).rows[0].patient == "Ava Stone"
    owner_id, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    owner = Actor(user_id=owner_id, role=Role.CLINIC_OWNER, tenant_id=a)
    cases.set_identity_exposure(owner, ["coordinator", "clinic_owner"])
    assert inbox_page(crd, InboxQuery(search="ava")).rows[0].patient == "Ava Stone"
    assert inbox_page(mgr, InboxQuery(search=ava_ref)).rows[0].masked


def test_workflow_transitions_are_enforced_and_audited(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    with pytest.raises(ValueError, match="cannot go from new to accepted"):
        cases.change_status(mgr, ids["ava"], "accepted")
    cases.change_status(mgr, ids["ava"], "in_review")
    with pytest.raises(ValueError, match="Send a quote"):
        cases.change_status(mgr, ids["ava"], "quoted")  # not without a sent quote
    make_quote(a, ids["ava"], status="sent")
    cases.change_status(mgr, ids["ava"], "quoted")
    with owner_session() as session:
        events = session.exec(
            select(AuditEvent.details).where(AuditEvent.action == "case.status_changed")
        ).all()
    assert events == [{"from": "new", "to": "in_review"}, {"from": "in_review", "to": "quoted"}]


def test_foreign_and_missing_cases_answer_alike(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    for target in (ids["b_stone"], uuid.uuid4(), "junk"):
        for call in (
            lambda t: cases.case_detail(mgr, t),
            lambda t: cases.change_status(mgr, t, "in_review"),
            lambda t: cases.add_note(mgr, t, "x"),
            lambda t: cases.assign(mgr, t, ""),
        ):
            with pytest.raises(NotFound):
                call(target)
    with tenant_session(b) as session:
        assert session.exec(select(Submission.status)).all() == ["new"]


def test_assign_only_to_members_and_bulk(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    outsider, _ = make_user("x@b.test", role="provider", tenants=(b,))
    with pytest.raises(NotFound):
        cases.assign(mgr, ids["dee"], str(outsider))
    done, problems = cases.bulk(
        mgr, [ids["dee"], ids["ben"], ids["b_stone"]], assignee=str(crd.user_id)
    )
    assert done == 2 and len(problems) == 1 and "not found" in problems[0]
    assert sorted(_names(mgr, assignee=str(crd.user_id))) == ["Ben Rivers", "Cy Ng", "Dee Stone"]
    done, problems = cases.bulk(mgr, [ids["dee"], ids["ben"]], status="in_review")
    assert done == 1 and "cannot go from in review to in review" in problems[0]


def test_case_page_notes_timeline_and_age(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    with tenant_session(a) as session:
        patient = session.exec(select(Patient).where(Patient.full_name == "Ava Stone")).one()
        patient.date_of_birth = datetime(1990, 12, 1).date()
        session.add(patient)
        session.commit()
    cases.add_note(mgr, ids["ava"], "Needs a daylight photo")
    with pytest.raises(ValueError):
        cases.add_note(mgr, ids["ava"], "   ")
    cases.change_status(mgr, ids["ava"], "in_review")
    detail = cases.case_detail(mgr, ids["ava"])
    assert detail.patient_age == "35" and detail.date_of_birth == "1990-12-01"
    assert [n.detail for n in detail.notes] == ["Needs a daylight photo"]
    assert [t.what for t in detail.timeline] == [
        "Added a note",
        "Changed status",
        "Opened the case",
    ]
    assert detail.moves == ["quoted", "closed", "archived"]
    assert cases.case_detail(crd, ids["ava"]).date_of_birth == ""  # age only for this role
    assert [t.what for t in cases.case_detail(crd, ids["ava"]).timeline][-1] == "Opened the case"


def test_the_timeline_lists_every_change_and_only_the_newest_looks(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A case's cost must not grow with how often it was opened: older looks stay in the audit
    log, counted on the page; no change is ever left out."""
    from mi_portal.services import audit

    a, b, mgr, crd, ids = world
    monkeypatch.setattr(cases, "LOOKS_SHOWN", 3)
    case = ids["ava"]

    def looks(detail: cases.CaseDetail) -> int:
        return sum(len(t.views) or 1 for t in detail.timeline if t.what in LOOK_WORDS)

    first = cases.case_detail(mgr, case)  # one look
    assert looks(first) == 1 and first.earlier_looks == 0
    cases.change_status(mgr, case, "in_review")
    for _ in range(4):
        audit.record(crd, "images.thumbnails_listed", target_type="submission", target_id=case)
    cases.add_note(mgr, case, "Needs a daylight photo")
    detail = cases.case_detail(mgr, case)  # six looks in all: the newest three are listed
    assert looks(detail) == 3 and detail.earlier_looks == 3
    whats = [t.what for t in detail.timeline]
    assert "Changed status" in whats and "Added a note" in whats
    assert whats[-1] == "Opened the case"
    monkeypatch.setattr(cases, "LOOKS_SHOWN", 300)
    everything = cases.case_detail(mgr, case)
    assert looks(everything) == 7 and everything.earlier_looks == 0


LOOK_WORDS = {"Opened the case", "Looked at the photo thumbnails"}


def _every_shape() -> list[object]:
    """Each field of the statement's shape through all its values, the others left at rest."""
    from mi_portal.services.inbox import _Shape

    rest = _Shape(
        status=False, assignee="", concern=False, start=False, end=False, has_quote="",
        unread=False, search=False, phone=False, sort="sla_due", descending=False, postgres=True,
        reference=False,
    )  # fmt: skip
    values = {
        "status": (True,), "assignee": ("user", "unassigned", "none"), "concern": (True,),
        "start": (True,), "end": (True,), "has_quote": ("yes", "no"), "unread": (True,),
        "search": (True,), "sort": ("received", "last_activity"), "descending": (True,),
        "reference": (True,),
    }  # fmt: skip
    shapes: list[object] = [rest, rest._replace(search=True, phone=True)]
    for name in values:
        shapes += [rest._replace(**{name: v}) for v in values[name]]
    every = {name: vs[-1] for name, vs in values.items()}
    shapes.append(rest._replace(**every, phone=True))
    return shapes + [s._replace(postgres=False) for s in shapes]  # type: ignore[attr-defined]


def test_every_statement_shape_pins_each_tenant_table_to_the_clinic() -> None:
    """The page runs beneath the ORM's tenant criteria, so each shape must carry its own."""
    import re

    import sqlalchemy as sa
    from sqlalchemy.sql import visitors

    from mi_portal.models import tenant_models
    from mi_portal.services.inbox import _statements

    tenant_tables = {m.__table__ for m in tenant_models()}  # type: ignore[attr-defined]
    for shape in _every_shape():
        for statement in _statements(shape):  # type: ignore[arg-type]
            sql = str(statement.compile())
            used = {
                e.name
                for e in visitors.iterate(statement)
                if isinstance(e, sa.Table) and e in tenant_tables
            }
            assert "submission" in used and "tenant" not in used
            for table in used:
                # Pinned to the parameter, or correlated to a table that is (same tenant id).
                pinned = rf"\b{table}\.tenant_id = (:tenant\b|submission\.tenant_id|messagethread\.tenant_id|message\.tenant_id)"
                assert re.search(pinned, sql), (shape, table)
            assert re.search(r"\bsubmission\.tenant_id = :tenant\b", sql)


def test_no_filter_combination_reaches_another_clinic(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, *_ = world
    queries = [
        {},
        {"status": "new"},
        {"assignee": "unassigned"},
        {"concern_area": "acne"},
        {"received_from": "2026-11-01", "received_to": "2026-11-30"},
        {"has_quote": "no"},
        {"search": "o"},
        {"search": "555 0100"},
        {"status": "new", "assignee": "unassigned", "search": "stone", "has_quote": "no"},
    ]
    for q in queries:
        page = inbox_page(mgr, InboxQuery(**q))  # type: ignore[arg-type]
        assert "Bo Stone" not in [r.patient for r in page.rows], q
        assert sum(page.status_counts.values()) <= 4, q
    # An empty page still carries this clinic's counts, not the other's.
    empty = inbox_page(mgr, InboxQuery(status="archived"))
    assert empty.rows == [] and empty.status_counts["new"] == 2


def _listed(since: int = 0) -> list[AuditEvent]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "cases.listed")
                .order_by(col(AuditEvent.occurred_at), col(AuditEvent.seq))
            ).all()
        )[since:]


def test_masked_roles_search_by_case_reference_only(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    # Typing the address one character at a time finds nothing, not even a count per status.
    for typed in ("a", "av", "ava@", "ava@example.org", "Ava Stone", "555 0100 111", "stone"):
        refused = inbox_page(crd, InboxQuery(search=typed))
        assert refused.rows == [] and refused.total == 0, typed
        assert set(refused.status_counts.values()) == {0}, typed
        assert refused.problem == SEARCH_BY_REFERENCE, typed
    ava = str(ids["ava"])
    for typed in (ava[-8:].upper(), ava[-8:], f"#{ava[-8:].upper()}", ava, f"  {ava[-8:]} "):
        found = inbox_page(crd, InboxQuery(search=typed))
        assert [r.id for r in found.rows] == [ava] and found.total == 1, typed
        assert found.problem == "" and found.rows[0].masked
    # A reference of another clinic's case finds nothing.
    assert inbox_page(crd, InboxQuery(search=str(ids["b_stone"])[-8:])).rows == []
    # Roles that see identities search by name, contact or reference alike.
    assert _names(mgr, search="ava@example") == ["Ava Stone"]
    assert _names(mgr, search=ava[-8:].upper()) == ["Ava Stone"]


def test_every_search_is_audited_with_its_result_cases(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    before = len(_listed())
    inbox_page(crd, InboxQuery(search="ava@exa"))
    inbox_page(crd, InboxQuery(search=str(ids["cy"])[-8:]))
    inbox_page(mgr, InboxQuery(search="stone"))
    refused, by_reference, by_name = _listed(before)
    assert (refused.outcome, refused.user_id, refused.tenant_id) == ("denied", crd.user_id, a)
    assert refused.details == {"view": "queue", "cases": [], "search": "text"}
    assert by_reference.outcome == "ok" and by_reference.details["cases"] == [str(ids["cy"])]
    assert by_reference.details["search"] == "reference"
    assert sorted(by_name.details["cases"]) == sorted([str(ids["ava"]), str(ids["dee"])])
    # The term itself is never written into the log: it may be a patient's name or address.
    for event in (refused, by_reference, by_name):
        assert "ava" not in str(event.details).lower() and "stone" not in str(event.details).lower()


def test_each_queue_page_view_is_one_audit_event_naming_its_cases(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    before = len(_listed())
    first = inbox_page(mgr, InboxQuery(sort="received"), page_size=3)
    second = inbox_page(mgr, InboxQuery(sort="received", page=1), page_size=3)
    empty = inbox_page(mgr, InboxQuery(status="archived"))
    events = _listed(before)
    assert len(events) == 3  # one per page view, not one per row
    assert events[0].details == {
        "view": "queue",
        "cases": [r.id for r in first.rows],
        "page": 0,
        "total": 4,
    }
    assert len(first.rows) == 3 and events[1].details["cases"] == [r.id for r in second.rows]
    assert empty.rows == [] and events[2].details["cases"] == []
    assert str(ids["b_stone"]) not in str([e.details for e in events])
    assert all(e.tenant_id == a and e.target_type == "case_list" for e in events)


def test_notes_keep_their_lines_but_lose_invisible_characters(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    cases.add_note(mgr, ids["ava"], "\ufeffCalled\u202e back.\r\nPhotos\u200d next\x07 week.\n")
    assert [n.detail for n in cases.case_detail(mgr, ids["ava"]).notes] == [
        "Called back.\nPhotos next week."
    ]
    with pytest.raises(ValueError, match="Write something"):
        cases.add_note(mgr, ids["ava"], "\u200b\u202e\n\ufeff")
    with pytest.raises(ValueError, match="limited to"):
        cases.add_note(mgr, ids["ava"], "x" * (cases.MAX_NOTE + 1))


def _calendar(tenant_id: uuid.UUID, **fields: object) -> None:
    from mi_portal.db import platform_session
    from mi_portal.models import Tenant

    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        for key, value in fields.items():
            setattr(tenant, key, value)
        session.add(tenant)
        session.commit()


NEW_YORK_WEEKDAYS = {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_a_clinic_in_new_york_reads_times_days_and_due_soon_on_its_clock(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, *_ = world
    # NOW is Saturday 28 Nov 12:00 UTC = 07:00 EST. A 16-hour target is "due soon" with at most
    # 4 business hours left.
    _calendar(
        a, timezone="America/New_York", business_hours=NEW_YORK_WEEKDAYS, quote_turnaround_hours=16
    )
    with tenant_session(a) as session:
        for case_id, due in (
            # Monday 10:00 EST: 51 hours away on the wall clock, 1 business hour.
            (
                _case(a, "Eve Park", "eve@example.org", None, hours_ago=15),
                datetime(2026, 11, 30, 15, tzinfo=UTC),
            ),
            # Tuesday 15:00 EST: 14 business hours left.
            (
                _case(a, "Fay Lund", "fay@example.org", None, hours_ago=15),
                datetime(2026, 12, 1, 20, tzinfo=UTC),
            ),
        ):
            case = session.get(Submission, (a, case_id))
            assert case is not None
            case.sla_due_at = due
            session.add(case)
        session.commit()
    page = inbox_page(mgr, InboxQuery())
    rows = {r.patient: r for r in page.rows}
    assert rows["Eve Park"].sla == "due_soon" and rows["Fay Lund"].sla == "on_time"
    # Times on the clinic's clock: Dee arrived at 10:00 UTC = 05:00 EST; Eve's due time.
    assert rows["Dee Stone"].received_at == "2026-11-28 05:00"
    assert rows["Eve Park"].sla_due_at == "2026-11-30 10:00"
    assert page.zone_caption == "Times in America/New_York (EST)"
    # A day in a filter is the clinic's day: 28 Nov starts at 05:00 UTC, so Cy (02:00 UTC,
    # 21:00 EST on the 27th) belongs to the 27th.
    assert _names(mgr, received_from="2026-11-28") == ["Dee Stone"]
    assert "Cy Ng" in _names(mgr, received_from="2026-11-27", received_to="2026-11-27")
    # Clinic B is untouched: still UTC, still wall-clock hours.
    other = Actor(user_id=mgr.user_id, role=Role.CLINIC_MANAGER, tenant_id=b, home_tenant_id=b)
    _calendar(b)  # nothing changed
    assert inbox_page(other, InboxQuery()).zone_caption == "Times in UTC"


def test_the_case_shows_both_targets_on_the_clinics_clock(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    _calendar(
        a,
        timezone="Europe/London",
        business_hours=NEW_YORK_WEEKDAYS,
        first_response_hours=4,
        quote_turnaround_hours=16,
    )
    with tenant_session(a) as session:
        case = session.get(Submission, (a, ids["dee"]))
        assert case is not None
        # Due Monday 30 Nov 10:00 GMT (1 business hour after NOW, a Saturday): due soon.
        case.first_response_due_at = datetime(2026, 11, 30, 10, tzinfo=UTC)
        case.sla_due_at = datetime(2026, 12, 2, 10, tzinfo=UTC)
        session.add(case)
        session.commit()
    detail = cases.case_detail(mgr, ids["dee"])
    assert detail.first_response == "due_soon" and detail.sla == "on_time"
    assert detail.first_response_due_at == "2026-11-30 10:00 GMT"
    assert detail.sla_due_at == "2026-12-02 10:00 GMT"
    assert detail.zone_caption == "Times in Europe/London (GMT)"
    with tenant_session(a) as session:
        case = session.get(Submission, (a, ids["dee"]))
        assert case is not None
        case.first_response_at = datetime(2026, 11, 30, 11, tzinfo=UTC)  # an hour late
        session.add(case)
        session.commit()
    assert cases.case_detail(mgr, ids["dee"]).first_response == "missed"
    _calendar(a, timezone="America/New_York")
    detail = cases.case_detail(mgr, ids["dee"])
    assert detail.sla_due_at == "2026-12-02 05:00 EST"
    assert detail.received_at == "2026-11-28 05:00 EST"
    assert all(line.at.startswith("2026-11-28 0") for line in detail.timeline)  # 07:00 EST


def test_the_patients_age_follows_the_clinics_date(world) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.db import platform_session
    from mi_portal.models import Tenant

    a, _b, mgr, _crd, ids = world
    with platform_session() as session:
        tenant = session.get(Tenant, a)
        assert tenant is not None
        tenant.timezone = "Pacific/Auckland"  # UTC+13 in December
        session.add(tenant)
        session.commit()
    with tenant_session(a) as session:
        patient = session.exec(select(Patient).where(Patient.full_name == "Ava Stone")).one()
        patient.date_of_birth = datetime(1990, 12, 1).date()
        session.add(patient)
        session.commit()
    # 30 Nov 12:00 UTC is already 1 December, 01:00, in Auckland: the birthday.
    clock.set_clock(lambda: datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    assert cases.case_detail(mgr, ids["ava"]).patient_age == "36"


def _reviewed(tenant_id: uuid.UUID, case_id: uuid.UUID) -> tuple[str, datetime | None]:
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        return case.status, case.reviewed_at


def test_the_first_move_out_of_new_stamps_the_review_once(world) -> None:  # type: ignore[no-untyped-def]
    a, b, mgr, crd, ids = world
    cases.change_status(mgr, ids["ava"], "in_review")
    assert _reviewed(a, ids["ava"]) == ("in_review", NOW)
    later = NOW + timedelta(hours=3)
    clock.set_clock(lambda: later)
    cases.change_status(mgr, ids["ava"], "closed")
    cases.change_status(mgr, ids["ava"], "archived")
    assert _reviewed(a, ids["ava"]) == ("archived", NOW)  # set once, never moved or cleared
    # Archived straight from new: never reviewed.
    cases.change_status(mgr, ids["dee"], "archived")
    assert _reviewed(a, ids["dee"]) == ("archived", None)
    # Bulk moves stamp each case they move; the one that cannot move keeps its own.
    done, problems = cases.bulk(mgr, [ids["b_stone"], ids["ben"]], status="in_review")
    assert done == 0 and len(problems) == 2
    assert _reviewed(b, ids["b_stone"]) == ("new", None)
    extra = _case(a, "Eve Park", "eve@example.org", None, hours_ago=5)
    done, _ = cases.bulk(mgr, [extra], status="in_review")
    assert done == 1 and _reviewed(a, extra) == ("in_review", later)
