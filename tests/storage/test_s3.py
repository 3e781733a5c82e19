"""The S3 store over real HTTP against moto's server mode, including an outage mid-submission."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from sqlmodel import col, select
from starlette.testclient import TestClient

from mi_portal.api.routes import build_api_app
from mi_portal.config import reset_settings
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, ImageRendition, Submission
from mi_portal.services import intake, viewer
from mi_portal.services.storage_check import check
from mi_portal.storage import ObjectMissing, get_store, store_from_url
from mi_portal.storage.base import StorageUnavailable
from mi_portal.storage.s3 import CHUNK_BYTES, S3Store
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session
from tests.intake_helpers import form, photos
from tests.signed_in import signed_in


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self) -> None:
        self.port = _free_port()
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Moto, S3Store]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    moto = Moto()
    moto.start()
    bucket = f"mi-photos-{moto.port}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url).create_bucket(Bucket=bucket)
    store = store_from_url(f"s3://{bucket}?region=us-east-1&endpoint_url={moto.url}&sse=AES256")
    assert isinstance(store, S3Store)
    try:
        yield moto, store
    finally:
        moto.stop()


def test_round_trip_with_server_side_encryption(s3) -> None:  # type: ignore[no-untyped-def]
    _moto, store = s3
    store.put("t1/abc/original.jpg", b"\xff\xd8photo", content_type="image/jpeg")
    assert store.get("t1/abc/original.jpg") == b"\xff\xd8photo"
    assert store.exists("t1/abc/original.jpg") and not store.exists("t1/nope")
    head = store.client.head_object(Bucket=store.bucket, Key="t1/abc/original.jpg")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentType"] == "image/jpeg"
    assert [k for k, _ in store.listing("t1/")] == ["t1/abc/original.jpg"]
    store.delete("t1/abc/original.jpg")
    with pytest.raises(ObjectMissing):
        store.get("t1/abc/original.jpg")


def test_objects_are_streamed_in_chunks(s3) -> None:  # type: ignore[no-untyped-def]
    _moto, store = s3
    data = bytes(range(256)) * 1024  # 256 KiB: several chunks
    store.put("t1/k/original.jpg", data, content_type="image/jpeg")
    chunks = list(store.stream("t1/k/original.jpg"))
    assert len(chunks) > 1 and max(map(len, chunks)) <= CHUNK_BYTES
    assert b"".join(chunks) == data
    with pytest.raises(ObjectMissing):
        store.stream("t1/k/nothing.jpg")


def _fetch(url: str, token: str | None) -> httpx.Response:
    client = TestClient(build_api_app(), base_url="http://localhost:3000")
    if token is not None:
        client.cookies.set("mi_session", token)
    return client.get(url)


def _fetches(tenant_id: uuid.UUID) -> int:
    with owner_session() as session:
        return len(
            session.exec(
                select(AuditEvent.id).where(
                    col(AuditEvent.chain) == str(tenant_id), AuditEvent.action == "image.fetch"
                )
            ).all()
        )


def test_s3_photos_come_through_the_signed_audited_route(  # type: ignore[no-untyped-def]
    db: Database, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto, store = s3
    monkeypatch.setenv(
        "MI_STORAGE", f"s3://{store.bucket}?region=us-east-1&endpoint_url={moto.url}&sse=AES256"
    )
    reset_settings()
    get_store.cache_clear()
    assert isinstance(get_store(), S3Store)
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    for slug in ("clinic-a", "clinic-b"):
        intake.submit(
            clinic_slugs=[slug], form=form(), photos=photos(1), ip=None, user_agent=None, source="t"
        )
    provider_token, provider = signed_in(make_user("p@a.test", role="provider", tenants=(a,))[0])
    manager_token, _ = signed_in(make_user("m@a.test", role="clinic_manager", tenants=(a,))[0])
    b_token, _ = signed_in(make_user("o@b.test", role="clinic_owner", tenants=(b,))[0])
    with tenant_session(a) as session:
        case = session.exec(select(Submission.id)).one()
    shown = viewer.viewer_photos(provider, case)
    original_url = viewer.full_resolution_url(provider, shown[0].image_id)
    urls = [shown[0].preview_url, shown[0].thumbnail_url, original_url]
    # The browser is given app URLs only: nothing that names S3, its host or a presigned query.
    for url in urls:
        assert url.startswith("/api/objects/")
        # (a presigned URL carries X-Amz-* query parameters; the app's token is random text)
        assert "x-amz-" not in url.lower() and "signature=" not in url.lower()
        assert moto.url not in url and store.bucket not in url
    with tenant_session(a) as session:
        keys = dict(
            session.exec(
                select(ImageRendition.kind, ImageRendition.storage_key).where(
                    ImageRendition.image_id == uuid.UUID(shown[0].image_id)
                )
            ).all()
        )
    before = _fetches(a)
    got = _fetch(original_url, provider_token)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.content == store.get(keys["original"])
    assert got.headers["cache-control"] == "private, no-store"
    assert _fetch(shown[0].thumbnail_url, provider_token).content == store.get(keys["thumbnail"])
    assert _fetches(a) == before + 2  # each fetch is an audited read
    # Another user, the same user in another sign-in session, nobody, another clinic: 404.
    other_session, _ = signed_in(provider.user_id)  # type: ignore[arg-type]
    for token in (manager_token, other_session, None, b_token):
        assert _fetch(original_url, token).status_code == 404
    assert _fetches(a) == before + 2 and _fetches(b) == 0


def test_outage_is_reported_as_unavailable(s3) -> None:  # type: ignore[no-untyped-def]
    moto, store = s3
    moto.stop()
    with pytest.raises(StorageUnavailable):
        store.put("t1/x", b"x", content_type="image/jpeg")


def test_outage_in_the_middle_of_a_multi_photo_submission(db: Database, s3) -> None:  # type: ignore[no-untyped-def]
    moto, store = s3
    a = make_tenant("clinic-a")
    puts = {"n": 0}

    def after_put(**_kwargs: object) -> None:
        puts["n"] += 1
        if puts["n"] == 5:  # the second photo's first rendition is in; then the store goes down
            moto.stop()

    store.client.meta.events.register("after-call.s3.PutObject", after_put)
    with pytest.raises(intake.IntakeFailed):
        intake.submit(
            clinic_slugs=["clinic-a"],
            form=form(),
            photos=photos(3),
            ip=None,
            user_agent=None,
            source="t",
            store=store,
        )
    from tests.services.test_intake import _rows

    assert set(_rows(a).values()) == {0}  # no row
    # The store comes back: objects it could not delete during the outage are found and swept.
    moto.start()
    time.sleep(0.2)
    report = check(store=store, remove_orphans=True, grace=timedelta(0))
    assert report.missing_objects == []
    assert len(report.orphan_objects) == 5 and report.removed == report.orphan_objects
    assert list(store.keys()) == []


def test_intake_on_s3_end_to_end(db: Database, s3) -> None:  # type: ignore[no-untyped-def]
    _moto, store = s3
    make_tenant("clinic-a")
    intake.submit(
        clinic_slugs=["clinic-a"],
        form=form(),
        photos=photos(2),
        ip=None,
        user_agent=None,
        source="t",
        store=store,
    )
    keys = list(store.keys())
    assert len(keys) == 8  # original, preview, thumbnail and blurred of each photo
    report = check(store=store)
    assert report.orphan_objects == [] and report.missing_objects == []
