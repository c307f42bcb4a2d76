"""``jotgate demo --run``: the walk-through, executed with httpx and checked step by step.

The same requests as the printed curl commands, against the same running
demo, each with the answer it must get. Two steps are about time:

* expiry: after the access token's ``exp`` the gateway must answer 401
  ``token_expired`` (the demo's TTL is short, 2 s by default here);
* logout: after ``POST /auth/logout`` answers 204, the gateway is asked
  every 50 ms until it refuses the token with ``token_revoked``; that must
  happen within :data:`LOGOUT_LIMIT` seconds.

Each step prints one line, ``ok`` or ``FAIL``, with what was seen; the
run's result is whether every step was ``ok``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx

from jotgate import jwt

from .stack import Urls
from .walkthrough import PASSWORD, USERNAME

__all__ = ["LOGOUT_LIMIT", "Step", "run_walkthrough"]

#: A logout must be enforced by the gateway within this many seconds.
LOGOUT_LIMIT: Final = 1.0
_POLL: Final = 0.05


@dataclass
class Step:
    """One checked step: its number, what it does, whether it behaved, what was seen."""

    number: int
    title: str
    ok: bool
    seen: str


class _Failed(Exception):
    """A step went wrong in a way that makes the later steps meaningless."""


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", "?"))
    except ValueError:
        return "?"


class _Walk:
    def __init__(self, client: httpx.AsyncClient, urls: Urls, report: Callable[[Step], None]):
        self.client = client
        self.urls = urls
        self.report = report
        self.steps: list[Step] = []

    def check(self, title: str, ok: bool, seen: str, *, fatal: bool = False) -> None:
        step = Step(len(self.steps) + 1, title, ok, seen)
        self.steps.append(step)
        self.report(step)
        if fatal and not ok:
            raise _Failed(title)

    async def notes(self, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.get("/api/notes", headers=headers)

    async def run(self) -> None:
        credentials = {"username": USERNAME, "password": PASSWORD}
        r = await self.client.post("/auth/register", json=credentials)
        user_id = r.json().get("id") if r.status_code == 201 else None
        self.check("register", r.status_code == 201, f"{r.status_code} id={user_id}", fatal=True)

        r = await self.client.post("/auth/login", json=credentials)
        tokens: dict[str, Any] = r.json() if r.status_code == 200 else {}
        access, refresh = tokens.get("access_token"), tokens.get("refresh_token")
        self.check(
            "log in",
            bool(access and refresh),
            f"{r.status_code} access token (expires_in {tokens.get('expires_in')} s)"
            " + refresh token",
            fatal=True,
        )
        assert isinstance(access, str)
        assert isinstance(refresh, str)
        exp = jwt.decode_unverified(access)[1]["exp"]

        r = await self.client.get("/public/hello", headers={"X-User-Id": "admin"})
        identity = r.json().get("identity") if r.status_code == 200 else None
        self.check(
            "public service, forged X-User-Id sent",
            r.status_code == 200 and identity == {},
            f"{r.status_code} identity the service saw: {json.dumps(identity)}",
        )

        r = await self.notes(None)
        self.check(
            "protected service, no token",
            r.status_code == 401 and _error(r) == "missing_token",
            f"{r.status_code} {_error(r)}",
        )

        r = await self.notes(access)
        seen = r.json().get("identity", {}) if r.status_code == 200 else {}
        sid = seen.get("x-session-id")
        self.check(
            "protected service, with the token",
            r.status_code == 200 and seen.get("x-user-id") == user_id and bool(sid),
            f"{r.status_code} X-User-Id={seen.get('x-user-id')} X-Session-Id={sid}",
        )

        await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
        r = await self.notes(access)
        self.check(
            "protected service, token past its exp",
            r.status_code == 401 and _error(r) == "token_expired",
            f"{r.status_code} {_error(r)} ({time.time() - exp:+.2f} s after exp)",
        )

        r = await self.client.post("/auth/refresh", json={"refresh_token": refresh})
        tokens = r.json() if r.status_code == 200 else {}
        access, refresh = tokens.get("access_token"), tokens.get("refresh_token")
        self.check("refresh", bool(access and refresh), f"{r.status_code} new pair", fatal=True)
        assert isinstance(access, str)
        assert isinstance(refresh, str)

        r = await self.notes(access)
        seen = r.json().get("identity", {}) if r.status_code == 200 else {}
        self.check(
            "protected service, refreshed token",
            r.status_code == 200
            and seen.get("x-user-id") == user_id
            and seen.get("x-session-id") == sid,
            f"{r.status_code} same user, same session: {seen.get('x-session-id') == sid}",
        )

        r = await self.client.post("/auth/logout", headers={"Authorization": f"Bearer {access}"})
        self.check("log out", r.status_code == 204, str(r.status_code), fatal=True)
        await self._refused_after_logout(access)

        r = await self.client.post("/auth/refresh", json={"refresh_token": refresh})
        self.check(
            "refresh after log out",
            r.status_code in (400, 401),
            f"{r.status_code} {_error(r)}",
        )

    async def _refused_after_logout(self, access: str) -> None:
        start = time.monotonic()
        deadline = start + LOGOUT_LIMIT + 1.0  # look a little longer, to report how late
        while True:
            r = await self.notes(access)
            elapsed = time.monotonic() - start
            if r.status_code != 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(_POLL)
        code = _error(r) if r.status_code != 200 else "still accepted"
        self.check(
            "protected service, same token after log out",
            r.status_code == 401 and code == "token_revoked" and elapsed <= LOGOUT_LIMIT,
            f"{r.status_code} {code} after {elapsed:.2f} s (limit {LOGOUT_LIMIT:g} s)",
        )


async def run_walkthrough(urls: Urls, report: Callable[[Step], None]) -> list[Step]:
    """Run every step against the gateway at ``urls.gateway``; ``report`` sees each one."""
    async with httpx.AsyncClient(base_url=urls.gateway, timeout=10) as client:
        walk = _Walk(client, urls, report)
        try:
            await walk.run()
        except _Failed:
            pass  # already reported; the remaining steps depend on it
        except (httpx.HTTPError, ValueError) as exc:
            walk.check("(the walk-through broke off)", False, f"{type(exc).__name__}: {exc}")
        return walk.steps
