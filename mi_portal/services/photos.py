"""Looking at case photos: short-lived signed URLs, issued after a permission check, audited.

Where a photo must not be seen (a role whose queue is masked, a photo the clinic marked
sensitive) the URL is that of the blurred rendition, so the bytes themselves are blurred.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import ImageRendition, SubmissionImage, Tenant
from mi_portal.services import audit, images, object_links
from mi_portal.services.actor import Actor
from mi_portal.services.cases import case_in_clinic
from mi_portal.services.inbox import full_identity
from mi_portal.services.intake import object_key
from mi_portal.services.permissions import Permission, check
from mi_portal.storage import BlobStore, ObjectMissing, StorageUnavailable, get_store

URL_LIFETIME_SECONDS = 300
BLURRED = "blurred"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoLink:
    image_id: str
    kind: str
    url: str
    width: int
    height: int
    display_name: str
    sensitive: bool
    blurred: bool = False  # the URL serves the blurred rendition


def blurred_key(
    actor: Actor, store: BlobStore, image_id: uuid.UUID, thumbnail_key: str
) -> str | None:
    """The stored blurred rendition of a photo stored before there was one, made now.

    Made from the thumbnail, stored and recorded like the others. ``None`` when it cannot be
    made (the thumbnail is missing, the store is down): the caller then shows nothing, never
    the clear thumbnail in its place.
    """
    tenant_id = actor.require_tenant()
    try:
        made = images.blurred_rendition(store.get(thumbnail_key))
        key = object_key(tenant_id, BLURRED)
        store.put(key, made.data, content_type=made.content_type)
    except (ObjectMissing, StorageUnavailable, OSError, ValueError):
        _log.warning("no blurred rendition could be made for image %s", image_id)
        return None
    try:
        with tenant_session(tenant_id) as session:
            session.add(
                ImageRendition(
                    image_id=image_id,
                    kind=BLURRED,
                    storage_key=key,
                    content_type=made.content_type,
                    width=made.width,
                    height=made.height,
                    byte_size=len(made.data),
                    sha256=made.sha256,
                )
            )
            session.commit()
    except IntegrityError:
        # Another request made it first (or the photo went): keep theirs, drop ours.
        store.delete(key)
        with tenant_session(tenant_id) as session:
            return session.exec(
                select(ImageRendition.storage_key).where(
                    ImageRendition.image_id == image_id, ImageRendition.kind == BLURRED
                )
            ).first()
    return key


def _links(
    actor: Actor,
    store: BlobStore,
    rows: list[tuple[SubmissionImage, ImageRendition, str | None]],
    *,
    lifetime: int,
    blur_all: bool = False,
) -> list[tuple[SubmissionImage, PhotoLink]]:
    """One link per (image, thumbnail, blurred key) row, blurred where the photo must not show."""
    links = []
    for image, thumbnail, blurred in rows:
        hide = blur_all or image.sensitive
        key = thumbnail.storage_key
        if hide:
            key = blurred or blurred_key(actor, store, image.id, thumbnail.storage_key)
            if key is None:
                continue
        url = object_links.object_url(
            actor, key=key, kind=BLURRED if hide else "thumbnail", lifetime=lifetime
        )
        links.append(
            (
                image,
                PhotoLink(
                    image_id=str(image.id),
                    kind=BLURRED if hide else thumbnail.kind,
                    url=url,
                    width=thumbnail.width,
                    height=thumbnail.height,
                    display_name=image.display_name,
                    sensitive=image.sensitive,
                    blurred=hide,
                ),
            )
        )
    return links


def _thumbnail_rows(session, where) -> list[tuple[SubmissionImage, ImageRendition, str | None]]:  # type: ignore[no-untyped-def]
    """(image, thumbnail, blurred key or None) of the images ``where`` selects, in case order:
    one statement (the blurred rendition, where there is one, joined beside the thumbnail)."""
    blurred = aliased(ImageRendition)
    rows = session.exec(
        select(SubmissionImage, ImageRendition, blurred.storage_key)
        .join(ImageRendition, col(ImageRendition.image_id) == SubmissionImage.id)
        .outerjoin(
            blurred,
            sa.and_(
                col(blurred.tenant_id) == col(SubmissionImage.tenant_id),
                col(blurred.image_id) == col(SubmissionImage.id),
                col(blurred.kind) == BLURRED,
            ),
        )
        .where(where, ImageRendition.kind == "thumbnail")
        .order_by(col(SubmissionImage.submission_id), col(SubmissionImage.position))
    ).all()
    return [(image, thumb, key) for image, thumb, key in rows]


def thumbnails(
    actor: Actor,
    submission_id: object,
    *,
    lifetime: int = URL_LIFETIME_SECONDS,
    store: BlobStore | None = None,
    lent: ScopedSession | None = None,
) -> list[PhotoLink]:
    """Signed thumbnail URLs of one case's photos (an audited read of health data).

    A photo marked sensitive gets its blurred rendition: it is seen only in the viewer.
    (``lent``: see ``tenant_session``.)
    """
    check(actor, Permission.IMAGES_VIEW)
    store = store or get_store()
    with tenant_session(actor.require_tenant(), lent=lent) as session:
        wanted = case_in_clinic(session, actor, submission_id).id
        rows = _thumbnail_rows(session, SubmissionImage.submission_id == wanted)
    links = [link for _image, link in _links(actor, store, rows, lifetime=lifetime)]
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
    already_listed: bool = False,
    lent: ScopedSession | None = None,
) -> dict[str, PhotoLink]:
    """The first photo's thumbnail for each case on a queue page (one audited listing).

    Roles that see the queue masked, and photos marked sensitive, get the blurred rendition.
    ``already_listed``: the caller's own audit event names exactly these cases (the queue page
    records one per view), so no second event is written; every byte fetch is audited anyway.
    (``lent``: see ``tenant_session``.)
    """
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
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id, lent=lent) as session:
        tenant = session.get(Tenant, tenant_id)
        masked = not full_identity(actor, tenant.settings if tenant else {})
        firsts: dict[uuid.UUID, tuple[SubmissionImage, ImageRendition, str | None]] = {}
        for row in _thumbnail_rows(session, col(SubmissionImage.submission_id).in_(wanted)):
            firsts.setdefault(row[0].submission_id, row)
    links = {
        str(image.submission_id): link
        for image, link in _links(
            actor, store, list(firsts.values()), lifetime=lifetime, blur_all=masked
        )
    }
    if not already_listed:
        audit.record(
            actor,
            "images.thumbnails_listed",
            target_type="queue_page",
            details={"cases": len(links)},
        )
    return links
