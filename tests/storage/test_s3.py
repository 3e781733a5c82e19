"""The S3 store over real HTTP against moto's server mode, including an outage mid-submission."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from mi_portal.services import intake
from mi_portal.services.storage_check import check
from mi_portal.storage import ObjectMissing, store_from_url
from mi_portal.storage.base import StorageUnavailable
from mi_portal.storage.s3 import S3Store
from tests.conftest import Database
from tests.factories import make_tenant
from tests.intake_helpers import form, photos


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


def test_presigned_url_is_a_short_lived_get(s3) -> None:  # type: ignore[no-untyped-def]
    _moto, store = s3
    store.put("t1/k/thumbnail.jpg", b"thumb-bytes", content_type="image/jpeg")
    url = store.signed_url("t1/k/thumbnail.jpg", expires_in=120)
    assert "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url
    assert httpx.get(url).content == b"thumb-bytes"
    tampered = url.replace("thumbnail.jpg", "original.jpg")
    assert httpx.get(tampered).status_code in (403, 404)


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
        if puts["n"] == 4:  # the second photo's first rendition is in; then the store goes down
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
    assert len(report.orphan_objects) == 4 and report.removed == report.orphan_objects
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
    assert len(keys) == 6
    report = check(store=store)
    assert report.orphan_objects == [] and report.missing_objects == []
