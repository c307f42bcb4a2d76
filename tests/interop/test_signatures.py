"""Signatures interoperate in both directions, for every algorithm each peer has.

jotgate -> peer: a token from ``jotgate.jwt.encode`` verifies in the peer and
its claims come back equal. peer -> jotgate: a token the peer signed verifies
in ``jotgate.jwt.decode(..., algorithms=[alg])`` with equal claims. Each
direction also has a negative twin (claims altered after signing), so a
verifier that accepted anything could not pass.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from jotgate import errors, jwt

from .cases import PEERS, Case, sample_claims, supported
from .conftest import KeyCache
from .peers import Peer, PeerRefused, verifying_key

PAIRS = [
    pytest.param(peer, case, id=f"{peer}-{case.id}") for peer in PEERS for case in supported(peer)
]


def with_claims_swapped(token: str, claims: dict[str, object]) -> str:
    """The token with its payload replaced, header and signature kept."""
    header, _, signature = token.split(".")
    raw = json.dumps(claims, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


@pytest.mark.parametrize(("peer", "case"), PAIRS, indirect=["peer"])
def test_jotgate_token_verifies_in_peer_with_equal_claims(
    peer: Peer, case: Case, keys: KeyCache
) -> None:
    key = keys[case]
    claims = sample_claims(int(time.time()))
    token = jwt.encode(claims, key, algorithm=case.alg)

    header, got = peer.verify(case, key, token, audience="api")

    assert header["alg"] == case.alg
    assert got == claims


@pytest.mark.parametrize(("peer", "case"), PAIRS, indirect=["peer"])
def test_jotgate_token_with_altered_claims_is_refused_by_peer(
    peer: Peer, case: Case, keys: KeyCache
) -> None:
    key = keys[case]
    claims = sample_claims(int(time.time()))
    token = jwt.encode(claims, key, algorithm=case.alg)
    forged = with_claims_swapped(token, {**claims, "roles": ["root"]})

    with pytest.raises(PeerRefused) as refused:
        peer.verify(case, key, forged, audience="api")
    assert refused.value.kind == "signature", refused.value.detail


@pytest.mark.parametrize(("peer", "case"), PAIRS, indirect=["peer"])
def test_peer_token_verifies_in_jotgate_with_equal_claims(
    peer: Peer, case: Case, keys: KeyCache
) -> None:
    key = keys[case]
    claims = sample_claims(int(time.time()))
    token = peer.sign(case, key, claims)

    got = jwt.decode(token, verifying_key(key), algorithms=[case.alg], audience="api")

    assert got == claims
    header, _ = jwt.decode_unverified(token)
    assert header["alg"] == case.alg


@pytest.mark.parametrize(("peer", "case"), PAIRS, indirect=["peer"])
def test_peer_token_with_altered_claims_is_refused_by_jotgate(
    peer: Peer, case: Case, keys: KeyCache
) -> None:
    key = keys[case]
    claims = sample_claims(int(time.time()))
    forged = with_claims_swapped(peer.sign(case, key, claims), {**claims, "roles": ["root"]})

    with pytest.raises(errors.InvalidSignatureError):
        jwt.decode(forged, verifying_key(key), algorithms=[case.alg], audience="api")
