"""Clinic (tenant) listings for the platform."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import Submission, SubmissionStatus, Tenant
from mi_portal.services.actor import Actor
from mi_portal.services.permissions import Permission, check


@dataclass(frozen=True)
class ClinicSummary:
    slug: str
    name: str
    total_cases: int
    open_cases: int


OPEN_STATUSES = (SubmissionStatus.NEW, SubmissionStatus.IN_REVIEW, SubmissionStatus.QUOTED)


def clinic_overview(actor: Actor) -> list[ClinicSummary]:
    """Case counts per clinic, counted inside each clinic's own scope.

    Platform staff outside any clinic see every clinic's counts (no patient data); anyone
    working in a clinic, platform staff switched in included, sees that clinic only.
    """
    check(actor, Permission.CLINICS_OVERVIEW)
    with platform_session() as session:
        query = select(Tenant).where(Tenant.active).order_by(Tenant.name)
        if actor.tenant_id is not None:
            query = query.where(Tenant.id == actor.tenant_id)
        elif not actor.is_platform:
            return []
        tenants = [(t.id, t.slug, t.name) for t in session.exec(query)]
    summaries = []
    for tenant_id, slug, name in tenants:
        with tenant_session(tenant_id) as session:
            rows = session.exec(
                select(Submission.status, func.count()).group_by(Submission.status)
            ).all()
        counts = {status: n for status, n in rows}
        summaries.append(
            ClinicSummary(
                slug=slug,
                name=name,
                total_cases=sum(counts.values()),
                open_cases=sum(counts.get(s.value, 0) for s in OPEN_STATUSES),
            )
        )
    return summaries
