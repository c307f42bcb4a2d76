"""What each interop peer supports, as one explicit table.

Every JWS algorithm jotgate implements is a :data:`CASES` row (EdDSA once per
curve, since peers differ on Ed448). Each peer is listed with the cases it
lacks and why; everything else is expected to interoperate in both directions.
A missing pair is therefore always a line here with a reason, never a silent
gap, and ``test_support_table.py`` checks the reasons are still true: a peer
that gains an algorithm fails that test until the table is updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Case:
    """One algorithm, on one curve where the algorithm allows several."""

    id: str
    alg: str
    #: The OKP curve for EdDSA-family cases; None where the alg fixes the key.
    crv: str | None = None


CASES: Final[dict[str, Case]] = {
    c.id: c
    for c in [
        Case("HS256", "HS256"),
        Case("HS384", "HS384"),
        Case("HS512", "HS512"),
        Case("RS256", "RS256"),
        Case("RS384", "RS384"),
        Case("RS512", "RS512"),
        Case("PS256", "PS256"),
        Case("PS384", "PS384"),
        Case("PS512", "PS512"),
        Case("ES256", "ES256"),
        Case("ES384", "ES384"),
        Case("ES512", "ES512"),
        Case("ES256K", "ES256K"),
        # The polymorphic RFC 8037 name, on each of its curves.
        Case("EdDSA-Ed25519", "EdDSA", "Ed25519"),
        Case("EdDSA-Ed448", "EdDSA", "Ed448"),
        # The fully-specified RFC 9864 names.
        Case("Ed25519", "Ed25519", "Ed25519"),
        Case("Ed448", "Ed448", "Ed448"),
    ]
}

PEERS: Final = ("pyjwt", "joserfc", "node-jsonwebtoken", "node-jose")

#: peer -> {case id: why the peer cannot do it}. Checked by test_support_table.py.
UNSUPPORTED: Final[dict[str, dict[str, str]]] = {
    "pyjwt": {
        "Ed25519": "PyJWT 2.x registers only the polymorphic EdDSA name, not RFC 9864's",
        "Ed448": "PyJWT 2.x registers only the polymorphic EdDSA name, not RFC 9864's",
    },
    # joserfc 1.x has every row, but only HS256/RS256/ES256 are "recommended":
    # the rest must be named in algorithms=[...] explicitly, which the adapter does.
    "joserfc": {},
    "node-jsonwebtoken": {
        "ES256K": "jsonwebtoken@9 has no secp256k1 (its alg list stops at ES512)",
        "EdDSA-Ed25519": "jsonwebtoken@9 has no EdDSA",
        "EdDSA-Ed448": "jsonwebtoken@9 has no EdDSA",
        "Ed25519": "jsonwebtoken@9 has no EdDSA",
        "Ed448": "jsonwebtoken@9 has no EdDSA",
    },
    "node-jose": {
        "ES256K": "jose@6 is WebCrypto-only and WebCrypto has no secp256k1",
        "EdDSA-Ed448": "jose@6 maps EdDSA to Ed25519 only (Ed448 left with v5's Node runtime)",
        "Ed448": "jose@6 has no fully-specified Ed448 alg",
    },
}

#: The algorithm used where a test is about claims rather than signatures;
#: every peer supports it.
CLAIMS_CASE: Final = CASES["ES256"]


def supported(peer: str) -> list[Case]:
    """The cases ``peer`` is expected to interoperate on, in table order."""
    lacking = UNSUPPORTED[peer]
    return [case for case_id, case in CASES.items() if case_id not in lacking]


def unsupported(peer: str) -> list[tuple[Case, str]]:
    """The cases ``peer`` lacks, each with the table's reason."""
    return [(CASES[case_id], why) for case_id, why in UNSUPPORTED[peer].items()]


def sample_claims(now: int, **overrides: object) -> dict[str, object]:
    """Claims that exercise JSON round-tripping: nesting, non-ASCII, floats, null.

    Integers stay far below 2**53 so JavaScript numbers carry them exactly.
    """
    claims: dict[str, object] = {
        "iss": "https://issuer.example",
        "sub": "6f1c2f9e-2b8c-4d0e-9a57-3f4f0b7d9c11",
        "aud": "api",
        "iat": now,
        "exp": now + 600,
        "jti": "b7d0c5e2-interop",
        "scope": "read write",
        "roles": ["admin", "ops"],
        "profile": {"name": "Zoë 🦊 \u00e9\u4e2d", "level": 3, "ratio": 0.5, "ok": True, "x": None},
    }
    claims.update(overrides)
    return claims
