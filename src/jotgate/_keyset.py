"""The :class:`KeySet` type behind :mod:`jotgate.jwk` (RFC 7517 §5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from . import _keyload
from ._key import Key, short_repr
from .errors import InvalidKeyError, KeyNotFoundError
from .jwa import Algorithm

__all__ = ["KeySet"]


class KeySet:
    """An immutable set of keys, selected by ``kid`` (RFC 7517 §5).

    Refuses duplicate ``kid`` values and mixing secret with asymmetric keys
    (a set that holds both invites algorithm confusion).
    """

    __slots__ = ("_by_kid", "_keys", "_selection")

    def __init__(self, keys: Iterable[Key]) -> None:
        """A key set of ``keys``, in order (tried in that order when a token has no kid)."""
        self._keys: tuple[Key, ...] = tuple(keys)
        self._by_kid: dict[str, Key] = {}
        self._selection: dict[tuple[str, str | None], tuple[Key, ...]] = {}
        for key in self._keys:
            if not isinstance(key, Key):
                raise InvalidKeyError("a KeySet holds jwk.Key objects")
            if key.kid is not None:
                if key.kid in self._by_kid:
                    raise InvalidKeyError(f"duplicate kid {short_repr(key.kid)} in key set")
                self._by_kid[key.kid] = key
        if len({key.is_symmetric for key in self._keys}) > 1:
            raise InvalidKeyError("a key set may not mix secret and asymmetric keys")

    @classmethod
    def from_jwks(
        cls, data: Mapping[str, Any] | str | bytes, *, skip_invalid: bool = False
    ) -> KeySet:
        """A key set from a JWK Set document (a mapping, or its JSON text).

        Keys of a ``kty`` or curve we do not support are ignored (RFC 7517
        §5). Weak or malformed keys raise, unless ``skip_invalid`` (for
        documents fetched from elsewhere, where one bad key must not hide
        the good ones).
        """
        document = _keyload.jwk_object(data)
        members = document.get("keys")
        if not isinstance(members, list):
            raise InvalidKeyError("a JWK Set needs a 'keys' array")
        keys = []
        for member in members:
            if not isinstance(member, dict):
                raise InvalidKeyError("JWK Set members must be objects")
            if member.get("kty") not in ("oct", "RSA", "EC", "OKP"):
                continue
            try:
                keys.append(Key.from_jwk(member))
            except InvalidKeyError:
                if not skip_invalid:
                    raise
        return cls(keys)

    def to_jwks(self, private: bool = False) -> dict[str, list[dict[str, Any]]]:
        """The set as a JWK Set document."""
        return {"keys": [key.to_jwk(private=private) for key in self._keys]}

    def get(self, kid: str) -> Key | None:
        """The key with this ``kid``, or None."""
        return self._by_kid.get(kid)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def __repr__(self) -> str:
        return f"<KeySet of {len(self._keys)} keys: {[k.kid for k in self._keys]!r}>"

    def select(self, alg: Algorithm, kid: str | None) -> Sequence[Key]:
        """Key-source protocol: the keys that may verify a token with this alg and kid."""
        found = self._selection.get((alg.name, kid))
        if found is not None:
            return found
        if kid is not None:
            key = self._by_kid.get(kid)
            if key is None:
                raise KeyNotFoundError(f"no key with kid {short_repr(kid)}")
            if key.unusable_reason(alg, "verify") is not None:
                raise KeyNotFoundError(
                    f"the key with kid {short_repr(kid)} cannot verify {alg.name}"
                )
            found = (key,)
        else:
            found = tuple(k for k in self._keys if k.unusable_reason(alg, "verify") is None)
            if not found:
                raise KeyNotFoundError(f"no key in the set can verify {alg.name}")
        # Only kids that exist are cached, so the cache is bounded by the set.
        self._selection[(alg.name, kid)] = found
        return found
