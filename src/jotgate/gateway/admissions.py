"""Tokens the gateway has admitted before, and the identity headers they travel with.

Almost every request on a token-checked route repeats a token the gateway
has already accepted. For those, two things need not be done again: reading
the ``Authorization`` header into a token, and encoding the claims as the
identity headers (``X-User-Id``, ``X-User-Roles``, ``X-User-Scopes``,
``X-Session-Id``, ``X-Auth-Claims``: ~600 bytes, mostly the base64url JSON of
the claims). :class:`Admissions` keeps both per ``Authorization`` value, the
identity headers as finished header lines ready to join the upstream
request's head.

It remembers; it never decides. The token is handed to the
:class:`~jotgate.middleware.Verifier` again on every request, so expiry and
revocation apply each time exactly as without it. It holds only tokens that
need nothing else from the request: sent as ``Bearer`` with no ``DPoP``
header, and bound to neither a DPoP key (``cnf``), a fingerprint cookie
(``fgp``) nor a client address or user agent (``bnd``). Should one of those
slip in anyway, the verifier, called without the request's context, refuses
it.

Example::

    admitted = admissions.find(scope["headers"])
    if admitted is not None:
        claims = await verifier.averify(admitted.token)  # raises when expired/revoked
        head_extra = admitted.block
"""

from __future__ import annotations

from typing import Final, NamedTuple

from jotgate.middleware import Claims
from jotgate.middleware.transport import Credentials

from .headers import Headers

__all__ = ["Admissions", "Admitted", "header_block"]

# Claims that bind a token to more than itself: such a token needs the request.
_BINDING_CLAIMS: Final = ("cnf", "fgp", "bnd")
# Remembered Authorization values (the whole mapping is dropped when full).
DEFAULT_SIZE: Final = 4096


class Admitted(NamedTuple):
    """A token admitted before and the identity header lines its claims make."""

    token: str
    block: bytes


def header_block(headers: Headers) -> bytes:
    """``name: value\\r\\n`` lines of ``headers`` (already checked to be safe to send)."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


class Admissions:
    """Admitted tokens by ``Authorization`` value, bounded (cleared whole when full)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        """Remember up to ``size`` distinct ``Authorization`` values."""
        self._size = size
        self._known: dict[bytes, Admitted] = {}

    def __len__(self) -> int:
        return len(self._known)

    def find(self, headers: list[tuple[bytes, bytes]]) -> Admitted | None:
        """The entry for the request's one ``Authorization`` value, if it has one.

        None, so the full check runs, when the request has a ``DPoP``
        header or more than one ``Authorization``: only the common shape
        (one bearer token, nothing else to look at) is answered from memory.
        """
        authorization: bytes | None = None
        for name, value in headers:
            if name == b"authorization":
                if authorization is not None:
                    return None
                authorization = value
            elif name == b"dpop":
                return None
        if authorization is None:
            return None
        return self._known.get(authorization)

    def remember(
        self,
        headers: list[tuple[bytes, bytes]],
        found: Credentials,
        claims: Claims,
        identity: Headers,
    ) -> None:
        """Keep what a request whose token the verifier just accepted needs next time.

        Only when the token came alone (one ``Authorization: Bearer``, no
        ``DPoP`` header) and binds to nothing but itself; ``identity`` is
        :func:`~jotgate.gateway.headers.identity_headers` of ``claims``.
        """
        if found.scheme != "bearer" or found.proofs:
            return
        raw = claims.raw
        if any(name in raw for name in _BINDING_CLAIMS):
            return
        authorization: bytes | None = None
        for name, value in headers:
            if name == b"authorization":
                if authorization is not None:
                    return
                authorization = value
            elif name == b"dpop":
                return
        if authorization is None:
            return
        known = self._known
        if len(known) >= self._size:
            known.clear()
        known[authorization] = Admitted(found.token, header_block(identity))
