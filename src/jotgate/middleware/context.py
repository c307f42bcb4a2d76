"""What a verifier may need to know about the request a token came with, in one object.

A token can be bound to more than itself: to a DPoP key (``cnf.jkt``: the
method, URI and proof headers), to a fingerprint cookie (``fgp``) and to the
client's address or user agent (``bnd``). :class:`RequestContext` carries all
of those facts; every face of the middleware (ASGI, WSGI, FastAPI, Flask,
Django) and the gateway builds one per request and passes it as
``Verifier.verify(token, request=context)``.

The client address is the direct peer's; only with ``trust_forwarded`` (a
proxy in front that sets these headers) is it the right-most
``X-Forwarded-For`` entry — the address the proxy in front saw, appended by
it (nginx ``$proxy_add_x_forwarded_for``, Traefik) — or, without that
header, ``X-Real-IP``. Left-hand entries are whatever the client claimed and
never count.

Example::

    found = read_credentials(scope["headers"], None)
    context = context_from_scope(scope, found, trust_forwarded=False)
    claims = verifier.verify(found.token, request=context)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .binding import DPoPRequest, asgi_request_uri, environ_request_uri
from .transport import Credentials, Scheme

__all__ = [
    "RequestContext",
    "client_address",
    "context_from_environ",
    "context_from_headers",
    "context_from_scope",
]


class RequestContext(NamedTuple):
    """One request as a verifier sees it.

    ``scheme``: how the token came (``"bearer"``, ``"dpop"``, ``"cookie"``).
    ``method``, ``uri`` (absolute, no query) and ``proofs`` (every ``DPoP``
    header): what a DPoP proof must match; ``uri`` may stay empty unless the
    scheme is ``dpop``. ``cookies``: the ``Cookie`` header as sent (several
    joined with ``"; "``), or None. ``client_ip``: the client's address as
    far as this hop can tell (see the module docstring), or None.
    ``user_agent``: the ``User-Agent`` header, or None. Immutable (a named
    tuple: cheap to build on every request).
    """

    scheme: Scheme = "bearer"
    method: str = "GET"
    uri: str = ""
    proofs: tuple[str, ...] = ()
    cookies: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None

    @property
    def dpop(self) -> DPoPRequest | None:
        """The DPoP request when the token came with the ``DPoP`` scheme, else None."""
        if self.scheme != "dpop":
            return None
        return DPoPRequest(self.method, self.uri, self.proofs)

    def cookie_values(self, name: str) -> list[str]:
        """Every value of cookie ``name`` (a browser may send one name twice)."""
        if not self.cookies:
            return []
        values: list[str] = []
        for pair in self.cookies.split(";"):
            key, sep, value = pair.partition("=")
            if sep and key.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                values.append(value)
        return values


def _address(text: str | None) -> str | None:
    """``text`` as a canonical IP address (port and brackets dropped); None when not one."""
    if text is None:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(
    peer: str | None,
    forwarded_for: str | None = None,
    real_ip: str | None = None,
    *,
    trust_forwarded: bool = False,
) -> str | None:
    """The client's address: the peer, or (``trust_forwarded``) what the proxy in front saw.

    ``forwarded_for``: every ``X-Forwarded-For`` value joined with commas.
    A forwarded value that is not an address is ignored (the peer counts).
    """
    if trust_forwarded:
        if forwarded_for:
            found = _address(forwarded_for.rsplit(",", 1)[-1])
            if found is not None:
                return found
        elif real_ip:
            found = _address(real_ip)
            if found is not None:
                return found
    # The peer as the server reports it: the auth server binds that very string.
    return peer


def _join(current: str | None, value: str, separator: str) -> str:
    return value if current is None else f"{current}{separator}{value}"


def context_from_headers(
    headers: Iterable[tuple[bytes, bytes]],
    found: Credentials | None,
    *,
    peer: str | None,
    method: str = "GET",
    uri: str = "",
    trust_forwarded: bool = False,
) -> RequestContext:
    """A :class:`RequestContext` from ASGI ``headers`` (lower-case byte names) and the peer.

    ``method``/``uri``: what a DPoP proof must name (the gateway's
    forward-auth passes the guarded request's).
    """
    cookies: str | None = None
    user_agent: str | None = None
    forwarded_for: str | None = None
    real_ip: str | None = None
    for name, value in headers:
        if name == b"cookie":
            # HTTP/2 may split the Cookie header; join as RFC 9113 §8.2.3 says.
            cookies = _join(cookies, value.decode("latin-1"), "; ")
        elif name == b"user-agent" and user_agent is None:
            user_agent = value.decode("latin-1")
        elif trust_forwarded and name == b"x-forwarded-for":
            forwarded_for = _join(forwarded_for, value.decode("latin-1"), ",")
        elif trust_forwarded and name == b"x-real-ip" and real_ip is None:
            real_ip = value.decode("latin-1")
    if trust_forwarded:
        peer = client_address(peer, forwarded_for, real_ip, trust_forwarded=True)
    if found is None:
        return RequestContext("bearer", method, uri, (), cookies, peer, user_agent)
    return RequestContext(found.scheme, method, uri, found.proofs, cookies, peer, user_agent)


def context_from_scope(
    scope: Mapping[str, Any], found: Credentials | None, *, trust_forwarded: bool = False
) -> RequestContext:
    """The :class:`RequestContext` of an ASGI request (a websocket handshake is a GET)."""
    dpop = found is not None and found.scheme == "dpop"
    uri = asgi_request_uri(scope, trust_forwarded=trust_forwarded) if dpop else ""
    client = scope.get("client")
    return context_from_headers(
        scope.get("headers", ()),
        found,
        peer=str(client[0]) if client else None,
        method=str(scope.get("method", "GET")),
        uri=uri,
        trust_forwarded=trust_forwarded,
    )


def context_from_environ(
    environ: Mapping[str, Any], found: Credentials | None, *, trust_forwarded: bool = False
) -> RequestContext:
    """The :class:`RequestContext` of a WSGI request (or Django's ``request.META``)."""
    scheme: Scheme = found.scheme if found is not None else "bearer"
    uri = environ_request_uri(environ, trust_forwarded=trust_forwarded) if scheme == "dpop" else ""
    peer = environ.get("REMOTE_ADDR")
    forwarded_for = environ.get("HTTP_X_FORWARDED_FOR") if trust_forwarded else None
    real_ip = environ.get("HTTP_X_REAL_IP") if trust_forwarded else None
    cookies = environ.get("HTTP_COOKIE")
    user_agent = environ.get("HTTP_USER_AGENT")
    return RequestContext(
        scheme=scheme,
        method=str(environ.get("REQUEST_METHOD", "GET")),
        uri=uri,
        proofs=found.proofs if found is not None else (),
        cookies=cookies if isinstance(cookies, str) else None,
        client_ip=client_address(
            peer if isinstance(peer, str) and peer else None,
            forwarded_for if isinstance(forwarded_for, str) else None,
            real_ip if isinstance(real_ip, str) else None,
            trust_forwarded=trust_forwarded,
        ),
        user_agent=user_agent if isinstance(user_agent, str) else None,
    )
