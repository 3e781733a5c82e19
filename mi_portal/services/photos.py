"""Looking at case photos: short-lived signed URLs, issued after a permission check, audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import ImageRendition, SubmissionImage
from mi_portal.services import audit
from mi_portal.services.actor import Actor
from mi_portal.services.cases import case_in_clinic
from mi_portal.services.permissions import Permission, check
from mi_portal.storage import BlobStore, get_store

URL_LIFETIME_SECONDS = 300


@dataclass(frozen=True)
class PhotoLink:
    image_id: str
    kind: str
    url: str
    width: int
    height: int
    display_name: str
    sensitive: bool


def _link(
    store: BlobStore, actor: Actor, image: SubmissionImage, rendition: ImageRendition, lifetime: int
) -> PhotoLink:
    return PhotoLink(
        image_id=str(image.id),
        kind=rendition.kind,
        url=store.signed_url(
            rendition.storage_key, expires_in=lifetime, viewer=str(actor.user_id or "")
        ),
        width=rendition.width,
        height=rendition.height,
        display_name=image.display_name,
        sensitive=image.sensitive,
    )


def thumbnails(
    actor: Actor,
    submission_id: object,
    *,
    lifetime: int = URL_LIFETIME_SECONDS,
    store: BlobStore | None = None,
) -> list[PhotoLink]:
    """Signed thumbnail URLs of one case's photos (an audited read of health data)."""
    check(actor, Permission.IMAGES_VIEW)
    store = store or get_store()
    with tenant_session(actor.require_tenant()) as session:
        wanted = case_in_clinic(session, actor, submission_id).id
        rows = session.exec(
            select(SubmissionImage, ImageRendition)
            .join(ImageRendition, col(ImageRendition.image_id) == SubmissionImage.id)
            .where(SubmissionImage.submission_id == wanted, ImageRendition.kind == "thumbnail")
            .order_by(col(SubmissionImage.position))
        ).all()
        links = [_link(store, actor, image, rendition, lifetime) for image, rendition in rows]
    audit.record(
        actor,
        "images.thumbnails_listed",
        target_type="submission",
        target_id=wanted,
        details={"count": len(links)},
    )
    return links


def first_thumbnails(
    actor: Actor,
    submission_ids: list[str],
    *,
    lifetime: int = URL_LIFETIME_SECONDS,
    store: BlobStore | None = None,
) -> dict[str, PhotoLink]:
    """The first photo's thumbnail for each case on a queue page (one audited listing)."""
    check(actor, Permission.IMAGES_VIEW)
    wanted = []
    for sid in submission_ids[:200]:
        try:
            wanted.append(uuid.UUID(str(sid)))
        except ValueError:
            continue
    if not wanted:
        return {}
    store = store or get_store()
    links: dict[str, PhotoLink] = {}
    with tenant_session(actor.require_tenant()) as session:
        rows = session.exec(
            select(SubmissionImage, ImageRendition)
            .join(ImageRendition, col(ImageRendition.image_id) == SubmissionImage.id)
            .where(
                col(SubmissionImage.submission_id).in_(wanted), ImageRendition.kind == "thumbnail"
            )
            .order_by(col(SubmissionImage.submission_id), col(SubmissionImage.position))
        ).all()
        for image, rendition in rows:
            key = str(image.submission_id)
            if key not in links:
                links[key] = _link(store, actor, image, rendition, lifetime)
    audit.record(
        actor, "images.thumbnails_listed", target_type="queue_page", details={"cases": len(links)}
    )
    return links
