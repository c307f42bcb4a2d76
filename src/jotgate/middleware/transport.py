"""How a token travels: ``Authorization: Bearer`` (RFC 6750 §2.1) or a cookie.

Separate from what a token is (the verifier), as fastapi-users separates
transport from strategy. The header wins over the cookie. The scheme name is
case-insensitive (RFC 9110 §11.1). A header with another scheme (``Basic``)
counts as no token; ``Bearer`` with nothing after it is a token, an empty
and so invalid one, because the client did try.

Example::

    find_token([(b"authorization", b"bearer eyJ...")], cookie=None)   # "eyJ..."
    token_from_environ({"HTTP_COOKIE": "at=eyJ..."}, cookie="at")      # "eyJ..."
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["bearer_token", "cookie_value", "find_token", "token_from_environ"]


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
