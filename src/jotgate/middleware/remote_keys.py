"""Remote key sets as a :class:`~jotgate.middleware.Verifier` uses them.

:class:`RemoteKeys` is the part of a remote key set the verifier calls;
:func:`peek_kid` reads a token's ``kid`` cheaply (unverified) to ask it for
the right key before ``jwt.decode`` judges the header strictly.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Final, Protocol, runtime_checkable

from jotgate.jwk import KeySet

__all__ = ["RemoteKeys", "peek_kid"]

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
