"""DPoP at the verifier (RFC 9449 §7): a bound token needs a fresh proof on every request.

An access token whose claims carry ``cnf.jkt`` is *DPoP-bound*: it is
accepted only when sent as ``Authorization: DPoP <token>`` together with
exactly one ``DPoP`` proof header signed by the key whose thumbprint is
``cnf.jkt``, made for this request's method and URI, carrying the token's
hash (``ath``), not seen before (the replay cache) and, when a
:class:`~jotgate.dpop.NonceSource` is configured, carrying a current nonce.
The checks themselves are :func:`jotgate.dpop.verify_proof`'s; this module
decides *when* they apply and what the request looked like.

The two schemes never stand in for each other: a bound token sent as
``Bearer`` (or in a cookie) is refused — a thief who strips the proof must
not get a bearer token out of it — and an unbound token sent with the
``DPoP`` scheme is refused too (RFC 9449 §7.2), as :class:`TokenBindingError`.

The request URI (``htu``) is the one the client used: scheme and host of the
request (``Host``), or ``X-Forwarded-Proto``/``X-Forwarded-Host`` only when the
caller says those are trusted (a proxy in front sets them). Query and
fragment are ignored by the comparison.

Example::

    request = DPoPRequest("GET", "https://api.example.com/notes", proofs=(proof,))
    claims = verifier.verify(token, dpop=request)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from datetime import timedelta
from typing import Any, NamedTuple
from urllib.parse import quote

from jotgate import dpop
from jotgate.dpop import AsyncReplayCache, NonceCheck, ReplayCache
from jotgate.errors import JoseError

from .errors import DPoPUnavailableError, TokenBindingError

__all__ = [
    "DPoPPolicy",
    "DPoPRequest",
    "asgi_request_uri",
    "dpop_request_from_scope",
    "environ_request_uri",
]

# Characters a path keeps unescaped when rebuilt from WSGI's decoded PATH_INFO.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


class DPoPRequest(NamedTuple):
    """The request a ``DPoP``-scheme token came with: method, absolute URI, proof headers."""

    method: str
    uri: str
    proofs: tuple[str, ...]


def _first(value: bytes | str) -> str:
    """The left-most entry of a comma-separated forwarding header: the client's own view."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return text.split(",", 1)[0].strip()


def _http_scheme(scheme: str) -> str:
    # A websocket handshake is an HTTP GET: its proof names http(s), not ws(s).
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


def asgi_request_uri(scope: Mapping[str, Any], *, trust_forwarded: bool = False) -> str:
    """The absolute URI (without query) of an ASGI request, as its client addressed it."""
    host: str | None = None
    proto: str | None = None
    forwarded_host: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
        elif trust_forwarded and name == b"x-forwarded-proto":
            proto = _first(value)
        elif trust_forwarded and name == b"x-forwarded-host":
            forwarded_host = _first(value)
    if forwarded_host:
        host = forwarded_host
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    scheme = proto or _http_scheme(str(scope.get("scheme", "http")))
    raw: bytes | None = scope.get("raw_path")
    if raw:
        # Some servers (and httpx's ASGI transport) leave the query in raw_path.
        path = raw.partition(b"?")[0].decode("latin-1")
    else:
        path = quote(str(scope.get("root_path", "")) + str(scope.get("path", "/")), _PATH_SAFE)
    return f"{scheme}://{host}{path}"


def environ_request_uri(environ: Mapping[str, Any], *, trust_forwarded: bool = False) -> str:
    """The absolute URI (without query) of a WSGI request, as its client addressed it."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = environ.get("HTTP_HOST")
    if trust_forwarded:
        proto = environ.get("HTTP_X_FORWARDED_PROTO")
        forwarded_host = environ.get("HTTP_X_FORWARDED_HOST")
        scheme = _first(proto) if proto else scheme
        host = _first(forwarded_host) if forwarded_host else host
    if not host:
        host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith("/"):
        # gunicorn and uWSGI keep the path as sent; PATH_INFO is already decoded.
        path = raw.partition("?")[0]
    else:
        script, info = environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", "")
        # PEP 3333: PATH_INFO is bytes as latin-1 text; escape it back.
        path = quote(f"{script}{info}".encode("latin-1", "replace"), _PATH_SAFE) or "/"
    return f"{scheme}://{host}{path}"


class DPoPPolicy:
    """How a verifier checks DPoP: replay cache, nonce, algorithms and proof age.

    ``replay``: a :class:`jotgate.dpop.ReplayCache` and/or
    :class:`~jotgate.dpop.AsyncReplayCache` (default: a
    :class:`~jotgate.dpop.MemoryReplayCache` for this process only).
    ``nonce``: a :class:`~jotgate.dpop.NonceSource` to demand server nonces.
    """

    def __init__(
        self,
        *,
        replay: ReplayCache | AsyncReplayCache | None = None,
        nonce: NonceCheck | None = None,
        algorithms: Collection[str] = dpop.DEFAULT_ALGORITHMS,
        max_age: float | timedelta = 60,
        leeway: float | timedelta = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """A policy; see the class docstring."""
        self.replay = replay if replay is not None else dpop.MemoryReplayCache()
        if not hasattr(self.replay, "check_and_store") and not hasattr(
            self.replay, "acheck_and_store"
        ):
            raise TypeError("dpop_replay needs check_and_store or acheck_and_store")
        self.nonce = nonce
        if isinstance(algorithms, str) or not algorithms:
            raise ValueError("dpop_algorithms must be a non-empty list, e.g. ['ES256']")
        # The tuple itself when it is the default: verify_proof skips re-checking it.
        self.algorithms = (
            dpop.DEFAULT_ALGORITHMS if algorithms == dpop.DEFAULT_ALGORITHMS else tuple(algorithms)
        )
        self.max_age, self.leeway = max_age, leeway
        self._clock = clock

    @property
    def awaits(self) -> bool:
        """True when the replay cache does I/O to await (use ``averify`` on an event loop).

        The in-process cache has both methods but never waits; any other
        cache with ``acheck_and_store`` is awaited rather than block the loop.
        """
        replay = self.replay
        return hasattr(replay, "acheck_and_store") and not isinstance(
            replay, dpop.MemoryReplayCache
        )

    def fresh_nonce(self) -> str | None:
        """A nonce for a ``DPoP-Nonce`` header, when nonces are required."""
        issue = getattr(self.nonce, "issue", None)
        return str(issue()) if callable(issue) else None

    def _now(self) -> float | None:
        return None if self._clock is time.time else self._clock()

    @staticmethod
    def _scheme_fits(jkt: str | None, request: DPoPRequest | None) -> bool:
        """Whether the proof check is needed; raises when the scheme does not fit the token."""
        if jkt is None:
            if request is not None:
                raise TokenBindingError(
                    "the DPoP scheme is for DPoP-bound tokens; send this one as Bearer"
                )
            return False
        if request is None:
            raise TokenBindingError(
                "this access token is DPoP-bound: send it as 'Authorization: DPoP' with a proof"
            )
        return True

    def check(self, token: str, jkt: str | None, request: DPoPRequest | None) -> None:
        """Refuse the token unless the way it came fits its binding (sync replay cache)."""
        if not self._scheme_fits(jkt, request):
            return
        assert request is not None
        replay = self.replay
        if not hasattr(replay, "check_and_store"):
            raise TypeError("an async-only dpop_replay cache needs Verifier.averify")
        sync_replay: ReplayCache = replay  # type: ignore[assignment]
        try:
            dpop.verify_proof(
                request.proofs, htm=request.method, htu=request.uri,
                algorithms=self.algorithms, access_token=token, expected_jkt=jkt,
                nonce=self.nonce, max_age=self.max_age, leeway=self.leeway,
                replay=sync_replay, now=self._now(),
            )  # fmt: skip
        except (JoseError, TypeError):
            raise
        except Exception as exc:
            # Everything else comes from the replay store: not the client's fault.
            raise DPoPUnavailableError("the DPoP replay cache cannot answer") from exc

    async def acheck(self, token: str, jkt: str | None, request: DPoPRequest | None) -> None:
        """:meth:`check` awaiting the replay cache when it is an async one."""
        if not self._scheme_fits(jkt, request):
            return
        assert request is not None
        replay = self.replay
        if not hasattr(replay, "acheck_and_store"):
            self.check(token, jkt, request)  # a sync cache (blocking Redis) still works
            return
        async_replay: AsyncReplayCache = replay  # type: ignore[assignment]
        try:
            await dpop.averify_proof(
                request.proofs, htm=request.method, htu=request.uri,
                algorithms=self.algorithms, access_token=token, expected_jkt=jkt,
                nonce=self.nonce, max_age=self.max_age, leeway=self.leeway,
                replay=async_replay, now=self._now(),
            )  # fmt: skip
        except (JoseError, TypeError):
            raise
        except Exception as exc:
            raise DPoPUnavailableError("the DPoP replay cache cannot answer") from exc


def dpop_request_from_scope(
    scope: MutableMapping[str, Any], proofs: Iterable[str], *, trust_forwarded: bool
) -> DPoPRequest:
    """The :class:`DPoPRequest` of an ASGI request (a websocket handshake is a GET)."""
    method = str(scope.get("method", "GET"))
    uri = asgi_request_uri(scope, trust_forwarded=trust_forwarded)
    return DPoPRequest(method, uri, tuple(proofs))
