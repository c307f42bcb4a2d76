"""Username normalisation: one spelling per account, whatever the keyboard sent.

NFKC folds compatibility forms (full-width letters, ligatures), case folding
makes ``Alice`` and ``ALICE`` one name, and NFKC again because case folding
can denormalise. What remains must be letters, digits or ``._-@+``, so no
two names can look alike through spaces, controls or invisible characters.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from .errors import ApiError

__all__ = ["MAX_USERNAME_LENGTH", "normalize_username"]

MAX_USERNAME_LENGTH: Final = 64
_PUNCTUATION: Final = frozenset("._-@+")


def normalize_username(raw: str) -> str:
    """The canonical form of ``raw``, or :class:`ApiError` 422 ``invalid_username``.

    >>> normalize_username("\\uff21\\uff2c\\uff29\\uff23\\uff25")  # full-width ALICE
    'alice'
    """
    name = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold())
    if not name:
        raise ApiError(422, "invalid_username", "the username must not be empty")
    if len(name) > MAX_USERNAME_LENGTH:
        raise ApiError(
            422, "invalid_username", f"a username has at most {MAX_USERNAME_LENGTH} characters"
        )
    if any(not (ch.isalnum() or ch in _PUNCTUATION) for ch in name):
        raise ApiError(
            422,
            "invalid_username",
            "a username may hold only letters, digits and . _ - @ +",
        )
    return name
