"""Reply keys: how a patient's answer finds its conversation, and nothing else.

Each thread has a short secret key, derived (HMAC of clinic, thread and a generation number)
from the app's secret key and stored only as a digest. It is in the Reply-To address of every
email (reply+<clinic>.<key>@<reply domain>) and behind the patient's signed, expiring reply link
(``/m/<token>``). Renewing the key retires every earlier address and link; a database leak
yields no working one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from sqlmodel import select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession
from mi_portal.models import MessageThread
from mi_portal.services import signed_links

REPLY_LINK_DAYS = 30
REPLY_PURPOSE = "patient-reply"
REPLY_SUBJECT = "reply-page"


def _reply_key(tenant_id: uuid.UUID, thread_id: uuid.UUID, generation: int) -> str:
    secret = ("reply-key:" + get_settings().secret_key).encode()
    mac = hmac.new(secret, f"{tenant_id}:{thread_id}:{generation}".encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:10]).decode().lower()  # 16 characters, 80 bits


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


MAX_ROTATIONS = 100


def _generation(thread: MessageThread) -> int:
    """Which generation the stored digest belongs to (keys are derived, never stored)."""
    for generation in range(MAX_ROTATIONS):
        if (
            _key_hash(_reply_key(thread.tenant_id, thread.id, generation))
            == thread.patient_link_hash
        ):
            return generation
    raise ValueError("the thread's reply key is unknown")


def _ensure_key(thread: MessageThread, *, rotate: bool = False) -> str:
    """The thread's current reply key (stored only as a digest); ``rotate`` retires the old one."""
    if thread.patient_link_hash and not rotate:
        return current_key(thread)
    generation = _generation(thread) + 1 if thread.patient_link_hash else 0
    if generation >= MAX_ROTATIONS:
        raise ValueError("this conversation's link was renewed too often")
    key = _reply_key(thread.tenant_id, thread.id, generation)
    thread.patient_link_hash = _key_hash(key)
    return key


def current_key(thread: MessageThread) -> str:
    if not thread.patient_link_hash:
        raise ValueError("the thread has no reply key yet")
    return _reply_key(thread.tenant_id, thread.id, _generation(thread))


def renew_reply_key(session: ScopedSession, thread: MessageThread) -> None:
    """Retire every earlier reply link and address of the thread (caller commits)."""
    _ensure_key(thread, rotate=True)
    session.add(thread)


def reply_address(thread: MessageThread) -> str:
    """reply+<clinic>.<key>@<reply domain>: where the patient's email answer is routed."""
    return f"reply+{thread.tenant_id.hex}.{current_key(thread)}@{get_settings().reply_domain}"


def reply_link(thread: MessageThread) -> str:
    """The patient's signed, expiring link to the conversation (no account needed)."""
    token = signed_links.sign(
        REPLY_PURPOSE,
        subject=REPLY_SUBJECT,
        lifetime=REPLY_LINK_DAYS * 86_400,
        claims={"t": str(thread.tenant_id), "k": current_key(thread)},
    )
    return f"{get_settings().frontend_origin.rstrip('/')}/m/{token}"


def thread_for_key(session: ScopedSession, key: str) -> MessageThread | None:
    """The thread of the session's clinic whose current key is ``key`` (old keys open nothing)."""
    if not key or len(key) > 64:
        return None
    return session.exec(
        select(MessageThread).where(MessageThread.patient_link_hash == _key_hash(key)).limit(1)
    ).first()


def parse_reply_address(address: str) -> tuple[uuid.UUID, str] | None:
    """(clinic id, key) from reply+<clinic>.<key>@…, or None."""
    local = address.strip().strip("<>").split("@", 1)[0].lower()
    if not local.startswith("reply+"):
        return None
    tenant_hex, _, key = local[len("reply+") :].partition(".")
    try:
        return uuid.UUID(hex=tenant_hex), key
    except ValueError:
        return None


def open_reply_token(token: str) -> tuple[uuid.UUID, str] | None:
    """(clinic id, key) of a genuine, unexpired reply-page token, or None."""
    claims = signed_links.verify(REPLY_PURPOSE, token, subject=REPLY_SUBJECT)
    if claims is None:
        return None
    try:
        return uuid.UUID(claims["t"]), claims["k"]
    except (KeyError, ValueError):
        return None
