"""Sliding-window rate limits for the public doors: intake, sign-in, ticket and SSO routes, uploads.

Each limit allows ``max_hits`` within any ``window``. With Redis configured (several workers) the
windows are sorted sets shared by every worker; otherwise they live in this process. Keys are
keyed digests, so no client address is stored in clear. The clock is ``services.clock``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from mi_portal.config import get_settings
from mi_portal.services import clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window: timedelta

    @property
    def window_ms(self) -> int:
        return int(self.window.total_seconds() * 1000)


# A patient sends one form, maybe after correcting it: five stored submissions in ten minutes
# from one address is generous; a clinic gets far more before anything is refused.
INTAKE_PER_ADDRESS = Limit("intake-address", 5, timedelta(minutes=10))
INTAKE_PER_CLINIC = Limit("intake-clinic", 100, timedelta(minutes=10))
# A clinic's form loads its questions when opened and each time the concern area changes.
INTAKE_QUESTIONS_PER_ADDRESS = Limit("intake-questions-address", 60, timedelta(minutes=10))
# A clinic's staff may share one address: these are per address, on top of the per-account
# back-off and lock in services/auth.py.
SIGN_IN_PASSWORD = Limit("signin-password", 30, timedelta(minutes=10))
SIGN_IN_CODE = Limit("signin-code", 30, timedelta(minutes=10))
TICKET_REDEEM = Limit("ticket-redeem", 30, timedelta(minutes=10))
SSO_LOGIN = Limit("sso-login", 30, timedelta(minutes=10))
# Every intake send is one upload; corrected forms are sent again, so more than INTAKE_PER_ADDRESS.
UPLOAD_PER_ADDRESS = Limit("upload-address", 20, timedelta(minutes=10))
# Privacy-rights requests: a person sends one, maybe for a relative too; the code checks are
# also capped per request (5 wrong tries kill a code), so guessing across codes stays slow.
RIGHTS_SUBMIT_PER_ADDRESS = Limit("rights-submit-address", 5, timedelta(hours=1))
RIGHTS_CODE_PER_ADDRESS = Limit("rights-code-address", 30, timedelta(minutes=10))
RIGHTS_CODE_PER_REQUEST = Limit("rights-code-request", 10, timedelta(minutes=10))
RIGHTS_RESEND_PER_ADDRESS = Limit("rights-resend-address", 10, timedelta(hours=1))
RIGHTS_RESEND_PER_REQUEST = Limit("rights-resend-request", 3, timedelta(minutes=10))


class Backend(Protocol):
    def hit(self, key: str, *, now_ms: int, window_ms: int, max_hits: int, record: bool) -> int:
        """Milliseconds to wait (0: allowed, and recorded when ``record``)."""
        ...


class MemoryBackend:
    """One worker's windows: a deque of hit times per key."""

    _SWEEP_EVERY = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, tuple[int, deque[int]]] = {}
        self._calls = 0

    def hit(self, key: str, *, now_ms: int, window_ms: int, max_hits: int, record: bool) -> int:
        with self._lock:
            self._calls += 1
            if self._calls % self._SWEEP_EVERY == 0:
                self._sweep(now_ms)
            _, times = self._hits.setdefault(key, (window_ms, deque()))
            while times and times[0] <= now_ms - window_ms:
                times.popleft()
            if len(times) >= max_hits:
                return max(times[0] + window_ms - now_ms, 1)
            if record:
                times.append(now_ms)
            return 0

    def _sweep(self, now_ms: int) -> None:
        stale = [k for k, (w, t) in self._hits.items() if not t or t[-1] <= now_ms - w]
        for key in stale:
            del self._hits[key]


# Atomic on the Redis server: trim the window, count, and add this hit if there is room.
_REDIS_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
"""


class RedisBackend:
    """Windows shared by every worker, as Redis sorted sets scored by hit time."""

    def __init__(self, url: str, *, prefix: str = "mi:ratelimit:") -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._client.register_script(_REDIS_HIT)
        self.prefix = prefix

    def hit(self, key: str, *, now_ms: int, window_ms: int, max_hits: int, record: bool) -> int:
        member = f"{now_ms}:{secrets.token_hex(6)}"
        args = [now_ms, window_ms, max_hits, "1" if record else "0", member]
        return int(self._script(keys=[self.prefix + key], args=args))  # type: ignore[arg-type]


_backend: Backend | None = None
# Used while the shared store is unreachable.
_fallback = MemoryBackend()
_backend_lock = threading.Lock()


def get_backend() -> Backend:
    global _backend
    with _backend_lock:
        if _backend is None:
            url = get_settings().redis_url
            _backend = RedisBackend(url) if url else MemoryBackend()
        return _backend


def set_backend(backend: Backend | None) -> None:
    """Use this backend (tests); ``None``: choose again from the settings on next use."""
    global _backend
    with _backend_lock:
        _backend = backend


def subject_of(address: str) -> str:
    """The unit a per-address limit counts: an IPv4 address, or the /64 of an IPv6 one (a single
    client usually holds a whole /64, so per-address IPv6 buckets would be endless)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _key(limit: Limit, subject: str) -> str:
    secret = get_settings().secret_key.encode()
    subject = subject_of(subject)  # addresses by client (IPv6: /64); other subjects as given
    digest = hmac.new(secret, f"{limit.name}:{subject}".encode(), hashlib.sha256).hexdigest()
    return f"{limit.name}:{digest[:32]}"


def hit_all(checks: Sequence[tuple[Limit, str]]) -> int:
    """Count one hit against every (limit, subject), or none if any is full.

    Returns 0 when allowed, else the whole seconds to wait until the fullest window has room.
    If the shared store (Redis) fails, this process's own windows take over (and it is
    logged): an outage neither locks everybody out nor opens the door to unlimited guessing.
    """
    return max(_waits(checks), default=0)


def _waits(checks: Sequence[tuple[Limit, str]]) -> list[int]:
    """Whole seconds to wait for each check (all 0: allowed, and every hit counted)."""
    now_ms = int(clock.now().timestamp() * 1000)
    backend = get_backend()
    factor = get_settings().rate_limit_factor

    def run(record: bool) -> list[int]:
        return [
            backend.hit(
                _key(limit, subject),
                now_ms=now_ms,
                window_ms=limit.window_ms,
                max_hits=max(1, int(limit.max_hits * factor)),
                record=record,
            )
            for limit, subject in checks
        ]

    try:
        waits = run(record=False)
        if not any(waits):
            waits = run(record=True)
    except Exception as exc:
        if isinstance(backend, MemoryBackend):
            raise
        log.warning("rate limiter store unavailable (%s); per-process limits", type(exc).__name__)
        backend = _fallback
        waits = run(record=False)
        if not any(waits):
            waits = run(record=True)
    return [math.ceil(ms / 1000) for ms in waits]


def hit(limit: Limit, subject: str) -> int:
    """One hit against one limit: 0 when allowed, else whole seconds to wait."""
    return hit_all([(limit, subject)])


def minutes(seconds: int) -> int:
    """A wait in whole minutes for messages (at least one)."""
    return max(1, math.ceil(seconds / 60))


def try_again_message(seconds: int, *, what: str = "attempts") -> str:
    n = minutes(seconds)
    return (
        f"Too many {what} from this connection. "
        f"Please try again in {n} minute{'s' if n != 1 else ''}."
    )


def intake_refusal(*, address: str, clinics: Sequence[str]) -> str:
    """Count one public intake submission; the message to show instead if it must wait."""
    waits = _waits([(INTAKE_PER_ADDRESS, address), *((INTAKE_PER_CLINIC, c) for c in clinics)])
    if waits[0]:
        return try_again_message(waits[0], what="submissions")
    if any(waits):
        n = minutes(max(waits))
        return (
            "This clinic is receiving too many submissions right now. "
            f"Please try again in {n} minute{'s' if n != 1 else ''}."
        )
    return ""
