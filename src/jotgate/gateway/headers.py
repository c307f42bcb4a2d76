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
import itertools
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from jotgate.middleware.binding import asgi_request_uri
from jotgate.middleware.claims import Claims

__all__ = [
    "Forwarding",
    "HeaderPolicy",
    "RequestFacts",
    "identity_headers",
    "original_target",
    "request_id",
    "request_target",
    "response_headers",
    "scan_request",
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
# Set again by the gateway (host: by the upstream URL; expect: the server in
# front, the gateway's own or uvicorn, already answered 100-continue).
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

# What happens to a request header on its way upstream, by (lower-case) name.
# Looked up once per distinct name and remembered (see _CLASS_CACHE_SIZE):
# the per-request work is one dict lookup per header.
_K_KEEP: Final = 0
_K_DROP: Final = 1  # hop-by-hop, replaced by the gateway, identity
_K_CONNECTION: Final = 2  # dropped, and so is every name it lists
_K_FORWARDING: Final = 3  # replaced; the client's value counts only when trusted
_K_X_FORWARDED: Final = 4  # other X-Forwarded-*: passes only when trusted
_K_CREDENTIAL: Final = 5  # Authorization, DPoP: pass only with keep_authorization
_K_COOKIE: Final = 6  # passes without the fingerprint cookies
# Header names are client-chosen: remember a bounded number of them.
_CLASS_CACHE_SIZE: Final = 1024
# What may go into a header value unencoded: visible ASCII and spaces.
_SAFE_VALUE: Final = re.compile(r"^[\x20-\x7e]*$")


def _connection_listed(value: bytes, listed: set[bytes] | None) -> set[bytes]:
    """``listed`` plus the names a ``Connection`` value marks hop-by-hop (RFC 9110 §7.6.1)."""
    listed = set() if listed is None else listed
    listed.update(token.strip().lower() for token in value.split(b","))
    return listed


class Forwarding(NamedTuple):
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
        self._classes: dict[bytes, tuple[bytes, int]] = {}

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
    ) -> Headers:
        """The request headers an upstream receives.

        Identity headers, hop-by-hop headers (and those listed in
        ``Connection``), ``Host``, path overrides (``X-Original-URL``...),
        untrusted ``X-Forwarded-*`` and, unless ``keep_authorization``,
        ``Authorization``, ``DPoP`` (the proof goes with the token) and the
        fingerprint cookies are dropped; the forwarding headers are added.
        The identity headers go to the upstream as finished lines of their
        own (``Pool.request``'s ``identity``), not through this list.
        """
        classes = self._classes
        trust = self.trust_forwarded
        trusted: dict[bytes, bytes] = {}
        listed: set[bytes] | None = None
        out: Headers = []
        for name, value in headers:
            entry = classes.get(name)
            if entry is None:
                entry = self._classify(name)
            lowered, kind = entry
            if kind == _K_KEEP:
                out.append((lowered, value))
            elif kind == _K_DROP:
                continue
            elif kind == _K_CREDENTIAL:
                if keep_authorization:
                    out.append((lowered, value))
            elif kind == _K_COOKIE:
                if self._fingerprints and not keep_authorization:
                    value = self._without_fingerprint(value)
                    if not value:
                        continue
                out.append((lowered, value))
            elif kind == _K_FORWARDING:
                if trust and lowered not in trusted:
                    trusted[lowered] = value
            elif kind == _K_X_FORWARDED:
                if trust:
                    out.append((lowered, value))
            else:  # _K_CONNECTION
                listed = _connection_listed(value, listed)
        if listed:
            # Names the client's Connection header made hop-by-hop (rare: a second pass).
            out = [(name, value) for name, value in out if name not in listed]
            trusted = {name: value for name, value in trusted.items() if name not in listed}
        out.extend(self._forwarded(forwarding, trusted))
        out.append((b"x-request-id", forwarding.request_id))
        return out

    def _classify(self, name: bytes) -> tuple[bytes, int]:
        """What :meth:`for_upstream` does with header ``name`` (remembered, bounded)."""
        lowered = name.lower()
        kind = _K_KEEP
        if lowered == b"connection":
            kind = _K_CONNECTION
        elif lowered in _HOP_BY_HOP or lowered in _REPLACED or self.is_identity(lowered):
            kind = _K_DROP
        elif lowered in _FORWARDING:
            kind = _K_FORWARDING
        elif lowered.startswith(b"x-forwarded-"):
            kind = _K_X_FORWARDED
        elif lowered in (b"authorization", b"dpop"):
            kind = _K_CREDENTIAL
        elif lowered == b"cookie":
            kind = _K_COOKIE
        entry = (lowered, kind)
        if len(self._classes) < _CLASS_CACHE_SIZE:
            self._classes[name] = entry
        return entry

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


class RequestFacts(NamedTuple):
    """What the gateway reads from a request's headers before forwarding it."""

    request_id: bytes
    host: bytes | None
    has_body: bool


def scan_request(headers: Iterable[tuple[bytes, bytes]]) -> RequestFacts:
    """:func:`request_id`, the first ``Host`` and whether a body is framed, in one pass.

    ``headers`` as ASGI gives them (lower-case names). A body is framed by
    ``Transfer-Encoding`` or a ``Content-Length`` other than ``0``.
    """
    rid: bytes | None = None
    host: bytes | None = None
    body = False
    for name, value in headers:
        if name == b"host":
            if host is None:
                host = value
        elif name == b"x-request-id":
            if rid is None and _REQUEST_ID.match(value):
                rid = value
        elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            body = True
    return RequestFacts(rid or new_request_id(), host, body)


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The client's ``X-Request-Id`` when well-formed, else a new one (:func:`new_request_id`)."""
    return scan_request(headers).request_id


class _RequestIds:
    """A random prefix per process and a counter: unique ids without a syscall per request.

    (uuid4 read the OS's random source for every request: ~6 µs, most of the
    gateway's header work.) A forked child takes a prefix of its own.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = secrets.token_hex(12).encode("ascii")
        self.counter = itertools.count(1)


_request_ids = _RequestIds()
os.register_at_fork(after_in_child=_request_ids.reset)


def new_request_id() -> bytes:
    """A fresh request id: 24 random hex digits for this process, then 8 (or more) of a counter."""
    return b"%s%08x" % (_request_ids.prefix, next(_request_ids.counter))


# Response header name -> its lower-case form, or None when it is not passed
# back (hop-by-hop, the request id, Connection). Bounded like _classify's.
_response_names: dict[bytes, bytes | None] = {}


def response_headers(raw: Iterable[tuple[bytes, bytes]], rid: bytes) -> Headers:
    """An upstream's response headers minus hop-by-hop ones, with the request id."""
    names = _response_names
    out: Headers = []
    listed: set[bytes] | None = None
    for name, value in raw:
        lowered = names.get(name, b"")
        if lowered == b"":
            lowered = _response_name(name)
        if lowered is not None:
            out.append((lowered, value))
        elif name.lower() == b"connection":
            listed = _connection_listed(value, listed)
    if listed:
        out = [(name, value) for name, value in out if name not in listed]
    out.append((b"x-request-id", rid))
    return out


def _response_name(name: bytes) -> bytes | None:
    lowered = name.lower()
    passed = None if lowered in _HOP_BY_HOP or lowered == b"x-request-id" else lowered
    if len(_response_names) < _CLASS_CACHE_SIZE:
        _response_names[name] = passed
    return passed


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
