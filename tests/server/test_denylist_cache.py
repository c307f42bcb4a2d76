"""The per-process denylist cache: single-flight lookups, revocations seen within the TTL."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest

from jotgate.server.denylist import Denylist

from .conftest import bearer, running, test_settings

pytestmark = pytest.mark.anyio


class SlowStore:
    """A store whose lookups take a while and are counted."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.lookups = 0
        self.denied: set[str] = set()
        self.fail = False

    async def add(self, sids: list[str], until: dt.datetime) -> None:
        self.denied.update(sids)

    async def contains(self, sid: str) -> bool:
        self.lookups += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("store down")
        return sid in self.denied


async def test_concurrent_lookups_of_one_sid_share_one_store_query() -> None:
    store = SlowStore()
    denylist = Denylist(store, negative_ttl=1.0)
    answers = await asyncio.gather(*(denylist.is_revoked("s1") for _ in range(50)))
    assert answers == [False] * 50
    assert store.lookups == 1
    # Distinct sessions are not merged.
    await asyncio.gather(denylist.is_revoked("s2"), denylist.is_revoked("s3"))
    assert store.lookups == 3


async def test_cached_answer_expires_and_a_revocation_elsewhere_is_seen() -> None:
    store = SlowStore(delay=0.0)
    denylist = Denylist(store, negative_ttl=0.2)
    assert not await denylist.is_revoked("s1")
    store.denied.add("s1")  # revoked by another process
    assert not await denylist.is_revoked("s1")  # still cached
    await asyncio.sleep(0.25)
    assert await denylist.is_revoked("s1")
    assert store.lookups == 2


async def test_a_failed_lookup_fails_every_waiter_and_is_not_cached() -> None:
    store = SlowStore()
    store.fail = True
    denylist = Denylist(store, negative_ttl=1.0)
    results = await asyncio.gather(
        *(denylist.is_revoked("s1") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert store.lookups == 1
    store.fail = False
    assert not await denylist.is_revoked("s1")
    assert store.lookups == 2


async def test_a_cancelled_caller_does_not_cancel_the_shared_lookup() -> None:
    store = SlowStore()
    denylist = Denylist(store, negative_ttl=1.0)
    first = asyncio.ensure_future(denylist.is_revoked("s1"))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(denylist.is_revoked("s1"))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second is False
    assert store.lookups == 1


async def test_a_local_revocation_during_a_lookup_wins() -> None:
    store = SlowStore()
    denylist = Denylist(store, negative_ttl=1.0)
    pending = asyncio.ensure_future(denylist.is_revoked("s1"))
    await asyncio.sleep(0.01)
    await denylist.revoke(["s1"], dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    await pending
    assert await denylist.is_revoked("s1")


# -- following the revocation feed (the denylist in the database) -------------


class _Feed:
    """A revocation feed in memory: entries with cursors, paged like the server's."""

    def __init__(self, page: int = 2) -> None:
        self.entries: list[dict[str, object]] = []
        self.reads: list[str | None] = []
        self.page = page

    def revoke(self, sid: str, exp: float) -> None:
        self.entries.append({"sid": sid, "exp": exp})

    async def __call__(self, since: str | None) -> tuple[list[dict[str, object]], str, bool]:
        self.reads.append(since)
        await asyncio.sleep(0.01)
        start = int(since or 0)
        rows = self.entries[start : start + self.page]
        return rows, str(start + len(rows)), len(rows) == self.page


async def test_following_the_feed_answers_from_memory_between_polls() -> None:
    feed = _Feed()
    denylist = Denylist(SlowStore(), negative_ttl=0.3, feed=feed)
    future = time.time() + 600
    feed.revoke("a", future)
    feed.revoke("b", future)
    feed.revoke("c", future)
    # The first check reads every page (2 + 1 entries, then an empty page).
    assert await denylist.is_revoked("c") is True
    assert feed.reads[:2] == [None, "2"]
    reads = len(feed.reads)
    assert await denylist.is_revoked("x") is False
    assert await denylist.is_revoked("a") is True
    assert len(feed.reads) == reads  # no poll within the TTL
    # A revocation made elsewhere is seen once the TTL has passed.
    feed.revoke("x", future)
    assert await denylist.is_revoked("x") is False
    await asyncio.sleep(0.35)
    assert await denylist.is_revoked("x") is True
    assert feed.reads[-1] == "3"  # from the last cursor, not from the start


async def test_concurrent_checks_share_one_poll_and_expired_entries_do_not_count() -> None:
    feed = _Feed(page=100)
    denylist = Denylist(SlowStore(), negative_ttl=1.0, feed=feed)
    feed.revoke("old", time.time() - 1)
    feed.revoke("new", time.time() + 600)
    answers = await asyncio.gather(*(denylist.is_revoked(s) for s in ["old", "new"] * 10))
    assert answers == [False, True] * 10
    assert feed.reads == [None]


async def test_a_failed_poll_fails_the_check_and_is_retried() -> None:
    calls = 0

    async def broken(since: str | None) -> tuple[list[dict[str, object]], str, bool]:
        nonlocal calls
        calls += 1
        raise RuntimeError("database down")

    denylist = Denylist(SlowStore(), negative_ttl=1.0, feed=broken)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await denylist.is_revoked("a")
    assert calls == 2  # a failure is not remembered as "nothing revoked"


async def test_a_logout_on_one_server_is_refused_by_another_within_a_second(
    tmp_path: Path,
) -> None:
    settings = test_settings(tmp_path)
    async with running(settings) as first, running(settings) as second:
        tokens = await first.signup()
        auth = bearer(tokens["access_token"])
        assert (await second.client.get("/auth/verify", headers=auth)).status_code == 200
        assert (await first.client.post("/auth/logout", headers=auth)).status_code == 204
        await asyncio.sleep(settings.denylist_cache_seconds + 0.1)
        refused = await second.client.get("/auth/verify", headers=auth)
        assert refused.status_code == 401
        assert refused.headers["X-Auth-Error"] == "token_revoked"
        # The second server learnt it from the feed, not from a per-session lookup.
        assert second.runtime.denylist._feed is not None
