"""One bounded GET of a JWK Set over HTTP(S), and how long it may be cached.

The network side of :mod:`jotgate.jwks`, kept apart from its cache logic.
Every way a fetch can go wrong - transport errors, timeouts, a status other
than 200, a content type that is not JSON, a body over the size cap, a
document with no usable key - ends up as one :class:`FetchError` whose
message says why without quoting the body (it may be huge or hostile).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Final

import httpx

from . import _json
from .errors import JoseError
from .jwk import KeySet

__all__ = [
    "JWKS_CONTENT_TYPES",
    "FetchError",
    "Fetched",
    "Limits",
    "fetch_async",
    "fetch_sync",
    "lifetime",
]

JWKS_CONTENT_TYPES: Final = frozenset({"application/json", "application/jwk-set+json"})
_REQUEST_HEADERS: Final = {
    "Accept": "application/jwk-set+json, application/json",
    # httpx inflates a compressed chunk whole before we see it, so a small
    # gzip body could blow far past the size cap: ask for none, refuse any.
    "Accept-Encoding": "identity",
}
# Longer digit strings than this are absurd as seconds (and int() of very
# long ones raises); they count as "as long as allowed".
_MAX_DIGITS: Final = 12


class FetchError(Exception):
    """A fetch that produced no usable key set; the message says why."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a fetch may take, how big a body may be, how long to cache it."""

    timeout: float
    max_bytes: int
    min_age: float
    max_age: float


@dataclass(frozen=True, slots=True)
class Fetched:
    """A successfully fetched key set and the seconds it may be cached."""

    keys: KeySet
    lifetime: float


def _seconds(text: str) -> float | None:
    """A delta-seconds value (RFC 9111 §1.2.2), or None when it is not one."""
    text = text.strip().strip('"')  # the quoted form is invalid but common
    if not text or not text.isascii() or not text.isdigit():
        return None
    return float("inf") if len(text) > _MAX_DIGITS else float(int(text))


def lifetime(headers: httpx.Headers, *, min_age: float, max_age: float) -> float:
    """Seconds to cache a response: its ``max-age`` less its ``Age``, clamped.

    ``no-store`` and ``no-cache`` mean ``min_age`` (we must keep some keys
    between fetches, and the floor is what stops a server from making every
    token verification a network call); no usable ``max-age`` means
    ``max_age``. Repeated ``max-age`` directives: the smallest counts.
    """
    seconds: float | None = None
    for value in headers.get_list("cache-control"):
        for directive in value.split(","):
            name, _, argument = directive.partition("=")
            name = name.strip().lower()
            if name in ("no-store", "no-cache"):
                return min_age
            if name == "max-age":
                parsed = _seconds(argument)
                if parsed is not None:
                    seconds = parsed if seconds is None else min(seconds, parsed)
    if seconds is None:
        return max_age
    age = _seconds(headers.get("age", ""))
    if age is not None:
        seconds -= age
    return min(max(seconds, min_age), max_age)


def _check_head(response: httpx.Response, max_bytes: int) -> None:
    if response.status_code != 200:
        # Redirects land here too: we never follow them (the URL is configuration).
        raise FetchError(f"HTTP status {response.status_code}")
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type not in JWKS_CONTENT_TYPES:
        raise FetchError(f"content type {content_type[:60]!r} is not a JSON type")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(f"content encoding {encoding[:30]!r} refused")
    declared = response.headers.get("content-length")
    if declared is not None:
        size = _seconds(declared)  # same grammar: ASCII digits
        if size is not None and size > max_bytes:
            raise FetchError(f"the response declares more than {max_bytes} bytes")


class _Body:
    """Collects body chunks until the cap or the deadline is passed.

    Content-Length is only a hint: the count of bytes actually read decides.
    """

    def __init__(self, max_bytes: int, deadline: float) -> None:
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise FetchError(f"the response is larger than {self._max_bytes} bytes")
        if time.monotonic() > self._deadline:
            # Each read has its own timeout; this bounds a slow trickle overall.
            raise FetchError("the response took too long")
        self._parts.append(chunk)

    def data(self) -> bytes:
        return b"".join(self._parts)


def _parse(body: bytes, headers: httpx.Headers, limits: Limits) -> Fetched:
    """The usable public keys of a JWK Set document, or FetchError."""
    try:
        document = _json.loads_object(body, what="the JWK Set")
        members = document.get("keys")
        if not isinstance(members, list):
            raise FetchError("the document has no 'keys' array")
        # A secret key in a published set is a leak, never a verification
        # key (anyone who read the set could sign); other members that are
        # not key objects are skipped like unknown key types (RFC 7517 §5).
        usable = [m for m in members if isinstance(m, dict) and m.get("kty") != "oct"]
        fetched = KeySet.from_jwks({"keys": usable}, skip_invalid=True)
        # Private members a careless server published are dropped: we only verify.
        keys = KeySet(key.public_key() for key in fetched)
    except JoseError as exc:
        raise FetchError(exc.message) from None
    if not len(keys):
        # A set with nothing to verify with is a broken deployment, not a
        # revocation of every key; the last good keys serve better.
        raise FetchError("the document holds no usable signature key")
    return Fetched(keys, lifetime(headers, min_age=limits.min_age, max_age=limits.max_age))


def fetch_sync(client: httpx.Client, url: str, limits: Limits) -> Fetched:
    """GET ``url`` with ``client`` and parse the key set, or raise FetchError."""
    timeout = limits.timeout
    body = _Body(limits.max_bytes, time.monotonic() + timeout)
    try:
        with client.stream(
            "GET", url, headers=_REQUEST_HEADERS, timeout=timeout, follow_redirects=False
        ) as response:
            _check_head(response, limits.max_bytes)
            for chunk in response.iter_raw():
                body.add(chunk)
            headers = response.headers
    except httpx.TimeoutException:
        raise FetchError(f"timed out after {timeout:g} s") from None
    except (httpx.HTTPError, httpx.StreamError) as exc:
        raise FetchError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    return _parse(body.data(), headers, limits)


async def fetch_async(client: httpx.AsyncClient, url: str, limits: Limits) -> Fetched:
    """The same as :func:`fetch_sync`, with an async client (asyncio only)."""
    timeout = limits.timeout
    body = _Body(limits.max_bytes, time.monotonic() + timeout)
    try:
        # A hard deadline over connect, headers and body together.
        async with asyncio.timeout(timeout):
            async with client.stream(
                "GET", url, headers=_REQUEST_HEADERS, timeout=timeout, follow_redirects=False
            ) as response:
                _check_head(response, limits.max_bytes)
                async for chunk in response.aiter_raw():
                    body.add(chunk)
                headers = response.headers
    except (TimeoutError, httpx.TimeoutException):
        raise FetchError(f"timed out after {timeout:g} s") from None
    except (httpx.HTTPError, httpx.StreamError) as exc:
        raise FetchError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    return _parse(body.data(), headers, limits)
