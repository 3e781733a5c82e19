"""Health checks."""

from __future__ import annotations

from sqlmodel import select

from mi_portal.db import platform_session
from mi_portal.models import Tenant


def database_ok() -> bool:
    try:
        with platform_session() as session:
            session.exec(select(Tenant.id).limit(1)).all()
    except Exception:
        return False
    return True
