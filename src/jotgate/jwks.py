"""Remote key sets: a JWK Set fetched over HTTP(S), cached, refreshed with care.

The only I/O in the library, behind the ``remote`` extra (httpx)::

    from jotgate import jwt
    from jotgate.jwks import RemoteKeySet

    keys = RemoteKeySet("https://auth.example.com/.well-known/jwks.json")
    claims = jwt.decode(token, keys, algorithms=["ES256"])          # sync code
    claims = jwt.decode(token, await keys.get(kid), algorithms=["ES256"])  # async code

What it guards against: a key server that is slow, down, redirecting or
serving garbage (the last good keys stay in use; the fetch is bounded in
time and size), and tokens that spray random ``kid`` values to make every
verification a network call (a refetch for an unknown ``kid`` happens at
most once per ``cooldown``). The URL comes from configuration only; nothing
in a token (``jku``, ``x5u``) ever names a place to fetch from.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

try:
    import httpx
except ImportError as exc:  # pragma: no cover - checked in a subprocess test
    raise ImportError(
        "jotgate.jwks needs httpx, which comes with the 'remote' extra: "
        "pip install 'jotgate[remote]'"
    ) from exc

from ._jwks_fetch import Fetched, FetchError, Limits, fetch_async, fetch_sync
from .errors import KeyNotFoundError
from .jwa import Algorithm
from .jwk import Key, KeySet

__all__ = ["RemoteKeySet"]

logger = logging.getLogger("jotgate.jwks")


@dataclass(frozen=True, slots=True)
class _State:
    """Everything the cache knows, replaced whole so readers need no lock."""

    keys: KeySet | None = None  # the last good key set, however old
    expires_at: float = -math.inf  # until then `keys` is fresh
    attempted_at: float | None = None  # start of the last fetch, good or not
    failed: FetchError | None = None  # why the last fetch failed, when it did


#: Retry interval while no key set has ever been fetched (capped by cooldown).
_RETRY_WITHOUT_KEYS = 1.0


def _seconds(name: str, value: float, *, zero_ok: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


def _check_url(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError("the JWKS URL must be a str")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid JWKS URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("the JWKS URL must be an absolute http:// or https:// URL")
    if parsed.userinfo:
        # They would end up in logs; pass a client with auth configured instead.
        raise ValueError("credentials in the JWKS URL are refused; pass a configured client")
    return url


def _check_kid(kid: object) -> None:
    # A kid comes from an unverified header: anything but a string is no
    # key of ours, and must cost no fetch (nor crash a dict lookup).
    if kid is not None and type(kid) is not str:
        raise KeyNotFoundError("a kid must be a string")


def _short(kid: str) -> str:
    return repr(kid[:40] + "..." if len(kid) > 40 else kid)


class RemoteKeySet:
    """A JWK Set at a fixed URL, cached and refreshed; a :class:`jwk.KeySource`.

    - The set is cached for the response's ``Cache-Control: max-age`` (less
      its ``Age``), clamped to [``min_age``, ``max_age``]; ``no-store`` and
      ``no-cache`` mean ``min_age``; no ``max-age`` means ``max_age``.
      ``min_age`` defaults to 60 s (or ``max_age`` if smaller): the floor on
      how often a server can make us fetch.
    - An unknown ``kid`` refetches at once if the last fetch began at least
      ``cooldown`` seconds ago; otherwise it fails without touching the network.
    - Concurrent callers share one in-flight fetch: async callers per event
      loop, sync callers across threads. Both paths share one cache.
    - A failed fetch (network error, timeout, status other than 200, a
      content type other than ``application/json`` or
      ``application/jwk-set+json``, a body over ``max_bytes``, a document
      with no usable public key) keeps the last good keys, logs a warning on
      the ``jotgate.jwks`` logger and is retried at most once per ``cooldown``
      (once a second while no fetch has succeeded yet: a verifier that starts
      before its key server recovers within a second, and a dead key server
      still costs one fetch a second, not one per request).
      Keys are kept however old: an outage of the key server should not
      become an outage of every service that verifies its tokens.
    - Redirects are not followed. Secret (``oct``) keys in the document are
      ignored and private members dropped. Use ``https://`` in production:
      whoever can change the response can mint tokens.

    ``client`` / ``sync_client`` are used as given (for pooling, proxies, CA
    bundles) and never closed here. Without them each async fetch uses a
    short-lived client (fetches are minutes apart, and a pooled async client
    would be tied to one event loop) and sync fetches share one that
    :meth:`close` releases. ``clock`` (monotonic seconds) is for tests.

    Example::

        keys = RemoteKeySet("https://auth.example.com/.well-known/jwks.json",
                            max_age=600, cooldown=30, timeout=5.0)
        claims = jwt.decode(token, keys, algorithms=["ES256"], audience="api")
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 600.0,
        min_age: float | None = None,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        max_bytes: int = 512 * 1024,
        client: httpx.AsyncClient | None = None,
        sync_client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Check the options; nothing is fetched until a key is first needed."""
        self.url = _check_url(url)
        self.max_age = _seconds("max_age", max_age)
        self.min_age = min(60.0, self.max_age) if min_age is None else _seconds("min_age", min_age)
        if self.min_age > self.max_age:
            raise ValueError("min_age may not exceed max_age")
        self.cooldown = _seconds("cooldown", cooldown, zero_ok=True)
        self.timeout = _seconds("timeout", timeout)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive int, not {max_bytes!r}")
        self.max_bytes = max_bytes
        self._limits = Limits(self.timeout, max_bytes, self.min_age, self.max_age)
        self._client = client
        self._sync_client = sync_client
        self._owned_sync_client: httpx.Client | None = None
        self._clock = clock
        self._state = _State()
        self._state_lock = threading.Lock()  # held only to swap the state
        self._sync_fetch_lock = threading.Lock()  # held for a whole sync fetch
        self._in_flight: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    def __repr__(self) -> str:
        keys = self._state.keys
        held = "no keys yet" if keys is None else f"{len(keys)} keys"
        return f"<RemoteKeySet {self.url} ({held})>"

    # -- the public faces -------------------------------------------------

    async def get(self, kid: str | None = None) -> KeySet:
        """A key set fresh enough for ``kid`` (the current set when None).

        Raises :class:`~jotgate.errors.KeyNotFoundError` when no set was
        ever fetched, or ``kid`` is not in the set and no refetch is allowed
        (or the refetch did not bring it).
        """
        _check_kid(kid)
        if self._due(kid):
            await self._shared_fetch()
        return self._result(kid)

    def get_sync(self, kid: str | None = None) -> KeySet:
        """The same as :meth:`get`, from sync code (blocks while it fetches)."""
        _check_kid(kid)
        if self._due(kid):
            with self._sync_fetch_lock:
                # Threads that queued behind a fetch find its result here.
                if self._due(kid):
                    self._fetch_sync()
        return self._result(kid)

    def select(self, alg: Algorithm, kid: str | None) -> Sequence[Key]:
        """Key-source protocol, so ``jwt.decode(token, remote_key_set, ...)`` works.

        Uses :meth:`get_sync`: in async code, prefer ``await get(kid)``, as a
        due fetch here blocks the event loop for up to ``timeout``.
        """
        return self.get_sync(kid).select(alg, kid)

    def close(self) -> None:
        """Release the sync client this object made (given clients are left open)."""
        client, self._owned_sync_client = self._owned_sync_client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Release what this object made (given clients are left open)."""
        self.close()

    def __enter__(self) -> RemoteKeySet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> RemoteKeySet:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the cache decisions ----------------------------------------------

    def _due(self, kid: str | None) -> bool:
        """Whether a caller wanting ``kid`` should fetch now."""
        state, now = self._state, self._clock()
        if state.attempted_at is None:
            return True
        since = now - state.attempted_at
        may_retry = since >= self.cooldown
        if state.keys is None:
            # Nothing to serve yet: every token is refused until a fetch works,
            # so retry soon (a verifier often starts before its key server).
            return since >= min(self.cooldown, _RETRY_WITHOUT_KEYS)
        if now >= state.expires_at:
            # Stale: refresh at once, unless the last try failed recently.
            return state.failed is None or may_retry
        return kid is not None and state.keys.get(kid) is None and may_retry

    def _result(self, kid: str | None) -> KeySet:
        state = self._state
        if state.keys is None:
            # The reason goes to the cause and the log, not the message: HTTP
            # layers may show messages to clients, who need not learn about
            # our key server.
            raise KeyNotFoundError("the remote key set could not be fetched") from state.failed
        if kid is not None and state.keys.get(kid) is None:
            raise KeyNotFoundError(f"no key with kid {_short(kid)} in the remote key set")
        return state.keys

    def _record(self, started: float, outcome: Fetched | FetchError) -> None:
        with self._state_lock:
            old = self._state
            if old.attempted_at is not None and started < old.attempted_at:
                return  # a fetch that began later already landed: its answer is newer
            if isinstance(outcome, Fetched):
                self._state = _State(
                    outcome.keys, self._clock() + outcome.lifetime, started, failed=None
                )
            else:
                # Without its traceback: the frames would pin the response body.
                failed = outcome.with_traceback(None)
                self._state = _State(old.keys, old.expires_at, started, failed=failed)
        if isinstance(outcome, Fetched):
            logger.debug("fetched %d keys from %s", len(outcome.keys), self.url)
        elif old.keys is None:
            logger.warning("fetching the JWKS from %s failed (%s); no keys yet", self.url, outcome)
        else:
            logger.warning(
                "fetching the JWKS from %s failed (%s); keeping the %d last good keys",
                self.url,
                outcome,
                len(old.keys),
            )

    # -- the fetches -------------------------------------------------------

    def _fetch_sync(self) -> None:
        started = self._clock()
        client = self._sync_client or self._owned_sync_client
        if client is None:
            client = self._owned_sync_client = httpx.Client()
        try:
            outcome: Fetched | FetchError = fetch_sync(client, self.url, self._limits)
        except FetchError as exc:
            outcome = exc
        self._record(started, outcome)

    async def _fetch_async(self) -> None:
        started = self._clock()
        try:
            if self._client is not None:
                outcome: Fetched | FetchError = await fetch_async(
                    self._client, self.url, self._limits
                )
            else:
                async with httpx.AsyncClient() as client:
                    outcome = await fetch_async(client, self.url, self._limits)
        except FetchError as exc:
            outcome = exc
        self._record(started, outcome)

    async def _shared_fetch(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._in_flight.get(loop)
        if task is None:
            # No await between the check and the insert: one task per loop.
            task = loop.create_task(self._fetch_async())
            self._in_flight[loop] = task
            task.add_done_callback(lambda _: self._in_flight.pop(loop, None))
        # Shielded: a caller that gives up must not cancel everyone's fetch.
        await asyncio.shield(task)
