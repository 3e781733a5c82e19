"""SMS delivery reports: the provider's status callback URL and what a report does to a row.

The delivery worker puts ``status_callback_url(tenant, row)`` on every SMS it hands to the
provider; the inbound route (``/api/inbound/sms/status``) checks the signed token it carries and
applies the report with ``outbox.mark_status``. Both sides use this module, so they agree on the
purpose, subject and claims of the token.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from mi_portal.config import get_settings
from mi_portal.models import OutboxStatus
from mi_portal.services import signed_links

STATUS_PURPOSE = "sms-status"
STATUS_SUBJECT = "outbox"
STATUS_LIFETIME = int(timedelta(days=14).total_seconds())
STATUS_PATH = "/api/inbound/sms/status"
PROVIDER_FAILED = "the provider could not deliver it"

PROVIDER_STATES = {
    "delivered": OutboxStatus.DELIVERED,
    "failed": OutboxStatus.FAILED,
    "undelivered": OutboxStatus.FAILED,
}


def status_token(tenant_id: uuid.UUID, outbox_id: uuid.UUID) -> str:
    return signed_links.sign(
        STATUS_PURPOSE,
        subject=STATUS_SUBJECT,
        lifetime=STATUS_LIFETIME,
        claims={"t": str(tenant_id), "o": str(outbox_id)},
    )


def status_callback_url(tenant_id: uuid.UUID, outbox_id: uuid.UUID) -> str:
    """Where the SMS provider reports one outbox row's delivery."""
    origin = get_settings().frontend_origin.rstrip("/")
    return f"{origin}{STATUS_PATH}?{urlencode({'o': status_token(tenant_id, outbox_id)})}"


def read_status_token(token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(clinic id, outbox row id) of a genuine, unexpired status token; otherwise ``None``."""
    claims = signed_links.verify(STATUS_PURPOSE, token, subject=STATUS_SUBJECT)
    if not claims:
        return None
    try:
        return uuid.UUID(claims["t"]), uuid.UUID(claims["o"])
    except (KeyError, ValueError):
        return None
