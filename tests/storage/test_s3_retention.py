"""The retention sweep on S3 with a versioned bucket, over HTTP against moto's server mode.

On a versioned bucket a plain delete only hides an object behind a delete marker: the photo's
bytes stay as an older version. The sweep must leave nothing under a purged key, and touch no
version of another clinic's objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import ImageRendition, Submission, utcnow
from mi_portal.services import clock, intake, retention, storage_check
from mi_portal.storage import store_from_url
from mi_portal.storage.s3 import S3Store
from tests.conftest import Database
from tests.factories import make_tenant
from tests.intake_helpers import form, photos
from tests.storage.test_s3 import Moto


@pytest.fixture
def versioned(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Store]:
    """An S3 store on a bucket with versioning enabled."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    moto = Moto()
    moto.start()
    bucket = f"mi-versioned-{moto.port}"
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url)
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = store_from_url(f"s3://{bucket}?region=us-east-1&endpoint_url={moto.url}&sse=AES256")
    assert isinstance(store, S3Store)
    try:
        yield store
    finally:
        clock.set_clock(None)
        moto.stop()


def _case(store: S3Store, slug: str, email: str) -> None:
    intake.submit(
        clinic_slugs=[slug],
        form=form(email=email),
        photos=photos(1),
        ip="203.0.113.9",
        user_agent="Patient browser",
        source="clinic_page",
        store=store,
    )


def _keys(tenant_id: uuid.UUID) -> list[str]:
    with tenant_session(tenant_id) as session:
        return sorted(session.exec(select(ImageRendition.storage_key)))


def _versions(store: S3Store, prefix: str) -> dict[str, list[Any]]:
    """Every version and delete marker under ``prefix``, with each version's bytes."""
    client = store.client
    found: dict[str, list[Any]] = {"versions": [], "markers": []}
    for page in client.get_paginator("list_object_versions").paginate(
        Bucket=store.bucket, Prefix=prefix
    ):
        for v in page.get("Versions", []):
            body = client.get_object(Bucket=store.bucket, Key=v["Key"], VersionId=v["VersionId"])
            found["versions"].append(
                (v["Key"], v["VersionId"], v["IsLatest"], v["ETag"], body["Body"].read())
            )
        for m in page.get("DeleteMarkers", []):
            found["markers"].append((m["Key"], m["VersionId"], m["IsLatest"]))
    return found


def test_sweep_leaves_no_version_or_delete_marker(pg: Database, versioned: S3Store) -> None:
    store = versioned
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    _case(store, "clinic-a", "robin@example.org")
    _case(store, "clinic-a", "sam@example.org")
    _case(store, "clinic-b", "kim@example.org")
    keys_a, keys_b = _keys(a), _keys(b)
    assert len(keys_a) == 8 and len(keys_b) == 4
    # History before the sweep: an overwritten object (two versions), one deleted and written
    # again (version, marker, version), one deleted (a version behind a marker).
    store.put(keys_a[0], b"second version", content_type="image/jpeg")
    store.delete(keys_a[1])
    store.put(keys_a[1], b"written again", content_type="image/jpeg")
    store.delete(keys_a[2])
    store.put(keys_b[0], b"clinic b, second version", content_type="image/jpeg")
    store.delete(keys_b[1])
    before_a, before_b = _versions(store, f"{a}/"), _versions(store, f"{b}/")
    assert len(before_a["versions"]) == 10 and len(before_a["markers"]) == 2
    assert len(before_b["versions"]) == 5 and len(before_b["markers"]) == 1

    moment = utcnow() + timedelta(days=4000)
    clock.set_clock(lambda: moment)
    result = retention.sweep(a, store=store)
    assert result.line() == "planned=2 purged=0 deidentified=2 held=0 failed=0"

    after_a = _versions(store, f"{a}/")
    assert after_a == {"versions": [], "markers": []}
    assert all(store.gone(key) for key in keys_a)
    # Clinic B: every version, every marker, every byte as it was.
    assert _versions(store, f"{b}/") == before_b
    assert _keys(b) == keys_b
    with tenant_session(a) as session:
        cases = list(session.exec(select(Submission).order_by(col(Submission.id))))
    assert len(cases) == 2 and all(c.deidentified_at for c in cases)
    assert _keys(a) == []
    report = storage_check.check(store=store)
    # B's deleted object is B's own business (a row pointing at a hidden object), nothing of A.
    assert report.orphan_objects == [] and report.missing_objects == [keys_b[1]]
    assert retention.sweep(a, store=store).planned == 0


def test_purging_a_prefix_removes_every_version_and_marker_under_it_only(
    versioned: S3Store,
) -> None:
    for key in ("gone/a", "gone/b", "kept/c"):
        versioned.put(key, b"one", content_type="image/jpeg")
        versioned.put(key, b"two", content_type="image/jpeg")
    versioned.delete("gone/b")  # only a delete marker on top of its versions
    assert versioned.purge_prefix("gone/") == 2
    assert _versions(versioned, "gone/") == {"versions": [], "markers": []}
    kept = _versions(versioned, "kept/")
    assert [v[0] for v in kept["versions"]] == ["kept/c", "kept/c"] and kept["markers"] == []
    assert versioned.get("kept/c") == b"two"
    with pytest.raises(ValueError):
        versioned.purge_prefix("")


def test_a_local_prefix_purge_takes_half_written_uploads_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.storage import LocalStore

    store = LocalStore(tmp_path)
    store.put("clinic/img/a.jpg", b"photo", content_type="image/jpeg")
    store.put("other/img/b.jpg", b"photo", content_type="image/jpeg")
    partial = tmp_path / "clinic" / "img" / ".tmp-crashed"
    partial.write_bytes(b"half a photo")
    assert store.purge_prefix("clinic/") == 2
    assert not (tmp_path / "clinic").exists() and store.get("other/img/b.jpg") == b"photo"
    with pytest.raises(ValueError):
        store.purge_prefix("/")
