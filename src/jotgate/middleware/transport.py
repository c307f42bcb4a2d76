"""How a token travels: ``Authorization: Bearer`` (RFC 6750 §2.1), ``DPoP`` (RFC 9449) or a cookie.

Separate from what a token is (the verifier), as fastapi-users separates
transport from strategy. The header wins over the cookie. The scheme name is
case-insensitive (RFC 9110 §11.1). A header with another scheme (``Basic``)
counts as no token; ``Bearer`` with nothing after it is a token, an empty
and so invalid one, because the client did try.

:func:`read_credentials` / :func:`credentials_from_environ` also say which
scheme carried the token and collect every ``DPoP`` proof header, which a
DPoP-bound token needs (:class:`~jotgate.middleware.binding.DPoPRequest`).

Example::

    find_token([(b"authorization", b"bearer eyJ...")], cookie=None)   # "eyJ..."
    read_credentials([(b"authorization", b"DPoP eyJ..."), (b"dpop", b"eyJ...")], None)
    token_from_environ({"HTTP_COOKIE": "at=eyJ..."}, cookie="at")      # "eyJ..."
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

__all__ = [
    "Credentials",
    "bearer_token",
    "cookie_value",
    "credentials_from_environ",
    "find_token",
    "read_credentials",
    "token_from_environ",
]

Scheme = Literal["bearer", "dpop", "cookie"]


class Credentials(NamedTuple):
    """A request's token, how it came (``bearer``, ``dpop``, ``cookie``) and its DPoP proofs."""

    token: str
    scheme: Scheme
    proofs: tuple[str, ...]


def _scheme_token(authorization: str) -> tuple[Scheme, str] | None:
    """(scheme, token) of a Bearer or DPoP ``Authorization`` value, else None."""
    scheme, _, rest = authorization.strip().partition(" ")
    folded = scheme.lower()
    if folded == "bearer":
        return "bearer", rest.strip()
    if folded == "dpop":
        return "dpop", rest.strip()
    return None


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization`` value, or None when it is not a Bearer one."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.strip()


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or None.

    A small exact parser (RFC 6265 §5.4 pairs separated by ``;``): no
    unquoting or decoding beyond stripping blanks and optional quotes, which
    a JWT never needs.
    """
    for pair in cookie_header.split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def find_token(headers: Iterable[tuple[bytes, bytes]], cookie: str | None) -> str | None:
    """The token in ASGI ``headers`` (lower-case byte names), or None when there is none."""
    cookie_header = None
    for name, value in headers:
        if name == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            if token is not None:
                return token
        elif cookie is not None and name == b"cookie":
            # Browsers send one Cookie header; HTTP/2 may split it, so join.
            text = value.decode("latin-1")
            cookie_header = text if cookie_header is None else f"{cookie_header}; {text}"
    if cookie is not None and cookie_header is not None:
        return cookie_value(cookie_header, cookie)
    return None


def token_from_environ(environ: Mapping[str, Any], cookie: str | None) -> str | None:
    """The token in a WSGI ``environ`` (or Django's ``request.META``), or None."""
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization:
        token = bearer_token(authorization)
        if token is not None:
            return token
    if cookie is not None:
        cookie_header = environ.get("HTTP_COOKIE")
        if cookie_header:
            return cookie_value(cookie_header, cookie)
    return None


def read_credentials(
    headers: Iterable[tuple[bytes, bytes]], cookie: str | None
) -> Credentials | None:
    """The token in ASGI ``headers``, its scheme and every ``DPoP`` header value; or None.

    One pass over the headers. Every ``DPoP`` header is kept (not just the
    first): a request with two proofs must be refused, not half-read.
    """
    found: tuple[Scheme, str] | None = None
    proofs: list[str] = []
    cookie_header = None
    for name, value in headers:
        if name == b"authorization":
            if found is None:
                found = _scheme_token(value.decode("latin-1"))
        elif name == b"dpop":
            proofs.append(value.decode("latin-1"))
        elif cookie is not None and name == b"cookie":
            text = value.decode("latin-1")
            cookie_header = text if cookie_header is None else f"{cookie_header}; {text}"
    if found is not None:
        return Credentials(found[1], found[0], tuple(proofs))
    if cookie is not None and cookie_header is not None:
        token = cookie_value(cookie_header, cookie)
        if token is not None:
            return Credentials(token, "cookie", tuple(proofs))
    return None


def credentials_from_environ(environ: Mapping[str, Any], cookie: str | None) -> Credentials | None:
    """:func:`read_credentials` for a WSGI ``environ`` (or Django's ``request.META``).

    WSGI servers join repeated headers with commas; a compact JWS has none,
    so two proofs still show (and are refused) as one value with a comma.
    """
    proof = environ.get("HTTP_DPOP")
    proofs = (proof,) if isinstance(proof, str) else ()
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization:
        found = _scheme_token(authorization)
        if found is not None:
            return Credentials(found[1], found[0], proofs)
    if cookie is not None:
        cookie_header = environ.get("HTTP_COOKIE")
        if cookie_header:
            token = cookie_value(cookie_header, cookie)
            if token is not None:
                return Credentials(token, "cookie", proofs)
    return None
