"""Header rules of the proxy: forged identity, hop-by-hop, forwarding, identity out.

Header names in ASGI are lower-case bytes. Identity names are compared
after folding ``_`` to ``-`` as well: servers behind a gateway (CGI, WSGI,
some frameworks) read ``X_User_Id`` and ``X-User-Id`` as the same
``HTTP_X_USER_ID``, so a client must not get one through by spelling it the
other way.

Example::

    policy = HeaderPolicy(extra=("x-tenant-id", "x-internal-*"))
    policy.is_identity(b"x_user_id")          # True
    upstream = policy.for_upstream(scope["headers"], forwarding, keep_authorization=False)
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jotgate.middleware.binding import asgi_request_uri
from jotgate.middleware.claims import Claims

__all__ = [
    "Forwarding",
    "HeaderPolicy",
    "identity_headers",
    "original_target",
    "request_id",
    "request_target",
    "response_headers",
]

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1 (plus the older Keep-Alive/Proxy-Connection, and the
# proxy's own authentication headers, which are meant for this hop only).
_HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
# Set again by the gateway (host: by the upstream URL; expect: uvicorn already
# answered 100-continue to the client).
_REPLACED: Final = frozenset({b"host", b"expect", b"x-request-id"})
# The ones the gateway sets; the rest of X-Forwarded-* (Prefix, Port, Uri...)
# passes only when forwarding headers are trusted.
_FORWARDING: Final = frozenset(
    {b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-real-ip"}
)
_IDENTITY_PREFIXES: Final = (b"x-user-", b"x-auth-")
_IDENTITY_NAMES: Final = frozenset(
    {
        b"x-session-id",
        # What other proxies (oauth2-proxy, Authelia, Apache) tell their
        # upstreams: a service written for one of them must not trust a client.
        b"x-forwarded-user",
        b"x-forwarded-email",
        b"x-forwarded-groups",
        b"x-forwarded-preferred-username",
        b"x-forwarded-access-token",
        b"x-remote-user",
        b"remote-user",
        b"remote-groups",
        b"remote-email",
        b"remote-name",
        # Path overrides some frameworks honour (Symfony, IIS): /public with
        # X-Original-URL: /admin would reach /admin under /public's rules.
        b"x-original-url",
        b"x-original-uri",
        b"x-rewrite-url",
    }
)
_REQUEST_ID: Final = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# What may go into a header value unencoded: visible ASCII and spaces.
_SAFE_VALUE: Final = re.compile(r"^[\x20-\x7e]*$")


def _connection_listed(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Names a ``Connection`` header marks as hop-by-hop (RFC 9110 §7.6.1)."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(token.strip().lower() for token in value.split(b","))
    return listed


@dataclass(frozen=True, slots=True)
class Forwarding:
    """Facts about the client connection for ``X-Forwarded-*`` and the request id."""

    client: str | None
    scheme: str
    host: bytes | None
    request_id: bytes


class HeaderPolicy:
    """Which client headers reach an upstream, and what the gateway adds."""

    def __init__(
        self,
        *,
        extra: Sequence[str] = (),
        trust_forwarded: bool = False,
        fingerprint_cookies: Sequence[str] = (),
    ) -> None:
        """``extra``: more identity names (lower-case; ``x-internal-*`` for a family).

        ``fingerprint_cookies``: cookies dropped with ``Authorization`` (the
        token's fingerprint is for the gateway, not for services).
        """
        names = set(_IDENTITY_NAMES)
        prefixes = list(_IDENTITY_PREFIXES)
        for name in extra:
            folded = name.lower().replace("_", "-").encode("ascii")
            if folded.endswith(b"*"):
                prefixes.append(folded[:-1])
            else:
                names.add(folded)
        self._names = frozenset(names)
        self._prefixes = tuple(prefixes)
        self.trust_forwarded = trust_forwarded
        self._fingerprints = frozenset(name.encode("latin-1") for name in fingerprint_cookies)

    def is_identity(self, name: bytes) -> bool:
        """True for names only the gateway may set (``X-User-*``, ``X-Auth-*``, ...)."""
        folded = name.lower().replace(b"_", b"-")
        return folded in self._names or folded.startswith(self._prefixes)

    def for_upstream(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        forwarding: Forwarding,
        *,
        keep_authorization: bool,
        identity: Sequence[tuple[bytes, bytes]] = (),
    ) -> Headers:
        """The request headers an upstream receives.

        Identity headers, hop-by-hop headers (and those listed in
        ``Connection``), ``Host``, path overrides (``X-Original-URL``...),
        untrusted ``X-Forwarded-*`` and, unless ``keep_authorization``,
        ``Authorization``, ``DPoP`` (the proof goes with the token) and the
        fingerprint cookies are dropped; ``identity`` and the forwarding
        headers are added.
        """
        headers = list(headers)
        drop = _HOP_BY_HOP | _REPLACED | _connection_listed(headers)
        if not keep_authorization:
            drop = drop | {b"authorization", b"dpop"}
        trusted: dict[bytes, bytes] = {}
        out: Headers = []
        for name, value in headers:
            name = name.lower()
            if name in drop or self.is_identity(name):
                continue
            if name in _FORWARDING:
                if self.trust_forwarded and name not in trusted:
                    trusted[name] = value
                continue
            if name.startswith(b"x-forwarded-") and not self.trust_forwarded:
                continue
            if name == b"cookie" and self._fingerprints and not keep_authorization:
                kept = self._without_fingerprint(value)
                if kept:
                    out.append((name, kept))
                continue
            out.append((name, value))
        out.extend(identity)
        out.extend(self._forwarded(forwarding, trusted))
        out.append((b"x-request-id", forwarding.request_id))
        return out

    def _without_fingerprint(self, cookie: bytes) -> bytes:
        """A ``Cookie`` value minus the fingerprint cookies (unchanged when it has none)."""
        pairs = cookie.split(b";")
        kept = [pair for pair in pairs if pair.partition(b"=")[0].strip() not in self._fingerprints]
        if len(kept) == len(pairs):
            return cookie
        return b"; ".join(pair.strip() for pair in kept if pair.strip())

    def _forwarded(self, forwarding: Forwarding, trusted: dict[bytes, bytes]) -> Headers:
        client = (forwarding.client or "unknown").encode("ascii", "replace")
        chain = trusted.get(b"x-forwarded-for")
        out: Headers = [(b"x-forwarded-for", chain + b", " + client if chain else client)]
        out.append(
            (b"x-forwarded-proto", trusted.get(b"x-forwarded-proto", forwarding.scheme.encode()))
        )
        host = trusted.get(b"x-forwarded-host", forwarding.host)
        if host is not None:
            out.append((b"x-forwarded-host", host))
        if b"forwarded" in trusted:
            out.append((b"forwarded", trusted[b"forwarded"]))
        return out


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The client's ``X-Request-Id`` when well-formed, else a new random one."""
    for name, value in headers:
        if name.lower() == b"x-request-id" and _REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex.encode()


def response_headers(raw: Iterable[tuple[bytes, bytes]], rid: bytes) -> Headers:
    """An upstream's response headers minus hop-by-hop ones, with the request id."""
    raw = list(raw)
    drop = _HOP_BY_HOP | _connection_listed(raw) | {b"x-request-id"}
    out = [(name.lower(), value) for name, value in raw if name.lower() not in drop]
    out.append((b"x-request-id", rid))
    return out


def identity_headers(claims: Claims) -> Headers:
    """``X-User-Id``, ``X-User-Roles``, ``X-User-Scopes``, ``X-Session-Id``, ``X-Auth-Claims``.

    Roles are comma-separated, scopes space-separated (as in the ``scope``
    claim: a scope token may hold a comma, never a space); ``X-Auth-Claims``
    is the whole claim set as unpadded base64url JSON. Raises ``ValueError``
    when a value cannot travel in a header (control characters, non-ASCII):
    the token is then refused rather than forwarded half-described.

    The answer is computed once per distinct token: the verifier caches its
    :class:`Claims`, and this keeps the encoded headers beside them.
    """
    cached = _identity_cache.get(id(claims))
    if cached is not None and cached[0] is claims:
        return list(cached[1])  # a copy: callers may extend it
    out = _identity(claims)
    if len(_identity_cache) >= _IDENTITY_CACHE_SIZE:
        _identity_cache.clear()
    _identity_cache[id(claims)] = (claims, out)
    return list(out)


# id(Claims) -> (the Claims, its headers). The Claims is kept in the entry, so
# its id cannot be reused by another object while the entry lives.
_IDENTITY_CACHE_SIZE = 4096
_identity_cache: dict[int, tuple[Claims, Headers]] = {}


def _identity(claims: Claims) -> Headers:
    plain = {
        b"x-user-id": claims.sub or "",
        b"x-user-roles": ",".join(claims.roles),
        b"x-user-scopes": " ".join(claims.scopes),
        b"x-session-id": claims.sid or "",
    }
    if any("," in role for role in claims.roles):
        # Commas separate roles in the header; one inside a role would forge two.
        raise ValueError("a role contains a comma")
    out: Headers = []
    for name, value in plain.items():
        if not _SAFE_VALUE.match(value):
            raise ValueError(f"the {name.decode()} value cannot be sent as a header")
        if value:
            out.append((name, value.encode("ascii")))
    document = json.dumps(dict(claims.raw), separators=(",", ":"), ensure_ascii=True)
    encoded = base64.urlsafe_b64encode(document.encode("ascii")).rstrip(b"=")
    out.append((b"x-auth-claims", encoded))
    return out


def request_target(scope: Mapping[str, Any], *, trust_forwarded: bool) -> tuple[str, str]:
    """(method, absolute URI) of a proxied request, for its DPoP proof's ``htm``/``htu``."""
    uri = asgi_request_uri(scope, trust_forwarded=trust_forwarded)
    return str(scope.get("method", "GET")), uri


def original_target(scope: Mapping[str, Any], *, trust_forwarded: bool) -> tuple[str, str]:
    """(method, absolute URI) of the request an edge proxy asks forward-auth about.

    nginx sends ``X-Original-Method``/``X-Original-URI``, Traefik
    ``X-Forwarded-Method``/``X-Forwarded-Uri``, with ``X-Forwarded-Proto``/
    ``-Host``. They are read only when ``trust_forwarded``: otherwise any
    client could name the request its (replayed) proof was made for.
    Untrusted, the check's own method and URI are used.
    """
    if not trust_forwarded:
        return request_target(scope, trust_forwarded=False)
    found: dict[bytes, str] = {}
    for name, value in scope.get("headers", ()):
        if name in _ORIGINAL and name not in found:
            found[name] = value.decode("latin-1").strip()
    method = found.get(b"x-original-method") or found.get(b"x-forwarded-method")
    path = found.get(b"x-original-uri") or found.get(b"x-forwarded-uri")
    if method is None or path is None:
        return request_target(scope, trust_forwarded=True)
    if path.startswith(("http://", "https://")):
        return method, path
    scheme = found.get(b"x-forwarded-proto") or str(scope.get("scheme", "http"))
    host = found.get(b"x-forwarded-host") or found.get(b"host") or "localhost"
    return method, f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}{path}"


_ORIGINAL: Final = frozenset(
    {b"x-original-method", b"x-original-uri", b"x-forwarded-method", b"x-forwarded-uri",
     b"x-forwarded-proto", b"x-forwarded-host", b"host"}
)  # fmt: skip
