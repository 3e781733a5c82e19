"""The viewer page's handlers: foreign and forged ids change nothing, markers stay the author's."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import tenant_session
from mi_portal.models import Annotation, Submission
from mi_portal.services import intake
from mi_portal.state.viewer import ViewerState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token
from tests.intake_helpers import form, photos


def _case(tenant_id: uuid.UUID) -> str:
    with tenant_session(tenant_id) as session:
        return str(session.exec(select(Submission.id)).first())


def _root(token: str, case_id: str) -> Any:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}"},
            "ip": "127.0.0.1",
            "pathname": "/cases/[id]/photos",
            "query": {"id": case_id},
        }
    )
    return root


async def _viewer(token: str, case_id: str, *steps: tuple[str, tuple[Any, ...]]) -> ViewerState:
    state = await _root(token, case_id).get_state(ViewerState)
    await ViewerState.event_handlers["load"].fn(state)
    for name, args in steps:
        await ViewerState.event_handlers[name].fn(state, *args)
    return state


def _submit(slug: str, count: int) -> None:
    """A patient's case with ``count`` photos in the clinic ``slug``."""
    intake.submit(
        clinic_slugs=[slug],
        form=form(),
        photos=photos(count),
        ip=None,
        user_agent="t",
        source="t",
    )


def run(token: str, case_id: str, *steps: tuple[str, tuple[Any, ...]]) -> ViewerState:
    return asyncio.run(_viewer(token, case_id, *steps))


def _marks(tenant_id: uuid.UUID) -> list[Annotation]:
    with tenant_session(tenant_id) as session:
        return list(session.exec(select(Annotation).order_by(col(Annotation.created_at))))


def test_viewer_flow_and_foreign_ids(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    for slug in ("clinic-a", "clinic-b"):
        intake.submit(
            clinic_slugs=[slug],
            form=form(),
            photos=photos(2),
            ip=None,
            user_agent="t",
            source="test",
        )
    a_case, b_case = _case(a), _case(b)
    provider, _ = make_user("prov@a.test", role="provider", tenants=(a,))
    other, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    token, other_token = sign_in_token(provider), sign_in_token(other)

    state = run(token, a_case)
    assert not state.not_found and len(state.photos) == 2 and state.can_download
    # Only the page's own photos and markers are in state; URLs are signed and short-lived.
    payload = json.dumps({k: getattr(state, k) for k in ViewerState.base_vars}, default=str)
    assert len(payload) < 20_000 and state.refresh_in_ms > 0

    # Another clinic's case answers like a missing one.
    assert run(token, b_case).not_found and run(token, str(uuid.uuid4())).not_found

    state = run(
        token,
        a_case,
        ("draw", ({"kind": "arrow", "x1": 0.1, "y1": 0.2, "x2": 0.4, "y2": 0.5},)),
        ("draw", ({"kind": "text", "x1": 0.5, "y1": 0.5},)),
        ("save_text", ({"text": "Here"},)),
        ("draw", ({"kind": "arrow", "x1": "bad", "y1": 0, "x2": 1, "y2": 1},)),
    )
    assert state.error  # the bad one is refused with a message, the others kept
    marks = _marks(a)
    assert [(m.kind, m.text) for m in marks] == [("arrow", ""), ("text", "Here")]
    assert len(state.current_marks) == 2

    # Someone else's marker cannot be edited or deleted; forged ids do nothing.
    arrow = str(marks[0].id)
    state = run(other_token, a_case, ("ask_delete", (arrow,)), ("start_edit", (arrow,)))
    assert state.delete_id == "" and not state.text_open and state.error
    state = run(other_token, a_case, ("pick", ("not-an-id",)), ("choose_compare", (b_case + "/1",)))
    assert state.selected == "" and state.compare_key == ""
    assert len(_marks(a)) == 2

    # The author deletes, after confirming.
    state = run(token, a_case, ("ask_delete", (arrow,)))
    assert state.delete_id == arrow and len(_marks(a)) == 2
    run(token, a_case, ("ask_delete", (arrow,)), ("confirm_delete", ()))
    assert [m.kind for m in _marks(a)] == ["text"]

    # Compare with the case's second photo; the sensitive flag; moving between photos.
    state = run(token, a_case, ("choose_compare", (f"{a_case}/2",)), ("toggle_sensitive", ()))
    assert state.compare_photo["number"] == 2 and state.current["sensitive"] is True
    state = run(token, a_case, ("navigate", (1,)), ("navigate", ("1",)))
    assert state.index == 1 and state.current["image_id"] in state.revealed

    # Download: a watermarked JPEG handed to the browser.
    state = asyncio.run(_viewer(token, a_case, ("open_download", ())))
    result = asyncio.run(ViewerState.event_handlers["download"].fn(state))
    # A one-minute link for this user (the file itself comes over HTTP; see tests/api).
    assert "_download" in repr(result) and "/api/downloads/" in repr(result)
    assert not state.download_open


def test_signed_urls_are_renewed_with_the_view_kept(db: Database) -> None:
    a = make_tenant("clinic-a")
    _submit("clinic-a", 1)
    user, _ = make_user("prov@a.test", role="provider", tenants=(a,))
    state = run(
        sign_in_token(user),
        _case(a),
        ("need_full", ()),
        ("pick", ("",)),
        ("refresh_urls", ()),
    )
    image = state.current["image_id"]
    assert list(state.full_urls) == [image] and state.full_urls[image].startswith("/api/objects/")
    assert state.refresh_in_ms > 100_000 and not state.error and len(state.photos) == 1


def test_a_viewer_zooms_into_the_preview_without_fetching_the_original(db: Database) -> None:
    a = make_tenant("clinic-a")
    _submit("clinic-a", 1)
    user, _ = make_user("view@a.test", role="viewer", tenants=(a,))
    state = run(sign_in_token(user), _case(a), ("need_full", ()), ("refresh_urls", ()))
    assert state.full_urls == {} and not state.error and len(state.photos) == 1


def test_the_photo_on_screen_is_not_offered_as_its_own_comparison(db: Database) -> None:
    a = make_tenant("clinic-a")
    _submit("clinic-a", 2)
    case_id = _case(a)
    token = sign_in_token(make_user("prov@a.test", role="provider", tenants=(a,))[0])
    state = run(token, case_id)
    assert [o["value"] for o in state.compare_choices] == [f"{case_id}/2"]
    # Forged: comparing photo 1 with itself is refused.
    state = run(token, case_id, ("choose_compare", (f"{case_id}/1",)))
    assert state.compare_key == "" and state.compare_photo == {}
    # On photo 2, photo 1 is offered instead; moving onto the compared photo ends the comparison.
    state = run(token, case_id, ("navigate", (1,)))
    assert [o["value"] for o in state.compare_choices] == [f"{case_id}/1"]
    state = run(token, case_id, ("choose_compare", (f"{case_id}/2",)))
    assert state.compare_key == f"{case_id}/2"
    state = run(token, case_id, ("choose_compare", (f"{case_id}/2",)), ("navigate", (1,)))
    assert state.compare_key == "" and state.compare_photo == {}


def test_a_notice_goes_away_with_the_next_action(db: Database) -> None:
    a = make_tenant("clinic-a")
    _submit("clinic-a", 2)
    case_id = _case(a)
    token = sign_in_token(make_user("prov@a.test", role="provider", tenants=(a,))[0])
    arrow = {"kind": "arrow", "x1": 0.1, "y1": 0.2, "x2": 0.4, "y2": 0.5}
    state = run(token, case_id, ("draw", (arrow,)))
    assert state.notice == "Marker added."
    state = run(token, case_id, ("draw", (arrow,)), ("navigate", (1,)))
    assert state.notice == ""
    state = run(token, case_id, ("draw", (arrow,)), ("draw", ({**arrow, "x1": "bad"},)))
    assert state.notice == "" and state.error


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_viewer_reads_in_one_session_and_commits_its_looks_with_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photos, markers and earlier cases are read through one session (one trip to a worker
    thread, one transaction) that also appends the page's looks, in a fixed order. A read
    that fails fails the event, puts nothing read in the tab, and still records the looks
    already taken."""
    from mi_portal.models import AuditEvent
    from mi_portal.services import audit, viewer
    from mi_portal.state.viewer import PAGE_LOOKS

    a = make_tenant("clinic-a")
    _submit("clinic-a", 1)
    _submit("clinic-a", 2)  # the same patient again: the newer case has an earlier one
    with tenant_session(a) as session:
        newest = str(
            session.exec(select(Submission.id).order_by(col(Submission.received_at).desc())).first()
        )
    token = sign_in_token(make_user("prov@a.test", role="provider", tenants=(a,))[0])
    lent: dict[str, Any] = {}
    fail: dict[str, BaseException] = {}

    def lending(name: str, real: Any) -> Any:
        def read(*args: Any, **kwargs: Any) -> Any:
            lent[name] = kwargs.get("lent")
            if name in fail:
                raise fail[name]
            return real(*args, **kwargs)

        return read

    for name in ("viewer_photos", "list_annotations", "earlier_cases"):
        monkeypatch.setattr(viewer, name, lending(name, getattr(viewer, name)))
    appends: list[list[str]] = []
    real_append = audit._append_in

    def counting(session: Any, chain: str, queued: list[dict[str, Any]]) -> Any:
        appends.append([f["action"] for f in queued])
        return real_append(session, chain, queued)

    monkeypatch.setattr(audit, "_append_in", counting)

    state = run(token, newest)
    assert sorted(lent) == ["earlier_cases", "list_annotations", "viewer_photos"]
    assert len({id(s) for s in lent.values()}) == 1 and None not in lent.values()
    assert appends == [list(PAGE_LOOKS)]
    assert len(state.photos) == 2 and not state.loading and not state.not_found
    assert any(o["label"].startswith("Earlier case") for o in state.compare_options)

    def opened() -> int:
        with tenant_session(a) as session:
            return len(
                session.exec(
                    select(AuditEvent.id).where(AuditEvent.action == "images.viewer_opened")
                ).all()
            )

    before = opened()
    fail["list_annotations"] = RuntimeError("database went away")
    failed: list[ViewerState] = []

    async def failing() -> None:
        viewer_state = await _root(token, newest).get_state(ViewerState)
        failed.append(viewer_state)
        await ViewerState.event_handlers["load"].fn(viewer_state)

    with pytest.raises(RuntimeError, match="database went away"):
        asyncio.run(failing())
    assert (
        failed[0].photos == [] and failed[0].annotations == [] and failed[0].compare_options == []
    )
    assert opened() == before + 1
    fail.clear()
    assert len(run(token, newest).photos) == 2
    assert audit.verify_chain(str(a)) is None
