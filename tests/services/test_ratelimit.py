"""Sliding-window limits, in this process and in the real Redis, keyed per address and per clinic."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mi_portal.config import reset_settings
from mi_portal.services import clock, ratelimit
from tests.conftest import loud_skip

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT = ratelimit.Limit("test-limit", 3, timedelta(minutes=10))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(autouse=True)
def own_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "data"))  # the key for digests lives here
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def fake_clock() -> Iterator[Clock]:
    c = Clock()
    clock.set_clock(c)
    yield c
    clock.set_clock(None)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[ratelimit.Backend]:
    if request.param == "memory":
        chosen: ratelimit.Backend = ratelimit.MemoryBackend()
        ratelimit.set_backend(chosen)
        yield chosen
        return
    prefix = f"mi-test:{secrets.token_hex(6)}:"
    redis_backend = ratelimit.RedisBackend(REDIS_URL, prefix=prefix)
    try:
        redis_backend._client.ping()
    except Exception as exc:
        loud_skip("Redis rate-limit tests", f"cannot reach {REDIS_URL}: {type(exc).__name__}")
    ratelimit.set_backend(redis_backend)
    yield redis_backend
    for key in redis_backend._client.scan_iter(match=prefix + "*"):
        redis_backend._client.delete(key)


def test_the_window_slides(backend: ratelimit.Backend, fake_clock: Clock) -> None:
    for _ in range(3):
        assert ratelimit.hit(LIMIT, "203.0.113.5") == 0
        fake_clock.advance(minutes=2)
    # Hits at 0, 2 and 4 minutes; now 6 minutes: full until the first leaves at 10.
    assert ratelimit.hit(LIMIT, "203.0.113.5") == 4 * 60
    fake_clock.advance(minutes=3, seconds=59)
    assert ratelimit.hit(LIMIT, "203.0.113.5") == 1
    fake_clock.advance(seconds=1)
    assert ratelimit.hit(LIMIT, "203.0.113.5") == 0  # the 0-minute hit slid out
    assert ratelimit.hit(LIMIT, "203.0.113.5") == 2 * 60  # refused hits were not counted


def test_addresses_clinics_and_limits_are_independent(
    backend: ratelimit.Backend, fake_clock: Clock
) -> None:
    other = ratelimit.Limit("other-limit", 3, timedelta(minutes=10))
    for _ in range(3):
        assert ratelimit.hit(LIMIT, "203.0.113.5") == 0
    assert ratelimit.hit(LIMIT, "203.0.113.5") > 0
    assert ratelimit.hit(LIMIT, "198.51.100.7") == 0
    assert ratelimit.hit(other, "203.0.113.5") == 0
    for _ in range(ratelimit.INTAKE_PER_ADDRESS.max_hits):
        assert ratelimit.intake_refusal(address="203.0.113.5", clinics=["clinic-a"]) == ""
    refusal = ratelimit.intake_refusal(address="203.0.113.5", clinics=["clinic-a"])
    assert refusal == ("Too many submissions from this connection. Please try again in 10 minutes.")
    # Another address still reaches the same clinic; the refused address counted nothing there.
    assert ratelimit.intake_refusal(address="198.51.100.7", clinics=["clinic-a"]) == ""


def test_a_busy_clinic_is_refused_for_everyone_and_others_are_not(
    backend: ratelimit.Backend, fake_clock: Clock
) -> None:
    per_clinic = ratelimit.INTAKE_PER_CLINIC.max_hits
    for i in range(per_clinic):
        address = f"10.0.{i // 250}.{i % 250}"
        assert ratelimit.intake_refusal(address=address, clinics=["clinic-a"]) == ""
    fake_clock.advance(minutes=1)
    refusal = ratelimit.intake_refusal(address="198.51.100.7", clinics=["clinic-b", "clinic-a"])
    assert refusal.startswith("This clinic is receiving too many submissions")
    assert refusal.endswith("try again in 9 minutes.")
    # Nothing was counted for the refused send: clinic-b and the address are untouched.
    for _ in range(ratelimit.INTAKE_PER_ADDRESS.max_hits):
        assert ratelimit.intake_refusal(address="198.51.100.7", clinics=["clinic-b"]) == ""


def test_messages_count_whole_minutes() -> None:
    assert ratelimit.try_again_message(1, what="submissions").endswith("in 1 minute.")
    assert ratelimit.try_again_message(61, what="submissions").endswith("in 2 minutes.")
    assert ratelimit.minutes(600) == 10


def test_redis_keys_hold_no_client_address(fake_clock: Clock) -> None:
    prefix = f"mi-test:{secrets.token_hex(6)}:"
    redis_backend = ratelimit.RedisBackend(REDIS_URL, prefix=prefix)
    try:
        redis_backend._client.ping()
    except Exception as exc:
        loud_skip("Redis rate-limit tests", f"cannot reach {REDIS_URL}: {type(exc).__name__}")
    ratelimit.set_backend(redis_backend)
    try:
        ratelimit.hit(LIMIT, "203.0.113.5")
        keys = [k.decode() for k in redis_backend._client.scan_iter(match=prefix + "*")]
        assert len(keys) == 1 and "203.0.113" not in keys[0]
        ttl = redis_backend._client.pttl(keys[0])
        assert 0 < ttl <= LIMIT.window_ms  # windows expire on their own
    finally:
        for key in redis_backend._client.scan_iter(match=prefix + "*"):
            redis_backend._client.delete(key)


def test_an_unreachable_store_falls_back_to_this_process_limits(
    caplog: pytest.LogCaptureFixture, fake_clock: Clock
) -> None:
    ratelimit.set_backend(ratelimit.RedisBackend("redis://127.0.0.1:1/0"))
    subject = f"203.0.113.{secrets.randbelow(200) + 20}"
    with caplog.at_level(logging.WARNING):
        # Nobody is locked out by the outage …
        assert [ratelimit.hit(LIMIT, subject) for _ in range(LIMIT.max_hits)] == [0, 0, 0]
        # … and guessing does not become unlimited either.
        assert ratelimit.hit(LIMIT, subject) > 0
    assert any("rate limiter store unavailable" in r.getMessage() for r in caplog.records)
    assert not any(subject in r.getMessage() for r in caplog.records)


def test_an_ipv6_client_is_counted_by_its_64_block(backend: ratelimit.Backend) -> None:
    # One client holds a whole /64: rotating the last 64 bits must not give fresh windows.
    for i in range(LIMIT.max_hits):
        assert ratelimit.hit(LIMIT, f"2001:db8:1:2::{i + 1:x}") == 0
    assert ratelimit.hit(LIMIT, "2001:db8:1:2:ffff::9") > 0
    assert ratelimit.hit(LIMIT, "2001:db8:1:3::1") == 0  # another /64
    assert ratelimit.subject_of("::ffff:198.51.100.7") == "198.51.100.7"
    assert ratelimit.subject_of("clinic-a") == "clinic-a"


def test_the_factor_scales_every_limit(
    backend: ratelimit.Backend, fake_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MI_RATE_LIMIT_FACTOR", "2")
    reset_settings()
    for _ in range(2 * LIMIT.max_hits):
        assert ratelimit.hit(LIMIT, "203.0.113.5") == 0
    assert ratelimit.hit(LIMIT, "203.0.113.5") > 0
