"""The one place a request's token is judged: signature, claims, revocation, cache.

:meth:`Verifier.verify` is synchronous and fast. A token seen before is
answered from a bounded cache keyed by the whole token string, after two
checks that run on every hit: expiry (``now >= exp + leeway`` drops the entry
and raises ``ExpiredTokenError``) and revocation (a revoked ``sid``/``jti``
drops the entry and raises :class:`TokenRevokedError`). Only tokens that
verified are cached, so garbage cannot fill it. A new token goes through
``jwt.decode`` with the verifier's policy (prepared once, ``jwt._Prepared``:
decode's checks and errors, less work per token), then the revocation check.

:meth:`Verifier.averify` is the same for async code: with a remote key set
it first awaits the key set for the token's ``kid`` (read cheaply from the
header) so the sync core never fetches on the event loop.

Encrypted access tokens (nested JWT: a JWE with ``cty: "JWT"`` around the
signed token) are opened with ``decrypt_with`` first; the cache is keyed by
the encrypted token, so a cached token costs no decryption. With
``decrypt_with`` set, a plain signed token is refused unless
``allow_unencrypted=True``: a deployment that turned encryption on must not
be fed tokens that skipped it.

Bindings are checked per request, cache hit or not, against ``request=``
(a :class:`~jotgate.middleware.context.RequestContext`: method, URI, DPoP
proofs, cookies, client address, user agent): first the fingerprint cookie
(``fgp``) and the address/user-agent binding (``bnd``,
:mod:`jotgate.middleware.client_binding`), then DPoP (``cnf.jkt``,
:mod:`jotgate.middleware.binding`), so a proof's ``jti`` is spent only on an
otherwise good request. ``verify(token)`` with no context still works for
unbound tokens; a token carrying ``fgp`` or ``bnd`` is then refused (fail
closed), and one carrying ``cnf.jkt`` is refused as Bearer use. The older
``dpop=DPoPRequest(...)`` argument is still accepted (no cookie, address or
user agent: ``fgp``/``bnd`` tokens are refused with it).

Example::

    verifier = Verifier(jwk.Key.from_pem(public_pem), algorithms=["ES256"],
                        issuer="https://auth.example.com", audience="notes-api",
                        typ="at+jwt")
    claims = verifier.verify(token)           # Claims, or a JoseError subclass
    claims = verifier.verify(token, request=context_from_scope(scope, found))
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, NoReturn

from jotgate import dpop, jwe, jwt
from jotgate.dpop import AsyncReplayCache, NonceCheck, ReplayCache
from jotgate.durations import parse_duration
from jotgate.errors import ExpiredTokenError, JoseError, MalformedTokenError
from jotgate.jwk import Key, KeySet

from .binding import DPoPPolicy, DPoPRequest
from .claims import Claims, _from_decoded
from .client_binding import FINGERPRINT_COOKIES, ClientBindingPolicy, bound_claims
from .context import RequestContext
from .errors import AuthError, TokenRevokedError
from .remote_keys import RemoteKeys, peek_kid
from .revocation import RevocationSource, StartableRevocationSource

__all__ = ["RemoteKeys", "Verifier"]

# A cached verification: claims, expiry deadline, cnf.jkt, (fgp, bnd) or None.
_Entry = tuple[Claims, float, str | None, tuple[Any, Any] | None]


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

    Encryption: ``decrypt_with`` (a private ``jwk.Key`` or ``jwk.KeySet``),
    ``decrypt_algorithms`` and ``encryptions`` (both required with it);
    ``allow_unencrypted`` (default False) also admits plain signed tokens.
    DPoP: ``dpop_replay`` (default: a per-process ``MemoryReplayCache``; use
    ``RedisReplayCache``/``AsyncRedisReplayCache`` when several processes
    serve one API, or a proof replays against another process),
    ``dpop_nonce`` (a ``NonceSource`` to require server nonces),
    ``dpop_algorithms``, ``dpop_max_age``, ``dpop_leeway``.
    Client binding: ``fingerprint_cookies``, the cookie names the ``fgp``
    fingerprint may come in (default: the auth server's ``__Host-Fgp`` and
    ``jotgate_fgp``).

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
        decrypt_with: Key | KeySet | None = None,
        decrypt_algorithms: Collection[str] | None = None,
        encryptions: Collection[str] | None = None,
        allow_unencrypted: bool = False,
        dpop_replay: ReplayCache | AsyncReplayCache | None = None,
        dpop_nonce: NonceCheck | None = None,
        dpop_algorithms: Collection[str] = dpop.DEFAULT_ALGORITHMS,
        dpop_max_age: float | timedelta = 60,
        dpop_leeway: float | timedelta = 5,
        fingerprint_cookies: Collection[str] = FINGERPRINT_COOKIES,
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
        self._decrypt = _decryption(decrypt_with, decrypt_algorithms, encryptions)
        # Static keys, no decryption: a miss may take the prepared decoder's fast path.
        self._plain = self._decrypt is None and self._remote is None
        self._allow_unencrypted = allow_unencrypted
        self.dpop = DPoPPolicy(
            replay=dpop_replay, nonce=dpop_nonce, algorithms=dpop_algorithms,
            max_age=dpop_max_age, leeway=dpop_leeway, clock=clock,
        )  # fmt: skip
        self.client_binding = ClientBindingPolicy(fingerprint_cookies)
        # jwt.decode with this policy, prepared once (the same checks, less work per token).
        self._decoder = jwt._Prepared(
            algorithms=self._algorithms, issuer=self._issuer, audience=self._audience,
            leeway=self._leeway, required=self._required, typ=self._typ,
        )  # fmt: skip
        # token -> (claims, when the cached answer turns into "expired", cnf.jkt, (fgp, bnd))
        self._cache: dict[str, _Entry] = {}
        # Tokens in the order they were cached, for first-in-first-out eviction.
        # Not next(iter(dict)): after evictions a dict's first live entry sits
        # behind all the deleted ones, and finding it cost ~5 us per insertion
        # in a full 10,000-token cache (bench/middleware_bench.py).
        self._order: deque[str] = deque()

    @property
    def revocations(self) -> RevocationSource | None:
        """The revocation source, if any."""
        return self._revocations

    @property
    def is_remote(self) -> bool:
        """True when keys come from a remote key set (use :meth:`averify` in async code)."""
        return self._remote is not None

    @property
    def awaits(self) -> bool:
        """True when :meth:`averify` may await I/O (remote keys, an async replay cache)."""
        return self._remote is not None or self.dpop.awaits

    def verify(
        self,
        token: str,
        *,
        request: RequestContext | None = None,
        dpop: DPoPRequest | None = None,
    ) -> Claims:
        """The token's claims, or a ``JoseError`` (``TokenRevokedError`` when revoked).

        ``request``: the request the token came with (scheme, method, URI,
        DPoP proofs, cookies, client address, user agent); needed for tokens
        bound by ``fgp``/``bnd`` (:class:`ClientBindingError` without it) and
        by ``cnf.jkt``. ``dpop``: the older form, the DPoP request alone
        (the token came with the ``DPoP`` scheme); not together with
        ``request``. With a remote key set this may fetch keys synchronously
        on a cache miss; async code should call :meth:`averify`.
        """
        dpop = _dpop_of(request, dpop)
        entry = self._cache.get(token)
        if entry is not None:
            # Inlined: this is the path nearly every request takes.
            claims, deadline, jkt, bound = entry
            if self._clock() >= deadline:
                self._refuse_cached(token, claims, expired=True)
            revocations = self._revocations
            if revocations is not None and revocations.is_revoked(claims):
                self._refuse_cached(token, claims, expired=False)
        else:
            claims, jkt, bound = self._miss(token)
        if bound is not None:
            self.client_binding.check(bound, request)
        if jkt is not None or dpop is not None:  # plain Bearer use skips the call entirely
            self.dpop.check(token, jkt, dpop)
        return claims

    def _verified(self, token: str) -> tuple[Claims, str | None, tuple[Any, Any] | None]:
        """:meth:`verify` without the binding checks: (claims, cnf.jkt, (fgp, bnd) or None).

        For :class:`~jotgate.middleware.AuthMiddleware`, which builds a
        request context only for a token that is bound (most are not); it
        then calls :meth:`_check_bindings`. Sync key sources only.
        """
        entry = self._cache.get(token)
        if entry is not None:
            claims, deadline, jkt, bound = entry
            if self._clock() >= deadline:
                self._refuse_cached(token, claims, expired=True)
            revocations = self._revocations
            if revocations is not None and revocations.is_revoked(claims):
                self._refuse_cached(token, claims, expired=False)
            return claims, jkt, bound
        if not self._plain:
            return self._miss(token)
        clock = self._clock
        now = None if clock is time.time else clock()
        raw = self._decoder.fast(token, self._static, now)
        if raw is None:
            return self._declined(token, now)
        if "cnf" in raw or "fgp" in raw or "bnd" in raw:
            return self._accept(token, raw)
        # _accept written out for a token bound to nothing, the common first
        # sight: each call and lookup saved here is paid on every new token
        # (bench/middleware_bench.py). Same checks, same order; keep in step.
        claims = _from_decoded(raw)
        revocations = self._revocations
        if revocations is not None and revocations.is_revoked(claims):
            raise TokenRevokedError("the token has been revoked")
        size = self._cache_size
        if size:
            exp = claims.exp
            deadline = exp if exp is not None and not self._leeway else self._deadline(exp)
            order, cache = self._order, self._cache
            while len(order) >= size:
                try:
                    cache.pop(order.popleft(), None)
                except IndexError:
                    break
            cache[token] = (claims, deadline, None, None)
            order.append(token)
        return claims, None, None

    def _miss(self, token: str) -> tuple[Claims, str | None, tuple[Any, Any] | None]:
        """A token not in the cache, from sync code: decode, check, remember."""
        if self._plain:
            # The common case, without _open: the prepared decoder takes only
            # plain three-part tokens (never a JWE), and leaves the rest to
            # _declined.
            clock = self._clock
            now = None if clock is time.time else clock()
            raw = self._decoder.fast(token, self._static, now)
            if raw is None:
                return self._declined(token, now)
            return self._accept(token, raw)
        signed = self._open(token)
        keys = self._static if self._remote is None else self._remote.get_sync(peek_kid(signed))
        return self._verify_new(token, signed, keys)

    def _declined(
        self, token: str, now: float | None
    ) -> tuple[Claims, str | None, tuple[Any, Any] | None]:
        """A token the prepared decoder's fast path declined: ``jwt.decode`` judges it.

        Straight to decode, not through ``_Prepared.decode``, which would try
        the fast path (and parse a bad header) a second time. Static keys only.
        """
        return self._accept(token, self._decoder.slow(self._open(token), self._static, now))

    def _check_bindings(
        self,
        token: str,
        jkt: str | None,
        bound: tuple[Any, Any] | None,
        request: RequestContext,
    ) -> None:
        """The rest of :meth:`verify` after :meth:`_verified`: fgp/bnd, then DPoP."""
        dpop = request.dpop
        if bound is not None:
            self.client_binding.check(bound, request)
        if jkt is not None or dpop is not None:
            self.dpop.check(token, jkt, dpop)

    async def averify(
        self,
        token: str,
        *,
        request: RequestContext | None = None,
        dpop: DPoPRequest | None = None,
    ) -> Claims:
        """:meth:`verify` for async code: remote keys and async replay caches are awaited."""
        dpop = _dpop_of(request, dpop)
        entry = self._cache.get(token)
        if entry is not None:
            # Inlined: this is the path nearly every request takes.
            claims, deadline, jkt, bound = entry
            if self._clock() >= deadline:
                self._refuse_cached(token, claims, expired=True)
            revocations = self._revocations
            if revocations is not None and revocations.is_revoked(claims):
                self._refuse_cached(token, claims, expired=False)
        else:
            signed = self._open(token)
            if self._remote is None:
                keys: Key | KeySet = self._static
            else:
                keys = await self._remote.get(peek_kid(signed))
            claims, jkt, bound = self._verify_new(token, signed, keys)
        if bound is not None:
            self.client_binding.check(bound, request)
        if jkt is not None or dpop is not None:
            await self.dpop.acheck(token, jkt, dpop)
        return claims

    def failure(self, exc: JoseError, *, expired_status: int = 401) -> AuthError:
        """The HTTP answer for ``exc``, with this verifier's DPoP algorithms and a fresh nonce."""
        return AuthError.from_jose(
            exc,
            expired_status=expired_status,
            dpop_algorithms=self.dpop.algorithms,
            dpop_nonce=self.dpop.fresh_nonce() if isinstance(exc, dpop.UseDPoPNonceError) else None,
        )

    def _open(self, token: str) -> str:
        """The signed JWT inside an encrypted token; a plain one as it is, when allowed."""
        if jwe.is_compact_jwe(token):
            if self._decrypt is None:
                raise MalformedTokenError("an encrypted token, and no decryption key is configured")
            key, algorithms, encryptions = self._decrypt
            inner = jwe.decrypt_nested(token, key, algorithms, encryptions)
            try:
                return inner.decode("ascii")
            except UnicodeDecodeError:
                raise MalformedTokenError("the encrypted token holds no compact JWT") from None
        if self._decrypt is not None and not self._allow_unencrypted:
            raise MalformedTokenError("this API accepts encrypted access tokens only")
        return token

    def _refuse_cached(self, token: str, claims: Claims, *, expired: bool) -> NoReturn:
        """Drop a cached token that expired or was revoked, and say which."""
        self._cache.pop(token, None)
        if expired:
            raise ExpiredTokenError("the token has expired", expired_at=claims.exp or 0)
        raise TokenRevokedError("the token has been revoked")

    def _now(self) -> float | None:
        # None lets the decoder read the clock itself, skipping a conversion.
        return None if self._clock is time.time else self._clock()

    def _verify_new(
        self, token: str, signed: str, keys: Key | KeySet
    ) -> tuple[Claims, str | None, tuple[Any, Any] | None]:
        return self._accept(token, self._decoder.decode(signed, keys, self._now()))

    def _accept(
        self, token: str, raw: dict[str, Any]
    ) -> tuple[Claims, str | None, tuple[Any, Any] | None]:
        """Typed claims, bindings and revocation of a decoded token; cache it when it passes."""
        claims = _from_decoded(raw)
        # Most tokens carry neither: skip the calls (both read these names only).
        jkt = dpop.bound_jkt(raw) if "cnf" in raw else None  # a bad cnf is an invalid token
        bound = bound_claims(raw) if "fgp" in raw or "bnd" in raw else None
        if self._revocations is not None and self._revocations.is_revoked(claims):
            raise TokenRevokedError("the token has been revoked")
        if self._cache_size:
            exp = claims.exp
            # exp itself when it can be: no new float object to allocate and, on eviction, free
            deadline = exp if exp is not None and not self._leeway else self._deadline(exp)
            # First in, first out: O(1), and only tokens that verified get
            # in, so the cache holds live users' tokens, never an attacker's
            # junk. The order may still name a token already dropped
            # (expired, revoked, forgotten: popping it is a no-op) or name
            # one twice (cached again after forget(), or by two threads at
            # once: the older mention evicts it early, and it is verified
            # again). Either way the cache never outgrows the order, nor the
            # order cache_size.
            order, cache = self._order, self._cache
            while len(order) >= self._cache_size:
                try:  # try, not contextlib.suppress: free when nothing is raised
                    cache.pop(order.popleft(), None)
                except IndexError:  # another thread emptied it first
                    break
            cache[token] = (claims, deadline, jkt, bound)
            order.append(token)
        return claims, jkt, bound

    def _deadline(self, exp: float | None) -> float:
        """When a cached answer for a token with this ``exp`` turns into "expired"."""
        if exp is None:
            return float("inf")
        try:
            return exp + self._leeway
        except OverflowError:  # an integer exp too large for a float: never, in effect
            return float("inf")

    def forget(self, token: str | None = None) -> None:
        """Drop one cached token, or (without an argument) the whole cache."""
        if token is None:
            self._cache.clear()
            self._order.clear()
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


def _dpop_of(request: RequestContext | None, dpop: DPoPRequest | None) -> DPoPRequest | None:
    """The DPoP request of a call: from ``request``, or the older ``dpop=`` argument."""
    if request is None:
        return dpop
    if dpop is not None:
        raise TypeError("pass request= or dpop=, not both")
    return request.dpop


def _decryption(
    key: Key | KeySet | None,
    algorithms: Collection[str] | None,
    encryptions: Collection[str] | None,
) -> tuple[Key | KeySet, tuple[str, ...], tuple[str, ...]] | None:
    """The checked decryption settings, or None without ``decrypt_with``."""
    if key is None:
        if algorithms is not None or encryptions is not None:
            raise ValueError("decrypt_algorithms and encryptions need decrypt_with")
        return None
    if not isinstance(key, Key | KeySet):
        raise TypeError("decrypt_with must be a jwk.Key or a jwk.KeySet")
    for name, value in (("decrypt_algorithms", algorithms), ("encryptions", encryptions)):
        if value is None or isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty list with decrypt_with")
    return key, tuple(algorithms or ()), tuple(encryptions or ())
