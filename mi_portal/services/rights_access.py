"""Answering an access request inside one clinic: the data package and its single-use link.

The clinic prepares the package (a ZIP with one JSON file per data category, the photos as
sent, and a summary in HTML and PDF), reads the preview, then sends it: the requester gets a
link that works once and expires. Everything runs in the clinic's own tenant session, from
the clinic's copy of the request (``RightsRequestForward``); the platform's table is never read.

The ZIP is built in memory and written straight to the object store under the clinic's prefix
(``<clinic>/rights/<forward>/package.zip``): nothing personal touches a local file or a log.
Off-boarding purges the prefix; ``storage check`` counts the key on the forward row as used.

The link is ``/api/privacy/package/<clinic id hex>.<random>``: the public route learns which
clinic to look in from the token itself, then finds the request by a keyed digest of the whole
token inside that clinic's session. A database copy yields no working link, and a made-up clinic
id finds nothing. The download marks the link used with one conditional UPDATE, so of two
parallel downloads only one gets the file.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, or_, select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import (
    ForwardStatus,
    Patient,
    RightsRequestForward,
    RightsRequestKind,
    Tenant,
)
from mi_portal.services import audit, clock, rights_locator
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, check
from mi_portal.services.rights_records import Holdings, Window, collect
from mi_portal.services.rights_summary import outline, to_fragment, to_html, to_pdf
from mi_portal.storage import BlobStore, ObjectMissing, StorageUnavailable, get_store

PACKAGE_PATH = "/api/privacy/package"
MONTHS = 12
LINK_DAYS = 7
MAX_LINK_DAYS = 30
# A package is a full copy of a patient's data: it goes this long after its link was used or
# lapsed (the clinic can make a new one if the requester asks again).
KEEP_DAYS = 30
TARGET = "rights_forward"
_TOKEN = re.compile(r"^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")


class PackageError(ValueError):
    """The package cannot be made or sent as asked; the message is for the clinic."""


@dataclass(frozen=True)
class PackagePreview:
    """What the clinic reads before sending: the files, the counts, the summary."""

    forward_id: uuid.UUID
    package_key: str
    sha256: str
    size: int
    files: list[tuple[str, int]]  # path inside the ZIP, bytes
    counts: dict[str, int]  # data category → records
    summary_html: str  # an escaped HTML fragment (headings, paragraphs, lists)
    period_start: datetime | None
    period_end: datetime
    patients: int
    missing_files: int


def package_key(tenant_id: uuid.UUID, forward_id: uuid.UUID) -> str:
    return f"{tenant_id}/rights/{forward_id}/package.zip"


def _forward(session: ScopedSession, actor: Actor, forward_id: object) -> RightsRequestForward:
    fid = parse_id(forward_id, "request")
    forward = session.get(RightsRequestForward, (actor.require_tenant(), fid))
    if forward is None:
        raise NotFound("request")
    return forward


def matching_patients(session: ScopedSession, forward: RightsRequestForward) -> list[Patient]:
    """The clinic's patients (not anonymised) with the requester's verified email, and those
    whose details were corrected under this request.

    The email alone: it is what the requester proved theirs with the code. A phone number they
    typed is not proven, and matching on it would hand someone else's data to whoever typed it.
    """
    # The locator's normal form: the clinic was forwarded the request because it matched.
    email = rights_locator.normalise(rights_locator.EMAIL, forward.requester_email)
    clauses = [col(Patient.email) == email] if email else []
    corrected = [uuid.UUID(p) for p in forward.result.get("patient_ids", [])]
    if corrected:
        clauses.append(col(Patient.id).in_(corrected))
    if not clauses:
        return []
    return list(
        session.exec(
            select(Patient)
            .where(or_(*clauses), col(Patient.anonymized_at).is_(None))
            .order_by(col(Patient.created_at), col(Patient.id))
        )
    )


def _months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:  # 29–31 in a shorter month: its last day
            day -= 1


def window_for(forward: RightsRequestForward, months: int | None = MONTHS) -> Window:
    """The period a package covers: ``months`` before the request (None: everything held)."""
    end = forward.received_at or forward.forwarded_at
    return Window(None if months is None else _months_before(end, months), end)


def prepare_package(
    actor: Actor, forward_id: object, *, months: int | None = MONTHS, store: BlobStore | None = None
) -> PackagePreview:
    """Build the access package, store it, and return its preview (a new one replaces the old,
    and retires any link sent for the old one)."""
    check(actor, Permission.RIGHTS_ANSWER)
    tenant_id = actor.require_tenant()
    store = store or get_store()
    with tenant_session(tenant_id) as session:
        forward = _forward(session, actor, forward_id)
        if forward.kind != RightsRequestKind.ACCESS.value:
            raise PackageError("Only an access request is answered with a data package.")
        if forward.status in (ForwardStatus.COMPLETED.value, ForwardStatus.DENIED.value):
            raise PackageError("This request has already been answered.")
        patients = matching_patients(session, forward)
        if not patients:
            raise PackageError(
                "No patient of this clinic has the requester's email address or phone number."
            )
        window = window_for(forward, months)
        found = collect(session, patients, window)
        tenant = session.get(Tenant, tenant_id)
        clinic = tenant.name if tenant else "the clinic"
        data, files, summary, missing = _build(clinic, forward.reference, window, found, store)
        key = package_key(tenant_id, forward.id)
        store.put(key, data, content_type="application/zip")
        digest = hashlib.sha256(data).hexdigest()
        forward.package_key, forward.package_sha256 = key, digest
        forward.link_digest = forward.link_expires_at = forward.link_used_at = None
        facts = {"files": len(files), "bytes": len(data), "categories": found.counts(),
                 "period_start": window.start.isoformat() if window.start else None,
                 "period_end": window.end.isoformat(), "missing_files": missing,
                 "prepared_at": clock.now().isoformat()}  # fmt: skip
        forward.result = {**(forward.result or {}), "package": {**facts, "sha256": digest}}
        session.add(forward)
        session.commit()
        forward_uuid = forward.id
    audit.record(actor, "rights.package_prepared", target_type=TARGET, target_id=forward_uuid,
                 details=facts)  # fmt: skip
    return PackagePreview(
        forward_uuid, key, digest, len(data), files, found.counts(), summary, window.start,
        window.end, len(patients), missing,
    )  # fmt: skip


def _build(
    clinic: str, reference: str, window: Window, found: Holdings, store: BlobStore
) -> tuple[bytes, list[tuple[str, int]], str, int]:
    """The ZIP (in memory), its file list, the summary HTML and how many files were missing."""
    entries: list[tuple[str, bytes, int]] = []
    for category, records in sorted(found.by_category.items()):
        body = {"category": category, "records": [r.as_json() for r in records]}
        text = json.dumps(body, ensure_ascii=False, indent=1).encode()
        entries.append((f"{category}.json", text, zipfile.ZIP_DEFLATED))
    missing = 0
    for stored in found.files:
        try:
            entries.append((stored.path, store.get(stored.key), zipfile.ZIP_STORED))
        except ObjectMissing:
            missing += 1  # the row is in the JSON; the summary's file list shows what is there
    listed = [(name, len(data)) for name, data, _ in entries]
    sections = outline(clinic, reference, window, found, listed)
    entries.append(("summary.html", to_html(sections).encode(), zipfile.ZIP_DEFLATED))
    entries.append(("summary.pdf", to_pdf(sections), zipfile.ZIP_DEFLATED))
    out = io.BytesIO()
    stamp = window.end.timetuple()[:6]
    with zipfile.ZipFile(out, "w") as archive:
        for name, data, method in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
            info.compress_type = method
            info.external_attr = 0o600 << 16
            archive.writestr(info, data)
    files = [(name, len(data)) for name, data, _ in entries]
    return out.getvalue(), files, to_fragment(sections), missing


def _link_digest(token: str) -> str:
    key = ("rights-package-link:" + get_settings().secret_key).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def send_package(actor: Actor, forward_id: object, *, lifetime_days: int = LINK_DAYS) -> str:
    """A new single-use link to the prepared package (any earlier link stops working);
    returns its path, ``/api/privacy/package/<token>``, for the answer's email."""
    check(actor, Permission.RIGHTS_ANSWER)
    if not 1 <= lifetime_days <= MAX_LINK_DAYS:
        raise PackageError(f"A link lasts from 1 to {MAX_LINK_DAYS} days.")
    tenant_id = actor.require_tenant()
    token = f"{tenant_id.hex}.{secrets.token_urlsafe(32)}"
    with tenant_session(tenant_id) as session:
        forward = _forward(session, actor, forward_id)
        if not forward.package_key:
            raise PackageError("Prepare the package before sending it.")
        if forward.status in (ForwardStatus.COMPLETED.value, ForwardStatus.DENIED.value):
            raise PackageError("This request has already been answered.")
        expires = clock.now() + timedelta(days=lifetime_days)
        forward.link_digest, forward.link_expires_at = _link_digest(token), expires
        forward.link_used_at = None
        session.add(forward)
        session.commit()
        forward_uuid = forward.id
    audit.record(actor, "rights.package_link", target_type=TARGET, target_id=forward_uuid,
                 details={"expires_at": expires.isoformat(), "days": lifetime_days})  # fmt: skip
    return f"{PACKAGE_PATH}/{token}"


def redeem(
    token: str, *, ip: str | None, user_agent: str | None, store: BlobStore | None = None
) -> tuple[str, Iterator[bytes]] | None:
    """The package's file name and bytes for a live link, which is then used up; ``None`` for
    an unknown, expired or already used one (audited in the clinic's chain when it is known)."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    tenant_id = uuid.UUID(hex=match.group(1))
    digest = _link_digest(token)
    now = clock.now()
    with tenant_session(tenant_id) as session:
        forward = session.exec(
            select(RightsRequestForward).where(RightsRequestForward.link_digest == digest)
        ).first()
        if forward is None:
            return None
        forward_id, key, reference = forward.id, forward.package_key, forward.reference
        refusal = (
            "used" if forward.link_used_at is not None
            else "expired" if forward.link_expires_at is None or forward.link_expires_at <= now
            else "no package" if not key
            else None
        )  # fmt: skip
        stream: Iterator[bytes] | None = None
        first = b""
        if refusal is None and key:
            try:
                # Opened before the link is used up: a missing package keeps the link alive.
                stream = (store or get_store()).stream(key)
                first = next(stream, b"")
            except (ObjectMissing, StorageUnavailable, OSError):
                refusal = "no package"
        if refusal is None:
            won = session.execute(
                sa.update(RightsRequestForward)
                .where(
                    col(RightsRequestForward.id) == forward_id,
                    col(RightsRequestForward.link_digest) == digest,
                    col(RightsRequestForward.link_used_at).is_(None),
                    col(RightsRequestForward.link_expires_at) > now,
                )
                .values(link_used_at=now)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            if won != 1:
                refusal = "used"
    audit.record(
        None, "rights.package_download", tenant_id=tenant_id, target_type=TARGET,
        target_id=forward_id, outcome="ok" if refusal is None else "refused", reason=refusal,
        ip=ip, user_agent=user_agent,
    )  # fmt: skip
    if refusal is not None or stream is None:
        return None
    name = "".join(c for c in reference if c.isascii() and c.isalnum() or c == "-") or "request"
    return f"data-package-{name}.zip", _chain(first, stream)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def purge_stale_packages(tenant_id: uuid.UUID, store: BlobStore, now: datetime) -> int:
    """Purge the clinic's packages whose link was used or lapsed ``KEEP_DAYS`` ago, or that were
    never sent within ``KEEP_DAYS`` of being made (the daily retention run calls this)."""
    cutoff = now - timedelta(days=KEEP_DAYS)
    purged = 0
    with tenant_session(tenant_id) as session:
        rows = session.exec(
            select(RightsRequestForward).where(col(RightsRequestForward.package_key).is_not(None))
        )
        for row in rows:
            prepared = (row.result or {}).get("package", {}).get("prepared_at")
            ended = row.link_used_at or row.link_expires_at
            if ended is None and prepared:
                ended = datetime.fromisoformat(prepared)
            if ended is None or ended > cutoff or row.package_key is None:
                continue
            try:
                store.purge(row.package_key)
            except (StorageUnavailable, OSError):
                continue  # the next run tries again
            row.package_key = row.link_digest = None
            session.add(row)
            purged += 1
        session.commit()
    return purged
