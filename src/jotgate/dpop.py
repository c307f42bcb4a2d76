"""DPoP: binding access tokens to a client's key (RFC 9449).

A client signs a small JWT, the *proof*, for every request: which method,
which URI, when, and (with an access token) a hash of that token. The
proof's header carries the client's public key, and the authorization server
binds the tokens it issues to that key's RFC 7638 thumbprint (``cnf.jkt``).
A stolen token is then useless without the private key.

:func:`verify_proof` is the ONE place where jotgate uses a key taken from a
token: the ``jwk`` header of a proof verifies that proof and nothing else.
It must be public, asymmetric and fit the proof's ``alg``; the trust comes
from comparing its thumbprint with the ``cnf.jkt`` the server issued.

The errors live here, not in :mod:`jotgate.errors`, because they are DPoP's
own answers (``invalid_dpop_proof``, ``use_dpop_nonce``, RFC 9449 §12.2) and
the core error tree stays the same for everyone who does not use DPoP. Both
subclass :class:`~jotgate.errors.JoseError`, so existing handlers catch them.

Example::

    # client
    key = jwk.Key.generate("ES256")
    header = dpop.create_proof(key, "GET", "https://api.example.com/notes",
                               access_token=token)
    # resource server
    claims = jwt.decode(token, issuer_keys, algorithms=["ES256"], ...)
    proof = dpop.verify_proof(header, htm="GET", htu="https://api.example.com/notes",
                              access_token=token, expected_jkt=dpop.bound_jkt(claims),
                              replay=replay_cache)
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol, TypeAlias

from . import _b64, _json
from ._claims import numeric_date, typ_matches
from ._dpop_checks import (
    aths,
    cached_ath,
    check_algorithms,
    claims_object,
    same,
    seconds,
)
from ._dpop_create import TYP, access_token_hash, create_proof
from ._dpop_htu import normalize_htu
from ._dpop_nonce import NonceSource
from ._dpop_replay import (
    AsyncRedisReplayCache,
    AsyncReplayCache,
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCache,
    ReplayCacheFullError,
)
from .errors import (
    InvalidClaimError,
    JoseError,
    MalformedTokenError,
    UnsupportedAlgorithmError,
)
from .jwa import ALGORITHMS, Verifier
from .jwk import Key
from .jws import MAX_HEADER_LENGTH, _check_header, _verify_segments

__all__ = [
    "DEFAULT_ALGORITHMS",
    "MAX_PROOF_LENGTH",
    "AsyncRedisReplayCache",
    "AsyncReplayCache",
    "DPoPError",
    "MemoryReplayCache",
    "NonceSource",
    "Proof",
    "RedisReplayCache",
    "ReplayCache",
    "ReplayCacheFullError",
    "UseDPoPNonceError",
    "access_token_hash",
    "averify_proof",
    "bound_jkt",
    "create_proof",
    "normalize_htu",
    "verify_proof",
]

#: Longest proof accepted, in characters; checked before anything is decoded.
#: An RSA-4096 proof is about 2.5 KiB.
MAX_PROOF_LENGTH: Final = 8192
#: Longest ``jti`` accepted (it becomes a replay-cache key).
MAX_JTI_LENGTH: Final = 256
#: What :func:`verify_proof` accepts unless told otherwise: asymmetric only.
DEFAULT_ALGORITHMS: Final = (
    *("ES256", "ES384", "ES512", "EdDSA", "Ed25519", "Ed448"),
    *("PS256", "PS384", "PS512", "RS256", "RS384", "RS512"),
)

# A proof key is public: any of these members makes it a private (or secret) key.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CACHE_SIZE: Final = 1024
_new_tuple: Final = tuple.__new__
# (header, key, thumbprint, header's only nested value is the jwk, alg, verifier).
_Entry: TypeAlias = tuple[dict[str, Any], Key, str, bool, str, Verifier]
# Header segment -> _Entry. A client reuses one key, so its header segment
# repeats and the JWK import (point check, thumbprint) is paid once. Bounded
# and cleared when full, like the JWS header cache.
_keys: dict[str, _Entry] = {}


class DPoPError(JoseError):
    """The DPoP proof is missing, malformed, or does not fit this request.

    ``reason`` is a short word for logs and tests: ``missing``, ``multiple``,
    ``size``, ``malformed``, ``typ``, ``alg``, ``jwk``, ``signature``,
    ``claims``, ``htm``, ``htu``, ``iat``, ``ath``, ``jkt``, ``nonce``, ``replay``.
    """

    code = "invalid_dpop_proof"

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class UseDPoPNonceError(DPoPError):
    """The server requires a nonce and the proof has none or a stale one.

    Answer with error ``use_dpop_nonce`` and a fresh ``DPoP-Nonce`` header;
    the client retries with a new proof carrying it (RFC 9449 §8).
    """

    code = "use_dpop_nonce"

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="nonce")


class NonceCheck(Protocol):
    """A server nonce policy: :class:`NonceSource` or anything with ``valid``."""

    def valid(self, nonce: object) -> bool:
        """True when ``nonce`` is currently acceptable."""
        ...


class Proof(NamedTuple):
    """A verified proof: the key's thumbprint, the key, its claims and header."""

    jkt: str
    key: Key
    claims: dict[str, Any]
    header: dict[str, Any]


def bound_jkt(claims: Mapping[str, Any]) -> str | None:
    """The thumbprint an access token is bound to (``cnf.jkt``), or None for a bearer token.

    Example::

        proof = dpop.verify_proof(..., access_token=token, expected_jkt=dpop.bound_jkt(claims))
    """
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    if type(cnf) is not dict or type(cnf.get("jkt")) is not str:
        raise InvalidClaimError("'cnf' must be an object with a 'jkt' string", claim="cnf")
    jkt: str = cnf["jkt"]
    return jkt


def verify_proof(
    proof: str | Sequence[str] | None,
    *,
    htm: str,
    htu: str,
    algorithms: Collection[str] = DEFAULT_ALGORITHMS,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    nonce: str | NonceCheck | None = None,
    max_age: float | timedelta = 60,
    leeway: float | timedelta = 5,
    replay: ReplayCache | None,
    now: float | datetime | None = None,
) -> Proof:
    """Check a DPoP proof against the request it came with (RFC 9449 §4.3).

    ``proof`` is the ``DPoP`` header value (or the list of them: exactly one
    is allowed). ``htm``/``htu`` are the request's method and URI (build the
    URI from the server's configured origin, not from a client-sent Host).
    With ``access_token``, ``ath`` must match and ``expected_jkt`` (the
    token's ``cnf.jkt``) is required. ``nonce`` is the required nonce, or a
    :class:`NonceSource`; a missing or stale one raises
    :class:`UseDPoPNonceError`. ``iat`` must lie in [now - max_age - leeway,
    now + leeway]. ``replay`` is required (pass None only where replays are
    caught elsewhere) and sees the ``jti`` only after every other check passed.

    Example::

        proof = dpop.verify_proof(request.headers.getlist("DPoP"), htm="POST",
                                  htu="https://as.example.com/token", replay=cache)
        bind_to = {"cnf": {"jkt": proof.jkt}}
    """
    checked, jti_key, expires_at = _verify(
        proof, htm, htu, algorithms, access_token, expected_jkt, nonce, max_age, leeway, now
    )
    if replay is not None and not replay.check_and_store(jti_key, expires_at):
        raise DPoPError("the DPoP proof was already used", reason="replay")
    return checked


async def averify_proof(
    proof: str | Sequence[str] | None,
    *,
    htm: str,
    htu: str,
    algorithms: Collection[str] = DEFAULT_ALGORITHMS,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    nonce: str | NonceCheck | None = None,
    max_age: float | timedelta = 60,
    leeway: float | timedelta = 5,
    replay: AsyncReplayCache | None,
    now: float | datetime | None = None,
) -> Proof:
    """:func:`verify_proof` with an awaitable replay cache (``acheck_and_store``).

    Example::

        proof = await dpop.averify_proof(value, htm="GET", htu=url,
                                         replay=AsyncRedisReplayCache(redis_client))
    """
    checked, jti_key, expires_at = _verify(
        proof, htm, htu, algorithms, access_token, expected_jkt, nonce, max_age, leeway, now
    )
    if replay is not None and not await replay.acheck_and_store(jti_key, expires_at):
        raise DPoPError("the DPoP proof was already used", reason="replay")
    return checked


def _verify(
    proof: object,
    htm: str,
    htu: str,
    algorithms: Collection[str],
    access_token: str | None,
    expected_jkt: str | None,
    nonce: str | NonceCheck | None,
    max_age: float | timedelta,
    leeway: float | timedelta,
    now: float | datetime | None,
) -> tuple[Proof, str, float]:
    """Every check but the replay cache: (proof, replay key, replay expiry)."""
    if algorithms is not DEFAULT_ALGORITHMS:
        check_algorithms(algorithms)
    if access_token is not None and expected_jkt is None:
        # ath alone proves nothing: whoever stole the token can hash it too.
        raise TypeError("with access_token, pass expected_jkt (the token's cnf.jkt)")
    if expected_jkt is not None and not isinstance(expected_jkt, str):
        raise TypeError("expected_jkt must be a str")
    if type(proof) is str and 0 < len(proof) <= MAX_PROOF_LENGTH and "," not in proof:
        token = proof  # what _single answers for the usual header value, without the call
    else:
        token = _single(proof)  # a str of at most MAX_PROOF_LENGTH characters
    try:
        # verify_compact's checks, each done once: split_compact's (ASCII, three
        # parts), the header's (cached with its key, so looked up once), alg
        # allowed, then _verify_segments' (base64url, signature, payload).
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedTokenError("the token has non-ASCII characters") from None
        # At most three parts however many dots (no huge list); a dot in the
        # last or fewer than three parts is not a compact JWS.
        parts = token.split(".", 2)
        if len(parts) != 3 or "." in parts[2]:
            raise MalformedTokenError("a compact JWS has three dot-separated parts")
        head, body, _ = parts
        entry = _keys.get(head)
        if entry is None:
            entry = _load_header(head)
        header, key, jkt, flat, alg, verify = entry
        if alg not in algorithms:
            raise DPoPError("the DPoP proof's algorithm is not allowed here", reason="alg")
        payload = _verify_segments(raw, head, body, verify)
        claims = claims_object(payload)
    except DPoPError:
        raise
    except UnsupportedAlgorithmError as exc:
        raise DPoPError("the DPoP proof's algorithm is not allowed here", reason="alg") from exc
    except JoseError as exc:
        why = "signature" if exc.code in ("invalid_signature", "invalid_key") else "malformed"
        raise DPoPError(f"the DPoP proof is invalid: {exc.message}", reason=why) from exc

    get = claims.get
    jti = get("jti")
    if type(jti) is not str or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise DPoPError("the DPoP proof needs a 'jti' string of 1-256 characters", reason="claims")
    claimed_htm, claimed_htu = get("htm"), get("htu")
    if type(claimed_htm) is not str or type(claimed_htu) is not str:
        raise DPoPError("the DPoP proof needs 'htm' and 'htu' strings", reason="claims")
    if claimed_htm != htm:
        raise DPoPError("the DPoP proof is for another HTTP method", reason="htm")
    try:
        expected_uri = normalize_htu(htu)  # lru-cached: the server's URIs repeat
    except ValueError as exc:
        raise DPoPError(f"the request URI is not usable: {exc}", reason="htu") from None
    if claimed_htu != htu:
        # The same text has the same normal form; only another spelling needs its own.
        try:
            claimed_uri = normalize_htu(claimed_htu)
        except ValueError as exc:
            raise DPoPError(f"the DPoP proof's 'htu' is not usable: {exc}", reason="htu") from None
        if claimed_uri != expected_uri:
            raise DPoPError("the DPoP proof is for another URI", reason="htu")

    iat = get("iat")
    if type(iat) is not int and type(iat) is not float:  # JSON gives no subclasses; bool is out
        raise DPoPError("the DPoP proof needs a numeric 'iat'", reason="claims")
    current = time.time() if now is None else numeric_date(now)
    age = max_age if type(max_age) is int else seconds(max_age)
    slack = leeway if type(leeway) is int else seconds(leeway)
    if current + slack < iat:
        raise DPoPError("the DPoP proof was issued in the future", reason="iat")
    if current - age - slack > iat:
        raise DPoPError("the DPoP proof is too old", reason="iat")

    if access_token is not None:
        ath = get("ath")
        if type(ath) is not str:
            raise DPoPError("the DPoP proof has no 'ath' for the access token", reason="ath")
        if not same(ath, aths.get(access_token) or cached_ath(access_token)):
            raise DPoPError("the DPoP proof is for another access token", reason="ath")
    if expected_jkt is not None and not same(jkt, expected_jkt):
        raise DPoPError("the access token is bound to another key", reason="jkt")
    if nonce is not None:
        given = get("nonce")
        if type(given) is not str:
            raise UseDPoPNonceError("the server requires a DPoP nonce")
        if not (same(given, nonce) if isinstance(nonce, str) else nonce.valid(given)):
            raise UseDPoPNonceError("the DPoP nonce is not current")
    # A proof stays acceptable until iat + age + slack: remember its jti that long.
    # The cached header is shared: the caller gets a copy (cheap when the jwk is flat).
    if flat:
        copied = header.copy()  # dict.copy(): about half the time of {**header, ...}
        copied["jwk"] = copied["jwk"].copy()
    else:
        copied = _json.copy_tree(header)
    checked = _new_tuple(Proof, (jkt, key, claims, copied))  # Proof(...) minus its Python __new__
    return checked, f"{jkt}:{jti}", iat + age + slack


def _single(proof: object) -> str:
    """The one proof of a request: a header value, or a list holding exactly one."""
    if type(proof) is not str:
        if isinstance(proof, list | tuple):
            if len(proof) != 1:
                what = "no" if not proof else "more than one"
                raise DPoPError(
                    f"the request carries {what} DPoP header",
                    reason="missing" if not proof else "multiple",
                )
            proof = proof[0]
        if isinstance(proof, bytes):
            proof = proof.decode("latin-1")
        if not isinstance(proof, str):
            raise DPoPError("the request carries no DPoP proof", reason="missing")
    if not proof:
        raise DPoPError("the request carries no DPoP proof", reason="missing")
    if len(proof) > MAX_PROOF_LENGTH:
        raise DPoPError("the DPoP proof is too long", reason="size")
    if "," in proof:
        # Frameworks join repeated headers with ", "; a compact JWS has no comma.
        raise DPoPError("the request carries more than one DPoP proof", reason="multiple")
    return proof


def _load_header(segment: str) -> _Entry:
    """Parse and check a proof header, import its key; cache the result by segment.

    Every check of a JWS header (:func:`jotgate.jws._check_header`) runs too,
    after the DPoP ones: :func:`_verify` never sends the proof through
    :func:`jotgate.jws.verify_compact`, whose header cache would check them.
    """
    if len(segment) > MAX_HEADER_LENGTH:
        raise DPoPError("the DPoP proof header is too long", reason="size")
    raw = _b64.decode(segment, what="DPoP proof header")
    header = _json.loads_object(raw, what="DPoP proof header")
    if not typ_matches(header.get("typ"), TYP):
        raise DPoPError("the proof's typ is not dpop+jwt", reason="typ")
    alg = header.get("alg")
    row = ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if row is None or row.kty == "oct":
        # 'none', HS256 (its "key" would be public) and unknown names end here.
        raise DPoPError("a DPoP proof is signed with an asymmetric algorithm", reason="alg")
    if "jku" in header or "x5u" in header or "x5c" in header:
        raise DPoPError("a DPoP proof's key comes from its 'jwk' header alone", reason="jwk")
    jwk = header.get("jwk")
    if type(jwk) is not dict:
        raise DPoPError("the DPoP proof has no 'jwk' header object", reason="jwk")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk) or jwk.get("kty") not in ("EC", "OKP", "RSA"):
        raise DPoPError("the proof's jwk must be a public EC, OKP or RSA key", reason="jwk")
    try:
        key = Key.from_jwk(jwk)
    except JoseError as exc:
        raise DPoPError(f"the proof's jwk is not usable: {exc.message}", reason="jwk") from exc
    unusable = key.unusable_reason(row, "verify")
    if unusable is not None or key.is_private:
        raise DPoPError(f"the proof's jwk cannot verify it: {unusable}", reason="jwk")
    nested = [v for v in (*header.values(), *jwk.values()) if type(v) in (dict, list)]
    # Without a "kid" member the key's kid already is its RFC 7638 thumbprint.
    jkt = key.kid if "kid" not in jwk and key.kid is not None else key.thumbprint()
    _check_header(header)  # crit, b64, zip, enc, string kid/typ/cty
    entry = (header, key, jkt, nested == [jwk], row.name, key.verifier(row))
    if len(_keys) >= _CACHE_SIZE:
        _keys.clear()  # crude but thread-safe; honest clients refill it at once
    _keys[segment] = entry
    return entry
