"""Signed, expiring links bound to a purpose and a subject: the one mechanism for every kind.

A link's token carries its claims (what it opens), an expiry and a keyed digest of its subject
(for photos and downloads: the user and their sign-in session). The purpose is the signer's
salt, so a token made for one kind of link never opens another. itsdangerous does the signing
and the constant-time comparison; this module adds expiry and the subject binding. The token
is readable by whoever holds the link, so claims are ids, never personal data, and the subject
travels only as a digest.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from mi_portal.config import get_settings
from mi_portal.services.actor import Actor

MAX_TOKEN_LENGTH = 2_000


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        get_settings().secret_key,
        salt=f"mi-portal.link.{purpose}",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def _digest(purpose: str, subject: str) -> str:
    key = ("link-subject:" + get_settings().secret_key).encode()
    return hmac.new(key, f"{purpose}\n{subject}".encode(), hashlib.sha256).hexdigest()[:32]


def session_subject(user_id: uuid.UUID | None, session_id: uuid.UUID | None) -> str:
    """The subject of a link meant for one user in one sign-in session."""
    return f"{user_id or ''}/{session_id or ''}"


def actor_subject(actor: Actor) -> str:
    """The subject for links issued to the actor's current sign-in session."""
    return session_subject(actor.user_id, actor.session_id)


def sign(purpose: str, *, subject: str, lifetime: int, claims: dict[str, str]) -> str:
    """A token for ``subject`` alone, valid for ``lifetime`` seconds."""
    if not subject.strip("/"):
        raise ValueError("a signed link needs a subject")
    payload: dict[str, Any] = {
        "c": claims,
        "s": _digest(purpose, subject),
        "e": int(time.time()) + lifetime,
    }
    return str(_serializer(purpose).dumps(payload))


def verify(purpose: str, token: str, *, subject: str) -> dict[str, str] | None:
    """The claims of a genuine, unexpired token issued to ``subject``; otherwise ``None``."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        payload = _serializer(purpose).loads(token)
    except BadData:
        return None
    if not isinstance(payload, dict):
        return None
    expires, bound, claims = payload.get("e"), payload.get("s"), payload.get("c")
    if not isinstance(expires, int) or expires < time.time():
        return None
    if not isinstance(bound, str) or not hmac.compare_digest(bound, _digest(purpose, subject)):
        return None
    if not isinstance(claims, dict) or not all(isinstance(v, str) for v in claims.values()):
        return None
    return claims
