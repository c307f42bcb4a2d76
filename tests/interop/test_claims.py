"""Claim semantics agree across libraries where disagreement would hurt.

Expiry: a token whose ``exp`` has passed is refused both ways, and so is one
whose ``exp`` is exactly now (RFC 7519 §4.1.4: "on or after"), checked with an
injected clock wherever the peer takes one. Audience: ``aud`` as a string and
as a list is matched the same way. Type: a jotgate access token
(``typ: at+jwt``, RFC 9068) verifies in every peer, and peers' access tokens
pass jotgate's ``typ`` check.
"""

from __future__ import annotations

import time

import pytest

from jotgate import errors, jwt

from .cases import CLAIMS_CASE, PEERS, sample_claims
from .conftest import KeyCache
from .peers import Peer, PeerRefused, verifying_key

ALL_PEERS = [pytest.param(peer, id=peer) for peer in PEERS]
# PyJWT reads the wall clock with no hook, so the exact boundary is pinned
# only for peers whose clock can be set.
CLOCKED_PEERS = [pytest.param(peer, id=peer) for peer in PEERS if peer != "pyjwt"]
AUDIENCES = [pytest.param("api", id="aud-string"), pytest.param(["billing", "api"], id="aud-list")]


def expired_claims(now: int) -> dict[str, object]:
    return sample_claims(now - 7200, exp=now - 3600)


# -- exp ---------------------------------------------------------------------


@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_expired_jotgate_token_is_refused_by_peer(peer: Peer, keys: KeyCache) -> None:
    key = keys[CLAIMS_CASE]
    token = jwt.encode(expired_claims(int(time.time())), key)

    with pytest.raises(PeerRefused) as refused:
        peer.verify(CLAIMS_CASE, key, token, audience="api")
    assert refused.value.kind == "expired", refused.value.detail


@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_expired_peer_token_is_refused_by_jotgate(peer: Peer, keys: KeyCache) -> None:
    key = keys[CLAIMS_CASE]
    claims = expired_claims(int(time.time()))
    token = peer.sign(CLAIMS_CASE, key, claims)

    with pytest.raises(errors.ExpiredTokenError):
        jwt.decode(token, verifying_key(key), algorithms=[CLAIMS_CASE.alg], audience="api")


@pytest.mark.parametrize("peer", CLOCKED_PEERS, indirect=True)
def test_peer_accepts_a_jotgate_token_until_the_second_its_exp_names(
    peer: Peer, keys: KeyCache
) -> None:
    key = keys[CLAIMS_CASE]
    exp = int(time.time()) + 600
    token = jwt.encode(sample_claims(exp - 60, exp=exp), key)

    peer.verify(CLAIMS_CASE, key, token, audience="api", now=exp - 1)
    with pytest.raises(PeerRefused) as refused:
        peer.verify(CLAIMS_CASE, key, token, audience="api", now=exp)
    assert refused.value.kind == "expired", refused.value.detail


@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_jotgate_accepts_a_peer_token_until_the_second_its_exp_names(
    peer: Peer, keys: KeyCache
) -> None:
    key = keys[CLAIMS_CASE]
    exp = int(time.time()) + 600
    token = peer.sign(CLAIMS_CASE, key, sample_claims(exp - 60, exp=exp))
    public, algorithms = verifying_key(key), [CLAIMS_CASE.alg]

    jwt.decode(token, public, algorithms=algorithms, audience="api", now=exp - 1)
    with pytest.raises(errors.ExpiredTokenError):
        jwt.decode(token, public, algorithms=algorithms, audience="api", now=exp)


# -- aud ---------------------------------------------------------------------


@pytest.mark.parametrize("aud", AUDIENCES)
@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_peer_matches_the_audience_of_a_jotgate_token(
    peer: Peer, aud: str | list[str], keys: KeyCache
) -> None:
    key = keys[CLAIMS_CASE]
    token = jwt.encode(sample_claims(int(time.time()), aud=aud), key)

    _, claims = peer.verify(CLAIMS_CASE, key, token, audience="api")
    assert claims["aud"] == aud
    with pytest.raises(PeerRefused) as refused:
        peer.verify(CLAIMS_CASE, key, token, audience="elsewhere")
    assert refused.value.kind == "audience", refused.value.detail


@pytest.mark.parametrize("aud", AUDIENCES)
@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_jotgate_matches_the_audience_of_a_peer_token(
    peer: Peer, aud: str | list[str], keys: KeyCache
) -> None:
    key = keys[CLAIMS_CASE]
    token = peer.sign(CLAIMS_CASE, key, sample_claims(int(time.time()), aud=aud))
    public, algorithms = verifying_key(key), [CLAIMS_CASE.alg]

    assert jwt.decode(token, public, algorithms=algorithms, audience="api")["aud"] == aud
    with pytest.raises(errors.InvalidClaimError) as wrong:
        jwt.decode(token, public, algorithms=algorithms, audience="elsewhere")
    assert wrong.value.claim == "aud"
    # RFC 7519 §4.1.3: a token with an aud is refused by a verifier that names none.
    with pytest.raises(errors.ClaimError) as unnamed:
        jwt.decode(token, public, algorithms=algorithms)
    assert unnamed.value.claim == "aud"


# -- typ ---------------------------------------------------------------------


@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_jotgate_access_token_verifies_in_peer(peer: Peer, keys: KeyCache) -> None:
    key = keys[CLAIMS_CASE]
    claims = sample_claims(int(time.time()))
    token = jwt.encode(claims, key, typ="at+jwt")

    # Peers that check typ themselves (jose) are asked to; the rest hand back
    # the header, which must carry the type unchanged.
    typ = "at+jwt" if peer.checks_typ else None
    header, got = peer.verify(CLAIMS_CASE, key, token, audience="api", typ=typ)

    assert header["typ"] == "at+jwt"
    assert got == claims


# Only jose compares typ itself; the other peers leave it to the application.
@pytest.mark.parametrize("peer", ["node-jose"], indirect=True)
def test_peer_typ_check_refuses_a_plain_jotgate_jwt_as_access_token(
    peer: Peer, keys: KeyCache
) -> None:
    """The counterpart that shows the typ check above is a real one."""
    key = keys[CLAIMS_CASE]
    token = jwt.encode(sample_claims(int(time.time())), key)

    with pytest.raises(PeerRefused) as refused:
        peer.verify(CLAIMS_CASE, key, token, audience="api", typ="at+jwt")
    assert refused.value.kind == "typ", refused.value.detail


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt"])
@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_peer_access_token_passes_jotgate_typ_check(peer: Peer, typ: str, keys: KeyCache) -> None:
    key = keys[CLAIMS_CASE]
    claims = sample_claims(int(time.time()))
    token = peer.sign(CLAIMS_CASE, key, claims, typ=typ)
    public, algorithms = verifying_key(key), [CLAIMS_CASE.alg]

    assert jwt.decode(token, public, algorithms=algorithms, audience="api", typ="at+jwt") == claims
    with pytest.raises(errors.ClaimError) as mismatch:
        jwt.decode(token, public, algorithms=algorithms, audience="api", typ="JWT")
    assert mismatch.value.claim == "typ"


@pytest.mark.parametrize("peer", ALL_PEERS, indirect=True)
def test_plain_peer_jwt_fails_jotgate_access_token_typ_check(peer: Peer, keys: KeyCache) -> None:
    key = keys[CLAIMS_CASE]
    token = peer.sign(CLAIMS_CASE, key, sample_claims(int(time.time())))

    with pytest.raises(errors.ClaimError) as mismatch:
        jwt.decode(
            token, verifying_key(key), algorithms=[CLAIMS_CASE.alg], audience="api", typ="at+jwt"
        )
    assert mismatch.value.claim == "typ"
