"""The download route: a one-minute link bound to one user, clinic, photo and variant."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import pytest
from PIL import Image
from sqlmodel import col, select
from starlette.testclient import TestClient

from mi_portal.api.downloads import _signature, download_link
from mi_portal.api.routes import build_api_app
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, Role, Submission, SubmissionImage
from mi_portal.services import intake
from mi_portal.services.actor import Actor, PermissionDenied
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token
from tests.intake_helpers import form, photos


def _image(tenant_id: uuid.UUID) -> str:
    with tenant_session(tenant_id) as session:
        case = session.exec(select(Submission.id)).first()
        return str(
            session.exec(
                select(SubmissionImage.id).where(SubmissionImage.submission_id == case)
            ).first()
        )


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    for slug in ("clinic-a", "clinic-b"):
        intake.submit(
            clinic_slugs=[slug], form=form(), photos=photos(1), ip=None, user_agent="t", source="t"
        )
    people = {}
    for name, role, tenant in (
        ("provider", "provider", a),
        ("manager", "clinic_manager", a),
        ("coordinator", "coordinator", a),
        ("b_owner", "clinic_owner", b),
    ):
        uid, _ = make_user(f"{name}@x.test", role=role, tenants=(tenant,))
        people[name] = (uid, Actor(user_id=uid, role=Role(role), tenant_id=tenant))
    return {"a": a, "b": b, "a_image": _image(a), "b_image": _image(b), "people": people}


def _get(url: str, user: uuid.UUID | None) -> Any:
    client = TestClient(build_api_app(), base_url="http://localhost:3000")
    if user is not None:
        client.cookies.set("mi_session", sign_in_token(user))
    return client.get(url)


def _downloads(tenant_id: uuid.UUID) -> int:
    with owner_session() as session:
        return len(
            session.exec(
                select(AuditEvent.id).where(
                    col(AuditEvent.chain) == str(tenant_id),
                    AuditEvent.action == "image.downloaded",
                )
            ).all()
        )


def test_the_link_works_for_its_user_only(world: dict[str, Any]) -> None:
    provider_id, provider = world["people"]["provider"]
    manager_id, _ = world["people"]["manager"]
    url = download_link(provider, world["a_image"], "preview")
    got = _get(url, provider_id)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith('attachment; filename="case-')
    assert got.headers["cache-control"] == "private, no-store"
    image = Image.open(io.BytesIO(got.content))
    assert image.format == "JPEG" and not image.getexif()
    assert _downloads(world["a"]) == 1
    # Another user of the same clinic, nobody, an altered variant: all answer "not found".
    assert _get(url, manager_id).status_code == 404
    assert _get(url, None).status_code == 404
    assert _get(url.replace("variant=preview", "variant=original"), provider_id).status_code == 404
    assert _downloads(world["a"]) == 1


def test_expired_foreign_and_forbidden_links_are_refused(world: dict[str, Any]) -> None:
    provider_id, provider = world["people"]["provider"]
    coordinator_id, coordinator = world["people"]["coordinator"]
    past = int(time.time()) - 1
    sig = _signature(str(provider_id), str(world["a"]), world["a_image"], "preview", past)
    expired = f"/api/downloads/{world['a_image']}?variant=preview&exp={past}&sig={sig}"
    assert _get(expired, provider_id).status_code == 404
    # A link for another clinic's photo, correctly signed for this user: the photo is not theirs.
    foreign = download_link(provider, world["b_image"], "preview")
    assert _get(foreign, provider_id).status_code == 404
    # A coordinator may not download; a link they could not be given is refused by the route too.
    with pytest.raises(PermissionDenied):
        download_link(coordinator, world["a_image"], "preview")
    soon = int(time.time()) + 60
    forged = _signature(str(coordinator_id), str(world["a"]), world["a_image"], "preview", soon)
    url = f"/api/downloads/{world['a_image']}?variant=preview&exp={soon}&sig={forged}"
    assert _get(url, coordinator_id).status_code == 404
    assert (
        _get(
            f"/api/downloads/{world['a_image']}?variant=preview&exp=x&sig=y", provider_id
        ).status_code
        == 404
    )
    assert _downloads(world["a"]) == 0 and _downloads(world["b"]) == 0
