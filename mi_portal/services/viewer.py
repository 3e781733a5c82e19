"""The image viewer: a case's photos with signed URLs, annotations, sensitivity, audited download.

Every read and write runs in the actor's clinic (tenant session); a photo, case or annotation of
another clinic answers exactly like a missing one. Each look at full resolution, each change to
an annotation and each download is an audit event on the case, so it shows in its timeline.
"""

from __future__ import annotations

import io
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import func
from sqlmodel import col, select

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import (
    Annotation,
    AnnotationKind,
    ImageRendition,
    Patient,
    Submission,
    SubmissionImage,
    Tenant,
    User,
    utcnow,
)
from mi_portal.services import audit, clock, object_links
from mi_portal.services.actor import Actor, NotFound, PermissionDenied, parse_id
from mi_portal.services.case_lists import record_shown
from mi_portal.services.cases import case_in_clinic
from mi_portal.services.inbox import CASE_PATIENT, photo_count, reference
from mi_portal.services.permissions import Permission, check
from mi_portal.services.photos import BLURRED, blurred_key
from mi_portal.services.text import TextTooLong, clean_text
from mi_portal.storage import BlobStore, get_store

URL_LIFETIME_SECONDS = 300
MAX_TEXT = 500
MAX_ANNOTATIONS_PER_PHOTO = 200
DOWNLOAD_VARIANTS = ("original", "preview")


@dataclass(frozen=True)
class ViewerPhoto:
    image_id: str
    submission_id: str
    number: int  # 1-based position in its case
    display_name: str
    sensitive: bool
    width: int  # of the stored original: 1:1 means one of these pixels per screen pixel
    height: int
    preview_url: str
    preview_width: int
    preview_height: int
    thumbnail_url: str  # of the blurred rendition when the photo is sensitive
    expires_at: float  # epoch seconds; the page asks for new URLs before this


@dataclass(frozen=True)
class EarlierCase:
    submission_id: str
    reference: str
    received_at: str
    photos: int
    patient: str  # the name on that case: the same email may be shared within a family


@dataclass(frozen=True)
class AnnotationView:
    id: str
    image_id: str
    kind: str
    x1: float
    y1: float
    x2: float
    y2: float
    text: str
    author: str
    mine: bool
    at: str


@dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    data: bytes


def _image(session, actor: Actor, image_id: object) -> SubmissionImage:  # type: ignore[no-untyped-def]
    image = session.get(SubmissionImage, (actor.tenant_id, parse_id(image_id, "image")))
    if image is None:
        raise NotFound("image")
    return image


def viewer_photos(
    actor: Actor,
    submission_id: object,
    *,
    lifetime: int = URL_LIFETIME_SECONDS,
    store: BlobStore | None = None,
    renewal: bool = False,
    lent: ScopedSession | None = None,
) -> list[ViewerPhoto]:
    """A case's photos with signed preview and thumbnail URLs (an audited look at health data).

    A sensitive photo's thumbnail is its blurred rendition; the page shows it clear (from the
    preview) once the photo has been opened. ``renewal``: new URLs for a page that already
    shows them, recorded as such. (``lent``: see ``tenant_session``.)
    """
    check(actor, Permission.IMAGES_VIEW)
    store = store or get_store()
    expires_at = time.time() + lifetime
    with tenant_session(actor.require_tenant(), lent=lent) as session:
        case = case_in_clinic(session, actor, submission_id)
        images = session.exec(
            select(SubmissionImage)
            .where(SubmissionImage.submission_id == case.id)
            .order_by(col(SubmissionImage.position), col(SubmissionImage.id))
        ).all()
        renditions: dict[tuple[uuid.UUID, str], ImageRendition] = {
            (r.image_id, r.kind): r
            for r in session.exec(
                select(ImageRendition).where(
                    col(ImageRendition.image_id).in_([i.id for i in images]),
                    col(ImageRendition.kind).in_(("original", "preview", "thumbnail", BLURRED)),
                )
            )
        }
    photos = []
    for number, image in enumerate(images, start=1):
        preview = renditions.get((image.id, "preview"))
        if preview is None and object_links.may_fetch(actor, "original"):
            preview = renditions.get((image.id, "original"))
        thumb = renditions.get((image.id, "thumbnail")) or preview
        original = renditions.get((image.id, "original")) or preview
        if preview is None or thumb is None or original is None:
            continue  # a photo whose renditions were never stored has nothing to show
        thumb_key, thumb_kind = thumb.storage_key, thumb.kind
        if image.sensitive:
            blurred = renditions.get((image.id, BLURRED))
            thumb_key = (
                blurred.storage_key
                if blurred
                else blurred_key(actor, store, image.id, thumb.storage_key)
            )
            thumb_kind = BLURRED
            if thumb_key is None:
                continue  # never the clear thumbnail in the blurred one's place
        photos.append(
            ViewerPhoto(
                image_id=str(image.id),
                submission_id=str(case.id),
                number=number,
                display_name=image.display_name,
                sensitive=image.sensitive,
                width=original.width,
                height=original.height,
                preview_url=object_links.object_url(
                    actor, key=preview.storage_key, kind=preview.kind, lifetime=lifetime
                ),
                preview_width=preview.width,
                preview_height=preview.height,
                thumbnail_url=object_links.object_url(
                    actor, key=thumb_key, kind=thumb_kind, lifetime=lifetime
                ),
                expires_at=expires_at,
            )
        )
    audit.record(
        actor,
        "images.urls_renewed" if renewal else "images.viewer_opened",
        target_type="submission",
        target_id=case.id,
        details={"photos": len(photos)},
    )
    return photos


def full_resolution_url(
    actor: Actor,
    image_id: object,
    *,
    lifetime: int = URL_LIFETIME_SECONDS,
    renewal: bool = False,
) -> str:
    """A signed URL of the stored original, asked for when zooming past the preview (audited).

    Only roles that work cases see originals; read-only viewers stay on the preview.
    """
    check(actor, Permission.IMAGES_VIEW_ORIGINAL)
    with tenant_session(actor.require_tenant()) as session:
        image = _image(session, actor, image_id)
        original = session.exec(
            select(ImageRendition).where(
                ImageRendition.image_id == image.id, ImageRendition.kind == "original"
            )
        ).first()
        if original is None:
            raise NotFound("image")
        submission_id = image.submission_id
    url = object_links.object_url(
        actor, key=original.storage_key, kind="original", lifetime=lifetime
    )
    audit.record(
        actor,
        "image.full_url_renewed" if renewal else "image.full_viewed",
        target_type="submission",
        target_id=submission_id,
        details={"image": str(image.id)},
    )
    return url


def earlier_cases(
    actor: Actor, submission_id: object, *, lent: ScopedSession | None = None
) -> list[EarlierCase]:
    """Earlier cases of the same patient in this clinic (same record, or same email address).
    (``lent``: see ``tenant_session``.)"""
    check(actor, Permission.IMAGES_VIEW)
    with tenant_session(actor.require_tenant(), lent=lent) as session:
        case = case_in_clinic(session, actor, submission_id)
        patient = session.get(Patient, (actor.tenant_id, case.patient_id))
        if patient is None:
            return []
        same_person = select(Patient.id).where(
            func.lower(Patient.email) == patient.email.strip().lower()
        )
        rows = session.exec(
            select(Submission.id, Submission.received_at, photo_count(), Patient.full_name)
            .join(Patient, CASE_PATIENT)
            .where(
                col(Submission.patient_id).in_(same_person),
                Submission.id != case.id,
                col(Submission.received_at) < case.received_at,
            )
            .order_by(col(Submission.received_at).desc())
            .limit(20)
        ).all()
    shown = [
        EarlierCase(str(sid), reference(sid), received.strftime("%Y-%m-%d"), int(count or 0), name)
        for sid, received, count, name in rows
        if count
    ]
    if shown:
        record_shown(
            actor,
            view="earlier_cases",
            case_ids=[e.submission_id for e in shown],
            target_id=case.id,
        )
    return shown


# --- annotations -----------------------------------------------------------------------------


def _coordinate(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ValueError("A marker's position must be a number.") from None
    if not math.isfinite(number):
        raise ValueError("A marker's position must be a number.")
    return min(1.0, max(0.0, round(number, 5)))


def _checked(
    kind: object, x1: object, y1: object, x2: object, y2: object, text: object
) -> tuple[str, float, float, float, float, str]:
    if not isinstance(kind, str) or kind not in {k.value for k in AnnotationKind}:
        raise ValueError("Choose an arrow, an ellipse or a text marker.")
    a, b, c, d = (_coordinate(v) for v in (x1, y1, x2, y2))
    try:
        words = clean_text(text, max_length=MAX_TEXT)
    except TextTooLong:
        raise ValueError(f"Keep a marker's text under {MAX_TEXT} characters.") from None
    if kind == AnnotationKind.TEXT:
        if not words:
            raise ValueError("Type the text of the marker.")
        c, d = a, b
    elif abs(a - c) < 0.005 and abs(b - d) < 0.005:
        raise ValueError("Drag across the photo to draw the marker.")
    return str(kind), a, b, c, d, words


def _views(actor: Actor, rows: list[Annotation]) -> list[AnnotationView]:
    authors = {r.author_id for r in rows if r.author_id}
    names: dict[uuid.UUID, str] = {}
    if authors:
        with platform_session() as session:
            names = dict(
                session.exec(select(User.id, User.full_name).where(col(User.id).in_(authors))).all()
            )
    return [
        AnnotationView(
            id=str(r.id),
            image_id=str(r.image_id),
            kind=r.kind,
            x1=r.x1,
            y1=r.y1,
            x2=r.x2,
            y2=r.y2,
            text=r.text,
            author=names.get(r.author_id, "—") if r.author_id else "—",
            mine=r.author_id is not None and r.author_id == actor.user_id,
            at=_minutes(r.updated_at),
        )
        for r in rows
    ]


def _minutes(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def list_annotations(
    actor: Actor, submission_id: object, *, lent: ScopedSession | None = None
) -> list[AnnotationView]:
    """Every marker on a case's photos, oldest first. (``lent``: see ``tenant_session``.)"""
    check(actor, Permission.IMAGES_VIEW)
    with tenant_session(actor.require_tenant(), lent=lent) as session:
        case = case_in_clinic(session, actor, submission_id)
        rows = list(
            session.exec(
                select(Annotation)
                .join(
                    SubmissionImage,
                    (col(SubmissionImage.tenant_id) == Annotation.tenant_id)
                    & (col(SubmissionImage.id) == Annotation.image_id),
                )
                .where(SubmissionImage.submission_id == case.id)
                .order_by(col(Annotation.created_at), col(Annotation.id))
            )
        )
    return _views(actor, rows)


def add_annotation(
    actor: Actor,
    image_id: object,
    kind: object,
    x1: object,
    y1: object,
    x2: object = 0.0,
    y2: object = 0.0,
    text: object = "",
) -> AnnotationView:
    check(actor, Permission.IMAGES_ANNOTATE)
    fields = _checked(kind, x1, y1, x2, y2, text)
    with tenant_session(actor.require_tenant()) as session:
        image = _image(session, actor, image_id)
        count = session.exec(
            select(func.count()).select_from(Annotation).where(Annotation.image_id == image.id)
        ).one()
        if count >= MAX_ANNOTATIONS_PER_PHOTO:
            raise ValueError("This photo has as many markers as it can hold; delete some first.")
        row = Annotation(
            image_id=image.id,
            author_id=actor.user_id,
            kind=fields[0],
            x1=fields[1],
            y1=fields[2],
            x2=fields[3],
            y2=fields[4],
            text=fields[5],
        )
        session.add(row)
        audit.record_in(
            session,
            "image.annotation_added",
            actor=actor,
            target_type="submission",
            target_id=image.submission_id,
            details={"image": str(row.image_id), "annotation": str(row.id), "kind": row.kind},
        )
        session.commit()
        session.refresh(row)
    return _views(actor, [row])[0]


def _own(session, actor: Actor, annotation_id: object) -> Annotation:  # type: ignore[no-untyped-def]
    row = session.get(Annotation, (actor.tenant_id, parse_id(annotation_id, "annotation")))
    if row is None:
        raise NotFound("annotation")
    if row.author_id != actor.user_id:
        raise PermissionDenied("annotation.own")
    return row


def _case_of(session, actor: Actor, image_id: uuid.UUID) -> uuid.UUID | None:  # type: ignore[no-untyped-def]
    image = session.get(SubmissionImage, (actor.tenant_id, image_id))
    return image.submission_id if image else None


def update_annotation(
    actor: Actor,
    annotation_id: object,
    *,
    text: object = None,
    coordinates: tuple[object, object, object, object] | None = None,
) -> AnnotationView:
    """Change the text or position of one of the actor's own markers."""
    check(actor, Permission.IMAGES_ANNOTATE)
    with tenant_session(actor.require_tenant()) as session:
        row = _own(session, actor, annotation_id)
        x1, y1, x2, y2 = (
            coordinates if coordinates is not None else (row.x1, row.y1, row.x2, row.y2)
        )
        fields = _checked(row.kind, x1, y1, x2, y2, row.text if text is None else text)
        row.x1, row.y1, row.x2, row.y2, row.text = fields[1:]
        row.updated_at = utcnow()
        session.add(row)
        audit.record_in(
            session,
            "image.annotation_changed",
            actor=actor,
            target_type="submission",
            target_id=_case_of(session, actor, row.image_id),
            details={"image": str(row.image_id), "annotation": str(row.id)},
        )
        session.commit()
        session.refresh(row)
    return _views(actor, [row])[0]


def delete_annotation(actor: Actor, annotation_id: object) -> None:
    check(actor, Permission.IMAGES_ANNOTATE)
    with tenant_session(actor.require_tenant()) as session:
        row = _own(session, actor, annotation_id)
        image_id, kind, deleted = row.image_id, row.kind, row.id
        submission_id = _case_of(session, actor, image_id)
        session.delete(row)
        audit.record_in(
            session,
            "image.annotation_deleted",
            actor=actor,
            target_type="submission",
            target_id=submission_id,
            details={"image": str(image_id), "annotation": str(deleted), "kind": kind},
        )
        session.commit()


# --- sensitivity -----------------------------------------------------------------------------


def set_sensitive(actor: Actor, image_id: object, sensitive: bool) -> None:
    """Mark a photo sensitive (its thumbnail is blurred in lists until opened) or clear it."""
    check(actor, Permission.CASES_EDIT)
    with tenant_session(actor.require_tenant()) as session:
        image = _image(session, actor, image_id)
        image.sensitive = bool(sensitive)
        session.add(image)
        audit.record_in(
            session,
            "image.sensitivity_changed",
            actor=actor,
            target_type="submission",
            target_id=image.submission_id,
            details={"image": str(image.id), "sensitive": image.sensitive},
        )
        session.commit()


# --- download --------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError):  # a Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def watermark(image: Image.Image, lines: list[str]) -> Image.Image:
    """A copy of ``image`` with ``lines`` in an opaque band at the foot and faintly across it.

    The band is meant to be read; the diagonal repeat covers the whole photo so that cropping
    the band off does not remove who downloaded it. The repeat is one small stamp, rotated once
    and tiled, so memory stays near the size of the photo itself.
    """
    photo = image.convert("RGB")  # a copy: the caller's image is left as it was
    width, height = photo.size
    size = max(12, min(width, height) // 40)
    font = _font(size)
    # One stamp: the first two lines side by side, faint, turned by 30 degrees, then tiled.
    text = "   ·   ".join(lines[:2]) + "      "
    left, top, right, bottom = (
        int(v) for v in ImageDraw.Draw(photo).textbbox((0, 0), text, font=font)
    )
    stamp = Image.new("L", (right - left, bottom - top + size), 0)
    ImageDraw.Draw(stamp).text((-left, -top + size // 2), text, fill=70, font=font)
    stamp = stamp.rotate(30, expand=True, resample=Image.Resampling.BILINEAR)
    white = Image.new("RGB", stamp.size, (255, 255, 255))
    step_x, step_y = max(1, stamp.width), max(1, stamp.height // 4)
    for row, y in enumerate(range(-stamp.height // 2, height, step_y)):
        for x in range(-stamp.width // 2 - (row % 2) * step_x // 2, width, step_x):
            photo.paste(white, (x, y), stamp)  # clipped at the photo's edges
    line_height = int(size * 1.35)
    canvas = Image.new("RGB", (width, height + line_height * len(lines) + size), (20, 24, 28))
    canvas.paste(photo, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for n, line in enumerate(lines):
        draw.text((size // 2, height + size // 2 + n * line_height), line, fill="white", font=font)
    return canvas


def _download_source(
    actor: Actor, image_id: object, variant: object
) -> tuple[SubmissionImage, uuid.UUID, int, str]:
    """(image, case id, photo number, storage key), after every check a download needs."""
    check(actor, Permission.IMAGES_DOWNLOAD)
    if not isinstance(variant, str) or variant not in DOWNLOAD_VARIANTS:
        raise ValueError("Choose the original or the preview.")
    with tenant_session(actor.require_tenant()) as session:
        image = _image(session, actor, image_id)
        rendition = session.exec(
            select(ImageRendition).where(
                ImageRendition.image_id == image.id, ImageRendition.kind == variant
            )
        ).first()
        if rendition is None:
            raise NotFound("image")
        return image, image.submission_id, image.position + 1, rendition.storage_key


def _file_name(submission_id: uuid.UUID, number: int, variant: str) -> str:
    return f"case-{reference(submission_id).lower()}-photo-{number}-{variant}.jpg"


def check_download(actor: Actor, image_id: object, variant: object) -> str:
    """The file name a download would get; raises exactly as ``download`` would."""
    _image_row, submission_id, number, _key = _download_source(actor, image_id, variant)
    return _file_name(submission_id, number, str(variant))


def download(actor: Actor, image_id: object, variant: str) -> Download:
    """The original or preview as a watermarked JPEG with no metadata; each one is audited."""
    image, submission_id, number, key = _download_source(actor, image_id, variant)
    tenant_id = actor.require_tenant()
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        user = session.get(User, actor.user_id) if actor.user_id else None
    who = user.email if user else "unknown user"
    clinic = tenant.name if tenant else "unknown clinic"
    stamp = clock.now().strftime("%Y-%m-%d %H:%M UTC")
    with Image.open(io.BytesIO(get_store().get(key))) as source:
        source.load()
        marked = watermark(
            source,
            [
                f"{who} · {clinic} · {stamp}",
                f"Case {reference(submission_id)} photo {number} · confidential health data",
            ],
        )
    marked.info.clear()
    out = io.BytesIO()
    # No exif, no ICC profile, no comment: only pixels leave the portal.
    marked.save(out, format="JPEG", quality=90, optimize=True)
    data = out.getvalue()
    audit.record(
        actor,
        "image.downloaded",
        target_type="submission",
        target_id=submission_id,
        details={"image": str(image.id), "variant": variant, "bytes": len(data)},
    )
    return Download(
        filename=_file_name(submission_id, number, variant),
        content_type="image/jpeg",
        data=data,
    )
