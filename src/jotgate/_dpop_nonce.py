"""Server-provided DPoP nonces (RFC 9449 §8, §9) without shared state.

Time is cut into windows of ``period`` seconds. The nonce of window ``w`` is
an HMAC-SHA256 of ``w`` under a server secret, so every process that holds
the secret computes the same nonce for the same window: no database, no
Redis, no coordination. A nonce is accepted in its own window and the next
one, so it lives between ``period`` and ``2 x period`` seconds and a client
that fetched one just before a rotation is not turned away at once.

The nonce cannot be predicted before its window starts (that is what a
nonce is for: a proof made with a stolen key today cannot be pre-made for
tomorrow). It is not single-use; the ``jti`` replay cache covers that.

Example::

    nonces = NonceSource(secret_from_config)          # 32+ random bytes
    response.headers["DPoP-Nonce"] = nonces.issue()
    dpop.verify_proof(header, htm="POST", htu=url, nonce=nonces, replay=replay)
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import time
from collections.abc import Callable
from typing import Final

from cryptography.hazmat.primitives import hashes, hmac

from ._b64 import encode_str
from .errors import InvalidKeyError

__all__ = ["NonceSource"]

_CONTEXT: Final = b"jotgate/dpop-nonce/v1\x00"  # keeps these MACs apart from other uses
_MIN_SECRET: Final = 32
_NONCE_BYTES: Final = 16  # 128 bits: unguessable, and short in a header


class NonceSource:
    """Stateless rotating nonces: :meth:`issue` the current one, check with :meth:`valid`.

    ``secret`` (at least 32 bytes) is shared by every process that must agree.
    ``period`` is the rotation interval in seconds; ``clock`` gives epoch seconds.
    """

    __slots__ = ("_cache", "_clock", "_hmac", "period")

    def __init__(
        self, secret: bytes, *, period: float = 300, clock: Callable[[], float] = time.time
    ):
        """Nonces under ``secret``, rotating every ``period`` seconds."""
        if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET:
            raise InvalidKeyError(f"a nonce secret must be at least {_MIN_SECRET} bytes")
        if not isinstance(period, int | float) or not period > 0:
            raise ValueError("period must be a positive number of seconds")
        self.period = period
        self._clock = clock
        self._hmac = hmac.HMAC(secret, hashes.SHA256())
        # window -> nonce for the few windows in use; rebuilt when it grows.
        self._cache: dict[int, bytes] = {}

    def _nonce(self, window: int) -> bytes:
        nonce = self._cache.get(window)
        if nonce is None:
            ctx = self._hmac.copy()
            ctx.update(_CONTEXT + window.to_bytes(8, "big", signed=True))
            nonce = encode_str(ctx.finalize()[:_NONCE_BYTES]).encode("ascii")
            if len(self._cache) >= 4:
                self._cache = {}
            self._cache[window] = nonce
        return nonce

    def _window(self, now: float | None) -> int:
        return int((self._clock() if now is None else now) // self.period)

    def issue(self, now: float | None = None) -> str:
        """The current window's nonce (send it in a ``DPoP-Nonce`` header)."""
        return self._nonce(self._window(now)).decode("ascii")

    def valid(self, nonce: object, now: float | None = None) -> bool:
        """True when ``nonce`` is this window's or the previous window's nonce."""
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        try:
            given = nonce.encode("ascii")
        except UnicodeEncodeError:
            return False
        window = self._window(now)
        compare = _stdlib_hmac.compare_digest
        # Both compared, always: the time taken says nothing about which matched.
        current = compare(given, self._nonce(window))
        previous = compare(given, self._nonce(window - 1))
        return current | previous
