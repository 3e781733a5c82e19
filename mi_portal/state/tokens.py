"""A tab keeps its state when the app worker that served it dies (several workers, Redis).

Reflex records in Redis which worker holds each tab's socket, and treats a second connection
with a token whose record exists as a duplicated browser tab: it hands that connection a NEW
token, so the tab starts from empty state. A worker that is killed never deletes its records,
so every tab it served came back as a "duplicate" for the next 15 minutes (the record's expiry)
and lost its state although that state was safe in Redis.

Here each worker also keeps a short-lived "alive" key in Redis. When a token's record names a
worker whose key has expired, the record is a leftover of a dead worker: it is dropped and the
tab is linked again under its own token. A record of a live worker still means a duplicated
tab (checked once more after the key's remaining lifetime, so a worker between two beats is not
taken for dead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from reflex.utils.token_manager import RedisTokenManager

log = logging.getLogger(__name__)

ALIVE_PREFIX = "mi_portal_worker_alive_"
BEAT_SECONDS = 1.0
ALIVE_MS = 2500  # a worker missing two beats and a half is dead


class LiveOwnerTokenManager(RedisTokenManager):
    """Reflex's Redis token manager, plus worker liveness (see the module docstring)."""

    _beat_task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            try:
                # instance_id is renewed when a worker starts: read it on every beat.
                await self.redis.set(ALIVE_PREFIX + self.instance_id, b"1", px=ALIVE_MS)
            except Exception as exc:  # Redis away: records cannot be read either; try again
                log.warning("worker liveness beat failed: %s", type(exc).__name__)
            await asyncio.sleep(BEAT_SECONDS)

    def ensure_beating(self) -> None:
        if self._beat_task is None or self._beat_task.done():
            self._beat_task = asyncio.get_running_loop().create_task(self._beat())

    def stop_beating(self) -> None:
        if self._beat_task is not None:
            self._beat_task.cancel()
            self._beat_task = None

    async def owner_alive(self, instance_id: str) -> bool:
        key = ALIVE_PREFIX + instance_id
        left = await self.redis.pttl(key)
        if left is None or left < 0:
            return False
        await asyncio.sleep(left / 1000 + 0.05)  # a live worker renews it meanwhile
        return bool(await self.redis.exists(key))

    async def drop_dead_owner(self, token: str) -> bool:
        """Delete ``token``'s record if the worker it names is dead; whether it did."""
        record = await self._fetch_socket_record(token)
        if record is None or record.instance_id == self.instance_id:
            return False
        if await self.owner_alive(record.instance_id):
            return False
        await self.redis.delete(self._get_redis_key(token))
        self.token_to_socket.pop(token, None)
        return True

    async def link_token_to_sid(self, token: str, sid: str) -> str | None:
        self.ensure_beating()
        local = self.token_to_socket.get(token)
        if local is None or local.sid != sid:
            try:
                await self.drop_dead_owner(token)
            except Exception as exc:  # keep Reflex's own behaviour when Redis misbehaves
                log.warning("socket record check failed: %s", type(exc).__name__)
        return await super().link_token_to_sid(token, sid)


def adopt(app: Any) -> LiveOwnerTokenManager | None:
    """Give the app's event namespace this token manager (when state lives in Redis)."""
    namespace = getattr(app, "event_namespace", None)
    manager = getattr(namespace, "_token_manager", None)
    if isinstance(manager, LiveOwnerTokenManager):
        return manager
    if type(manager) is not RedisTokenManager:
        return None  # one worker, state in memory: nothing to share
    # Same object, same attributes (its links and tasks are kept): only the methods differ.
    manager.__class__ = LiveOwnerTokenManager
    return manager  # type: ignore[return-value]


def lifespan(app: Any):  # type: ignore[no-untyped-def]
    """For ``app.register_lifespan_task``: adopt the manager in each worker; stop the beat."""

    @contextlib.asynccontextmanager
    async def run() -> AsyncIterator[None]:
        manager = adopt(app)
        if manager is not None:
            manager.ensure_beating()
        try:
            yield
        finally:
            if manager is not None:
                manager.stop_beating()

    return run
