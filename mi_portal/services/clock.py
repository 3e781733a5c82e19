"""The one clock services read, so tests can move time (session expiry, lock-outs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mi_portal.models.base import utcnow

_now: Callable[[], datetime] = utcnow


def now() -> datetime:
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); ``None`` restores the real one."""
    global _now
    _now = fn or utcnow
