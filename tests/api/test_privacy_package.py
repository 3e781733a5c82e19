"""The requester's download route: streams the package once, then the same plain page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from mi_portal.api.privacy_package import PACKAGE_PER_ADDRESS
from mi_portal.api.routes import build_api_app
from mi_portal.db import tenant_session
from mi_portal.models import RightsRequestForward
from mi_portal.services import rights_access
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_tenant
from tests.rights_helpers import case, forward, owner, unzip

GONE = "This link has expired or was already used"


@pytest.fixture
def sent(db: Database) -> dict[str, Any]:
    a = make_tenant("clinic-a")
    case("clinic-a", n_photos=1)
    fid = forward(a, "access")
    rights_access.prepare_package(owner(a), fid)
    return {"a": a, "fid": fid, "path": rights_access.send_package(owner(a), fid)}


def _client() -> TestClient:
    return TestClient(build_api_app(), base_url="http://localhost:3000")


def _stored(tenant_id: uuid.UUID, forward_id: uuid.UUID) -> bytes:
    with tenant_session(tenant_id) as session:
        row = session.get(RightsRequestForward, (tenant_id, forward_id))
        assert row is not None and row.package_key
        return get_store().get(row.package_key)


def test_the_link_downloads_the_package_once(sent) -> None:  # type: ignore[no-untyped-def]
    client = _client()
    # Opening the link (a mail scanner, a preview, the requester) uses nothing up.
    for _ in range(2):
        opened = client.get(sent["path"])
        assert opened.status_code == 200 and '<form method="post">' in opened.text
        assert opened.headers["cache-control"] == "no-store"
    got = client.post(sent["path"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"].startswith('attachment; filename="data-package-RR-')
    assert got.headers["cache-control"] == "no-store"
    assert got.content == _stored(sent["a"], sent["fid"])
    assert "summary.pdf" in unzip(got.content)
    again = client.post(sent["path"])
    assert again.status_code == 404 and GONE in again.text
    assert again.headers["cache-control"] == "no-store"
    unknown = client.post(rights_access.PACKAGE_PATH + "/" + uuid.uuid4().hex + ".x")
    assert unknown.status_code == 404 and unknown.text == again.text


def test_guessing_links_is_rate_limited_per_address(sent) -> None:  # type: ignore[no-untyped-def]
    client = _client()
    wrong = sent["path"][:-3] + "xyz"
    for _ in range(PACKAGE_PER_ADDRESS.max_hits):
        assert client.post(wrong).status_code == 404
    refused = client.post(sent["path"])  # even the right link, from this address, for a while
    assert refused.status_code == 429 and "retry-after" in refused.headers
