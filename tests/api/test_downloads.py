"""The download route: a one-minute link bound to one session, clinic, photo and variant."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image
from sqlmodel import col, select
from starlette.testclient import TestClient

from mi_portal.api.downloads import PURPOSE, download_link
from mi_portal.api.routes import build_api_app
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, Submission, SubmissionImage
from mi_portal.services import intake, signed_links
from mi_portal.services.actor import Actor, PermissionDenied
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session
from tests.intake_helpers import form, photos
from tests.signed_in import signed_in


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
        people[name] = signed_in(uid)
    return {"a": a, "b": b, "a_image": _image(a), "b_image": _image(b), "people": people}


def _get(url: str, token: str | None) -> Any:
    client = TestClient(build_api_app(), base_url="http://localhost:3000")
    if token is not None:
        client.cookies.set("mi_session", token)
    return client.get(url)


def _tampered(url: str) -> str:
    """The URL with one character of its signature changed."""
    return url[:-10] + ("B" if url[-10] == "A" else "A") + url[-9:]


def _forged(actor: Actor, image: str, variant: str, *, lifetime: int = 60) -> str:
    """A link signed with the app's key for ``actor``'s session, bypassing the issuer's checks."""
    token = signed_links.sign(
        PURPOSE,
        subject=signed_links.actor_subject(actor),
        lifetime=lifetime,
        claims={"i": image, "v": variant, "t": str(actor.tenant_id)},
    )
    return f"/api/downloads/{image}?t={token}"


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


def test_the_link_works_for_its_session_only(world: dict[str, Any]) -> None:
    provider_token, provider = world["people"]["provider"]
    manager_token, _ = world["people"]["manager"]
    url = download_link(provider, world["a_image"], "preview")
    got = _get(url, provider_token)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith('attachment; filename="case-')
    assert got.headers["cache-control"] == "private, no-store"
    image = Image.open(io.BytesIO(got.content))
    assert image.format == "JPEG" and not image.getexif()
    assert _downloads(world["a"]) == 1
    # Another user of the same clinic, nobody, the same user in another sign-in session, an
    # altered token: all answer "not found".
    assert _get(url, manager_token).status_code == 404
    assert _get(url, None).status_code == 404
    other_session, _ = signed_in(provider.user_id)  # type: ignore[arg-type]
    assert _get(url, other_session).status_code == 404
    assert _get(_tampered(url), provider_token).status_code == 404
    assert _downloads(world["a"]) == 1


def test_expired_foreign_and_forbidden_links_are_refused(world: dict[str, Any]) -> None:
    provider_token, provider = world["people"]["provider"]
    coordinator_token, coordinator = world["people"]["coordinator"]
    expired = _forged(provider, world["a_image"], "preview", lifetime=-1)
    assert _get(expired, provider_token).status_code == 404
    # A link for another clinic's photo, correctly signed for this session: not theirs.
    foreign = download_link(provider, world["b_image"], "preview")
    assert _get(foreign, provider_token).status_code == 404
    # A link for one photo does not open another; a variant outside the list is refused.
    moved = _forged(provider, world["a_image"], "preview").replace(
        world["a_image"], world["b_image"], 1
    )
    assert _get(moved, provider_token).status_code == 404
    assert _get(_forged(provider, world["a_image"], "thumbnail"), provider_token).status_code == 404
    # A coordinator may not download; a link they could not be given is refused by the route too.
    with pytest.raises(PermissionDenied):
        download_link(coordinator, world["a_image"], "preview")
    forged = _forged(coordinator, world["a_image"], "preview")
    assert _get(forged, coordinator_token).status_code == 404
    assert _get(f"/api/downloads/{world['a_image']}?t=x", provider_token).status_code == 404
    assert _downloads(world["a"]) == 0 and _downloads(world["b"]) == 0
