"""PollingRevocations against a real Starlette app serving the endpoint contract."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jotgate.middleware import Claims
from jotgate.middleware.polling import PollingRevocations, RevocationFeedError

pytestmark = pytest.mark.anyio


class RevocationServer:
    """GET /auth/revocations?since=cursor as docs/middleware.md defines it; cursors are counts."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.requests: list[str | None] = []
        self.forgotten_before = 0  # cursors below this answer 410
        self.broken = False

        async def endpoint(request: Request) -> Response:
            since = request.query_params.get("since")
            self.requests.append(since)
            if self.broken:
                return Response("oops", status_code=503)
            start = 0 if since is None else int(since)
            if since is not None and start < self.forgotten_before:
                return Response(status_code=410)
            return JSONResponse({"revoked": self.entries[start:], "cursor": str(len(self.entries))})

        self.app = Starlette(routes=[Route("/auth/revocations", endpoint)])

    def revoke(self, **entry: Any) -> None:
        self.entries.append({"exp": time.time() + 900, **entry})

    def source(self, **options: Any) -> PollingRevocations:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))
        return PollingRevocations("http://auth.test/auth/revocations", client=client, **options)


def by_sid(sid: str) -> Claims:
    return Claims.from_dict({"sid": sid})


async def test_start_loads_everything_then_polls_only_what_is_new() -> None:
    server = RevocationServer()
    server.revoke(sid="before-start")
    source = server.source(interval=0.02)
    await source.start()
    try:
        assert source.is_revoked(by_sid("before-start"))
        server.revoke(sid="later")
        server.revoke(jti="one-token")
        for _ in range(250):
            if source.is_revoked(by_sid("later")):
                break
            await asyncio.sleep(0.01)
        assert source.is_revoked(by_sid("later"))
        assert source.is_revoked(Claims.from_dict({"jti": "one-token"}))
        assert server.requests[0] is None
        assert server.requests[1] == "1"
    finally:
        await source.stop()


async def test_an_unknown_cursor_starts_over() -> None:
    server = RevocationServer()
    server.revoke(sid="a")
    source = server.source()
    await source.start()
    try:
        server.revoke(sid="b")
        server.forgotten_before = 5
        assert await source.poll() == 2
        assert source.cursor == "2"
        assert server.requests[-2:] == ["1", None]
    finally:
        await source.stop()


async def test_a_failing_server_keeps_what_is_known() -> None:
    server = RevocationServer()
    server.revoke(sid="known")
    source = server.source(interval=0.01)
    await source.start()
    try:
        server.broken = True
        await asyncio.sleep(0.05)  # several failed polls, logged
        assert source.is_revoked(by_sid("known"))
        assert source.cursor == "1"
        server.broken = False
        server.revoke(sid="after-outage")
        for _ in range(250):
            if source.is_revoked(by_sid("after-outage")):
                break
            await asyncio.sleep(0.01)
        assert source.is_revoked(by_sid("after-outage"))
    finally:
        await source.stop()


async def test_a_failing_server_at_start_is_an_error() -> None:
    server = RevocationServer()
    server.broken = True
    source = server.source()
    with pytest.raises(RevocationFeedError, match="503"):
        await source.start()
    await source.stop()


async def test_malformed_entries_are_skipped_not_fatal() -> None:
    server = RevocationServer()
    server.entries = [
        {"sid": "good", "exp": time.time() + 60},
        {"sid": 5, "exp": 1},
        {"sid": "no-exp"},
        {"exp": True, "sid": "bool-exp"},
        "junk",
    ]
    source = server.source()
    await source.start()
    try:
        assert source.is_revoked(by_sid("good"))
        assert not source.is_revoked(by_sid("no-exp"))
        assert not source.is_revoked(by_sid("bool-exp"))
        assert len(source) == 1
    finally:
        await source.stop()
