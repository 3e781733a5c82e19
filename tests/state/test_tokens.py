"""A tab whose worker died keeps its token (and so its state); a duplicated live tab does not,
and is told so at once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis
from reflex.utils.token_manager import RedisTokenManager

from mi_portal.state import tokens
from tests.conftest import loud_skip

# A database of its own: make prod and the app use db 0. Only this test's keys are removed.
REDIS_URL = "redis://127.0.0.1:6379/15"


class Workers:
    """Token managers as app workers have them, each with its own Redis connection."""

    def __init__(self) -> None:
        self.clients: list[aioredis.Redis] = []
        self.managers: list[tokens.LiveOwnerTokenManager] = []
        self.tokens: list[str] = []
        self.plain: list[RedisTokenManager] = []  # Reflex's own, for comparison

    async def worker(self) -> tokens.LiveOwnerTokenManager:
        client = aioredis.Redis.from_url(REDIS_URL)
        self.clients.append(client)
        manager = RedisTokenManager(client)
        manager.__class__ = tokens.LiveOwnerTokenManager
        assert isinstance(manager, tokens.LiveOwnerTokenManager)
        manager.ensure_beating()
        self.managers.append(manager)
        await asyncio.sleep(0.2)  # the first beat (the app's lifespan starts it before any tab)
        return manager

    def token(self) -> str:
        token = str(uuid.uuid4())
        self.tokens.append(token)
        return token

    async def kill(self, manager: tokens.LiveOwnerTokenManager) -> None:
        """As SIGKILL: the beat stops and the worker's connections close; its records stay."""
        assert manager._beat_task is not None
        manager._beat_task.cancel()
        await asyncio.gather(manager._beat_task, return_exceptions=True)
        manager._beat_task = None
        await manager.redis.aclose()

    async def clean(self) -> None:
        # Stop every task first: Reflex's record watcher writes a live tab's record back when
        # it is deleted.
        running: list[asyncio.Task[None]] = []
        for manager in self.managers + self.plain:
            if isinstance(manager, tokens.LiveOwnerTokenManager) and manager._beat_task:
                running.append(manager._beat_task)
            running += [t for t in (manager._socket_record_task,) if t is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            keys = [tokens.ALIVE_PREFIX + m.instance_id for m in self.managers]
            keys += (
                [self.managers[0]._get_redis_key(t) for t in self.tokens] if self.managers else []
            )
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()
            for other in self.clients:
                await other.aclose()


@asynccontextmanager
async def workers() -> AsyncIterator[Workers]:
    probe = aioredis.Redis.from_url(REDIS_URL)
    try:
        await probe.ping()  # type: ignore[misc]
    except Exception as exc:
        loud_skip("token manager tests", f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        await probe.aclose()
    pool = Workers()
    try:
        yield pool
    finally:
        await pool.clean()


def test_a_tab_of_a_killed_worker_comes_back_with_its_own_token_at_once() -> None:
    async def scenario() -> tuple[str | None, float, str | None]:
        async with workers() as pool:
            first, second = await pool.worker(), await pool.worker()
            token = pool.token()
            assert await first.link_token_to_sid(token, "sid-1") is None
            await pool.kill(first)  # right after the kill: its alive key has not expired yet
            started = time.monotonic()
            again = await second.link_token_to_sid(token, "sid-2")
            took = time.monotonic() - started
            # Reflex alone: the record exists, so the tab would get a new token (empty state).
            plain = RedisTokenManager(second.redis)
            twin = RedisTokenManager(second.redis)
            pool.plain += [plain, twin]
            other = pool.token()
            await plain.link_token_to_sid(other, "sid-3")
            duplicate = await twin.link_token_to_sid(other, "sid-4")
            pool.tokens += [t for t in (again, duplicate) if t]
            return again, took, duplicate

    again, took, duplicate = asyncio.run(scenario())
    assert again is None  # same token: the state in Redis is the tab's again
    assert took < 0.5, took  # no waiting for the alive key to expire
    assert duplicate is not None  # what happens without the fix


def test_a_duplicated_tab_of_a_live_worker_gets_a_new_token_without_waiting() -> None:
    async def scenario() -> tuple[str | None, float]:
        async with workers() as pool:
            first, second = await pool.worker(), await pool.worker()
            token = pool.token()
            assert await first.link_token_to_sid(token, "sid-1") is None
            await asyncio.sleep(tokens.BEAT_SECONDS * 1.5)  # between two beats
            started = time.monotonic()
            new = await second.link_token_to_sid(token, "sid-2")
            took = time.monotonic() - started
            pool.tokens += [new] if new else []
            return new, took

    new, took = asyncio.run(scenario())
    assert new not in (None, "")
    assert took < 0.5, took  # was ~2.5 s: the user waited for nothing


def test_two_connections_racing_with_a_dead_workers_token_drop_its_record_once() -> None:
    async def scenario() -> tuple[list[bool], bool, str | None]:
        async with workers() as pool:
            dead, b, c = await pool.worker(), await pool.worker(), await pool.worker()
            token = pool.token()
            assert await dead.link_token_to_sid(token, "sid-1") is None
            await pool.kill(dead)
            dropped = list(await asyncio.gather(b.drop_dead_owner(token), c.drop_dead_owner(token)))
            # The winner links the tab; the other then finds a live worker's record.
            assert await b.link_token_to_sid(token, "sid-b") is None
            again = await c.drop_dead_owner(token)
            late = await c.link_token_to_sid(token, "sid-c")
            pool.tokens += [late] if late else []
            return dropped, again, late

    dropped, again, late = asyncio.run(scenario())
    assert sorted(dropped) == [False, True]  # compare-and-delete: one of the two, not both
    assert again is False
    assert late is not None  # the late one is a duplicate of a live tab: a new token


def test_a_worker_restarting_its_redis_connection_subscribes_again() -> None:
    async def scenario() -> tuple[bool, bool]:
        async with workers() as pool:
            worker = await pool.worker()
            name = tokens.ALIVE_PREFIX + worker.instance_id
            before = await worker.owner_alive(worker.instance_id)
            killer = aioredis.Redis.from_url(REDIS_URL)
            try:  # Redis drops the worker's subscription (as a Redis restart does)
                await killer.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
                await asyncio.sleep(tokens.BEAT_SECONDS * 2.5)
                counts = await killer.pubsub_numsub(name)  # type: ignore[misc]
            finally:
                await killer.aclose()
            return before, any(int(n) > 0 for _c, n in counts)

    before, after = asyncio.run(scenario())
    assert before and after


def test_adopt_takes_over_the_redis_manager_only() -> None:
    from types import SimpleNamespace

    from reflex.utils.token_manager import LocalTokenManager

    class FakeRedis:  # never called: adopt only changes the manager's class
        pass

    redis_backed = RedisTokenManager(FakeRedis())  # type: ignore[arg-type]
    app = SimpleNamespace(event_namespace=SimpleNamespace(_token_manager=redis_backed))
    assert tokens.adopt(app) is redis_backed
    assert isinstance(redis_backed, tokens.LiveOwnerTokenManager)
    local = SimpleNamespace(event_namespace=SimpleNamespace(_token_manager=LocalTokenManager()))
    assert tokens.adopt(local) is None
    assert tokens.adopt(SimpleNamespace(event_namespace=None)) is None


def test_the_lifespan_says_so_when_state_is_in_redis_but_not_adopted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    class Unknown:  # what a later Reflex might put there
        pass

    app = SimpleNamespace(event_namespace=SimpleNamespace(_token_manager=Unknown()))
    monkeypatch.setenv("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/15")

    async def enter() -> None:
        async with tokens.lifespan(app)():
            pass

    with caplog.at_level(logging.WARNING, logger=tokens.__name__):
        asyncio.run(enter())
    assert "not adopted" in caplog.text
