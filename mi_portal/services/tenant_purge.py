"""Clinic off-boarding, second half: delete everything one clinic holds, then close the clinic.

Every case goes through the retention purge (the same crash-safe steps, with every category due
now and deleted), so its objects are purged and verified before its rows go. What is left (the
catalog, templates, policies, runs, memberships, objects no row pointed at) is removed after.
The clinic's row stays, inactive and marked off-boarded, so its slug is never given out again;
its audit chain stays too (staff accountability), with every patient's details erased. The
platform audit chain keeps the record of the purge.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    LegalHold,
    Membership,
    Submission,
    Tenant,
    TenantStatus,
    User,
    UserSession,
    tenant_models,
)
from mi_portal.services import audit, clock, retention, rights_locator
from mi_portal.services.actor import NotFound, system_actor
from mi_portal.services.legal_holds import active_hold_clause
from mi_portal.services.retention import Progress
from mi_portal.services.retention_rules import CATEGORIES, Policy
from mi_portal.storage import BlobStore, get_store


class PurgeRefused(ValueError):
    """The clinic cannot be purged as asked (wrong confirmation, active holds, failures)."""


@dataclass
class PurgeSummary:
    slug: str
    cases: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    sweep: retention.SweepResult | None = None


EVERYTHING_NOW = {c.category: Policy(c.category, 0, "delete", False) for c in CATEGORIES}


def purge_tenant(
    slug: str,
    *,
    confirm: str,
    store: BlobStore | None = None,
    progress: Progress | None = None,
) -> PurgeSummary:
    if confirm != slug:
        raise PurgeRefused("the confirmation must repeat the clinic's slug exactly")
    store = store or get_store()
    with platform_session() as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == slug)).first()
        if tenant is None:
            raise NotFound("clinic")
        tenant_id = tenant.id
    summary = PurgeSummary(slug)
    with tenant_session(tenant_id) as session:
        held = session.exec(
            select(sa.func.count()).select_from(LegalHold).where(active_hold_clause(clock.now()))
        ).one()
        summary.cases = session.exec(select(sa.func.count()).select_from(Submission)).one()
    if held:
        raise PurgeRefused(f"{held} legal holds are active; release them first")
    # The clinic's sweep lock for the whole purge: no cron or worker run gets in between.
    try:
        with retention.sweep_lock(tenant_id):
            return _purge_locked(tenant_id, slug, summary, store, progress)
    except retention.SweepBusy:
        raise PurgeRefused("a retention sweep of this clinic is running; try again") from None


def _purge_locked(
    tenant_id: uuid.UUID,
    slug: str,
    summary: PurgeSummary,
    store: BlobStore,
    progress: Progress | None,
) -> PurgeSummary:
    # Closed first: no intake and no staff work while its data goes.
    _set_tenant(tenant_id, offboarding=True)
    actor = system_actor(tenant_id)
    result = retention.SweepResult()
    left = summary.cases
    # Items an earlier, interrupted sweep left are finished first; a second pass plans the
    # cases they covered. Three passes reach every case unless something keeps failing.
    for _attempt in range(3):
        result.add(
            retention.sweep(
                tenant_id, trigger="tenant-purge", actor=actor, store=store, progress=progress,
                policies=EVERYTHING_NOW, lock=False,
            )
        )  # fmt: skip
        with tenant_session(tenant_id) as session:
            # A case retention already made a de-identified record has nothing left to purge
            # (no photo, no personal field): its rows go with the rest below.
            left = session.exec(
                select(sa.func.count())
                .select_from(Submission)
                .where(col(Submission.deidentified_at).is_(None))
            ).one()
        if not left:
            break
    summary.sweep = result
    if left:
        raise PurgeRefused(f"{left} cases could not be purged yet; run the command again")
    # Objects no row pointed at any more (a crashed upload, say): the clinic's whole prefix.
    summary.objects = store.purge_prefix(f"{tenant_id}/")
    with tenant_session(tenant_id) as session:
        # A hold placed since the first check stops the purge before anything else goes.
        held = session.exec(
            select(sa.func.count()).select_from(LegalHold).where(active_hold_clause(clock.now()))
        ).one()
        if held:
            raise PurgeRefused(f"{held} legal holds were placed meanwhile; release them first")
        audit.erase_chain_patients(session)
        # Not a tenant-owned model (the platform's lookup reads it), so not in the order below.
        locator = rights_locator.forget_clinic(session)
        if locator:
            summary.rows["patientlocator"] = locator
        for model in _deletion_order():
            deleted = session.execute(sa.delete(model)).rowcount  # type: ignore[attr-defined]
            if deleted:
                summary.rows[model.__tablename__] = deleted  # type: ignore[attr-defined]
        memberships = session.execute(
            sa.delete(Membership).where(col(Membership.tenant_id) == tenant_id)
        ).rowcount  # type: ignore[attr-defined]
        summary.rows["membership"] = memberships or 0
        session.commit()
    with platform_session() as session:
        session.execute(
            sa.update(UserSession)
            .where(col(UserSession.active_tenant_id) == tenant_id)
            .values(active_tenant_id=None)
        )
        session.execute(
            sa.update(User).where(col(User.last_tenant_id) == tenant_id).values(last_tenant_id=None)
        )
        session.commit()
    _set_tenant(tenant_id, offboarding=False)
    audit.record(
        system_actor(),
        "tenant.purge",
        platform=True,
        target_type="tenant",
        target_id=tenant_id,
        details={
            "slug": slug,
            "cases": summary.cases,
            "rows": summary.rows,
            "objects_without_rows": summary.objects,
            "sweep": result.line(),
        },
    )
    return summary


def _deletion_order() -> list[type[SQLModel]]:
    """The clinic's tables, children before parents."""
    models = {m.__table__: m for m in tenant_models()}  # type: ignore[attr-defined]
    ordered = [models[t] for t in SQLModel.metadata.sorted_tables if t in models]
    return list(reversed(ordered))


def _set_tenant(tenant_id: uuid.UUID, *, offboarding: bool) -> None:
    """Close the clinic (inactive) as off-boarding starts; mark it off-boarded when done."""
    with platform_session() as session:
        row = session.get(Tenant, tenant_id)
        if row is None:
            return
        row.active = False
        row.status = (TenantStatus.OFFBOARDING if offboarding else TenantStatus.CLOSED).value
        row.status_changed_at = clock.now()
        marker = "offboarding_started_at" if offboarding else "offboarded_at"
        row.settings = {**(row.settings or {}), marker: clock.now().isoformat()}
        session.add(row)
        session.commit()
