"""RemoteKeySet caching: first fetch, Cache-Control lifetimes, unknown kids, rotation."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable

import pytest

from jotgate import errors, jwk, jwt
from jotgate.jwks import RemoteKeySet

from .conftest import SIGNERS, FakeClock, JwksServer, token_for

MakeRemote = Callable[..., RemoteKeySet]


def kids(keys: jwk.KeySet) -> set[str | None]:
    return {key.kid for key in keys}


def test_first_fetch_returns_the_served_public_keys(
    server: JwksServer, remote: RemoteKeySet
) -> None:
    server.kids = ("k1", "k2")
    keys = remote.get_sync()
    assert kids(keys) == {"k1", "k2"}
    assert not any(key.is_private for key in keys)
    assert server.hits["/jwks.json"] == 1


def test_first_async_fetch_returns_the_served_keys(
    server: JwksServer, remote: RemoteKeySet
) -> None:
    keys = asyncio.run(remote.get("k1"))
    assert kids(keys) == {"k1"}
    assert server.hits["/jwks.json"] == 1


def test_nothing_is_fetched_at_construction(server: JwksServer, remote: RemoteKeySet) -> None:
    assert server.hits["/jwks.json"] == 0


def test_keys_are_served_from_cache_within_max_age(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    server.headers = {"Cache-Control": "public, max-age=300"}
    for _ in range(30):
        remote.get_sync("k1")
        clock.advance(9.9)  # 297 s in all
    assert server.hits["/jwks.json"] == 1


def test_keys_are_refetched_once_max_age_has_passed(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    server.headers = {"Cache-Control": "max-age=300"}
    remote.get_sync()
    server.kids = ("k2",)
    clock.advance(299)
    assert kids(remote.get_sync()) == {"k1"}
    clock.advance(1)
    assert kids(remote.get_sync()) == {"k2"}
    assert server.hits["/jwks.json"] == 2


@pytest.mark.parametrize(
    ("cache_control", "lifetime"),
    [
        (None, 600),  # no header: max_age
        ("max-age=999999", 600),  # clamped down to max_age
        ("max-age=5", 60),  # clamped up to min_age
        ("max-age=0", 60),
        ("no-store", 60),
        ("no-cache, max-age=300", 60),
        ('max-age="120"', 120),  # quoted form, invalid but common
        ("max-age=banana", 600),  # unusable: as if absent
        ("max-age=300, max-age=100", 100),  # repeated: the smallest
        ("max-age=" + "9" * 5000, 600),  # absurdly long: as long as allowed
    ],
)
def test_cache_lifetime_follows_cache_control_within_bounds(
    server: JwksServer,
    remote: RemoteKeySet,
    clock: FakeClock,
    cache_control: str | None,
    lifetime: float,
) -> None:
    if cache_control is not None:
        server.headers = {"Cache-Control": cache_control}
    remote.get_sync()
    clock.advance(lifetime - 0.5)
    remote.get_sync()
    assert server.hits["/jwks.json"] == 1
    clock.advance(0.5)
    remote.get_sync()
    assert server.hits["/jwks.json"] == 2


def test_age_header_shortens_the_lifetime(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    server.headers = {"Cache-Control": "max-age=300", "Age": "200"}
    remote.get_sync()
    clock.advance(100)
    remote.get_sync()
    assert server.hits["/jwks.json"] == 2


def test_custom_bounds_apply(server: JwksServer, make_remote: MakeRemote, clock: FakeClock) -> None:
    remote = make_remote(max_age=120, min_age=10)
    server.headers = {"Cache-Control": "no-cache"}
    remote.get_sync()
    server.headers = {}
    clock.advance(10)
    remote.get_sync()  # no-cache lasted min_age; this one gets max_age
    clock.advance(119)
    remote.get_sync()
    assert server.hits["/jwks.json"] == 2
    clock.advance(1)
    remote.get_sync()
    assert server.hits["/jwks.json"] == 3


def test_sync_and_async_share_one_cache(server: JwksServer, remote: RemoteKeySet) -> None:
    remote.get_sync("k1")
    asyncio.run(remote.get("k1"))
    assert server.hits["/jwks.json"] == 1


def test_unknown_kid_refetches_once_the_cooldown_has_passed(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    remote.get_sync("k1")
    server.kids = ("k1", "k2")
    with pytest.raises(errors.KeyNotFoundError):
        remote.get_sync("k2")  # fetched 0 s ago: no refetch yet
    assert server.hits["/jwks.json"] == 1
    clock.advance(30)
    assert kids(remote.get_sync("k2")) == {"k1", "k2"}
    assert server.hits["/jwks.json"] == 2


@pytest.mark.parametrize("use_async", [False, True])
def test_spraying_random_kids_costs_at_most_one_fetch_per_cooldown(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock, use_async: bool
) -> None:
    async def spray() -> None:
        for _ in range(100):
            with pytest.raises(errors.KeyNotFoundError):
                await remote.get(secrets.token_hex(8))

    def spray_sync() -> None:
        for _ in range(100):
            with pytest.raises(errors.KeyNotFoundError):
                remote.get_sync(secrets.token_hex(8))

    def run() -> None:
        asyncio.run(spray()) if use_async else spray_sync()

    run()  # the first kid makes the first fetch; the other 99 use it
    assert server.hits["/jwks.json"] == 1
    clock.advance(31)
    run()
    assert server.hits["/jwks.json"] == 2
    clock.advance(29)
    run()
    assert server.hits["/jwks.json"] == 2
    # The keys that are there still verify throughout.
    assert jwt.decode(token_for("k1"), remote, algorithms=["ES256"])["sub"] == "user-1"


def test_random_kid_tokens_through_decode_cost_no_extra_fetch(
    server: JwksServer, remote: RemoteKeySet
) -> None:
    remote.get_sync()
    forger = jwk.Key.generate("ES256")
    for _ in range(100):
        token = jwt.encode({"sub": "x"}, forger, headers={"kid": secrets.token_hex(8)})
        with pytest.raises(errors.KeyNotFoundError):
            jwt.decode(token, remote, algorithms=["ES256"])
    assert server.hits["/jwks.json"] == 1


def test_rotation_picks_up_the_new_key_and_keeps_the_old_one_while_served(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    old_token, new_token = token_for("k1"), token_for("k2")
    assert jwt.decode(old_token, remote, algorithms=["ES256"])["sub"] == "user-1"
    server.kids = ("k1", "k2")  # the issuer publishes k2, then signs with it
    clock.advance(45)
    assert jwt.decode(new_token, remote, algorithms=["ES256"])["sub"] == "user-1"
    assert jwt.decode(old_token, remote, algorithms=["ES256"])["sub"] == "user-1"
    assert server.hits["/jwks.json"] == 2
    server.kids = ("k2",)  # k1 retired
    clock.advance(600)
    assert jwt.decode(new_token, remote, algorithms=["ES256"])["sub"] == "user-1"
    with pytest.raises(errors.KeyNotFoundError):
        jwt.decode(old_token, remote, algorithms=["ES256"])
    assert server.hits["/jwks.json"] == 3


def test_decode_end_to_end_sync_and_async(server: JwksServer, remote: RemoteKeySet) -> None:
    token = token_for("k2", aud="api")
    server.kids = ("k1", "k2")
    claims = jwt.decode(token, remote, algorithms=["ES256"], audience="api")
    assert claims == jwt.decode(token, SIGNERS["k2"], algorithms=["ES256"], audience="api")

    async def verify() -> dict[str, object]:
        header, _ = jwt.decode_unverified(token)
        return jwt.decode(
            token, await remote.get(header["kid"]), algorithms=["ES256"], audience="api"
        )

    assert asyncio.run(verify()) == claims
    assert server.hits["/jwks.json"] == 1


def test_a_token_signed_by_another_key_under_a_served_kid_fails(
    server: JwksServer, remote: RemoteKeySet
) -> None:
    forged = jwt.encode({"sub": "admin"}, jwk.Key.generate("ES256", kid="k1"))
    with pytest.raises(errors.InvalidSignatureError):
        jwt.decode(forged, remote, algorithms=["ES256"])


def test_token_urls_are_never_fetched(server: JwksServer, remote: RemoteKeySet) -> None:
    attacker = jwk.Key.generate("ES256", kid="evil")
    evil_url = server.base + "/attacker-jwks.json"
    token = jwt.encode({"sub": "admin"}, attacker, headers={"jku": evil_url, "x5u": evil_url})
    with pytest.raises(errors.JoseError):
        jwt.decode(token, remote, algorithms=["ES256"])
    assert server.hits["/attacker-jwks.json"] == 0


def test_secret_keys_in_the_document_are_ignored_and_private_members_dropped(
    server: JwksServer, remote: RemoteKeySet
) -> None:
    secret = jwk.Key.from_secret(secrets.token_bytes(32), alg="HS256", kid="hmac")
    server.body = json.dumps(
        {"keys": [secret.to_jwk(private=True), SIGNERS["k1"].to_jwk(private=True)]}
    ).encode()
    keys = remote.get_sync()
    assert kids(keys) == {"k1"}
    assert not any(key.is_private for key in keys)
    hs_token = jwt.encode({"sub": "admin"}, secret)
    with pytest.raises(errors.JoseError):
        jwt.decode(hs_token, remote, algorithms=["HS256", "ES256"])


@pytest.mark.parametrize("kid", [7, ["k1"], {"k": 1}, b"k1"])
def test_a_kid_that_is_not_a_string_is_unknown_and_costs_no_fetch(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock, kid: object
) -> None:
    remote.get_sync()
    clock.advance(60)
    with pytest.raises(errors.KeyNotFoundError):
        remote.get_sync(kid)  # type: ignore[arg-type]
    with pytest.raises(errors.KeyNotFoundError):
        asyncio.run(remote.get(kid))  # type: ignore[arg-type]
    assert server.hits["/jwks.json"] == 1
