"""The verified claims a request carries: typed accessors over a read-only claim set.

A :class:`Claims` is built once per distinct token and then shared by every
request that presents the same token (the verifier caches it), so it is
immutable: a ``NamedTuple`` (built in one step, cheaper on a cache miss than
a frozen dataclass's field-by-field ``__init__``) whose ``raw`` is a
read-only view.

Example::

    claims = verifier.verify(token)
    claims.sub                      # "5f0c..." (the user's opaque id)
    "admin" in claims.roles         # roles from the ``roles`` claim
    claims.has_scopes("read:notes") # scopes from ``scope`` (RFC 9068) or ``scp``
    claims.get("client_id")         # anything else; claims.raw is the read-only whole
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn

from jotgate.errors import InvalidClaimError

__all__ = ["Claims"]


def _strings(value: object, name: str) -> tuple[str, ...]:
    if type(value) is list:
        items = tuple(value)
        for item in items:
            if type(item) is not str:
                break
        else:
            return items
    _not_strings(name)


def _not_strings(name: str) -> NoReturn:
    raise InvalidClaimError(f"'{name}' must be a list of strings", claim=name, reason="type")


class Claims(NamedTuple):
    """Verified claims of one access token.

    ``roles`` come from the ``roles`` claim (a list of strings); ``scopes``
    from ``scope`` (a space-separated string, RFC 8693 §4.2 / RFC 9068) or,
    failing that, ``scp`` (a list of strings). ``raw`` is every claim,
    read-only. ``exp`` is None only for tokens without one (which a
    :class:`~jotgate.middleware.Verifier` refuses unless told otherwise).

    Example::

        claims = Claims.from_dict({"sub": "u-1", "roles": ["admin"], "scope": "a b"})
        assert claims.roles == ("admin",) and claims.has_scopes("a", "b")
    """

    sub: str | None
    sid: str | None
    jti: str | None
    exp: float | None
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, claims: dict[str, Any]) -> Claims:
        """Claims from a verified claim dict (taken over, not copied: do not reuse it).

        Raises :class:`~jotgate.errors.InvalidClaimError` when ``sid``,
        ``roles``, ``scope``, ``scp``, ``sub`` or ``jti`` have the wrong JSON
        type (``exp`` is taken as ``jwt.decode`` checked it).
        """
        typed = _from_decoded(claims)
        # jwt.decode has checked these two already; a dict from elsewhere may not be.
        if typed.sub is not None and type(typed.sub) is not str:
            raise InvalidClaimError("'sub' must be a string", claim="sub", reason="type")
        if typed.jti is not None and type(typed.jti) is not str:
            raise InvalidClaimError("'jti' must be a string", claim="jti", reason="type")
        return typed

    def get(self, name: str, default: Any = None) -> Any:
        """A raw claim, or ``default``: ``claims.get("client_id")``."""
        return self.raw.get(name, default)

    def has_roles(self, *roles: str) -> bool:
        """True when the token carries every one of ``roles``."""
        return all(role in self.roles for role in roles)

    def has_scopes(self, *scopes: str) -> bool:
        """True when the token grants every one of ``scopes``."""
        return all(scope in self.scopes for scope in scopes)

    def missing(self, roles: Iterable[str] = (), scopes: Iterable[str] = ()) -> list[str]:
        """The roles and scopes asked for that the token lacks (empty: access granted)."""
        lacking = [role for role in roles if role not in self.roles]
        lacking += [scope for scope in scopes if scope not in self.scopes]
        return lacking

    def to_dict(self) -> dict[str, Any]:
        """A fresh, mutable deep copy of the raw claims (for JSON responses)."""
        # Deep: nested lists are shared with every request presenting this token.
        return copy.deepcopy(dict(self.raw))


_new = tuple.__new__


def _from_decoded(claims: dict[str, Any]) -> Claims:
    """:meth:`Claims.from_dict` for a dict ``jwt.decode`` returned (``sub``/``jti`` checked there).

    Written flat: the Verifier runs it once per new token on the request
    path. Helpers only on the error path; ``tuple.__new__`` skips the
    NamedTuple ``__new__`` wrapper (a Python-level call).
    """
    get = claims.get
    sid = get("sid")
    if sid is not None and type(sid) is not str:
        raise InvalidClaimError("'sid' must be a string", claim="sid", reason="type")
    roles = get("roles")
    if roles is None:
        roles = ()
    elif type(roles) is list:
        roles = tuple(roles)
        for role in roles:
            if type(role) is not str:
                _not_strings("roles")
    else:
        _not_strings("roles")
    scope = get("scope")
    if scope is not None:
        if type(scope) is not str:
            raise InvalidClaimError("'scope' must be a string", claim="scope", reason="type")
        scopes = tuple(scope.split())
    else:
        scp = get("scp")
        scopes = () if scp is None else _strings(scp, "scp")
    return _new(
        Claims, (get("sub"), sid, get("jti"), get("exp"), roles, scopes, MappingProxyType(claims))
    )
