"""Who is calling: the gateway's one door to token verification.

Everything about judging a token (signature, claims, the cache of verified
tokens, revocation) is :class:`jotgate.middleware.Verifier`'s job; this
module only builds one from the gateway's settings, feeds it the request's
bearer token, and turns its verdict into the gateway's answer:
:class:`~jotgate.middleware.Claims` or an
:class:`~jotgate.middleware.AuthError` ready to send.

Revocations come pushed through Redis when ``redis_url`` is set, otherwise
from polling the auth server's ``/auth/revocations`` every
``revocation_poll_interval`` (<= 1 s): either way a logout is seen within a
second without a lookup per request.

Encrypted access tokens are opened with ``access_token_decryption_key``.
A DPoP-bound token (``cnf.jkt``) must come as ``Authorization: DPoP`` with
one proof for the request the caller describes (``target``: method and
absolute URI); its ``jti`` goes to a replay cache in this process, or in
Redis with ``dpop_replay = "redis"``. A token bound to a fingerprint cookie
(``fgp``) or to an address or user agent (``bnd``) is checked against the
request's cookies, ``User-Agent`` and client address (``peer``, or the
forwarded one with ``trust_forwarded``), as the auth server does.

Example::

    auth = Authenticator.from_settings(settings)
    await auth.start()
    verdict = await auth.authenticate(scope["headers"], lambda: ("GET", "https://api/x"))
    if isinstance(verdict, AuthError):
        ...  # send verdict.status, verdict.headers, verdict.body
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final
from urllib.parse import quote_plus

from jotgate import dpop
from jotgate.errors import JoseError
from jotgate.jwks import RemoteKeySet
from jotgate.middleware import AuthError, Claims, RevocationSource, Verifier
from jotgate.middleware.context import context_from_headers
from jotgate.middleware.polling import RevocationFeedError
from jotgate.middleware.transport import Credentials, read_credentials

from ._convert import load_decryption_keys
from .settings import Settings

__all__ = ["Authenticator", "authorize"]

log = logging.getLogger("jotgate.gateway")

# Verified claims the gateway forwards as headers; a token without them
# could not say who is calling.
_REQUIRED: Final = ("exp", "sub")
# Authorization values whose reading is remembered (cleared when full).
_SEEN_SIZE: Final = 4096


def authorize(claims: Claims, roles: Sequence[str], scopes: Sequence[str]) -> AuthError | None:
    """403 ``insufficient_scope`` when ``claims`` lack any of ``roles``/``scopes``, else None."""
    if not roles and not scopes:
        return None  # most routes ask for neither
    lacking = claims.missing(roles, scopes)
    return AuthError.insufficient_scope(lacking) if lacking else None


class Authenticator:
    """A :class:`Verifier` plus the start/stop of its key set and revocation feed."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        keys: RemoteKeySet | None = None,
        expired_status: int = 401,
        retry_interval: float = 0.5,
        closing: Sequence[Any] = (),
    ) -> None:
        """Use ``verifier``; ``keys`` (its remote key set) is warmed up at start.

        ``closing``: clients (a Redis replay cache's) to ``aclose`` at stop.
        """
        self.verifier = verifier
        self._keys = keys
        self._closing = tuple(closing)
        self._expired_status = expired_status
        self._retry_interval = retry_interval
        self._starter: asyncio.Task[None] | None = None
        self.feed_started = verifier.revocations is None
        self._seen: dict[bytes, Credentials] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The verifier, key set and revocation source ``settings`` describe."""
        keys = RemoteKeySet(
            settings.jwks,
            max_age=settings.jwks_max_age,
            min_age=settings.jwks_min_age,
            cooldown=settings.jwks_cooldown,
            timeout=min(settings.connect_timeout, 5.0),
        )
        decryption: dict[str, Any] = {}
        if settings.access_token_decryption_key is not None:
            decryption = {
                "decrypt_with": load_decryption_keys(settings.access_token_decryption_key),
                "decrypt_algorithms": settings.access_token_decrypt_algorithms,
                "encryptions": settings.access_token_encryptions,
                "allow_unencrypted": settings.allow_unencrypted_tokens,
            }
        replay: dpop.AsyncReplayCache | None = None
        closing: list[Any] = []
        if settings.dpop_replay == "redis" and settings.redis_url is not None:
            import redis.asyncio as redis_asyncio

            client = redis_asyncio.from_url(settings.redis_url)
            closing.append(client)
            replay = dpop.AsyncRedisReplayCache(client)
        nonce = settings.dpop_nonce_secret
        verifier = Verifier(
            keys,
            algorithms=settings.algorithms,
            issuer=settings.expected_issuer,
            audience=settings.audience,
            leeway=settings.leeway,
            typ=settings.token_type,
            required=_REQUIRED,
            revocations=_revocation_source(settings),
            dpop_replay=replay,
            dpop_nonce=dpop.NonceSource(nonce.encode()) if nonce is not None else None,
            dpop_algorithms=settings.dpop_algorithms,
            dpop_max_age=settings.dpop_max_age,
            fingerprint_cookies=settings.fingerprint_cookies,
            **decryption,
        )
        return cls(verifier, keys=keys, expired_status=settings.expired_status, closing=closing)

    async def authenticate(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        target: Callable[[], tuple[str, str]] | None = None,
        *,
        peer: str | None = None,
        trust_forwarded: bool = False,
    ) -> Claims | AuthError:
        """The claims of the request's token, or the failure to answer with.

        ``target`` gives the request's (method, absolute URI) for a DPoP
        proof; it is called only for the ``DPoP`` scheme. Without it a
        DPoP-scheme request cannot be checked and is refused. ``peer``: the
        direct peer's address; with ``trust_forwarded`` the client address
        (for an address-bound token) is the right-most ``X-Forwarded-For``
        entry, else ``X-Real-IP``. The fingerprint cookie and ``User-Agent``
        come from ``headers``.
        """
        headers = headers if isinstance(headers, list) else list(headers)  # read twice
        found = self.credentials(headers)
        if found is None:
            return AuthError.missing_token()
        return await self.check(headers, found, target, peer=peer, trust_forwarded=trust_forwarded)

    async def check(
        self,
        headers: list[tuple[bytes, bytes]],
        found: Credentials,
        target: Callable[[], tuple[str, str]] | None = None,
        *,
        peer: str | None = None,
        trust_forwarded: bool = False,
    ) -> Claims | AuthError:
        """:meth:`authenticate` for credentials already read (:meth:`credentials`)."""
        method, uri = "", ""
        if found.scheme == "dpop" and target is not None:
            method, uri = target()
        request = context_from_headers(
            headers, found, peer=peer, method=method, uri=uri, trust_forwarded=trust_forwarded
        )
        try:
            return await self.verifier.averify(found.token, request=request)
        except JoseError as exc:
            return self.refusal(exc)

    def refusal(self, exc: JoseError) -> AuthError:
        """The answer for a token the verifier refused with ``exc``."""
        return self.verifier.failure(exc, expired_status=self._expired_status)

    def credentials(self, headers: list[tuple[bytes, bytes]]) -> Credentials | None:
        """:func:`read_credentials` of ASGI ``headers``, remembered per ``Authorization`` value.

        Nearly every request repeats a token seen before; only a request with
        no ``DPoP`` header is answered from memory (its credentials are then
        a function of that one value), any other is read whole.
        """
        authorization: bytes | None = None
        for name, value in headers:
            if name == b"authorization":
                if authorization is None:
                    authorization = value
            elif name == b"dpop":
                return read_credentials(headers, None)
        if authorization is None:
            return None
        found = self._seen.get(authorization)
        if found is None:
            found = read_credentials(((b"authorization", authorization),), None)
            if found is not None:
                if len(self._seen) >= _SEEN_SIZE:
                    self._seen.clear()
                self._seen[authorization] = found
        return found

    async def start(self) -> None:
        """Fetch the keys once and start the revocation feed.

        Neither may stop the gateway from starting: keys are fetched again
        when a token needs them, and a feed that cannot start now (auth
        server or Redis still down) is retried in the background until it
        does, with a warning each time.
        """
        if self._keys is not None:
            with contextlib.suppress(JoseError):
                await self._keys.get()
        if not self.feed_started:
            try:
                await self.verifier.start()
            except Exception as exc:  # any failure: retried below
                log.warning("revocation feed not started (%s); retrying", _why(exc))
                self._starter = asyncio.create_task(self._keep_starting())
            else:
                self.feed_started = True

    async def _keep_starting(self) -> None:
        delay = self._retry_interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self.verifier.start()
            except Exception as exc:
                log.warning("revocation feed not started (%s); retrying", _why(exc))
                # Back off, but not far: until the feed runs, logouts go unseen.
                delay = min(delay * 2, 5.0)
            else:
                self.feed_started = True
                log.info("revocation feed started")
                return

    async def stop(self) -> None:
        """Stop the feed (and the retries) and release the key set."""
        starter, self._starter = self._starter, None
        if starter is not None:
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starter
        await self.verifier.stop()
        if self._keys is not None:
            await self._keys.aclose()
        for client in self._closing:
            with contextlib.suppress(Exception):  # closing must not fail a shutdown
                await client.aclose()


def _why(exc: Exception) -> str:
    """A log-safe reason: the feed's own messages (statuses), else only the error's type."""
    if isinstance(exc, RevocationFeedError):
        hint = " - set client_id and its secret" if "401" in str(exc) or "403" in str(exc) else ""
        return f"{exc}{hint}"
    # Other messages may quote a URL with credentials (redis://:pw@...).
    return type(exc).__name__


def _client_credentials(settings: Settings) -> dict[str, str]:
    """HTTP Basic for the auth server's service endpoints (RFC 6749 §2.3.1 encoding)."""
    if settings.client_id is None or settings.client_secret is None:
        return {}
    pair = f"{quote_plus(settings.client_id)}:{quote_plus(settings.client_secret)}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def _revocation_source(settings: Settings) -> RevocationSource | None:
    if settings.redis_url is not None:
        from jotgate.middleware.redis_revocations import RedisRevocations

        return RedisRevocations(
            settings.redis_url,
            channel=settings.revocation_channel,
            key_prefix=settings.revocation_key_prefix,
            reconnect_delay=0.5,
        )
    if settings.auth_server is not None:
        from jotgate.middleware.polling import PollingRevocations

        return PollingRevocations(
            settings.auth_server + "/auth/revocations",
            interval=settings.revocation_poll_interval,
            timeout=settings.connect_timeout,
            headers=_client_credentials(settings),
        )
    log.warning("no auth_server and no redis_url: logouts are not seen before tokens expire")
    return None
