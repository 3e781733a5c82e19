"""The image viewer's services: annotations, earlier cases, sensitivity and audited downloads."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, ImageRendition, Role, Submission
from mi_portal.services import cases, intake, viewer
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.permissions import has_permission
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session
from tests.intake_helpers import form, photos


def _submit(slugs: list[str], email: str = "robin@example.org", n: int = 2) -> None:
    intake.submit(
        clinic_slugs=slugs,
        form=form(email=email),
        photos=photos(n),
        ip=None,
        user_agent="pytest",
        source="test",
    )


def _cases(tenant_id: uuid.UUID) -> list[uuid.UUID]:
    with tenant_session(tenant_id) as session:
        return list(session.exec(select(Submission.id).order_by(col(Submission.received_at))).all())


def _actor(tenant_id: uuid.UUID, role: str, email: str) -> Actor:
    user_id, _ = make_user(email, role=role, tenants=(tenant_id,))
    return Actor(user_id=user_id, role=Role(role), tenant_id=tenant_id, home_tenant_id=tenant_id)


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a", "Lakeside Skin"), make_tenant("clinic-b")
    _submit(["clinic-a", "clinic-b"])  # the same patient sends to both clinics
    return {
        "a": a,
        "b": b,
        "a_case": _cases(a)[0],
        "b_case": _cases(b)[0],
        "provider": _actor(a, "provider", "prov@a.test"),
        "coordinator": _actor(a, "coordinator", "coord@a.test"),
        "viewer": _actor(a, "viewer", "view@a.test"),
        "b_manager": _actor(b, "clinic_manager", "mgr@b.test"),
    }


def test_photos_have_signed_urls_and_sizes(world: dict[str, Any]) -> None:
    shown = viewer.viewer_photos(world["provider"], world["a_case"])
    assert [p.number for p in shown] == [1, 2]
    first = shown[0]
    assert first.preview_url != first.thumbnail_url and first.width >= first.preview_width > 0
    full = viewer.full_resolution_url(world["provider"], first.image_id)
    assert full not in (first.preview_url, first.thumbnail_url)
    with pytest.raises(NotFound):
        viewer.viewer_photos(world["provider"], world["b_case"])
    b_image = viewer.viewer_photos(world["b_manager"], world["b_case"])[0].image_id
    with pytest.raises(NotFound):
        viewer.full_resolution_url(world["provider"], b_image)
    actions = _actions(world["a"])
    assert "images.viewer_opened" in actions and "image.full_viewed" in actions


def _actions(tenant_id: uuid.UUID) -> list[str]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent.action)
                .where(AuditEvent.chain == str(tenant_id))
                .order_by(col(AuditEvent.seq))
            ).all()
        )


def test_annotations_round_trip_in_normalised_coordinates(world: dict[str, Any]) -> None:
    provider = world["provider"]
    image = viewer.viewer_photos(provider, world["a_case"])[0].image_id
    arrow = viewer.add_annotation(provider, image, "arrow", 0.125, 0.25, 0.5, 0.75)
    ellipse = viewer.add_annotation(provider, image, "ellipse", "0.2", 0.2, 0.4, 0.3)
    label = viewer.add_annotation(provider, image, "text", 0.9, 0.1, text="  Lesion   edge ")
    listed = viewer.list_annotations(provider, world["a_case"])
    assert [(a.kind, a.x1, a.y1, a.x2, a.y2) for a in listed] == [
        ("arrow", 0.125, 0.25, 0.5, 0.75),
        ("ellipse", 0.2, 0.2, 0.4, 0.3),
        ("text", 0.9, 0.1, 0.9, 0.1),
    ]
    assert listed[2].text == "Lesion edge" and all(a.mine for a in listed)
    assert listed[0].author  # the author's name, for the list
    # Out-of-range positions are clamped onto the photo; nonsense is refused.
    edge = viewer.add_annotation(provider, image, "arrow", -3, 0.5, 7, 0.5)
    assert (edge.x1, edge.x2) == (0.0, 1.0)
    for bad in (
        ("circle", 0.1, 0.1, 0.2, 0.2, ""),
        ("arrow", "nan", 0.1, 0.2, 0.2, ""),
        ("arrow", {"x": 1}, 0.1, 0.2, 0.2, ""),
        ("arrow", 0.3, 0.3, 0.3, 0.3, ""),  # a click, not a drag
        ("text", 0.3, 0.3, 0, 0, "   "),
        ("text", 0.3, 0.3, 0, 0, "x" * 600),
    ):
        with pytest.raises(ValueError):
            viewer.add_annotation(provider, image, *bad[:5], text=bad[5])  # type: ignore[arg-type]
    moved = viewer.update_annotation(provider, arrow.id, coordinates=(0.1, 0.1, 0.2, 0.2))
    assert (moved.x1, moved.y2) == (0.1, 0.2) and moved.kind == "arrow"
    renamed = viewer.update_annotation(provider, label.id, text="Edge, 4 mm")
    assert renamed.text == "Edge, 4 mm"
    viewer.delete_annotation(provider, ellipse.id)
    assert [a.id for a in viewer.list_annotations(provider, world["a_case"])] == [
        arrow.id,
        label.id,
        edge.id,
    ]
    actions = _actions(world["a"])
    for action in (
        "image.annotation_added",
        "image.annotation_changed",
        "image.annotation_deleted",
    ):
        assert action in actions
    # The case timeline tells the story too.
    timeline = [t.what for t in cases.case_detail(provider, world["a_case"]).timeline]
    assert "Added a marker to a photo" in timeline and "Deleted a marker from a photo" in timeline


def test_only_the_author_changes_an_annotation_and_viewers_cannot_draw(
    world: dict[str, Any],
) -> None:
    provider, coordinator, read_only = world["provider"], world["coordinator"], world["viewer"]
    image = viewer.viewer_photos(provider, world["a_case"])[0].image_id
    mark = viewer.add_annotation(provider, image, "arrow", 0.1, 0.1, 0.3, 0.3)
    seen = viewer.list_annotations(coordinator, world["a_case"])
    assert [a.mine for a in seen] == [False]
    with pytest.raises(PermissionDenied):
        viewer.update_annotation(coordinator, mark.id, text="mine now")
    with pytest.raises(PermissionDenied):
        viewer.delete_annotation(coordinator, mark.id)
    with pytest.raises(PermissionDenied):
        viewer.add_annotation(read_only, image, "arrow", 0.1, 0.1, 0.3, 0.3)
    assert len(viewer.list_annotations(read_only, world["a_case"])) == 1


def test_another_clinic_cannot_read_add_or_delete_annotations(world: dict[str, Any]) -> None:
    provider, outsider = world["provider"], world["b_manager"]
    image = viewer.viewer_photos(provider, world["a_case"])[0].image_id
    mark = viewer.add_annotation(provider, image, "ellipse", 0.1, 0.1, 0.3, 0.3)
    with pytest.raises(NotFound):
        viewer.list_annotations(outsider, world["a_case"])
    with pytest.raises(NotFound):
        viewer.add_annotation(outsider, image, "arrow", 0.1, 0.1, 0.3, 0.3)
    with pytest.raises(NotFound):
        viewer.delete_annotation(outsider, mark.id)
    with pytest.raises(NotFound):
        viewer.update_annotation(outsider, mark.id, text="changed")
    # B's own case (the same patient, sent to both) shows none of A's markers.
    assert viewer.list_annotations(outsider, world["b_case"]) == []
    assert [a.id for a in viewer.list_annotations(provider, world["a_case"])] == [mark.id]


def test_earlier_cases_of_the_same_patient_stay_in_the_clinic(world: dict[str, Any]) -> None:
    provider = world["provider"]
    _submit(["clinic-a", "clinic-b"], email="ROBIN@example.org", n=1)  # a follow-up
    _submit(["clinic-a"], email="someone.else@example.org", n=1)
    a_cases = _cases(world["a"])
    follow_up = a_cases[1]
    earlier = viewer.earlier_cases(provider, follow_up)
    assert [e.submission_id for e in earlier] == [str(world["a_case"])]
    assert earlier[0].photos == 2
    assert viewer.earlier_cases(provider, world["a_case"]) == []
    b_follow_up = _cases(world["b"])[1]
    assert [e.submission_id for e in viewer.earlier_cases(world["b_manager"], b_follow_up)] == [
        str(world["b_case"])
    ]


def test_earlier_cases_shown_are_one_audit_event_on_the_case(world: dict[str, Any]) -> None:
    provider = world["provider"]
    _submit(["clinic-a"], n=1)
    _submit(["clinic-a"], n=1)
    latest = _cases(world["a"])[-1]
    shown = viewer.earlier_cases(provider, latest)
    assert len(shown) == 2
    viewer.earlier_cases(provider, world["a_case"])  # none earlier: nothing was shown
    with owner_session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "cases.listed")).all()
    assert len(events) == 1  # one per list shown, not one per case in it
    event = events[0]
    assert (event.user_id, event.tenant_id) == (provider.user_id, world["a"])
    assert (event.target_type, event.target_id) == ("submission", str(latest))
    assert event.details == {
        "view": "earlier_cases",
        "cases": [e.submission_id for e in shown],
    }
    # The case's timeline says so.
    timeline = [t.what for t in cases.case_detail(provider, latest).timeline]
    assert "Looked at the patient's earlier cases" in timeline


def test_marker_text_loses_invisible_characters(world: dict[str, Any]) -> None:
    provider = world["provider"]
    image = viewer.viewer_photos(provider, world["a_case"])[0].image_id
    typed = "\ufeffLe\u200dsion\u202e egde\x00\n next"
    mark = viewer.add_annotation(provider, image, "text", 0.5, 0.5, text=typed)
    assert mark.text == "Lesion egde next"
    changed = viewer.update_annotation(provider, mark.id, text="\u2066edge\u2069")
    assert changed.text == "edge"
    with pytest.raises(ValueError):
        viewer.add_annotation(provider, image, "text", 0.5, 0.5, text="\u200b\u200b")


def test_sensitive_flag_is_kept_and_audited(world: dict[str, Any]) -> None:
    provider = world["provider"]
    image = viewer.viewer_photos(provider, world["a_case"])[1].image_id
    viewer.set_sensitive(provider, image, True)
    assert [p.sensitive for p in viewer.viewer_photos(provider, world["a_case"])] == [False, True]
    with pytest.raises(PermissionDenied):
        viewer.set_sensitive(world["viewer"], image, False)
    with pytest.raises(NotFound):
        viewer.set_sensitive(world["b_manager"], image, False)
    assert "image.sensitivity_changed" in _actions(world["a"])


@pytest.mark.parametrize(
    "role", ["clinic_owner", "clinic_manager", "provider", "coordinator", "viewer"]
)
def test_download_permission_per_role(db: Database, role: str) -> None:
    a = make_tenant("clinic-a")
    _submit(["clinic-a"], n=1)
    actor = _actor(a, role, f"{role}@a.test")
    image = viewer.viewer_photos(actor, _cases(a)[0])[0].image_id
    allowed = role in ("clinic_owner", "clinic_manager", "provider")
    from mi_portal.services.permissions import Permission

    assert has_permission(actor, Permission.IMAGES_DOWNLOAD) == allowed
    if allowed:
        assert viewer.download(actor, image, "preview").data[:2] == b"\xff\xd8"
    else:
        with pytest.raises(PermissionDenied):
            viewer.download(actor, image, "preview")
    assert ("image.downloaded" in _actions(a)) == allowed


@pytest.mark.parametrize(
    "role", ["clinic_owner", "clinic_manager", "provider", "coordinator", "viewer"]
)
def test_originals_are_for_roles_that_work_cases(db: Database, role: str) -> None:
    """Viewers (read-only) see previews and thumbnails, never the full-resolution original."""
    a = make_tenant("clinic-a")
    _submit(["clinic-a"], n=1)
    actor = _actor(a, role, f"{role}@a.test")
    photo = viewer.viewer_photos(actor, _cases(a)[0])[0]
    assert photo.preview_url.startswith("/api/objects/")
    if role == "viewer":
        with pytest.raises(PermissionDenied):
            viewer.full_resolution_url(actor, photo.image_id)
        assert "image.full_viewed" not in _actions(a)
    else:
        assert viewer.full_resolution_url(actor, photo.image_id).startswith("/api/objects/")
        assert "image.full_viewed" in _actions(a)


def _stored(tenant_id: uuid.UUID, image_id: str, kind: str) -> Image.Image:
    with tenant_session(tenant_id) as session:
        key = session.exec(
            select(ImageRendition.storage_key).where(
                ImageRendition.image_id == uuid.UUID(image_id), ImageRendition.kind == kind
            )
        ).one()
    return Image.open(io.BytesIO(get_store().get(key))).convert("RGB")


def test_download_is_watermarked_and_carries_no_metadata(world: dict[str, Any]) -> None:
    provider = world["provider"]
    photo = viewer.viewer_photos(provider, world["a_case"])[0]
    for variant in ("original", "preview"):
        got = viewer.download(provider, photo.image_id, variant)
        assert got.filename.endswith(f"-photo-1-{variant}.jpg") and got.content_type == "image/jpeg"
        image = Image.open(io.BytesIO(got.data))
        assert image.format == "JPEG"
        assert not image.getexif() and not image.info.get("exif")
        for key in ("icc_profile", "comment", "xmp", "photoshop"):
            assert key not in image.info, key
        assert not image.applist or all(m in ("APP0",) for m, _ in image.applist)  # type: ignore[attr-defined]
        source = _stored(world["a"], photo.image_id, variant)
        # Visible: a band below the photo with the text, and a faint mark across the photo.
        assert image.width == source.width and image.height > source.height
        band = image.convert("RGB").crop((0, source.height, image.width, image.height))
        assert max(ImageStat.Stat(band.convert("L")).extrema[0]) > 200  # white text on dark
        over = ImageChops.difference(image.convert("RGB").crop((0, 0, *source.size)), source)
        assert ImageStat.Stat(over.convert("L")).mean[0] > 1.0
    with pytest.raises(ValueError):
        viewer.download(provider, photo.image_id, "thumbnail")
    with pytest.raises(NotFound):
        viewer.download(world["b_manager"], photo.image_id, "preview")
    events = _download_events(world["a"])
    assert [e["variant"] for e in events] == ["original", "preview"]


def _download_events(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    with owner_session() as session:
        return [
            dict(e.details or {})
            for e in session.exec(
                select(AuditEvent)
                .where(AuditEvent.chain == str(tenant_id), AuditEvent.action == "image.downloaded")
                .order_by(col(AuditEvent.seq))
            )
        ]


def test_watermark_text_names_user_clinic_and_date(world: dict[str, Any]) -> None:
    # Render the expected lines (downloader, clinic, time, case) alone and compare them with the
    # band under a downloaded photo.
    from datetime import UTC, datetime

    from mi_portal.services import clock

    clock.set_clock(lambda: datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
    try:
        provider = world["provider"]
        photo = viewer.viewer_photos(provider, world["a_case"])[0]
        got = Image.open(io.BytesIO(viewer.download(provider, photo.image_id, "preview").data))
    finally:
        clock.set_clock(None)
    plain = Image.new("RGB", (photo.preview_width, photo.preview_height), (0, 0, 0))
    lines = [
        "prov@a.test · Lakeside Skin · 2026-11-28 09:30 UTC",
        f"Case {photo.submission_id[-8:].upper()} photo 1 · confidential health data",
    ]
    band = (0, photo.preview_height, got.width, got.height)
    same = ImageChops.difference(
        got.convert("RGB").crop(band), viewer.watermark(plain, lines).crop(band)
    )
    other = viewer.watermark(
        plain, ["someone@else.test · Other Clinic · 2026-01-01 00:00 UTC", lines[1]]
    )
    different = ImageChops.difference(got.convert("RGB").crop(band), other.crop(band))
    assert (
        ImageStat.Stat(same.convert("L")).mean[0]
        < ImageStat.Stat(different.convert("L")).mean[0] / 2
    )
