"""A tab keeps its state when the app worker that served it dies (several workers, Redis).

Reflex records in Redis which worker holds each tab's socket, and treats a second connection
with a token whose record exists as a duplicated browser tab: it hands that connection a NEW
token, so the tab starts from empty state. A worker that is killed never deletes its records,
so every tab it served came back as a "duplicate" for the next 15 minutes (the record's expiry)
and lost its state although that state was safe in Redis.

Here each worker shows it is alive in two ways: it keeps a Redis connection subscribed to a
channel of its own, and a key renewed every second that expires after five. A process that dies
(killed or crashed) loses its connection at once, so Redis counts no subscriber on its channel
from that moment; the key covers a worker whose connection lingers (a host gone away), five
seconds being a margin for a late beat. Both are read without waiting.

When a token's record names a dead worker, the record is a leftover: it is dropped (only if it
is still that record) and the tab is linked again under its own token. A record of a live worker
still means a duplicated tab, decided at once: such a tab gets a new token, as in Reflex.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
from collections.abc import AsyncIterator
from typing import Any

from reflex.utils.token_manager import RedisTokenManager

log = logging.getLogger(__name__)

ALIVE_PREFIX = "mi_portal_worker_alive_"
BEAT_SECONDS = 1.0
ALIVE_MS = 5000  # a worker missing four beats and more is dead

# Delete the key only while it still holds the value read (another worker may have linked the
# token meanwhile: then its record stays and Reflex treats this connection as a duplicate).
_DELETE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LiveOwnerTokenManager(RedisTokenManager):
    """Reflex's Redis token manager, plus worker liveness (see the module docstring)."""

    _beat_task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        listener: Any = None
        try:
            while True:
                try:
                    # instance_id is renewed when a worker starts: read it on every beat.
                    name = ALIVE_PREFIX + self.instance_id
                    await self.redis.set(name, b"1", px=ALIVE_MS)
                    if listener is None or not await self._subscribed(name):
                        # First beat, a new instance_id, or Redis restarted: subscribe again.
                        if listener is not None:
                            with contextlib.suppress(Exception):
                                await listener.aclose()
                        listener = self.redis.pubsub()
                        await listener.subscribe(name)
                except Exception as exc:  # Redis away: records cannot be read either; retry
                    log.warning("worker liveness beat failed: %s", type(exc).__name__)
                await asyncio.sleep(BEAT_SECONDS)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.aclose()

    async def _subscribed(self, name: str) -> bool:
        counts = await self.redis.pubsub_numsub(name)  # type: ignore[misc]
        return any(int(count) > 0 for _channel, count in counts)

    def ensure_beating(self) -> None:
        if self._beat_task is None or self._beat_task.done():
            self._beat_task = asyncio.get_running_loop().create_task(self._beat())

    def stop_beating(self) -> None:
        if self._beat_task is not None:
            self._beat_task.cancel()
            self._beat_task = None

    async def owner_alive(self, instance_id: str) -> bool:
        """Whether worker ``instance_id`` lives: its connection is open and it beat lately."""
        name = ALIVE_PREFIX + instance_id
        return bool(await self.redis.exists(name)) and await self._subscribed(name)

    async def drop_dead_owner(self, token: str) -> bool:
        """Delete ``token``'s record if the worker it names is dead; whether it did.

        The record is deleted only while it is still the one read (compare-and-delete), so of
        two connections racing with a dead worker's token only one finds it gone.
        """
        key = self._get_redis_key(token)
        raw = await self.redis.get(key)
        if not raw:
            return False
        record = pickle.loads(raw)  # noqa: S301 (Reflex's own record; Reflex reads it so too)
        if record.instance_id == self.instance_id:
            return False  # this worker's own record: Reflex decides
        if await self.owner_alive(record.instance_id):
            return False
        dropped = await self.redis.eval(_DELETE_IF_SAME, 1, key, raw)  # type: ignore[misc]
        if not dropped:
            return False
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
        elif os.environ.get("REFLEX_REDIS_URL"):
            # State in Redis, but Reflex's manager is not the one this module knows (a Reflex
            # upgrade): tabs of a killed worker would lose their state again. Say so.
            log.warning("token manager not adopted: a killed worker's tabs get new tokens")
        try:
            yield
        finally:
            if manager is not None:
                manager.stop_beating()

    return run
