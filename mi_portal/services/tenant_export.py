"""Clinic off-boarding, first half: everything one clinic holds, written to a private folder.

The folder gets one ``<table>.json`` per tenant-owned table (a list of row objects), the clinic's
row and its memberships (with each member's email and name), every stored object the clinic's
rows point at under ``objects/<key>``, and ``manifest.json`` with counts, a SHA-256 of every
file and the export time. It is read through the clinic's own tenant session, so row-level
security keeps every other clinic out; rows are streamed in pages, so memory stays flat however
big the clinic is. The folder is 0700 and every file 0600: it is personal data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.config import private_dir, private_file
from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import AuditEvent, Membership, Tenant, User, tenant_models
from mi_portal.services import audit, clock
from mi_portal.services.actor import NotFound, system_actor
from mi_portal.storage import BlobStore, ObjectMissing, get_store

ACTION = "tenant.export"
FORMAT = "mi-portal-tenant-export/1"
OBJECTS_DIR = "objects"
STORAGE_KEY = "storage_key"
# Keys the app writes (tenant/case/rendition); anything else could leave the folder.
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+)*$")
_CHECKSUMS = ".checksums.tmp"


class ExportRefused(ValueError):
    """The output path exists and is not an empty folder."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: rows per file, objects copied, objects the store did not have."""

    slug: str
    out_dir: Path
    exported_at: datetime
    tables: dict[str, int]
    objects: int
    object_bytes: int
    missing_objects: tuple[str, ...]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def json_value(value: Any) -> Any:
    """A JSON form of the values rows hold that JSON lacks (ids, decimals, times, bytes)."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


class _Folder:
    """The private output folder; records the SHA-256 of each file as it is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Checksums go to a private scratch file, not a dict: a clinic may have millions of photos.
        self._sums = self._create(self.root / _CHECKSUMS, text=True)

    def _create(self, path: Path, *, text: bool = False) -> Any:
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        private_file(path)
        return os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")

    def _write(self, relative: str, chunks: Iterable[bytes]) -> int:
        digest, size = hashlib.sha256(), 0
        fh: BinaryIO = self._create(self.root / relative)
        with fh:
            for chunk in chunks:
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        self._sums.write(f"{relative}\t{digest.hexdigest()}\n")
        return size

    def rows(self, name: str, rows: Iterator[dict[str, Any]]) -> int:
        """Write ``<name>.json`` as a list of row objects; returns the row count."""
        count = 0

        def encoded() -> Iterator[bytes]:
            nonlocal count
            yield b"["
            for row in rows:
                yield (",\n" if count else "\n").encode()
                yield json.dumps(row, default=json_value, ensure_ascii=False).encode()
                count += 1
            yield b"\n]\n"

        self._write(f"{name}.json", encoded())
        return count

    def close(self) -> None:
        self._sums.close()

    @staticmethod
    def _object_path(key: str) -> str:
        if not _SAFE_KEY.match(key) or ".." in key:
            raise ValueError("a stored object key does not fit the export folder")
        return f"{OBJECTS_DIR}/{key}"

    def has_object(self, key: str) -> bool:
        return (self.root / self._object_path(key)).exists()

    def copy_object(self, key: str, store: BlobStore) -> int | None:
        """Copy one stored object under ``objects/``; bytes written, or None when it is missing."""
        relative = self._object_path(key)
        try:
            chunks = store.stream(key)
            first = next(chunks, b"")  # a missing object raises here, before any file exists
        except ObjectMissing:
            return None
        return self._write(relative, _prepend(first, chunks))

    def manifest(self, header: dict[str, Any]) -> None:
        """Write ``manifest.json``: ``header`` plus the SHA-256 of every file written before."""
        self._sums.close()
        scratch = self.root / _CHECKSUMS
        with self._create(self.root / "manifest.json", text=True) as out:
            body = json.dumps(header, default=json_value, indent=1, ensure_ascii=False)
            out.write(body[:-2] + ',\n "files": {')  # the header's closing "\n}" comes last
            with scratch.open(encoding="utf-8") as sums:
                for n, line in enumerate(sums):
                    relative, digest = line.rstrip("\n").split("\t")
                    out.write(("," if n else "") + f'\n  {json.dumps(relative)}: "{digest}"')
            out.write("\n }\n}\n")
        scratch.unlink()


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _streamed(session: ScopedSession, stmt: Any, page_rows: int) -> Iterator[dict[str, Any]]:
    for row in session.execute(stmt.execution_options(yield_per=page_rows)):
        yield dict(row._mapping)


def _columns(model: Any) -> list[Any]:
    return [getattr(model, column.name) for column in model.__table__.columns]


def _prepare(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportRefused(f"{out_dir} exists and is not an empty folder")
    return private_dir(out_dir.resolve())


def _tenant_id(slug: str) -> uuid.UUID:
    with platform_session() as session:
        tenant_id = session.exec(select(Tenant.id).where(Tenant.slug == slug)).first()
    if tenant_id is None:
        raise NotFound("clinic")
    return tenant_id


def _snapshot(session: ScopedSession) -> None:
    # One consistent picture of the clinic while it is read (PostgreSQL; SQLite reads as it goes).
    if session.get_bind().dialect.name == "postgresql":
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )


def export_tenant(
    slug: str, out_dir: Path, *, store: BlobStore | None = None, page_rows: int = 500
) -> ExportSummary:
    """Write everything clinic ``slug`` holds to the empty folder ``out_dir`` (audited)."""
    tenant_id = _tenant_id(slug)
    root = _prepare(out_dir)
    exported_at = clock.now()
    tables: dict[str, int] = {}
    folder: _Folder | None = None
    try:
        folder = _Folder(root)
        with tenant_session(tenant_id) as session:
            _snapshot(session)
            holders = _write_tables(folder, session, tenant_id, tables, page_rows)
            objects, size, missing = _copy_objects(
                folder, session, holders, store or get_store(), page_rows
            )
        summary = ExportSummary(slug, root, exported_at, tables, objects, size, tuple(missing))
        folder.manifest(_header(tenant_id, summary))
    except BaseException:
        if folder is not None:
            folder.close()
        _audit(tenant_id, "failed", {"tables": tables})
        raise
    _audit(tenant_id, "ok", _counts(summary))
    return summary


def _write_tables(
    folder: _Folder,
    session: ScopedSession,
    tenant_id: uuid.UUID,
    tables: dict[str, int],
    page_rows: int,
) -> list[Any]:
    """The clinic row, its memberships and every tenant-owned table; returns the models that
    point at stored objects."""
    clinic = sa.select(*_columns(Tenant)).where(col(Tenant.id) == tenant_id)
    tables["tenant"] = folder.rows("tenant", _streamed(session, clinic, 1))
    # Membership is not tenant-owned (a user's own rows are read across clinics at sign-in):
    # the clinic is named here, and row-level security holds it to the same on PostgreSQL.
    members = (
        sa.select(
            *_columns(Membership),
            col(User.email).label("user_email"),
            col(User.full_name).label("user_full_name"),
        )
        .join(User, col(User.id) == Membership.user_id)
        .where(col(Membership.tenant_id) == tenant_id)
        .order_by(col(Membership.id))
    )
    tables["membership"] = folder.rows("membership", _streamed(session, members, page_rows))
    # The clinic's own audit chain (the controller's accountability record), in order.
    chain = (
        sa.select(*_columns(AuditEvent))
        .where(col(AuditEvent.chain) == str(tenant_id))
        .order_by(col(AuditEvent.seq))
    )
    tables["auditevent"] = folder.rows("auditevent", _streamed(session, chain, page_rows))
    holders = []
    for model in tenant_models():
        name: str = model.__tablename__  # type: ignore[assignment]
        stmt = sa.select(*_columns(model)).order_by(col(model.id))
        tables[name] = folder.rows(name, _streamed(session, stmt, page_rows))
        if STORAGE_KEY in model.__table__.columns:  # type: ignore[attr-defined]
            holders.append(model)
    return holders


def _copy_objects(
    folder: _Folder, session: ScopedSession, holders: list[Any], store: BlobStore, page_rows: int
) -> tuple[int, int, list[str]]:
    """Copy every object the clinic's rows name; returns (objects, bytes, missing keys)."""
    objects = size = 0
    missing: list[str] = []
    for model in holders:
        keys = sa.select(getattr(model, STORAGE_KEY)).order_by(col(model.id))
        for (key,) in session.execute(keys.execution_options(yield_per=page_rows)):
            if key is None or key in missing or folder.has_object(key):
                continue  # no object, or one already copied for another row
            written = folder.copy_object(key, store)
            if written is None:
                missing.append(key)
            else:
                objects, size = objects + 1, size + written
    return objects, size, missing


def _counts(summary: ExportSummary) -> dict[str, Any]:
    return {
        "tables": summary.tables,
        "rows": summary.rows,
        "objects": summary.objects,
        "object_bytes": summary.object_bytes,
        "missing_objects": len(summary.missing_objects),
    }


def _header(tenant_id: uuid.UUID, summary: ExportSummary) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "clinic": {"id": tenant_id, "slug": summary.slug},
        "exported_at": summary.exported_at,
        "tables": summary.tables,
        "objects": {
            "count": summary.objects,
            "bytes": summary.object_bytes,
            "missing": list(summary.missing_objects),
        },
    }


def _audit(tenant_id: uuid.UUID, outcome: str, details: dict[str, Any]) -> None:
    audit.record(
        system_actor(),
        ACTION,
        platform=True,
        target_type="tenant",
        target_id=tenant_id,
        outcome=outcome,
        details=details,
    )
