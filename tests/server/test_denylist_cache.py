"""The per-process denylist cache: single-flight lookups, revocations seen within the TTL."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from jotgate.server.denylist import Denylist

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
