"""A Redis lock store for Rasa whose per-conversation lock is safe across several Rasa servers.

Rasa 3.6's ``RedisLockStore`` issues its tickets by reading the lock from Redis, adding a ticket
and writing it back. Two servers that receive messages of one conversation at the same moment can
both read the same state and both go ahead, and then one server's events overwrite the other's in
the tracker store (a lost message; see RasaHQ/rasa issue 9213). Here the lock is a single Redis
key taken with ``SET NX PX`` and released by a compare-and-delete script, so exactly one server
holds it at a time.

Configured in ``endpoints.yml`` (the launcher writes this for ``BOT_LOCK_STORE_URL``)::

    lock_store:
      type: bot.lockstore.AtomicRedisLockStore
      url: 127.0.0.1
      port: 6379
      db: 0
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import asynccontextmanager
from typing import AsyncGenerator

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

__all__ = ["AtomicRedisLockStore"]

log = logging.getLogger(__name__)

# Deletes the key only while it still holds this holder's token, so a holder whose lock expired
# cannot release the lock another server has taken since.
_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

_FIRST_RETRY_SECONDS = 0.02
_MAX_RETRY_SECONDS = 0.25


class AtomicRedisLockStore(RedisLockStore):
    """Per-conversation mutual exclusion through one Redis key per conversation.

    NOTE: unlike Rasa's ticket queue, waiting messages are not served in arrival order. This
    matters only for messages of one conversation that arrive while another of them is processed.
    """

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs) -> None:
        if endpoint_config is not None:
            # Rasa creates lock stores named by module path with the endpoint configuration only.
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)
        self._release = self.red.register_script(_RELEASE_SCRIPT)

    def _mutex_key(self, conversation_id: str) -> str:
        return f"{self.key_prefix}mutex:{conversation_id}"

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock for the block; wait while another server holds it.

        A holder that dies keeps the lock at most ``lock_lifetime`` seconds, after which the key
        expires. ``wait_time_in_seconds`` caps the pause between attempts.
        """
        key = self._mutex_key(conversation_id)
        token = uuid.uuid4().hex
        lifetime_ms = max(1, int(lock_lifetime * 1000))
        pause = _FIRST_RETRY_SECONDS
        waited_since = time.monotonic()
        # Each holder releases the key or lets it expire, so the wait ends, as Rasa's own does.
        while not self.red.set(key, token, nx=True, px=lifetime_ms):
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_RETRY_SECONDS, wait_time_in_seconds)
        log.debug("Acquired the lock for conversation '%s' after %.3f s", conversation_id,
                  time.monotonic() - waited_since)
        try:
            yield TicketLock(conversation_id)
        finally:
            if not self._release(keys=[key], args=[token]):
                log.warning("The lock for conversation '%s' expired before its message was processed "
                            "(lock lifetime %.0f s)", conversation_id, lock_lifetime)
