"""Consistency between the blob store and the database: orphans either way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    ImageRendition,
    MessageAttachment,
    RightsRequest,
    RightsRequestForward,
    Tenant,
)
from mi_portal.services import clock
from mi_portal.storage import BlobStore, get_store


@dataclass
class StorageReport:
    objects: int = 0
    rows: int = 0
    orphan_objects: list[str] = field(default_factory=list)  # stored, but no row points at them
    missing_objects: list[str] = field(default_factory=list)  # a row points at nothing
    removed: list[str] = field(default_factory=list)


def check(
    *,
    remove_orphans: bool = False,
    grace: timedelta = timedelta(hours=24),
    store: BlobStore | None = None,
) -> StorageReport:
    """Compare every clinic's rendition, attachment and access-package rows (and the
    platform's rights-request authorisations) with the stored objects.

    Orphan objects younger than ``grace`` are listed but never removed: an intake may be between
    writing its objects and committing its rows.
    """
    store = store or get_store()
    report = StorageReport()
    referenced: set[str] = set()
    with platform_session() as session:
        tenant_ids = list(session.exec(select(Tenant.id)))
        # The platform's own objects: agents' signed authorisations of rights requests.
        referenced.update(
            key for key in session.exec(select(RightsRequest.authorisation_key)) if key
        )
        # Each clinic's logo (public branding, under the clinic's prefix).
        referenced.update(key for key in session.exec(select(Tenant.logo_key)) if key)
    for tenant_id in tenant_ids:
        with tenant_session(tenant_id) as session:
            referenced.update(session.exec(select(ImageRendition.storage_key)))
            # A PDF sent with a message is one stored object of its own.
            referenced.update(
                key for key in session.exec(select(MessageAttachment.storage_key)) if key
            )
            # A rights request's access package (the daily run purges it once its link is done).
            referenced.update(
                key for key in session.exec(select(RightsRequestForward.package_key)) if key
            )
    report.rows = len(referenced)
    cutoff = clock.now() - grace
    stored: set[str] = set()
    for key, modified in store.listing():
        stored.add(key)
        if key not in referenced:
            report.orphan_objects.append(key)
            if remove_orphans and modified <= cutoff:
                store.delete(key)
                report.removed.append(key)
    report.objects = len(stored)
    report.missing_objects = sorted(referenced - stored)
    return report
