"""Staff sign-in sessions that are over: their network details do not outlive their use.

A revoked or expired session can never be used again, so its IP address and user agent serve
only as recent history. After the platform-wide period (``MI_SESSION_NETWORK_DAYS``) both are
cleared; the row itself stays as the login history (who, when, which clinic).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import platform_session
from mi_portal.models import UserSession
from mi_portal.services import audit, clock
from mi_portal.services.actor import system_actor

ACTION = "sessions.network_cleared"


def clear_session_network(now: datetime | None = None, batch: int = 1000) -> int:
    """Clear IP and user agent of sessions revoked or expired over the set period ago."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    days = get_settings().session_network_days
    cutoff = (now or clock.now()) - timedelta(days=days)
    due = select(UserSession.id).where(
        or_(col(UserSession.revoked_at) < cutoff, col(UserSession.expires_at) < cutoff),
        or_(col(UserSession.ip).is_not(None), col(UserSession.user_agent).is_not(None)),
    )
    cleared = 0
    while True:
        # One short transaction per batch: sign-ins writing the same table never wait long.
        with platform_session() as session:
            ids = list(session.exec(due.limit(batch)).all())
            if not ids:
                break
            result = session.execute(
                update(UserSession)
                .where(col(UserSession.id).in_(ids))
                .values(ip=None, user_agent=None)
            )
            session.commit()
        cleared += result.rowcount  # type: ignore[attr-defined]
        if len(ids) < batch:
            break
    if cleared:
        audit.record(
            system_actor(),
            ACTION,
            platform=True,
            target_type="user_session",
            details={"count": cleared, "older_than_days": days},
        )
    return cleared
