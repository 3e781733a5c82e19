"""Demo data for the clinic life cycle: a small clinic that platform staff have suspended.

Seeded after everything else and with its own random source, so the other clinics' demo data
does not change. Its cases come in through the public intake service while it is still open;
then it is suspended through the life-cycle service, as an operator would.
"""

from __future__ import annotations

import io
import random
import uuid

from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.jobs.demo_photos import demo_photo
from mi_portal.models import Membership, Role, Tenant, TenantStatus
from mi_portal.services import clinic_lifecycle, intake
from mi_portal.services.actor import system_actor
from mi_portal.services.images import process_image
from mi_portal.storage import BlobStore

SLUG = "willow-skin"
NAME = "Willow Skin Clinic"
OWNER = f"owner@{SLUG}.test"
REASON = "Contract renewal pending: suspended by MI Portal support until the clinic signs it."
PATIENTS = (
    ("Maren Holt", "acne", "1988-03-14"),
    ("Tomas Arden", "pigmentation", "1979-11-02"),
)


def seed_suspended_clinic(user_ids: dict[str, uuid.UUID], store: BlobStore) -> bool:
    """The suspended demo clinic with its owner and two cases; False when it already exists."""
    with platform_session() as session:
        if session.exec(select(Tenant).where(Tenant.slug == SLUG)).first() is not None:
            return False
        tenant = Tenant(slug=SLUG, name=NAME, timezone="Europe/London", jurisdiction="GB")
        session.add(tenant)
        session.commit()
        tenant_id = tenant.id
    with tenant_session(tenant_id) as session:
        session.add(
            Membership(user_id=user_ids[OWNER], tenant_id=tenant_id, role=Role.CLINIC_OWNER.value)
        )
        session.commit()
    rng = random.Random(f"{SLUG}/cases")
    for i, (name, concern, born) in enumerate(PATIENTS):
        buffer = io.BytesIO()
        demo_photo(rng, concern).save(buffer, "JPEG", quality=85)
        photo = process_image(buffer.getvalue(), f"photo-{i}.jpg")
        intake.submit(
            clinic_slugs=[SLUG],
            form=intake.IntakeForm(
                full_name=name,
                email=f"{name.split()[0].lower()}.{i}@example.org",
                phone="",
                date_of_birth=born,
                concern_area=concern,
                answers={"how_long": "A few months", "goal": "Calmer, even skin"},
                privacy_ack=True,
                sms_opt_in=False,
                marketing_opt_in=False,
            ),
            photos=[photo],
            ip=None,
            user_agent="demo seed",
            source="clinic_page",
            store=store,
        )
    clinic_lifecycle.suspend(system_actor(), tenant_id, REASON)
    with platform_session() as session:
        row = session.get(Tenant, tenant_id)
        assert row is not None and row.status == TenantStatus.SUSPENDED.value
    return True
