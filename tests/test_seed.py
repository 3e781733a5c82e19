"""Demo data: three clinics, every role, cases with photos; idempotent."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func
from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.jobs import seed_lifecycle
from mi_portal.jobs.seed import CLINICS, DEMO_PASSWORD, demo_users, seed
from mi_portal.models import (
    ImageRendition,
    Membership,
    RightsRequest,
    RightsRequestKind,
    RightsRequestStatus,
    Role,
    Submission,
    Tenant,
    User,
)
from mi_portal.services.actor import system_actor
from mi_portal.services.clinics import clinic_overview
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import owner_session


def _counts() -> dict[str, int]:
    return {c.slug: c.total_cases for c in clinic_overview(system_actor())}


def test_seed_creates_clinics_users_and_cases_once(db: Database) -> None:
    created = seed(cases_per_clinic=4)
    assert created == {**{c.slug: 4 for c in CLINICS}, seed_lifecycle.SLUG: 2}
    assert _counts() == {c.slug: 4 for c in CLINICS}
    with owner_session() as session:
        users = session.exec(select(func.count()).select_from(User)).one()
        memberships = session.exec(select(Membership.role)).all()
        platform_roles = session.exec(
            select(User.platform_role).where(User.platform_role.is_not(None))
        ).all()  # type: ignore[union-attr]
    assert users == len(demo_users())
    assert {Role(r) for r in memberships} >= {
        Role.CLINIC_OWNER,
        Role.CLINIC_MANAGER,
        Role.COORDINATOR,
        Role.PROVIDER,
        Role.VIEWER,
    }
    assert set(platform_roles) == {Role.PLATFORM_ADMIN.value, Role.PLATFORM_SUPPORT.value}
    with platform_session() as session:
        requests = session.exec(select(RightsRequest)).all()
    # Privacy requests in every status and of every kind, through the real services.
    assert {r.status for r in requests} == {s.value for s in RightsRequestStatus}
    assert {r.kind for r in requests} == {k.value for k in RightsRequestKind}
    pending = [r for r in requests if r.status == RightsRequestStatus.PENDING]
    assert len(pending) == 1 and len(pending[0].matched_clinics) == 2
    assert seed(cases_per_clinic=4) == {}
    assert _counts() == {c.slug: 4 for c in CLINICS}
    with platform_session() as session:
        assert session.exec(select(func.count()).select_from(User)).one() == users
        assert session.exec(select(func.count()).select_from(RightsRequest)).one() == len(requests)


def test_seeded_photos_are_stored_under_the_tenant_and_carry_no_metadata(db: Database) -> None:
    seed(cases_per_clinic=2)
    store = get_store()
    with platform_session() as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == CLINICS[0].slug)).one()
    with tenant_session(tenant.id) as session:
        renditions = session.exec(select(ImageRendition)).all()
        assert session.exec(select(func.count()).select_from(Submission)).one() == 2
    assert renditions
    for rendition in renditions:
        assert rendition.storage_key.startswith(f"{tenant.id}/")
        data = store.get(rendition.storage_key)
        image = Image.open(io.BytesIO(data))
        assert image.size == (rendition.width, rendition.height)
        assert not image.getexif()
        assert "exif" not in image.info and "icc_profile" not in image.info
    thumbs = [r for r in renditions if r.kind == "thumbnail"]
    assert thumbs and all(max(r.width, r.height) <= 256 for r in thumbs)


def test_seeded_cases_have_real_quotes_in_every_status(db: Database) -> None:
    from mi_portal.models import Quote, QuoteStatus
    from mi_portal.services import quotes

    seed(cases_per_clinic=24)
    statuses: set[str] = set()
    sources: set[str] = set()
    with platform_session() as session:
        tenants = session.exec(select(Tenant.id)).all()
    for tenant_id in tenants:
        with tenant_session(tenant_id) as session:
            rows = session.exec(select(Quote)).all()
            statuses |= {q.status for q in rows}
            for quote in rows:
                case = session.get(Submission, (tenant_id, quote.submission_id))
                assert case is not None
                if quote.status == QuoteStatus.ACCEPTED.value:
                    assert case.status == "accepted" and quote.accepted_name
                if quote.status != QuoteStatus.DRAFT.value:
                    assert quote.content_sha256 == quotes.content_hash(session, quote)
            # Every case said to be quoted has a quote behind it.
            for case in session.exec(
                select(Submission).where(col(Submission.status).in_(["quoted", "accepted"]))
            ).all():
                assert any(q.submission_id == case.id for q in rows)
            # The dashboard's figures: each case's form, and its first review once it left new.
            for case in session.exec(select(Submission)).all():
                sources.add(case.source)
                assert (case.reviewed_at is None) == (case.status == "new")
                if case.reviewed_at is not None:
                    assert case.received_at <= case.reviewed_at
                    assert case.quote_sent_at is None or case.reviewed_at <= case.quote_sent_at
    assert statuses == {s.value for s in QuoteStatus}
    assert sources == {"clinic_page", "directory"}


def test_the_suspended_demo_clinic_has_cases_a_reason_and_an_owner_who_is_told(
    db: Database,
) -> None:
    from mi_portal.services import auth

    seed(cases_per_clinic=1)
    with platform_session() as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == seed_lifecycle.SLUG)).one()
    assert (tenant.status, tenant.active) == ("suspended", False)
    assert tenant.status_reason == seed_lifecycle.REASON
    with tenant_session(tenant.id) as session:
        assert session.exec(select(func.count()).select_from(Submission)).one() == 2
    result = auth.check_password(seed_lifecycle.OWNER, DEMO_PASSWORD, ip=None, user_agent=None)
    assert result.error == f"{seed_lifecycle.NAME} is suspended; contact MI Portal support."
