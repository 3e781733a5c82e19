"""The signature inbound providers put on their webhooks: HMAC-SHA256 over timestamp and body.

``X-MI-Timestamp`` carries unix seconds, ``X-MI-Signature`` the hex HMAC-SHA256 of
``b"<timestamp>." + body`` under the provider's secret. A request more than five minutes old
(or ahead) is refused, so a captured request cannot be replayed later; within the window a
replay is harmless because inbound messages are stored once per provider id.
"""

from __future__ import annotations

import hashlib
import hmac

from mi_portal.services import clock

MAX_SKEW_SECONDS = 300
TIMESTAMP_HEADER = "x-mi-timestamp"
SIGNATURE_HEADER = "x-mi-signature"


def signature(secret: str, timestamp: str | int, body: bytes) -> str:
    """The hex signature a provider sends for ``body`` at ``timestamp``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verified(secret: str, timestamp: str | None, given: str | None, body: bytes) -> bool:
    """Whether the request was signed with ``secret`` within the last five minutes."""
    if not secret or not timestamp or not given or len(timestamp) > 20 or len(given) > 128:
        return False
    if not timestamp.isdigit() or not given.isascii():
        return False
    now = int(clock.now().timestamp())
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given.strip().lower())
