"""A clinic's export holds every one of its rows and objects, nothing of another clinic, privately."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    PLATFORM_CHAIN,
    AuditEvent,
    ImageRendition,
    Membership,
    MessageAttachment,
    tenant_models,
)
from mi_portal.services.actor import NotFound
from mi_portal.services.tenant_export import ACTION, ExportRefused, export_tenant
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import fill_tenant, make_case, make_tenant, make_user, owner_session


def _stored_objects(tenant_id: uuid.UUID) -> dict[str, bytes]:
    """Give the clinic's renditions real objects and its attachment a PDF; returns key → bytes."""
    store = get_store()
    objects: dict[str, bytes] = {}
    with tenant_session(tenant_id) as session:
        keys = list(session.exec(select(ImageRendition.storage_key)).all())
        attachment = session.exec(select(MessageAttachment)).one()
        attachment.storage_key = f"{tenant_id}/attachments/{uuid.uuid4().hex}.pdf"
        session.add(attachment)
        session.commit()
        keys.append(attachment.storage_key)
    for key in keys:
        objects[key] = os.urandom(256) + key.encode()
        store.put(key, objects[key], content_type="application/octet-stream")
    return objects


def _every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def two_filled(db: Database) -> dict[str, object]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    a_ids, b_ids = fill_tenant(a), fill_tenant(b)
    for _ in range(3):  # more rows than a page in the export below
        make_case(a)
    shared, _ = make_user("shared@example.org", role="provider", tenants=(a, b))
    b_only, _ = make_user("b-only@example.org", role="viewer", tenants=(b,))
    with owner_session() as session:
        b_memberships = list(session.exec(select(Membership.id).where(Membership.tenant_id == b)))
    return {
        "a": a,
        "b": b,
        "a_ids": a_ids,
        "b_ids": b_ids,
        "a_objects": _stored_objects(a),
        "b_objects": _stored_objects(b),
        "b_only_user": b_only,
        "b_memberships": b_memberships,
    }


def test_export_holds_the_clinic_and_nothing_of_another(
    two_filled: dict[str, object], tmp_path: Path
) -> None:
    w = two_filled
    a_ids: dict[str, uuid.UUID] = w["a_ids"]  # type: ignore[assignment]
    a_objects: dict[str, bytes] = w["a_objects"]  # type: ignore[assignment]
    out = tmp_path / "export"
    from mi_portal.services import audit

    for tenant in (w["a"], w["b"]):  # one event in each clinic's chain
        audit.record(None, "case.view", tenant_id=tenant, target_id="x")  # type: ignore[arg-type]
    summary = export_tenant("clinic-a", out, page_rows=2)

    names = [m.__tablename__ for m in tenant_models()]
    assert set(names) <= set(a_ids)  # the factory fills every tenant-owned table
    for name in [*names, "tenant", "membership", "auditevent"]:
        rows = json.loads((out / f"{name}.json").read_text())
        assert len(rows) == summary.tables[name] >= 1, name
        assert {r["tenant_id"] if name != "tenant" else r["id"] for r in rows} == {str(w["a"])}
        if name in a_ids:
            assert str(a_ids[name]) in {r["id"] for r in rows}, name
    patients = json.loads((out / "patient.json").read_text())
    assert len(patients) == 4  # the factory's and three more: pages of two joined up
    quote = json.loads((out / "quote.json").read_text())[0]
    assert quote["total"] == "100.00" and "T" in quote["created_at"]
    members = json.loads((out / "membership.json").read_text())
    assert [(m["user_email"], m["role"]) for m in members] == [("shared@example.org", "provider")]
    assert "password_hash" not in members[0]

    # Every object the clinic's rows point at, byte for byte; no other object.
    copied = {p.relative_to(out / "objects").as_posix() for p in _every_file(out / "objects")}
    assert copied == set(a_objects)
    store = get_store()
    for key in a_objects:
        assert (out / "objects" / key).read_bytes() == store.get(key)
    assert summary.objects == len(a_objects) and not summary.missing_objects

    # Not one id, key or byte of clinic B anywhere in the output (names of files included).
    foreign = {str(w["b"]), str(w["b_only_user"]), *map(str, w["b_ids"].values())}  # type: ignore[union-attr]
    foreign |= set(map(str, w["b_memberships"]))  # type: ignore[arg-type]
    foreign |= set(w["b_objects"])  # type: ignore[arg-type]
    for path in _every_file(out):
        data = path.read_bytes()
        for needle in foreign:
            assert needle.encode() not in data, (path.name, needle)
            assert needle not in path.as_posix()
        assert all(blob not in data for blob in w["b_objects"].values())  # type: ignore[union-attr]


def test_manifest_checksums_every_file_and_the_folder_is_private(
    two_filled: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    summary = export_tenant("clinic-a", out)
    manifest = json.loads((out / "manifest.json").read_text())
    written = {p.relative_to(out).as_posix() for p in _every_file(out)} - {"manifest.json"}
    assert set(manifest["files"]) == written
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert manifest["tables"] == summary.tables
    assert manifest["objects"]["count"] == summary.objects
    assert manifest["clinic"] == {"id": str(two_filled["a"]), "slug": "clinic-a"}
    assert manifest["exported_at"].startswith(summary.exported_at.date().isoformat())

    for path in [out, *(p for p in out.rglob("*"))]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_export_is_audited_on_the_platform_chain(
    two_filled: dict[str, object], tmp_path: Path
) -> None:
    summary = export_tenant("clinic-a", tmp_path / "export")
    with owner_session() as session:
        events = list(
            session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == ACTION, col(AuditEvent.chain) == PLATFORM_CHAIN
                )
            )
        )
    assert len(events) == 1
    event = events[0]
    assert event.target_id == str(two_filled["a"]) and event.outcome == "ok"
    assert event.details["tables"] == summary.tables
    assert event.details["objects"] == summary.objects


def test_missing_object_is_reported_and_the_rest_exported(
    two_filled: dict[str, object], tmp_path: Path
) -> None:
    a_objects: dict[str, bytes] = two_filled["a_objects"]  # type: ignore[assignment]
    gone = sorted(a_objects)[0]
    get_store().delete(gone)
    summary = export_tenant("clinic-a", tmp_path / "export")
    assert summary.missing_objects == (gone,)
    assert summary.objects == len(a_objects) - 1
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["objects"]["missing"] == [gone]


def test_refuses_unknown_clinic_and_used_folder(db: Database, tmp_path: Path) -> None:
    make_tenant("clinic-a")
    with pytest.raises(NotFound):
        export_tenant("no-such-clinic", tmp_path / "new")
    assert not (tmp_path / "new").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("operator's file")
    with pytest.raises(ExportRefused):
        export_tenant("clinic-a", used)
    assert [p.name for p in used.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ExportRefused):
        export_tenant("clinic-a", a_file)
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    export_tenant("clinic-a", empty)  # an existing empty folder is fine, and made private
    assert stat.S_IMODE(empty.stat().st_mode) == 0o700


def test_a_key_that_would_leave_the_folder_stops_the_export(
    two_filled: dict[str, object], tmp_path: Path
) -> None:
    a: uuid.UUID = two_filled["a"]  # type: ignore[assignment]
    with tenant_session(a) as session:
        rendition = session.exec(select(ImageRendition)).one()
        rendition.storage_key = "../../outside"
        session.add(rendition)
        session.commit()
    with pytest.raises(ValueError, match="does not fit"):
        export_tenant("clinic-a", tmp_path / "export")
    assert not (tmp_path / "outside").exists()
    with owner_session() as session:
        outcomes = list(session.exec(select(AuditEvent.outcome).where(AuditEvent.action == ACTION)))
    assert outcomes == ["failed"]
