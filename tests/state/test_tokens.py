"""A tab whose worker died keeps its token (and so its state); a duplicated live tab does not."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from reflex.utils.token_manager import RedisTokenManager

from mi_portal.state import tokens

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _client() -> aioredis.Redis:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()  # type: ignore[misc]
    except Exception as exc:
        await client.aclose()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return client


async def _workers(client: aioredis.Redis) -> tuple[RedisTokenManager, RedisTokenManager]:
    first, second = RedisTokenManager(client), RedisTokenManager(client)
    for manager in (first, second):
        manager.__class__ = tokens.LiveOwnerTokenManager
    return first, second


def test_a_tab_of_a_killed_worker_comes_back_with_its_own_token() -> None:
    async def scenario() -> tuple[str | None, str | None]:
        client = await _client()
        first, second = await _workers(client)
        token = str(uuid.uuid4())
        try:
            assert await first.link_token_to_sid(token, "sid-1") is None
            assert isinstance(first, tokens.LiveOwnerTokenManager)
            first.stop_beating()  # the worker is killed: no more beats, and its record stays
            await client.delete(tokens.ALIVE_PREFIX + first.instance_id)
            again = await second.link_token_to_sid(token, "sid-2")
            # Reflex alone: the record exists, so the tab would get a new token (empty state).
            plain = RedisTokenManager(client)
            other = str(uuid.uuid4())
            await plain.link_token_to_sid(other, "sid-3")
            duplicate = await RedisTokenManager(client).link_token_to_sid(other, "sid-4")
            return again, duplicate
        finally:
            for manager in (first, second):
                if isinstance(manager, tokens.LiveOwnerTokenManager):
                    manager.stop_beating()
            await client.aclose()

    again, duplicate = asyncio.run(scenario())
    assert again is None  # same token: the state in Redis is the tab's again
    assert duplicate is not None  # what happened before the fix


def test_a_duplicated_tab_of_a_live_worker_still_gets_a_new_token() -> None:
    async def scenario() -> str | None:
        client = await _client()
        first, second = await _workers(client)
        token = str(uuid.uuid4())
        try:
            assert await first.link_token_to_sid(token, "sid-1") is None
            await asyncio.sleep(tokens.BEAT_SECONDS * 3)  # beats keep the worker alive
            return await second.link_token_to_sid(token, "sid-2")
        finally:
            for manager in (first, second):
                if isinstance(manager, tokens.LiveOwnerTokenManager):
                    manager.stop_beating()
            await client.aclose()

    assert asyncio.run(scenario()) not in (None, "")


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
