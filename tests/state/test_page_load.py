"""A staff page is one load event: it fills the header and the page's own data, once per page.

The load test found opening a case was a chain of four guarded events (header, case,
conversation, holds), each resolving the session again and loading and saving the tab's state.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401  (registers the pages)
from mi_portal.mi_portal import app
from mi_portal.services import auth
from mi_portal.services.permissions import PUBLIC, declared_permission
from mi_portal.state.case import CaseState
from mi_portal.state.conversation import ConversationState
from mi_portal.state.legal_holds import HoldsState
from mi_portal.state.session import SessionState
from mi_portal.state.users import UsersState
from tests.conftest import Database
from tests.factories import fill_tenant, make_tenant, make_user, owner_session, sign_in_token


def _root(token: str, pathname: str, query: dict[str, str]) -> Any:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"},
            "ip": "127.0.0.1",
            "pathname": pathname,
            "query": query,
            "asPath": pathname,
        }
    )
    return root


def _a_manager_with_a_case() -> tuple[Any, dict[str, Any], str]:
    """A clinic with one row in every table, and its manager's session token."""
    a = make_tenant("clinic-a")
    own = fill_tenant(a)
    user, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    return a, own, sign_in_token(user)


def _staff_routes() -> dict[str, list[Any]]:
    """Every page whose on_load runs a guarded (not public) handler, found from the app."""
    pages: dict[str, list[Any]] = {}
    for route in app._unevaluated_pages:
        loads = app.get_load_events(route)
        if any(declared_permission(h.fn) not in (None, PUBLIC) for h in loads):
            pages[route] = loads
    return pages


def test_every_staff_page_loads_with_one_page_event() -> None:
    pages = _staff_routes()
    assert "cases/[id]" in pages and "cases" in pages and len(pages) >= 20
    for route, loads in pages.items():
        assert len(loads) == 1, route
        # The second-factor enrolment page has no header to fill.
        assert getattr(loads[0].fn, "page_load", False) == (route != "mfa/enroll"), route


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_one_event_opens_the_whole_case_page_and_never_another_clinics(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    own, foreign = fill_tenant(a), fill_tenant(b)
    user, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    token = sign_in_token(user)
    lookups: list[str | None] = []
    real_resolve = auth.resolve

    def counting(token: str | None, **kwargs: Any) -> Any:
        lookups.append(token)
        return real_resolve(token, **kwargs)

    monkeypatch.setattr("mi_portal.services.auth.resolve", counting)

    async def open_case(case_id: str) -> tuple[Any, Any, Any, Any]:
        root = _root(token, "/cases/[id]", {"id": case_id})
        case = await root.get_state(CaseState)
        await CaseState.event_handlers["load"].fn(case)
        return (
            case,
            await root.get_state(ConversationState),
            await root.get_state(HoldsState),
            await root.get_state(SessionState),
        )

    case, conversation, holds, header = asyncio.run(open_case(str(own["submission"])))
    assert lookups == [token]  # one session lookup for the whole page
    assert not case.not_found and case.case["id"] == str(own["submission"])
    assert [m["body"] for m in conversation.messages] == ["hello"] and conversation.loaded
    assert {h["reason"] for h in holds.holds} == {"dispute", "claim"} and holds.held
    assert header.user_email == "manager@a.test" and header.can_view_cases

    case, conversation, holds, header = asyncio.run(open_case(str(foreign["submission"])))
    assert case.not_found and case.case == {} and case.thumbnails == []
    assert conversation.messages == [] and not conversation.loaded
    assert holds.holds == [] and not holds.held
    assert header.user_email == "manager@a.test"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_page_someone_may_not_open_still_shows_who_they_are(db: Database) -> None:
    a = make_tenant("clinic-a")
    user, _ = make_user("viewer@a.test", role="viewer", tenants=(a,))
    token = sign_in_token(user)

    async def open_users() -> tuple[Any, Any, Any]:
        root = _root(token, "/admin/users", {})
        page = await root.get_state(UsersState)
        result = await UsersState.event_handlers["load"].fn(page)
        return result, page, await root.get_state(SessionState)

    result, page, header = asyncio.run(open_users())
    assert "access-denied" in str(result)  # refused, with a message
    assert page.members == []
    assert header.user_email == "viewer@a.test" and not header.can_manage_users


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_case_page_reads_everything_through_one_session(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every card's read is lent the page's one session (one connection and one transaction,
    not one each). "Not found" from any read empties the case; any other failure fails the
    event, shows nothing read, and still records the looks already taken."""
    from mi_portal.db import ScopedSession
    from mi_portal.services import (
        audit,
        cases,
        legal_holds,
        message_list,
        message_templates,
        messaging,
        photos,
        retention_rules,
    )
    from mi_portal.services.actor import NotFound

    a, own, token = _a_manager_with_a_case()
    lent: dict[str, Any] = {}
    fail: dict[str, BaseException] = {}
    reads = [
        (cases, "case_detail"),
        (cases, "assignable"),
        (photos, "thumbnails"),
        (retention_rules, "case_due_dates"),
        (messaging, "conversation"),
        (message_templates, "list_templates"),
        (legal_holds, "holds_for_case"),
        (message_list, "total_unread"),  # the header's count, read in the page's session too
    ]

    def lending(name: str, real: Any) -> Any:
        def read(*args: Any, **kwargs: Any) -> Any:
            lent[name] = kwargs.get("lent")
            if name in fail:
                raise fail[name]
            return real(*args, **kwargs)

        return read

    for module, name in reads:
        monkeypatch.setattr(module, name, lending(name, getattr(module, name)))

    raised: list[BaseException] = []

    async def open_case() -> tuple[Any, Any, Any]:
        root = _root(token, "/cases/[id]", {"id": str(own["submission"])})
        case = await root.get_state(CaseState)
        try:
            await CaseState.event_handlers["load"].fn(case)
        except Exception as exc:
            raised.append(exc)
        return case, await root.get_state(ConversationState), await root.get_state(HoldsState)

    case, conversation, holds = asyncio.run(open_case())
    assert not raised
    assert sorted(lent) == sorted(name for _, name in reads)
    sessions = {id(s) for s in lent.values()}
    assert len(sessions) == 1 and isinstance(next(iter(lent.values())), ScopedSession)
    assert not case.not_found and case.case["id"] == str(own["submission"]) and case.opened
    assert case.retention and case.thumbnails and case.members
    assert conversation.loaded and [t["name"] for t in conversation.templates] == ["Welcome"]
    assert holds.held

    # Removed between the reads: the thumbnails no longer find it, and nothing is kept.
    fail["thumbnails"] = NotFound("case")
    case, conversation, holds = asyncio.run(open_case())
    assert case.not_found and case.case == {} and case.thumbnails == [] and case.retention == {}
    assert conversation.messages == [] and not conversation.loaded and holds.holds == []

    # A store that fails mid-page: the event fails and the tab is shown nothing it read, but
    # the looks taken before the failure are recorded.
    fail.clear()
    fail["case_due_dates"] = RuntimeError("database went away")
    before = _looks(a)
    case, conversation, holds = asyncio.run(open_case())
    assert [str(e) for e in raised] == ["database went away"]
    assert case.error and case.case == {} and case.thumbnails == [] and case.members == []
    assert conversation.messages == [] and conversation.templates == [] and holds.holds == []
    assert _looks(a) == before + ["case.view", "images.thumbnails_listed"]
    fail.clear()
    case, conversation, holds = asyncio.run(open_case())  # and the next opening works
    assert len(raised) == 1 and case.opened and not case.error
    assert audit.verify_chain(str(a)) is None


def _looks(tenant_id: Any) -> list[str]:
    from sqlmodel import col, select

    from mi_portal.models import AuditEvent

    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent.action)
                .where(AuditEvent.chain == str(tenant_id))
                .where(col(AuditEvent.action).in_(["case.view", "images.thumbnails_listed"]))
                .order_by(col(AuditEvent.seq))
            )
        )


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_case_pages_three_looks_enter_the_audit_chain_together_in_a_fixed_order(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mi_portal.services import audit
    from mi_portal.state.case import PAGE_LOOKS

    a, own, token = _a_manager_with_a_case()
    appends: list[list[str]] = []
    real = audit._append_in

    def counting(session: Any, chain: str, queued: list[dict[str, Any]]) -> Any:
        appends.append([f["action"] for f in queued])
        return real(session, chain, queued)

    monkeypatch.setattr(audit, "_append_in", counting)

    async def open_case() -> Any:
        root = _root(token, "/cases/[id]", {"id": str(own["submission"])})
        case = await root.get_state(CaseState)
        await CaseState.event_handlers["load"].fn(case)
        return case

    for _ in range(3):
        case = asyncio.run(open_case())
    assert appends == [list(PAGE_LOOKS)] * 3  # one transaction per page, always this order
    assert audit.verify_chain(str(a)) is None
    # The timeline shows this view too, though it was written after the case was read.
    assert any(entry["what"] == "Opened the case" for entry in case.case["timeline"]), case.case[
        "timeline"
    ]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_look_the_audit_chain_refuses_sends_nothing_to_the_tab(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mi_portal.services import audit

    a, own, token = _a_manager_with_a_case()

    def refused(*_args: Any) -> Any:
        raise RuntimeError("could not append to audit chain")

    monkeypatch.setattr(audit, "_append_in", refused)

    async def open_case() -> tuple[Any, Any, Any]:
        root = _root(token, "/cases/[id]", {"id": str(own["submission"])})
        case = await root.get_state(CaseState)
        try:
            await CaseState.event_handlers["load"].fn(case)
        except RuntimeError:
            pass
        else:
            raise AssertionError("the page opened with its looks unrecorded")
        return case, await root.get_state(ConversationState), await root.get_state(HoldsState)

    case, conversation, holds = asyncio.run(open_case())
    assert case.case == {} and case.thumbnails == [] and case.members == []
    assert case.error and not case.loading and not case.opened  # the page shows only why
    assert conversation.messages == [] and conversation.consent == [] and not conversation.loaded
    assert holds.holds == []


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_header_counts_unread_messages_after_the_case_page_has_read_its_own(
    db: Database,
) -> None:
    """Opening a case marks its conversation read. The header's unread count is read after
    that, in the page's session, so it no longer counts the messages just shown; other pages'
    headers count as before."""
    from mi_portal.db import tenant_session
    from mi_portal.models import Submission
    from mi_portal.services import messaging
    from mi_portal.state.inbox import InboxState
    from tests.factories import make_case

    a = make_tenant("clinic-a")
    user, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    token = sign_in_token(user)
    read_now, still_unread = make_case(a, name="Ava Stone")[1], make_case(a, name="Ben Ng")[1]
    for case_id, bodies in ((read_now, ("One", "Two")), (still_unread, ("Three",))):
        with tenant_session(a) as session:
            case = session.get(Submission, (a, case_id))
            assert case is not None
            thread = messaging.thread_for_case(session, case)
            for body in bodies:
                messaging.append_inbound(session, thread, channel="email", body=body)
            session.commit()

    async def header_after(route: str, query: dict[str, str], state: Any) -> int:
        root = _root(token, route, query)
        page = await root.get_state(state)
        await state.event_handlers["load"].fn(page)
        return (await root.get_state(SessionState)).unread_messages

    assert asyncio.run(header_after("/cases", {}, InboxState)) == 3
    opened = asyncio.run(header_after("/cases/[id]", {"id": str(read_now)}, CaseState))
    assert opened == 1  # Ava's two were shown on this page; Ben's one is still unread
    assert asyncio.run(header_after("/cases", {}, InboxState)) == 1


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_messages_are_marked_read_only_with_the_look_that_showed_them(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read marker and the page's looks are one transaction: when the looks cannot be
    recorded, the tab is shown nothing and the messages stay unread; the next opening marks
    them read and records how many it marked."""
    from sqlmodel import col, select

    from mi_portal.db import tenant_session
    from mi_portal.models import AuditEvent, Submission, ThreadRead
    from mi_portal.services import audit, messaging
    from tests.factories import make_case

    a = make_tenant("clinic-a")
    user, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    token = sign_in_token(user)
    case_id = make_case(a, name="Ava Stone")[1]
    with tenant_session(a) as session:
        case = session.get(Submission, (a, case_id))
        assert case is not None
        thread = messaging.thread_for_case(session, case)
        for body in ("One", "Two"):
            messaging.append_inbound(session, thread, channel="email", body=body)
        session.commit()

    def markers() -> list[Any]:
        with tenant_session(a) as session:
            return list(session.exec(select(ThreadRead.read_until)))

    async def open_case() -> tuple[Any, Any]:
        root = _root(token, "/cases/[id]", {"id": str(case_id)})
        case = await root.get_state(CaseState)
        await CaseState.event_handlers["load"].fn(case)
        return case, await root.get_state(ConversationState)

    real = audit._append_in

    def refused(*_args: Any) -> Any:
        raise RuntimeError("could not append to audit chain")

    monkeypatch.setattr(audit, "_append_in", refused)
    with pytest.raises(RuntimeError):
        asyncio.run(open_case())
    assert markers() == []  # nothing was shown, so nothing was marked read

    monkeypatch.setattr(audit, "_append_in", real)
    case, conversation = asyncio.run(open_case())
    assert case.opened and [m["unread"] for m in conversation.messages] == [True, True]
    assert len(markers()) == 1
    with owner_session() as session:
        viewed = session.exec(
            select(AuditEvent.details)
            .where(AuditEvent.chain == str(a), AuditEvent.action == "thread.viewed")
            .order_by(col(AuditEvent.seq))
        ).all()
    assert viewed == [{"unread_marked": 2}]
    case, conversation = asyncio.run(open_case())  # read now: no second marker, none unread
    assert [m["unread"] for m in conversation.messages] == [False, False]
    assert len(markers()) == 1
    assert audit.verify_chain(str(a)) is None


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_queue_load_whose_session_and_members_are_kept_makes_one_trip(
    db: Database, thread_trips: list[str]
) -> None:
    """With the session and the clinic's members kept by this worker, the queue's load event
    sends only its page read to a worker thread: who is signed in and who can be assigned are
    answered in place (each trip waits its turn in the pool under load). What is not kept, or
    is kept no longer (a sign-out), still goes to the database."""
    from mi_portal.db import get_engine
    from mi_portal.services import session_cache
    from mi_portal.state.inbox import InboxState

    _clinic, _own, token = _a_manager_with_a_case()
    trips = thread_trips

    async def open_queue() -> Any:
        root = _root(token, "/cases", {})
        inbox = await root.get_state(InboxState)
        await InboxState.event_handlers["load"].fn(inbox)
        return inbox

    session_cache.start(get_engine(), retry=0.2)
    try:
        for _ in range(50):  # the set-up's own writes are announced: wait until both are kept
            trips.clear()
            inbox = asyncio.run(open_queue())
            if trips == ["_read_queue"]:
                break
        assert trips == ["_read_queue"]
        assert [r["id"] for r in inbox.rows] == [str(_own["submission"])] and not inbox.blocked
        assert auth.resolve_kept(token) is not None
        # Signed out (this worker's commit forgets the session): not answered in place any more.
        auth.sign_out(token)
        assert auth.resolve_kept(token) is None
        trips.clear()
        inbox = asyncio.run(open_queue())
        assert trips[:1] == ["resolve"] and inbox.rows == []
    finally:
        session_cache.stop()


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_queue_counts_the_headers_unread_messages_with_its_rows(
    db: Database, thread_trips: list[str]
) -> None:
    """The queue's load reads the header's unread count in the same trip as its rows; a user
    the queue is closed to gets the header's count on its own."""
    from mi_portal.db import tenant_session
    from mi_portal.models import Submission
    from mi_portal.services import messaging
    from mi_portal.state.inbox import InboxState

    a, own, token = _a_manager_with_a_case()
    with tenant_session(a) as session:
        case = session.get(Submission, (a, own["submission"]))
        assert case is not None
        thread = messaging.thread_for_case(session, case)
        messaging.append_inbound(session, thread, channel="email", body="Any news?")
        session.commit()
    viewer, _ = make_user("nobody@a.test", role="viewer", tenants=())
    trips = thread_trips

    async def open_queue(as_token: str) -> tuple[Any, Any]:
        root = _root(as_token, "/cases", {})
        inbox = await root.get_state(InboxState)
        await InboxState.event_handlers["load"].fn(inbox)
        return inbox, await root.get_state(SessionState)

    inbox, header = asyncio.run(open_queue(token))
    assert [r["id"] for r in inbox.rows] == [str(own["submission"])]
    assert header.unread_messages == 1 and header.user_email == "manager@a.test"
    assert [t for t in trips if t not in {"resolve", "assignable"}] == ["_read_queue"]
    trips.clear()
    inbox, header = asyncio.run(open_queue(sign_in_token(viewer)))
    assert inbox.blocked and inbox.rows == [] and header.unread_messages == 0
    assert "_read_queue" not in trips and "total_unread" in trips
