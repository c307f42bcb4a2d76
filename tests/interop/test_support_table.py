"""The support table in ``cases.py`` is complete and still true.

Complete: every algorithm jotgate implements has a row (EdDSA one per curve),
so a new jotgate algorithm cannot go untested against peers by omission.
True: each pair the table marks unsupported is refused by the peer, in both
directions, so a peer upgrade that adds the algorithm fails here until the
pair moves into the tested matrix.
"""

from __future__ import annotations

import time

import pytest

from jotgate import jwa, jwt

from .cases import CASES, PEERS, UNSUPPORTED, Case, sample_claims, unsupported
from .conftest import KeyCache
from .peers import Peer, PeerRefused

LACKING = [
    pytest.param(peer, case, why, id=f"{peer}-{case.id}")
    for peer in PEERS
    for case, why in unsupported(peer)
]


def test_every_jotgate_algorithm_has_a_row_per_curve() -> None:
    rows = {(case.alg, case.crv) for case in CASES.values()}
    expected = set()
    for name, row in jwa.ALGORITHMS.items():
        if row.kty == "OKP":
            expected |= {(name, crv) for crv in row.curves}
        else:
            expected.add((name, None))
    assert rows == expected


def test_every_peer_is_in_the_table_and_only_names_known_cases() -> None:
    assert set(UNSUPPORTED) == set(PEERS)
    for lacking in UNSUPPORTED.values():
        assert set(lacking) <= set(CASES)


@pytest.mark.parametrize(("peer", "case", "why"), LACKING, indirect=["peer"])
def test_peer_refuses_to_sign_what_the_table_says_it_lacks(
    peer: Peer, case: Case, why: str, keys: KeyCache
) -> None:
    with pytest.raises(PeerRefused) as refused:
        peer.sign(case, keys[case], sample_claims(int(time.time())))
    assert refused.value.kind == "unsupported", f"{why}; but: {refused.value.detail}"


@pytest.mark.parametrize(("peer", "case", "why"), LACKING, indirect=["peer"])
def test_peer_refuses_to_verify_what_the_table_says_it_lacks(
    peer: Peer, case: Case, why: str, keys: KeyCache
) -> None:
    key = keys[case]
    token = jwt.encode(sample_claims(int(time.time())), key, algorithm=case.alg)

    with pytest.raises(PeerRefused) as refused:
        peer.verify(case, key, token, audience="api")
    assert refused.value.kind == "unsupported", f"{why}; but: {refused.value.detail}"
