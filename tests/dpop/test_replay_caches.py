"""Replay caches: the memory one (bounded, expiring, atomic) and the real Redis ones.

The Redis tests use the server at 127.0.0.1:6379 and a fresh key prefix
each; two OS processes verifying the same proof must not both succeed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from jotgate import dpop, jwk

from .conftest import REDIS_HOST, REDIS_PORT, URL, need_redis


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- memory ---------------------------------------------------------------


def test_memory_cache_remembers_until_expiry() -> None:
    clock = Clock()
    cache = dpop.MemoryReplayCache(clock=clock)
    assert cache.check_and_store("a", clock.now + 65)
    assert not cache.check_and_store("a", clock.now + 65)
    clock.now += 64.9
    assert not cache.check_and_store("a", clock.now + 65)
    clock.now += 0.2
    assert cache.check_and_store("a", clock.now + 65)  # forgotten once expired


def test_memory_cache_keeps_even_an_expired_key_briefly() -> None:
    clock = Clock()
    cache = dpop.MemoryReplayCache(clock=clock, min_ttl=1.0)
    assert cache.check_and_store("a", clock.now - 100)
    assert not cache.check_and_store("a", clock.now - 100)


def test_memory_cache_purges_expired_keys() -> None:
    clock = Clock()
    cache = dpop.MemoryReplayCache(clock=clock)
    for i in range(100):
        cache.check_and_store(str(i), clock.now + i + 1)
    clock.now += 50.5
    cache.check_and_store("new", clock.now + 10)
    assert len(cache) == 51  # 50 left, plus the new one


def test_a_full_memory_cache_fails_closed() -> None:
    clock = Clock()
    cache = dpop.MemoryReplayCache(max_entries=3, clock=clock)
    for name in "abc":
        assert cache.check_and_store(name, clock.now + 10)
    with pytest.raises(dpop.ReplayCacheFullError):
        cache.check_and_store("d", clock.now + 10)
    assert not cache.check_and_store("a", clock.now + 10)  # still remembered
    clock.now += 11
    assert cache.check_and_store("d", clock.now + 10)  # room again once they age out


def test_a_long_lived_key_does_not_hide_expired_ones() -> None:
    clock = Clock()
    cache = dpop.MemoryReplayCache(max_entries=3, clock=clock)
    assert cache.check_and_store("long", clock.now + 1000)
    assert cache.check_and_store("a", clock.now + 10)
    assert cache.check_and_store("b", clock.now + 10)
    clock.now += 11
    assert cache.check_and_store("a", clock.now + 10)  # expired behind "long": new again
    assert cache.check_and_store("c", clock.now + 10)  # "b" swept to make room
    assert not cache.check_and_store("long", clock.now + 10)
    assert len(cache) == 3


def test_memory_cache_lets_one_of_many_racing_threads_win() -> None:
    cache = dpop.MemoryReplayCache()
    start = threading.Barrier(8)
    wins: list[bool] = []

    def race() -> None:
        start.wait()
        for i in range(200):
            wins.append(cache.check_and_store(f"k{i}", 1e12))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 200


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        dpop.MemoryReplayCache(max_entries=0)


# -- Redis ----------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    need_redis()
    connection = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    yield connection
    connection.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    name = f"jotgate:test:dpop:{uuid.uuid4().hex}:"
    yield name
    for stale in client.scan_iter(match=name + "*"):
        client.delete(stale)


def test_redis_cache_set_nx_with_ttl(client: redis.Redis, prefix: str) -> None:
    clock = Clock()
    cache = dpop.RedisReplayCache(client, prefix=prefix, clock=clock)
    assert cache.check_and_store("jkt:1", clock.now + 65)
    assert not cache.check_and_store("jkt:1", clock.now + 65)
    assert 64_000 < client.pttl(prefix + "jkt:1") <= 65_000
    assert cache.check_and_store("jkt:2", clock.now - 5)  # past expiry: kept min_ttl
    assert 0 < client.pttl(prefix + "jkt:2") <= 1000


def test_redis_refuses_a_replay_through_verify_proof(
    client: redis.Redis, prefix: str, key: jwk.Key
) -> None:
    cache = dpop.RedisReplayCache(client, prefix=prefix)
    proof = dpop.create_proof(key, "GET", URL)
    dpop.verify_proof(proof, htm="GET", htu=URL, replay=cache)
    with pytest.raises(dpop.DPoPError) as caught:
        dpop.verify_proof(proof, htm="GET", htu=URL, replay=cache)
    assert caught.value.reason == "replay"


_OTHER_PROCESS = """
import sys, redis
from jotgate import dpop
cache = dpop.RedisReplayCache(redis.Redis(host=sys.argv[1], port=int(sys.argv[2])),
                              prefix=sys.argv[3])
try:
    dpop.verify_proof(sys.argv[4], htm="GET", htu=sys.argv[5], replay=cache)
except dpop.DPoPError as exc:
    print(exc.reason)
else:
    print("accepted")
"""


def verify_elsewhere(proof: str, prefix: str) -> str:
    """Verify ``proof`` in another OS process sharing only Redis; its verdict."""
    result = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, REDIS_HOST, str(REDIS_PORT), prefix, proof, URL],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_a_proof_used_in_one_process_is_a_replay_in_another(
    client: redis.Redis, prefix: str, key: jwk.Key
) -> None:
    cache = dpop.RedisReplayCache(client, prefix=prefix)
    first, second = dpop.create_proof(key, "GET", URL), dpop.create_proof(key, "GET", URL)
    dpop.verify_proof(first, htm="GET", htu=URL, replay=cache)
    assert verify_elsewhere(first, prefix) == "replay"
    assert verify_elsewhere(second, prefix) == "accepted"
    with pytest.raises(dpop.DPoPError, match="already used"):
        dpop.verify_proof(second, htm="GET", htu=URL, replay=cache)


def test_async_redis_cache(prefix: str, key: jwk.Key) -> None:
    proof = dpop.create_proof(key, "GET", URL)

    async def twice() -> list[str]:
        client = redis.asyncio.Redis(host=REDIS_HOST, port=REDIS_PORT)
        cache = dpop.AsyncRedisReplayCache(client, prefix=prefix)
        outcomes = []
        try:
            for _ in range(2):
                try:
                    await dpop.averify_proof(proof, htm="GET", htu=URL, replay=cache)
                    outcomes.append("accepted")
                except dpop.DPoPError as exc:
                    outcomes.append(exc.reason)
        finally:
            await client.aclose()
        return outcomes

    assert asyncio.run(twice()) == ["accepted", "replay"]
