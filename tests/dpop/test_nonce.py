"""NonceSource: stateless rotating nonces that processes sharing a secret agree on."""

from __future__ import annotations

import pytest

from jotgate import dpop, errors, jwk

from .conftest import URL

SECRET = b"n" * 32


def test_a_nonce_is_valid_in_its_window_and_the_next() -> None:
    source = dpop.NonceSource(SECRET, period=300)
    nonce = source.issue(now=3000)  # the window [3000, 3300)
    assert source.valid(nonce, now=3000)
    assert source.valid(nonce, now=3299.9)
    assert source.valid(nonce, now=3300)  # the previous window is still accepted
    assert source.valid(nonce, now=3599.9)
    assert not source.valid(nonce, now=3600)
    assert not source.valid(nonce, now=2999.9)  # issued later than this


def test_nonces_rotate() -> None:
    source = dpop.NonceSource(SECRET, period=60)
    assert source.issue(now=0) == source.issue(now=59)
    assert source.issue(now=0) != source.issue(now=60)


def test_processes_sharing_a_secret_agree() -> None:
    one, two = dpop.NonceSource(SECRET), dpop.NonceSource(bytes(SECRET))
    assert two.valid(one.issue(now=1_800_000_000), now=1_800_000_100)
    other = dpop.NonceSource(b"m" * 32)
    assert not other.valid(one.issue(now=1_800_000_000), now=1_800_000_000)


def test_the_clock_is_injectable() -> None:
    now = [1_800_000_000.0]
    source = dpop.NonceSource(SECRET, period=10, clock=lambda: now[0])
    nonce = source.issue()
    now[0] += 25
    assert not source.valid(nonce)


@pytest.mark.parametrize("garbage", ["", "x" * 22, "x" * 1000, "é", None, 7, b"bytes"])
def test_garbage_is_not_valid(garbage: object) -> None:
    assert not dpop.NonceSource(SECRET).valid(garbage)


def test_weak_secrets_and_bad_periods_are_refused() -> None:
    with pytest.raises(errors.InvalidKeyError):
        dpop.NonceSource(b"short")
    for period in (0, -1, "5m"):
        with pytest.raises(ValueError, match="period"):
            dpop.NonceSource(SECRET, period=period)  # type: ignore[arg-type]


def test_the_nonce_dance(key: jwk.Key, replay: dpop.MemoryReplayCache) -> None:
    """RFC 9449 §8: refused with use_dpop_nonce, retried with the server's nonce."""
    nonces = dpop.NonceSource(SECRET)
    first = dpop.create_proof(key, "POST", URL)
    with pytest.raises(dpop.UseDPoPNonceError):
        dpop.verify_proof(first, htm="POST", htu=URL, nonce=nonces, replay=replay)
    retry = dpop.create_proof(key, "POST", URL, nonce=nonces.issue())
    dpop.verify_proof(retry, htm="POST", htu=URL, nonce=nonces, replay=replay)
    forged = dpop.create_proof(key, "POST", URL, nonce="made-up")
    with pytest.raises(dpop.UseDPoPNonceError):
        dpop.verify_proof(forged, htm="POST", htu=URL, nonce=nonces, replay=replay)
