"""The photo route: links bound to one sign-in session, kinds per role, blurred bytes where due."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import col, select
from starlette.testclient import TestClient

from mi_portal.api.routes import build_api_app
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, ImageRendition, Submission, SubmissionImage
from mi_portal.services import auth, intake, object_links, photos, signed_links, viewer
from mi_portal.services.actor import Actor, PermissionDenied
from mi_portal.services.images import process_image
from mi_portal.storage import get_store
from tests.blur import detail, detailed_jpeg, difference
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session
from tests.intake_helpers import form
from tests.signed_in import signed_in


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    photo = process_image(detailed_jpeg(), "detail.jpg")
    for slug in ("clinic-a", "clinic-b"):
        intake.submit(
            clinic_slugs=[slug], form=form(), photos=[photo], ip=None, user_agent="t", source="t"
        )
    people = {}
    for name, role, tenant in (
        ("provider", "provider", a),
        ("manager", "clinic_manager", a),
        ("coordinator", "coordinator", a),
        ("viewer", "viewer", a),
        ("b_owner", "clinic_owner", b),
    ):
        uid, _ = make_user(f"{name}@x.test", role=role, tenants=(tenant,))
        people[name] = signed_in(uid)
    with tenant_session(a) as session:
        case = session.exec(select(Submission.id)).one()
        image = session.exec(select(SubmissionImage.id)).one()
    return {"a": a, "b": b, "case": case, "image": image, "people": people}


def _get(url: str, token: str | None) -> Any:
    client = TestClient(build_api_app(), base_url="http://localhost:3000")
    if token is not None:
        client.cookies.set("mi_session", token)
    return client.get(url)


def _stored(tenant_id: uuid.UUID, image_id: uuid.UUID, kind: str) -> bytes:
    with tenant_session(tenant_id) as session:
        key = session.exec(
            select(ImageRendition.storage_key).where(
                ImageRendition.image_id == image_id, ImageRendition.kind == kind
            )
        ).one()
    return get_store().get(key)


def _fetches(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    with owner_session() as session:
        return [
            dict(details or {})
            for details in session.exec(
                select(AuditEvent.details).where(
                    col(AuditEvent.chain) == str(tenant_id), AuditEvent.action == "image.fetch"
                )
            ).all()
        ]


def _forged(actor: Actor, key: str, kind: str) -> str:
    """A correctly signed link for ``actor``'s session that the issuer would not have given."""
    token = signed_links.sign(
        object_links.PURPOSE,
        subject=signed_links.actor_subject(actor),
        lifetime=60,
        claims={"k": key, "v": kind, "t": str(actor.tenant_id)},
    )
    return f"/api/objects/{key}?t={token}"


def _assert_blurred(served: bytes, clear: bytes) -> None:
    assert served != clear
    assert detail(served) < detail(clear) / 10, (detail(served), detail(clear))
    assert difference(served, clear) > 40


def test_a_link_works_only_in_the_session_it_was_issued_to(world: dict[str, Any]) -> None:
    token, provider = world["people"]["provider"]
    url = viewer.viewer_photos(provider, world["case"])[0].preview_url
    assert _get(url, token).status_code == 200
    # The same user signed in a second time (another browser): the link is not theirs there.
    second_token, second = signed_in(provider.user_id)  # type: ignore[arg-type]
    assert _get(url, second_token).status_code == 404
    assert (
        _get(viewer.viewer_photos(second, world["case"])[0].preview_url, token).status_code == 404
    )
    # Signed out: the link dies with the session.
    auth.sign_out(token)
    assert _get(url, token).status_code == 404
    assert [e["kind"] for e in _fetches(world["a"])] == ["preview"]


def test_a_link_opens_its_own_object_in_its_own_clinic_only(world: dict[str, Any]) -> None:
    token, provider = world["people"]["provider"]
    b_token, _ = world["people"]["b_owner"]
    manager_token, _ = world["people"]["manager"]
    shown = viewer.viewer_photos(provider, world["case"])[0]
    thumb_key = shown.thumbnail_url.split("?", 1)[0].removeprefix("/api/objects/")
    preview_key = shown.preview_url.split("?", 1)[0].removeprefix("/api/objects/")
    swapped = shown.thumbnail_url.replace(thumb_key, preview_key, 1)
    assert _get(swapped, token).status_code == 404
    for other in (manager_token, b_token, None):
        assert _get(shown.thumbnail_url, other).status_code == 404
    assert _get(f"/api/objects/{thumb_key}?t=nonsense", token).status_code == 404
    assert _fetches(world["a"]) == [] and _fetches(world["b"]) == []


def test_viewers_see_previews_and_thumbnails_but_not_originals(world: dict[str, Any]) -> None:
    token, viewer_actor = world["people"]["viewer"]
    shown = viewer.viewer_photos(viewer_actor, world["case"])[0]
    assert _get(shown.preview_url, token).status_code == 200
    assert _get(shown.thumbnail_url, token).status_code == 200
    with pytest.raises(PermissionDenied):
        viewer.full_resolution_url(viewer_actor, shown.image_id)
    with tenant_session(world["a"]) as session:
        original = session.exec(
            select(ImageRendition.storage_key).where(ImageRendition.kind == "original")
        ).one()
    # Even a genuinely signed link to the original is refused to a role that may not see it.
    assert _get(_forged(viewer_actor, original, "original"), token).status_code == 404
    provider_token, provider = world["people"]["provider"]
    full = viewer.full_resolution_url(provider, shown.image_id)
    assert _get(full, provider_token).content == _stored(world["a"], world["image"], "original")


def test_masked_roles_get_blurred_bytes_in_the_queue(world: dict[str, Any]) -> None:
    token, coordinator = world["people"]["coordinator"]  # masked by default
    link = photos.first_thumbnails(coordinator, [str(world["case"])])[str(world["case"])]
    assert link.blurred and link.kind == "blurred"
    got = _get(link.url, token)
    assert got.status_code == 200
    clear = _stored(world["a"], world["image"], "thumbnail")
    _assert_blurred(got.content, clear)
    assert got.content == _stored(world["a"], world["image"], "blurred")
    # A role that sees identities gets the clear thumbnail.
    manager_token, manager = world["people"]["manager"]
    shown = photos.first_thumbnails(manager, [str(world["case"])])[str(world["case"])]
    assert not shown.blurred and _get(shown.url, manager_token).content == clear
    # The coordinator's link cannot be pointed at the clear thumbnail.
    blurred_key = link.url.split("?", 1)[0].removeprefix("/api/objects/")
    clear_key = shown.url.split("?", 1)[0].removeprefix("/api/objects/")
    assert _get(link.url.replace(blurred_key, clear_key, 1), token).status_code == 404


def test_sensitive_photos_are_blurred_bytes_on_the_case_page_and_in_the_queue(
    world: dict[str, Any],
) -> None:
    token, manager = world["people"]["manager"]
    viewer.set_sensitive(manager, world["image"], True)
    clear = _stored(world["a"], world["image"], "thumbnail")
    on_case_page = photos.thumbnails(manager, world["case"])
    assert [t.blurred for t in on_case_page] == [True]
    _assert_blurred(_get(on_case_page[0].url, token).content, clear)
    in_queue = photos.first_thumbnails(manager, [str(world["case"])])[str(world["case"])]
    _assert_blurred(_get(in_queue.url, token).content, clear)
    # In the viewer the strip's thumbnail is blurred too; opening the photo shows the preview.
    shown = viewer.viewer_photos(manager, world["case"])[0]
    _assert_blurred(_get(shown.thumbnail_url, token).content, clear)
    assert _get(shown.preview_url, token).content == _stored(world["a"], world["image"], "preview")


def test_photos_stored_without_a_blurred_rendition_get_one_when_first_needed(
    world: dict[str, Any],
) -> None:
    """Demo data and earlier uploads: made from the thumbnail, stored, recorded, never clear."""
    store = get_store()
    with tenant_session(world["a"]) as session:
        old_key = session.exec(
            select(ImageRendition.storage_key).where(ImageRendition.kind == "blurred")
        ).one()
        session.exec(delete(ImageRendition).where(col(ImageRendition.kind) == "blurred"))  # type: ignore[call-overload]
        session.commit()
    store.delete(old_key)
    token, coordinator = world["people"]["coordinator"]
    link = photos.first_thumbnails(coordinator, [str(world["case"])])[str(world["case"])]
    with tenant_session(world["a"]) as session:
        made = session.exec(select(ImageRendition).where(ImageRendition.kind == "blurred")).one()
    assert made.image_id == world["image"] and store.exists(made.storage_key)
    served = _get(link.url, token).content
    assert served == store.get(made.storage_key)
    _assert_blurred(served, _stored(world["a"], world["image"], "thumbnail"))
    # Asked again, the one made is used: no second row, no second object.
    photos.first_thumbnails(coordinator, [str(world["case"])])
    with tenant_session(world["a"]) as session:
        assert (
            len(session.exec(select(ImageRendition).where(ImageRendition.kind == "blurred")).all())
            == 1
        )
    assert len([k for k in store.keys(f"{world['a']}/") if k.endswith("/blurred.jpg")]) == 1


def test_the_queue_page_shows_blurred_bytes_to_masked_roles(world: dict[str, Any]) -> None:
    """The queue's own handler, as the browser gets it: the row's thumbnail URL is blurred."""
    import asyncio

    from tests.state.test_inbox_state import _load

    clear = _stored(world["a"], world["image"], "thumbnail")
    for name, masked in (("coordinator", True), ("manager", False)):
        token, _actor = world["people"][name]
        state = asyncio.run(_load(token, ""))
        (row,) = state.rows
        # The row carries only what the table shows: the blur flag, not the role's masking.
        assert "masked" not in row and row["blur"] is masked
        served = _get(row["thumbnail"], token).content
        if masked:
            _assert_blurred(served, clear)
        else:
            assert served == clear


def test_two_requests_making_the_same_blurred_rendition_keep_one(world: dict[str, Any]) -> None:
    store = get_store()
    with tenant_session(world["a"]) as session:
        rows = dict(
            session.exec(
                select(ImageRendition.kind, ImageRendition.storage_key).where(
                    ImageRendition.image_id == world["image"]
                )
            ).all()
        )
        session.exec(delete(ImageRendition).where(col(ImageRendition.kind) == "blurred"))  # type: ignore[call-overload]
        session.commit()
    store.delete(rows["blurred"])
    _token, coordinator = world["people"]["coordinator"]
    first = photos.blurred_key(coordinator, store, world["image"], rows["thumbnail"])
    # A second request that had not seen the first one's row yet makes its own, then yields.
    second = photos.blurred_key(coordinator, store, world["image"], rows["thumbnail"])
    assert first is not None and second == first
    assert [k for k in store.keys(f"{world['a']}/") if k.endswith("/blurred.jpg")] == [first]
    # No thumbnail to make it from: nothing, rather than anything clear.
    assert (
        photos.blurred_key(coordinator, store, world["image"], f"{world['a']}/gone/x.jpg") is None
    )


def test_each_fetch_records_who_from_where(world: dict[str, Any]) -> None:
    token, provider = world["people"]["provider"]
    url = viewer.viewer_photos(provider, world["case"])[0].thumbnail_url
    assert _get(url, token).status_code == 200
    with owner_session() as session:
        event = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.chain) == str(world["a"]), AuditEvent.action == "image.fetch"
            )
        ).one()
    # Starlette's test client connects from "testclient" with its own user agent.
    assert event.user_id == provider.user_id
    assert event.ip == "testclient" and event.user_agent


def _original_key(tenant_id: uuid.UUID, image_id: uuid.UUID) -> str:
    with tenant_session(tenant_id) as session:
        return session.exec(
            select(ImageRendition.storage_key).where(
                ImageRendition.image_id == image_id, ImageRendition.kind == "original"
            )
        ).one()


def test_a_fetch_makes_one_trip_for_its_bytes_and_its_audit_event(
    world: dict[str, Any], thread_trips: list[str]
) -> None:
    """The stored bytes and the ``image.fetch`` event in one trip to a worker thread (under load
    every trip waits its turn); an object of one chunk is answered whole, with its length."""
    token, provider = world["people"]["provider"]
    url = viewer.viewer_photos(provider, world["case"])[0].thumbnail_url
    answer = _get(url, token)
    assert answer.status_code == 200
    assert answer.content == _stored(world["a"], world["image"], "thumbnail")
    assert answer.headers["content-length"] == str(len(answer.content))
    assert answer.headers["cache-control"] == "private, no-store"
    # The session is read first (not kept on the embedded database), then one trip.
    assert [t for t in thread_trips if t != "resolve"] == ["_open_and_record"]
    assert [e["kind"] for e in _fetches(world["a"])] == ["thumbnail"]


def test_a_large_original_is_streamed_whole_after_its_fetch_is_recorded(
    world: dict[str, Any],
) -> None:
    from mi_portal.storage.local import CHUNK_BYTES

    token, provider = world["people"]["provider"]
    key = _original_key(world["a"], world["image"])
    big = bytes(range(256)) * (CHUNK_BYTES * 7 // 2 // 256) + b"tail"  # three and a half chunks
    get_store().put(key, big, content_type="image/jpeg")
    answer = _get(_forged(provider, key, "original"), token)
    assert answer.status_code == 200 and answer.content == big
    assert "content-length" not in answer.headers  # streamed, never held whole
    assert [e["kind"] for e in _fetches(world["a"])] == ["original"]


class _Body:
    """A stored object's chunks that fail or note being closed, as a store's stream would."""

    def __init__(self, fail_at: int | None) -> None:
        self.fail_at, self.closed = fail_at, False

    def chunks(self) -> Any:
        from mi_portal.storage import StorageUnavailable

        try:
            for n in range(3):
                if n == self.fail_at:
                    raise StorageUnavailable("S3 read failed: ReadTimeoutError")
                yield b"x" * 10
        finally:
            self.closed = True


def test_an_object_the_store_cannot_read_is_not_found_and_not_recorded(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mi_portal.api import objects

    token, provider = world["people"]["provider"]
    url = viewer.viewer_photos(provider, world["case"])[0].thumbnail_url
    for fail_at in (0, 1):  # the first chunk, or the one that says whether there is more
        body = _Body(fail_at)
        monkeypatch.setattr(objects, "get_store", lambda body=body: _StreamOnly(body))
        assert _get(url, token).status_code == 404
        assert body.closed
    assert _fetches(world["a"]) == []


def test_bytes_whose_fetch_cannot_be_recorded_are_not_sent(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mi_portal.api import objects
    from mi_portal.services import audit

    token, provider = world["people"]["provider"]
    url = viewer.viewer_photos(provider, world["case"])[0].thumbnail_url
    body = _Body(None)
    monkeypatch.setattr(objects, "get_store", lambda: _StreamOnly(body))

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("could not append to audit chain")

    monkeypatch.setattr(audit, "record", refused)
    client = TestClient(build_api_app(), base_url="http://localhost:3000")
    client.cookies.set("mi_session", token)
    with pytest.raises(RuntimeError):
        client.get(url)
    assert body.closed


class _StreamOnly:
    def __init__(self, body: _Body) -> None:
        self.body = body

    def stream(self, _key: str) -> Any:
        return self.body.chunks()
