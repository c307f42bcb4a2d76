"""Revocations from Redis: keys for the current list, pub/sub for new entries.

Wire format (docs/middleware.md, "Revocation feed"):

* key ``{key_prefix}sid:{sid}`` (or ``{key_prefix}jti:{jti}``), any value,
  with a TTL that ends when the last token it denies has expired; a key
  without a TTL must hold that Unix time as its value;
* a message on ``channel``: ``{"sid": ..., "exp": ...}`` or ``{"jti": ...,
  "exp": ...}`` (or an array of those), published after the key is set.

On start the source subscribes first and then scans the keys, so a
revocation published in between is not lost. Afterwards a background task
applies each message, reconnects (and rescans) after a lost connection, and
rescans every ``resync_interval`` seconds in case a message was missed.

Example::

    revocations = RedisRevocations("redis://127.0.0.1:6379/0")
    verifier = Verifier(keys, algorithms=["ES256"], revocations=revocations)
    app = FastAPI(lifespan=verifier.lifespan)       # start() and stop()

    await publish_revocation(redis, sid="5b2c...", exp=1767225600)   # the auth server's side
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .revocation import RevocationList

__all__ = ["RedisRevocations", "publish_revocation"]

log = logging.getLogger("jotgate.middleware")

DEFAULT_CHANNEL: Final = "jotgate:revocations"
DEFAULT_PREFIX: Final = "jotgate:revoked:"
_SCAN_COUNT: Final = 1000


async def publish_revocation(
    client: Any,
    *,
    sid: str | None = None,
    jti: str | None = None,
    exp: float,
    channel: str = DEFAULT_CHANNEL,
    key_prefix: str = DEFAULT_PREFIX,
) -> None:
    """Record and announce a revocation (what an auth server does on logout).

    ``client`` is a ``redis.asyncio.Redis``. The key comes first, so a
    verifier starting at this moment finds it in its scan if it missed the
    message. Example::

        await publish_revocation(redis, sid=session_id, exp=last_access_token_exp)
    """
    if sid is None and jti is None:
        raise ValueError("name a sid or a jti to revoke")
    ttl = max(1, int(exp - time.time()) + 1)
    message: dict[str, Any] = {"exp": exp}
    async with client.pipeline(transaction=False) as pipe:
        for kind, value in (("sid", sid), ("jti", jti)):
            if value is not None:
                pipe.set(f"{key_prefix}{kind}:{value}", str(exp), ex=ttl)
                message[kind] = value
        pipe.publish(channel, json.dumps(message))
        await pipe.execute()


class RedisRevocations(RevocationList):
    """A :class:`RevocationList` kept current from Redis by a background task.

    ``redis_url``: where Redis is (ignored when ``client``, a
    ``redis.asyncio.Redis``, is given). ``channel`` and ``key_prefix``:
    the names of the wire format. ``reconnect_delay``: seconds between
    attempts after a lost connection. ``resync_interval``: seconds between
    full rescans (0: never).
    """

    def __init__(
        self,
        redis_url: str = "redis://127.0.0.1:6379/0",
        *,
        channel: str = DEFAULT_CHANNEL,
        key_prefix: str = DEFAULT_PREFIX,
        client: Any = None,
        reconnect_delay: float = 1.0,
        resync_interval: float = 300.0,
        grace: float = 60.0,
    ) -> None:
        """A source that does nothing until :meth:`start`."""
        super().__init__(grace=grace)
        self.channel = channel
        self.key_prefix = key_prefix
        self._url = redis_url
        self._client: Any = client
        self._owns_client = client is None
        self._reconnect_delay = reconnect_delay
        self._resync_interval = resync_interval
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._resynced_at = 0.0

    async def start(self) -> None:
        """Subscribe, load every current revocation, then follow the channel.

        Raises ``redis.exceptions.RedisError`` (or ``OSError``) when Redis
        cannot be reached, so a misconfigured service fails at start-up.
        """
        if self._task is not None:
            return
        if self._client is None:
            self._client = aioredis.from_url(self._url)
        await self._connect()
        self._task = asyncio.create_task(self._follow(), name="jotgate-revocations")

    async def stop(self) -> None:
        """Stop following; what was loaded keeps answering."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop_pubsub()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _connect(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            await self.resync()
        except BaseException:
            await pubsub.aclose()
            raise
        self._pubsub = pubsub

    async def resync(self) -> int:
        """Scan the revocation keys into memory; return how many were found."""
        now = time.time()
        keys = [key async for key in self._client.scan_iter(f"{self.key_prefix}*", _SCAN_COUNT)]
        if not keys:
            self._resynced_at = now
            return 0
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pttl(key)
                pipe.get(key)
            answers = await pipe.execute()
        found = 0
        prefix = len(self.key_prefix)
        for i, key in enumerate(keys):
            ttl_ms, value = answers[2 * i], answers[2 * i + 1]
            name = (key.decode() if isinstance(key, bytes) else key)[prefix:]
            kind, _, ident = name.partition(":")
            until = _until(ttl_ms, value, now)
            if ident and until is not None and kind in ("sid", "jti"):
                self.revoke(**{kind: ident}, until=until)
                found += 1
        self._resynced_at = now
        return found

    async def _follow(self) -> None:
        while True:
            try:
                if self._pubsub is None:
                    await self._connect()
                    log.info("revocation feed reconnected to Redis")
                await self._listen()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                # Never the URL or message contents: they may carry credentials.
                log.warning("revocation feed lost (%s); retrying", type(exc).__name__)
                await self._drop_pubsub()
                await asyncio.sleep(self._reconnect_delay)

    async def _listen(self) -> None:
        pubsub = self._pubsub
        while True:
            timeout = 1.0 if self._resync_interval else None
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
            if message is not None and message.get("type") == "message":
                self.apply(message["data"])
            if self._resync_interval and time.time() - self._resynced_at >= self._resync_interval:
                await self.resync()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()


def _until(ttl_ms: int, value: object, now: float) -> float | None:
    if ttl_ms >= 0:
        return now + ttl_ms / 1000
    if ttl_ms == -2:
        return None  # expired between SCAN and PTTL
    try:
        return float(value.decode() if isinstance(value, bytes) else str(value))
    except ValueError:
        log.warning("a revocation key has neither a TTL nor an expiry time; ignored")
        return None
