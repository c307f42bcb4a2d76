"""The one place a request's token is judged: signature, claims, revocation, cache.

:meth:`Verifier.verify` is synchronous and fast. A token seen before is
answered from a bounded cache keyed by the whole token string, after two
checks that run on every hit: expiry (``now >= exp + leeway`` drops the entry
and raises ``ExpiredTokenError``) and revocation (a revoked ``sid``/``jti``
drops the entry and raises :class:`TokenRevokedError`). Only tokens that
verified are cached, so garbage cannot fill it. A new token goes through
``jwt.decode`` with the verifier's policy, then the revocation check.

:meth:`Verifier.averify` is the same for async code: with a remote key set
it first awaits the key set for the token's ``kid`` (read cheaply from the
header) so the sync core never fetches on the event loop.

Example::

    verifier = Verifier(jwk.Key.from_pem(public_pem), algorithms=["ES256"],
                        issuer="https://auth.example.com", audience="notes-api",
                        typ="at+jwt")
    claims = verifier.verify(token)           # Claims, or a JoseError subclass
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Final, Protocol, runtime_checkable

from jotgate import jwt
from jotgate.durations import parse_duration
from jotgate.errors import ExpiredTokenError
from jotgate.jwk import Key, KeySet

from .claims import Claims
from .errors import TokenRevokedError
from .revocation import RevocationSource, StartableRevocationSource

__all__ = ["RemoteKeys", "Verifier"]

_KID_CACHE_SIZE: Final = 256


@runtime_checkable
class RemoteKeys(Protocol):
    """The part of :class:`jotgate.jwks.RemoteKeySet` a verifier uses (docs/library.md)."""

    async def get(self, kid: str | None) -> KeySet:
        """A key set fresh enough for ``kid`` (fetching if needed)."""
        ...

    def get_sync(self, kid: str | None) -> KeySet:
        """The same from sync code."""
        ...


_kids: dict[str, str | None] = {}


def peek_kid(token: str) -> str | None:
    """The ``kid`` of a compact token's header, unverified; None when absent or unreadable.

    Only used to ask a remote key set for the right key: the strict parser
    in ``jwt.decode`` judges the header afterwards. Headers repeat across
    tokens, so answers are cached per header segment.
    """
    segment = token.partition(".")[0]
    if segment in _kids:
        return _kids[segment]
    kid: str | None = None
    if len(segment) <= 4096:
        try:
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, binascii.Error):
            header = None
        if isinstance(header, dict) and isinstance(header.get("kid"), str):
            kid = header["kid"]
    if len(_kids) >= _KID_CACHE_SIZE:
        _kids.clear()
    _kids[segment] = kid
    return kid


class Verifier:
    """Verifies access tokens for one API, with a cache of tokens already verified.

    ``keys``: a ``jwk.Key``, a ``jwk.KeySet`` or a remote key set
    (``jotgate.jwks.RemoteKeySet``). ``algorithms`` is required. ``issuer``,
    ``audience``, ``leeway``, ``typ`` (for example ``"at+jwt"``) and
    ``required`` (claims that must be present; ``exp`` by default, so a
    token that never expires is refused) are passed to ``jwt.decode``.
    ``revocations``: an optional :class:`RevocationSource`. ``cache_size``:
    how many verified tokens to remember (0 disables the cache). ``clock``:
    injectable for tests.

    Example::

        verifier = Verifier(key, algorithms=["HS256"], issuer="me")
        claims = verifier.verify(token)
        app = FastAPI(lifespan=verifier.lifespan)   # starts the revocation feed
    """

    def __init__(
        self,
        keys: Key | KeySet | RemoteKeys,
        *,
        algorithms: Collection[str],
        issuer: str | Iterable[str] | None = None,
        audience: str | Iterable[str] | None = None,
        leeway: float | timedelta = 0,
        typ: str | None = None,
        required: Iterable[str] = ("exp",),
        revocations: RevocationSource | None = None,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """A verifier with this policy; see the class docstring."""
        if isinstance(keys, Key | KeySet):
            self._static: Key | KeySet = keys
            self._remote: RemoteKeys | None = None
        elif isinstance(keys, RemoteKeys):
            self._static, self._remote = KeySet([]), keys
        else:
            raise TypeError("keys must be a jwk.Key, a jwk.KeySet or a RemoteKeySet")
        if isinstance(algorithms, str) or not algorithms:
            raise ValueError("algorithms must be a non-empty list, e.g. ['ES256']")
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._algorithms = tuple(algorithms)
        self._issuer = issuer if issuer is None or isinstance(issuer, str) else tuple(issuer)
        self._audience = (
            audience if audience is None or isinstance(audience, str) else tuple(audience)
        )
        self._leeway = parse_duration(leeway) if leeway else 0.0
        self._typ = typ
        self._required = tuple(required)
        self._revocations = revocations
        self._cache_size = cache_size
        self._clock = clock
        # token -> (claims, the instant the cached answer turns into "expired")
        self._cache: dict[str, tuple[Claims, float]] = {}

    @property
    def revocations(self) -> RevocationSource | None:
        """The revocation source, if any."""
        return self._revocations

    @property
    def is_remote(self) -> bool:
        """True when keys come from a remote key set (use :meth:`averify` in async code)."""
        return self._remote is not None

    def verify(self, token: str) -> Claims:
        """The token's claims, or a ``JoseError`` (``TokenRevokedError`` when revoked).

        With a remote key set this may fetch keys synchronously on a cache
        miss; async code should call :meth:`averify`.
        """
        entry = self._cache.get(token)
        if entry is not None:
            return self._from_cache(token, entry)
        if self._remote is not None:
            return self._verify_new(token, self._remote.get_sync(peek_kid(token)))
        return self._verify_new(token, self._static)

    async def averify(self, token: str) -> Claims:
        """:meth:`verify` for async code: remote keys are awaited, never fetched blocking."""
        entry = self._cache.get(token)
        if entry is not None:
            return self._from_cache(token, entry)
        if self._remote is not None:
            return self._verify_new(token, await self._remote.get(peek_kid(token)))
        return self._verify_new(token, self._static)

    def _from_cache(self, token: str, entry: tuple[Claims, float]) -> Claims:
        claims, deadline = entry
        if self._clock() >= deadline:
            self._cache.pop(token, None)
            raise ExpiredTokenError("the token has expired", expired_at=claims.exp or 0)
        revocations = self._revocations
        if revocations is not None and revocations.is_revoked(claims):
            self._cache.pop(token, None)
            raise TokenRevokedError("the token has been revoked")
        return claims

    def _verify_new(self, token: str, keys: Key | KeySet) -> Claims:
        raw: dict[str, Any] = jwt.decode(
            token,
            keys,
            algorithms=self._algorithms,
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
            required=self._required,
            typ=self._typ,
            # None lets jwt.decode read the clock itself, skipping a conversion.
            now=None if self._clock is time.time else self._clock(),
        )
        claims = Claims.from_dict(raw)
        if self._revocations is not None and self._revocations.is_revoked(claims):
            raise TokenRevokedError("the token has been revoked")
        if self._cache_size:
            exp = claims.exp
            self._remember(token, claims, float("inf") if exp is None else exp + self._leeway)
        return claims

    def _remember(self, token: str, claims: Claims, deadline: float) -> None:
        cache = self._cache
        if len(cache) >= self._cache_size:
            # First in, first out: O(1), and only tokens that verified get in,
            # so the cache holds live users' tokens, never an attacker's junk.
            # Another thread may change the dict first: the bound is approximate.
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del cache[next(iter(cache))]
        cache[token] = (claims, deadline)

    def forget(self, token: str | None = None) -> None:
        """Drop one cached token, or (without an argument) the whole cache."""
        if token is None:
            self._cache.clear()
        else:
            self._cache.pop(token, None)

    def cache_len(self) -> int:
        """How many verified tokens are cached now."""
        return len(self._cache)

    async def start(self) -> None:
        """Start the revocation feed (when the source has one)."""
        if isinstance(self._revocations, StartableRevocationSource):
            await self._revocations.start()

    async def stop(self) -> None:
        """Stop the revocation feed."""
        if isinstance(self._revocations, StartableRevocationSource):
            await self._revocations.stop()

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """A lifespan for ASGI apps: ``FastAPI(lifespan=verifier.lifespan)``."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()
