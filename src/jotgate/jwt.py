"""JSON Web Tokens (RFC 7519): claims on top of the one JWS verify core.

:func:`decode` is :func:`jotgate.jws.verify_compact` followed by
:func:`jotgate._claims.check`; :func:`encode` builds a claim set without
touching the caller's dict. :func:`sign` and :func:`verify` give the feel of
Node's ``jsonwebtoken`` (``expiresIn: '30m'``) on the same two functions.

Nested JWTs (RFC 7519 §5.2, sign then encrypt): ``encode(..., encrypt_to=key)``
wraps the signed token in a JWE with ``cty: "JWT"``; ``decode(...,
decrypt_with=key, decrypt_algorithms=[...], encryptions=[...])`` insists on
that JWE, decrypts it, and verifies the inner token exactly as above.

Example::

    key = jwk.Key.generate("ES256")
    token = jwt.encode({"sub": "42"}, key, expires_in=timedelta(minutes=15))
    claims = jwt.decode(token, key, algorithms=["ES256"])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from . import _b64, _json, jwe
from ._b64 import decode_ascii
from ._claims import check, checker, duration_seconds, numeric_date, typ_matches
from .errors import InvalidClaimError, InvalidSignatureError, JoseError, UnsupportedAlgorithmError
from .jwa import ALGORITHMS
from .jwk import Key, KeySet, KeySource
from .jws import (
    MAX_TOKEN_LENGTH,
    _check_algorithms,
    _load_header,
    header_segment,
    sign_segments,
    signing_algorithm,
    split_compact,
    verify_compact,
)

__all__ = ["decode", "decode_unverified", "encode", "sign", "verify"]

Duration = int | float | timedelta | str


def encode(
    claims: Mapping[str, Any],
    key: Key,
    algorithm: str | None = None,
    headers: Mapping[str, Any] | None = None,
    expires_in: Duration | None = None,
    *,
    now: float | datetime | None = None,
    typ: str | None = "JWT",
    encrypt_to: Key | None = None,
    encryption: str = "A256GCM",
    key_management: str | None = None,
) -> str:
    """Sign ``claims`` as a compact JWT.

    With ``expires_in`` (seconds, ``timedelta`` or ``"15m"``), ``iat`` is
    set to now (unless given) and ``exp`` to now + expires_in. Aware
    ``datetime`` values of ``exp``, ``nbf`` and ``iat`` become NumericDates.
    ``claims`` itself is never modified.

    With ``encrypt_to`` (the recipient's public or secret key) the signed
    token is then encrypted to it as a nested JWT: ``encryption`` is the
    content encryption, ``key_management`` the JWE ``alg`` (default: from
    the key, see :func:`jotgate.jwe.default_key_management`).
    """
    if not isinstance(claims, Mapping):
        raise TypeError("claims must be a mapping")
    payload = dict(claims)
    for name in ("exp", "nbf", "iat"):
        if name in payload and isinstance(payload[name], datetime):
            payload[name] = numeric_date(payload[name])
    if expires_in is not None:
        issued = int(numeric_date(now) if now is not None else time.time())
        payload.setdefault("iat", issued)
        payload["exp"] = issued + int(duration_seconds(expires_in))
    alg = signing_algorithm(key, algorithm)
    segment = header_segment(alg, key, headers, typ)
    token = sign_segments(_b64.encode(_json.dumps(payload)), key, alg, segment)
    if encrypt_to is None:
        return token
    return jwe.encrypt_nested(token, encrypt_to, key_management, encryption)


def decode(
    token: str | bytes,
    key: KeySource,
    *,
    algorithms: Collection[str],
    issuer: str | Iterable[str] | None = None,
    audience: str | Iterable[str] | None = None,
    subject: str | None = None,
    leeway: float | timedelta = 0,
    required: Iterable[str] = (),
    max_age: float | timedelta | None = None,
    typ: str | None = None,
    now: float | datetime | None = None,
    decrypt_with: Key | KeySet | None = None,
    decrypt_algorithms: Collection[str] | None = None,
    encryptions: Collection[str] | None = None,
) -> dict[str, Any]:
    """Verify a JWT's signature and claims; return the claims (a fresh dict).

    ``algorithms`` is required. ``exp`` fails when now >= exp + leeway;
    ``issuer`` and ``subject`` match exactly; a token carrying ``aud`` needs
    ``audience`` to name one of its values; ``typ`` checks the header.

    With ``decrypt_with`` the token must be a nested JWT: a JWE (``cty:
    "JWT"``) whose ``alg`` is in ``decrypt_algorithms`` and ``enc`` in
    ``encryptions`` (both required then), holding a JWT signed by ``key``.
    A token that is only signed is refused, so encryption cannot be stripped.
    """
    if decrypt_with is not None:
        if decrypt_algorithms is None or encryptions is None:
            raise UnsupportedAlgorithmError(
                "decrypt_with needs decrypt_algorithms and encryptions, e.g. "
                "decrypt_algorithms=['ECDH-ES+A256KW'], encryptions=['A256GCM']"
            )
        token = jwe.decrypt_nested(token, decrypt_with, decrypt_algorithms, encryptions)
    header, payload, _ = verify_compact(token, key, algorithms)
    if typ is not None and not typ_matches(header.get("typ"), typ):
        raise InvalidClaimError(
            f"the token type is {str(header.get('typ'))[:32]!r}, not {typ!r}",
            claim="typ",
            reason="mismatch",
        )
    claims = _json.loads_object(payload, what="JWT claims")
    check(
        claims,
        time.time() if now is None else numeric_date(now),
        issuer=issuer,
        audience=audience,
        subject=subject,
        leeway=leeway,
        required=required,
        max_age=max_age,
    )
    return claims


def decode_unverified(token: str | bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT WITHOUT verifying anything. For debugging only."""
    _, head, body, _ = split_compact(token)
    header = _json.loads_object(_b64.decode(head, what="JWS header"), what="JWS header")
    claims = _json.loads_object(_b64.decode(body, what="JWT claims"), what="JWT claims")
    return header, claims


def sign(
    claims: Mapping[str, Any],
    key: Key,
    *,
    algorithm: str | None = None,
    expires_in: Duration | None = None,
    not_before: Duration | None = None,
    issuer: str | None = None,
    audience: str | list[str] | None = None,
    subject: str | None = None,
    jwt_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
    now: float | datetime | None = None,
) -> str:
    """Node ``jsonwebtoken``'s ``jwt.sign`` in Python: options become claims.

    ``expires_in="30m"`` sets ``exp``; ``not_before`` sets ``nbf`` relative to
    now; ``issuer``/``audience``/``subject``/``jwt_id`` set ``iss``/``aud``/
    ``sub``/``jti``. ``iat`` is always set.
    """
    issued = int(numeric_date(now) if now is not None else time.time())
    payload = {"iat": issued, **claims}
    if not_before is not None:
        payload["nbf"] = issued + int(duration_seconds(not_before))
    for name, value in (("iss", issuer), ("aud", audience), ("sub", subject), ("jti", jwt_id)):
        if value is not None:
            payload[name] = value
    return encode(payload, key, algorithm, headers, expires_in, now=issued)


#: Node ``jsonwebtoken``'s ``jwt.verify``: the same as :func:`decode`.
verify = decode


_HEADS_SIZE: Final = 64
# What a prepared decoder knows of one header segment: the key source it was
# prepared for, the signature check of each candidate key and the message
# when none verifies (verify_compact's wording for a Key or a KeySet).
_Head = tuple[object, tuple[Callable[[bytes, bytes], bool], ...], str]


class _Prepared:
    """:func:`decode` with its options fixed once, for a verifier that decodes many tokens.

    ``Prepared(...).decode(token, keys, now)`` returns what ``decode(token,
    keys, **options, now=now)`` returns and raises what it raises, in the
    same order (tests/middleware compares the two over many bad tokens);
    it only does less work per token:

    * options are validated and converted once, here, and the claim checks
      are :func:`jotgate._claims.checker`'s, specialised for them;
    * per protected-header segment (a service sees a handful), the header's
      checks (strict parse, ``crit``, ``alg`` in the allow-list, ``typ``) and
      the key selection (a ``Key`` or an immutable ``KeySet``) are done on
      first sight and remembered, so a new token only has its signature,
      payload and claims checked.

    Anything off the common path (bytes, a JWE, a header that fails a check,
    a key source of another kind, a key that cannot verify the ``alg``) goes
    through :func:`decode` itself, so refusals are decode's own. Not
    thread-hostile: the per-header memo is a dict replaced wholesale when full.
    """

    __slots__ = ("_algorithms", "_check", "_heads", "_options", "_typ")

    def __init__(
        self,
        *,
        algorithms: Collection[str],
        issuer: str | Iterable[str] | None = None,
        audience: str | Iterable[str] | None = None,
        leeway: float | timedelta = 0,
        required: Iterable[str] = (),
        typ: str | None = None,
    ) -> None:
        """Fix the options (as :func:`decode` takes them; iterables are read once)."""
        _check_algorithms(algorithms)
        self._algorithms = tuple(algorithms)
        if issuer is not None and not isinstance(issuer, str):
            issuer = tuple(issuer)
        if audience is not None and not isinstance(audience, str):
            audience = tuple(audience)
        required = tuple(required)
        self._typ = typ
        self._options: dict[str, Any] = {
            "algorithms": self._algorithms,
            "issuer": issuer,
            "audience": audience,
            "leeway": leeway,
            "required": required,
            "typ": typ,
        }
        self._check = checker(issuer=issuer, audience=audience, leeway=leeway, required=required)
        self._heads: dict[str, _Head] = {}

    def decode(
        self, token: str | bytes, keys: KeySource, now: float | None = None
    ) -> dict[str, Any]:
        """The verified claims of ``token`` (a fresh dict); ``now`` defaults to the clock."""
        claims = self.fast(token, keys, now)
        return self.slow(token, keys, now) if claims is None else claims

    def fast(self, token: str | bytes, keys: KeySource, now: float | None) -> dict[str, Any] | None:
        """:meth:`decode` for the common token; None (nothing judged yet) sends it to decode.

        None when ``token`` is not a plain three-part ASCII string within
        the size limit, or its header is not one :meth:`_prepare` accepts:
        the caller then has it judged by :meth:`decode` (the Verifier first
        tells an encrypted token apart). Past that point every refusal is
        raised here.
        """
        if type(token) is not str or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            return None
        # Three finds, not count() and split(): one pass, no segment strings.
        first = token.find(".")
        second = token.find(".", first + 1)
        if first < 0 or second < 0 or token.find(".", second + 1) >= 0:
            return None
        head = token[:first]
        prepared = self._heads.get(head)
        if prepared is None or prepared[0] is not keys:
            prepared = self._prepare(head, keys)
            if prepared is None:
                return None
        # From here on, verify_compact's own steps for a header it has cached.
        raw = token.encode("ascii")
        signing_input = raw[:second]
        signature = decode_ascii(raw[second + 1 :], "JWS signature")
        for verify in prepared[1]:
            if verify(signing_input, signature):
                break
        else:
            raise InvalidSignatureError(prepared[2])
        # decode() checks typ here; a prepared header already passed it.
        payload = decode_ascii(raw[first + 1 : second], "JWS payload")
        claims = _json.loads_object(payload, what="JWT claims")
        self._check(claims, time.time() if now is None else numeric_date(now))
        return claims

    def slow(self, token: str | bytes, keys: KeySource, now: float | None) -> dict[str, Any]:
        """:func:`decode` itself with these options: for a token :meth:`fast` declined."""
        return decode(token, keys, now=now, **self._options)

    def _prepare(self, head: str, keys: KeySource) -> _Head | None:
        """Check a header segment and pick its keys once; None when decode must judge."""
        kind = type(keys)
        if kind is not Key and kind is not KeySet:
            return None  # a custom key source may answer differently each time
        try:
            header = _load_header(head)
            name = header["alg"]
            if name not in self._algorithms:
                return None
            if self._typ is not None and not typ_matches(header.get("typ"), self._typ):
                return None
            alg = ALGORITHMS[name]
            if kind is Key:
                assert isinstance(keys, Key)
                prepared: _Head = (keys, (keys.verifier(alg),), "the signature does not verify")
            else:
                assert isinstance(keys, KeySet)
                verifiers = tuple(k.verifier(alg) for k in keys.select(alg, header.get("kid")))
                prepared = (keys, verifiers, "the signature does not verify with any key")
        except JoseError:
            return None
        heads = self._heads
        if len(heads) >= _HEADS_SIZE:
            heads = self._heads = {}  # bounded: junk headers cannot grow it
        heads[head] = prepared
        return prepared
