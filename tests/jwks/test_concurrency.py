"""RemoteKeySet under concurrent callers: one in-flight fetch, shared."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable

import httpx
import pytest

from jotgate import errors, jwk, jwt
from jotgate.jwks import RemoteKeySet

from .conftest import FakeClock, JwksServer, token_for

MakeRemote = Callable[..., RemoteKeySet]


def test_fifty_concurrent_async_gets_share_one_fetch(
    server: JwksServer, remote: RemoteKeySet
) -> None:
    server.delay = 0.1  # all callers arrive while the fetch is in flight

    async def run() -> list[jwk.KeySet]:
        return await asyncio.gather(*(remote.get("k1") for _ in range(50)))

    results = asyncio.run(run())
    assert server.hits["/jwks.json"] == 1
    assert all(keys is results[0] for keys in results)


def test_concurrent_unknown_kids_share_one_refetch(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    remote.get_sync()
    clock.advance(30)
    server.delay = 0.1

    async def run() -> list[jwk.KeySet | BaseException]:
        gets = (remote.get(secrets.token_hex(8)) for _ in range(50))
        return await asyncio.gather(*gets, return_exceptions=True)

    results = asyncio.run(run())
    assert all(isinstance(result, errors.KeyNotFoundError) for result in results)
    assert server.hits["/jwks.json"] == 2


def test_ten_threads_share_one_fetch(server: JwksServer, remote: RemoteKeySet) -> None:
    server.delay = 0.1
    start = threading.Barrier(10)
    seen: list[jwk.KeySet] = []
    failures: list[BaseException] = []

    def work() -> None:
        start.wait()
        try:
            seen.append(remote.get_sync("k1"))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert len(seen) == 10
    assert server.hits["/jwks.json"] == 1


def test_threads_decoding_tokens_share_one_fetch(server: JwksServer, remote: RemoteKeySet) -> None:
    server.kids = ("k1", "k2")
    server.delay = 0.05
    tokens = [token_for("k1"), token_for("k2")]
    subjects: list[str] = []

    def work(index: int) -> None:
        subjects.append(jwt.decode(tokens[index % 2], remote, algorithms=["ES256"])["sub"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert subjects == ["user-1"] * 10
    assert server.hits["/jwks.json"] == 1


def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(
    server: JwksServer, remote: RemoteKeySet
) -> None:
    server.delay = 0.1

    async def run() -> list[jwk.KeySet]:
        quitter = asyncio.create_task(remote.get("k1"))
        stayers = [asyncio.create_task(remote.get("k1")) for _ in range(5)]
        await asyncio.sleep(0.02)
        quitter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await quitter
        return await asyncio.gather(*stayers)

    results = asyncio.run(run())
    assert all(keys.get("k1") is not None for keys in results)
    assert server.hits["/jwks.json"] == 1


def test_separate_event_loops_use_the_same_cache(server: JwksServer, remote: RemoteKeySet) -> None:
    for _ in range(3):
        asyncio.run(remote.get("k1"))
    assert server.hits["/jwks.json"] == 1


def test_an_injected_async_client_is_used_and_left_open(
    server: JwksServer, make_remote: MakeRemote
) -> None:
    async def run() -> bool:
        async with httpx.AsyncClient() as client:
            remote = make_remote(client=client)
            await asyncio.gather(*(remote.get("k1") for _ in range(5)))
            await remote.aclose()
            return client.is_closed

    assert asyncio.run(run()) is False
    assert server.hits["/jwks.json"] == 1
