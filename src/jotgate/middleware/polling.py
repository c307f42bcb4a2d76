"""Revocations by polling the auth server: ``GET {url}?since={cursor}`` every ``interval``.

The endpoint contract (docs/middleware.md, "Polling endpoint"; the auth
server serves it as ``GET /auth/revocations``)::

    GET /auth/revocations            -> 200 {"revoked": [all current entries], "cursor": "c1"}
    GET /auth/revocations?since=c1   -> 200 {"revoked": [entries added after c1], "cursor": "c2"}
    GET /auth/revocations?since=old  -> 410 Gone (the client starts over without since)

Each entry is ``{"sid": ..., "exp": ...}`` or ``{"jti": ..., "exp": ...}``
(the Redis feed's format). The cursor is an opaque string; a response
without new entries repeats or advances it.

Example::

    revocations = PollingRevocations(
        "https://auth.example.com/auth/revocations",
        interval=1.0,
        headers={"Authorization": f"Bearer {service_token}"},
    )
    verifier = Verifier(remote_keys, algorithms=["ES256"], revocations=revocations)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from .revocation import RevocationList

__all__ = ["PollingRevocations", "RevocationFeedError"]

log = logging.getLogger("jotgate.middleware")


class RevocationFeedError(Exception):
    """The revocation endpoint answered something other than the contract."""


class PollingRevocations(RevocationList):
    """A :class:`RevocationList` kept current by polling the auth server.

    ``client``: an ``httpx.AsyncClient`` to use (and not close), for
    example one with a proxy, certificates or an ASGI transport. ``headers``
    are sent with every poll (a service credential, if the server wants one).
    """

    def __init__(
        self,
        url: str,
        *,
        interval: float = 1.0,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        grace: float = 60.0,
    ) -> None:
        """A source that does nothing until :meth:`start`."""
        super().__init__(grace=grace)
        if interval <= 0:
            raise ValueError("interval must be > 0 seconds")
        self.url = url
        self.interval = interval
        self.cursor: str | None = None
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._client = client
        self._owns_client = client is None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fetch the whole current list once, then poll in the background.

        Raises ``httpx.HTTPError`` or :class:`RevocationFeedError` when the
        first poll fails, so a misconfigured service fails at start-up.
        """
        if self._task is not None:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        await self.poll()
        self._task = asyncio.create_task(self._run(), name="jotgate-revocation-poll")

    async def stop(self) -> None:
        """Stop polling; what was loaded keeps answering."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def poll(self) -> int:
        """One round trip: apply new entries, advance the cursor; return how many were new."""
        if self._client is None:
            raise RuntimeError("call start() first")
        params = {} if self.cursor is None else {"since": self.cursor}
        response = await self._client.get(self.url, params=params, headers=self._headers)
        if response.status_code == 410 and self.cursor is not None:
            # The server no longer knows our cursor: take the whole list again.
            self.cursor = None
            return await self.poll()
        if response.status_code != 200:
            raise RevocationFeedError(f"the revocation endpoint answered {response.status_code}")
        document = _document(response)
        added = self.apply(document["revoked"])
        self.cursor = document["cursor"]
        return added

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except (httpx.HTTPError, RevocationFeedError) as exc:
                # Keep the cursor and what we know; try again next round.
                log.warning("revocation poll failed (%s); retrying", type(exc).__name__)


def _document(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        raise RevocationFeedError("the revocation endpoint did not answer JSON") from None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("revoked"), list)
        or not isinstance(document.get("cursor"), str)
    ):
        raise RevocationFeedError("the revocation endpoint's answer lacks 'revoked' or 'cursor'")
    return document
