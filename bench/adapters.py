"""Per-library setup for the JOSE benchmark: keys loaded once, one encode and one decode per alg.

Each ``setup_*`` function imports its library *inside* the function, so a worker process
only ever imports the one library it measures (see ``jose_bench.py``: one process per
library). Every decode does the same work a service does on each request: verify the
signature, check ``exp`` (required), ``iss`` and ``aud``, and hand back the claims dict.

``Material`` is what the parent process generated and shipped as JSON: the keys (PEM /
raw secret), the access-token claims and, per alg, the token every library decodes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ALGS", "LIBRARIES", "Material", "Ops", "setup"]

ALGS = ("HS256", "RS256", "ES256", "EdDSA")

# "floor" is not a library: it holds the hand-written lower bounds jotgate is judged by.
LIBRARIES = ("jotgate", "pyjwt", "joserfc", "python-jose", "jwcrypto", "floor")

Claims = dict[str, Any]


@dataclass(frozen=True)
class Ops:
    """What the timing loop calls: ``encode(claims) -> token``, ``decode(token) -> claims``."""

    encode: Callable[[Claims], str]
    decode: Callable[[str], Claims]


@dataclass(frozen=True)
class Material:
    """Keys, claims and tokens shared by every worker (built by the parent, sent as JSON)."""

    secret: bytes
    private_pem: dict[str, bytes]  # alg -> PKCS#8 PEM
    public_pem: dict[str, bytes]  # alg -> SubjectPublicKeyInfo PEM
    claims: Claims
    issuer: str
    audience: str
    tokens: dict[str, str]  # alg -> the token every library decodes

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (secret as hex, PEM as text) for the worker protocol."""
        return {
            "secret": self.secret.hex(),
            "private_pem": {a: p.decode() for a, p in self.private_pem.items()},
            "public_pem": {a: p.decode() for a, p in self.public_pem.items()},
            "claims": self.claims,
            "issuer": self.issuer,
            "audience": self.audience,
            "tokens": self.tokens,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Material:
        """The inverse of :meth:`to_json`."""
        return cls(
            secret=bytes.fromhex(data["secret"]),
            private_pem={a: p.encode() for a, p in data["private_pem"].items()},
            public_pem={a: p.encode() for a, p in data["public_pem"].items()},
            claims=data["claims"],
            issuer=data["issuer"],
            audience=data["audience"],
            tokens=data["tokens"],
        )


def setup(library: str, material: Material) -> dict[str, Ops]:
    """Load keys for ``library`` and return its ops per supported alg (missing = unsupported)."""
    return _SETUPS[library](material)


# Each factory below returns closures that call the library directly: exactly one Python
# frame between the timing loop and the library, for every library and for the floors
# (whose closures call the hand-written code or the bare cryptography primitive).


def _setup_jotgate(m: Material) -> dict[str, Ops]:
    from jotgate import jwk, jwt

    def make(alg: str, signer: Any, verifier: Any) -> Ops:
        algs = [alg]

        def encode(claims: Claims) -> str:
            return jwt.encode(claims, signer, algorithm=alg)

        def decode(token: str) -> Claims:
            # required=("exp",): a token without exp fails, as it does for every peer.
            return jwt.decode(
                token,
                verifier,
                algorithms=algs,
                issuer=m.issuer,
                audience=m.audience,
                required=("exp",),
            )

        return Ops(encode, decode)

    ops: dict[str, Ops] = {}
    for alg in ALGS:
        if alg == "HS256":
            key = jwk.Key.from_secret(m.secret, alg=alg)
            ops[alg] = make(alg, key, key)
        else:
            private = jwk.Key.from_pem(m.private_pem[alg], alg=alg)
            public = jwk.Key.from_pem(m.public_pem[alg], alg=alg)
            ops[alg] = make(alg, private, public)
    return ops


def _setup_pyjwt(m: Material) -> dict[str, Ops]:
    import jwt
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )

    options: Any = {"require": ["exp", "iss", "aud"]}

    def make(alg: str, signer: Any, verifier: Any) -> Ops:
        algs = [alg]

        def encode(claims: Claims) -> str:
            return jwt.encode(claims, signer, algorithm=alg)

        def decode(token: str) -> Claims:
            return jwt.decode(
                token,
                verifier,
                algorithms=algs,
                audience=m.audience,
                issuer=m.issuer,
                options=options,
            )

        return Ops(encode, decode)

    # "Keys pre-loaded": PyJWT gets parsed cryptography key objects, not PEM text. For HS256
    # it takes the secret bytes; its per-call key preparation is part of its cost.
    ops = {"HS256": make("HS256", m.secret, m.secret)}
    for alg in ALGS[1:]:
        private = load_pem_private_key(m.private_pem[alg], None)
        ops[alg] = make(alg, private, load_pem_public_key(m.public_pem[alg]))
    return ops


def _setup_joserfc(m: Material) -> dict[str, Ops]:
    from joserfc import jwt
    from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

    # joserfc splits decode (signature) from claim checks; the registry is built once.
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": m.issuer},
        aud={"essential": True, "value": m.audience},
        exp={"essential": True},
    )

    def make(alg: str, signer: Any, verifier: Any) -> Ops:
        algs = [alg]
        header = {"alg": alg}

        def encode(claims: Claims) -> str:
            # algorithms= on encode too: joserfc refuses non-"recommended" algs without it.
            return jwt.encode(header, claims, signer, algorithms=algs)

        def decode(token: str) -> Claims:
            claims: Claims = jwt.decode(token, verifier, algorithms=algs).claims
            registry.validate(claims)
            return claims

        return Ops(encode, decode)

    secret = OctKey.import_key(m.secret)
    ops = {"HS256": make("HS256", secret, secret)}
    loaders: dict[str, Any] = {"RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}
    for alg, loader in loaders.items():
        private = loader.import_key(m.private_pem[alg])
        ops[alg] = make(alg, private, loader.import_key(m.public_pem[alg]))
    return ops


def _setup_python_jose(m: Material) -> dict[str, Ops]:
    from jose import jwk, jwt  # type: ignore[import-untyped]

    options = {"require_exp": True, "require_iss": True, "require_aud": True}

    def make(alg: str, signer: Any, verifier: Any) -> Ops:
        algs = [alg]

        def encode(claims: Claims) -> str:
            token: str = jwt.encode(claims, signer, algorithm=alg)
            return token

        def decode(token: str) -> Claims:
            claims: Claims = jwt.decode(
                token,
                verifier,
                algorithms=algs,
                audience=m.audience,
                issuer=m.issuer,
                options=options,
            )
            return claims

        return Ops(encode, decode)

    # Pre-loaded jose.jwk Key objects: python-jose uses a Key instance as given.
    secret = jwk.construct(m.secret, "HS256")
    ops = {"HS256": make("HS256", secret, secret)}
    for alg in ALGS[1:]:
        if jwk.get_key(alg) is None:  # python-jose has no EdDSA
            continue
        private = jwk.construct(m.private_pem[alg], alg)
        ops[alg] = make(alg, private, jwk.construct(m.public_pem[alg], alg))
    return ops


def _setup_jwcrypto(m: Material) -> dict[str, Ops]:
    from jwcrypto import jwk, jwt  # type: ignore[import-untyped]

    check = {"iss": m.issuer, "aud": m.audience, "exp": None}  # None = must be present

    def make(alg: str, signer: Any, verifier: Any) -> Ops:
        algs = [alg]
        header = {"alg": alg, "typ": "JWT"}

        def encode(claims: Claims) -> str:
            t = jwt.JWT(header=header, claims=claims)
            t.make_signed_token(signer)
            token: str = t.serialize()
            return token

        def decode(token: str) -> Claims:
            t = jwt.JWT(check_claims=check, algs=algs, expected_type="JWS")
            # jwcrypto allows 60 s of skew by default; every other library here uses 0.
            t.leeway = 0
            t.deserialize(token, verifier)
            # jwcrypto hands back claims as JSON text; a caller needs the dict, so parse it.
            claims: Claims = json.loads(t.claims)
            return claims

        return Ops(encode, decode)

    secret = jwk.JWK(kty="oct", k=_b64e(m.secret).decode())
    ops = {"HS256": make("HS256", secret, secret)}
    for alg in ALGS[1:]:
        private = jwk.JWK.from_pem(m.private_pem[alg])
        ops[alg] = make(alg, private, jwk.JWK.from_pem(m.public_pem[alg]))
    return ops


def _b64e(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64d(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _setup_floor(m: Material) -> dict[str, Ops]:
    """The lower bounds. Deliberately unsafe: no claim checks, no strictness, no alg check.

    HS256 decode: split, three base64 decodes, two json.loads, hmac.digest, compare.
    HS256 encode: json.dumps header and payload, base64url, hmac.digest, join.
    Asymmetric: the bare ``cryptography`` verify/sign over the token's signing input, with
    the signature already in the form cryptography wants (DER for ES256), so no JOSE work.
    """
    secret = m.secret
    sha256 = hashlib.sha256

    def hs_decode(token: str) -> Claims:
        h, p, s = token.split(".")
        json.loads(_b64d(h))  # parsed, then trusted blindly: that is what makes it unsafe
        claims: Claims = json.loads(_b64d(p))
        expected = hmac.digest(secret, f"{h}.{p}".encode(), sha256)
        if not hmac.compare_digest(expected, _b64d(s)):
            raise ValueError("bad signature")
        return claims

    def hs_encode(claims: Claims) -> str:
        h = _b64e(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        p = _b64e(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = h + b"." + p
        sig = _b64e(hmac.digest(secret, signing_input, sha256))
        return (signing_input + b"." + sig).decode()

    # The libraries are reached through one closure frame (binding key and options); the
    # floor gets the same frame, so ratios compare library work, not benchmark plumbing.
    def encode(claims: Claims) -> str:
        return hs_encode(claims)

    def decode(token: str) -> Claims:
        return hs_decode(token)

    ops = {"HS256": Ops(encode, decode)}
    for alg in ALGS[1:]:
        ops[alg] = _raw_ops(alg, m)
    return ops


def _raw_ops(alg: str, m: Material) -> Ops:
    """The bare ``cryptography`` sign and verify over ``m.tokens[alg]``'s signing input.

    The floors ignore their argument and return a constant: they time only the primitive.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )

    priv: Any = load_pem_private_key(m.private_pem[alg], None)
    pub: Any = load_pem_public_key(m.public_pem[alg])
    signing_input, _, sig_b64 = m.tokens[alg].rpartition(".")
    data = signing_input.encode()
    sig = _b64d(sig_b64)
    claims = m.claims
    if alg == "RS256":
        sha, pkcs1 = hashes.SHA256(), padding.PKCS1v15()

        def verify(_token: str) -> Claims:
            pub.verify(sig, data, pkcs1, sha)
            return claims

        def sign(_claims: Claims) -> str:
            priv.sign(data, pkcs1, sha)
            return ""

    elif alg == "ES256":
        # JOSE carries r||s; cryptography wants DER. Converting is JOSE work, so it is
        # done here, once, outside the timed floor.
        n = len(sig) // 2
        der = encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
        ecdsa = ec.ECDSA(hashes.SHA256())

        def verify(_token: str) -> Claims:
            pub.verify(der, data, ecdsa)
            return claims

        def sign(_claims: Claims) -> str:
            priv.sign(data, ecdsa)
            return ""

    else:

        def verify(_token: str) -> Claims:
            pub.verify(sig, data)
            return claims

        def sign(_claims: Claims) -> str:
            priv.sign(data)
            return ""

    return Ops(encode=sign, decode=verify)


_SETUPS: dict[str, Callable[[Material], dict[str, Ops]]] = {
    "jotgate": _setup_jotgate,
    "pyjwt": _setup_pyjwt,
    "joserfc": _setup_joserfc,
    "python-jose": _setup_python_jose,
    "jwcrypto": _setup_jwcrypto,
    "floor": _setup_floor,
}
