"""The one exception tree of jotgate.

Whatever a token, key or header contains, the library raises only subclasses
of :class:`JoseError`. Each class carries a stable ``code`` that HTTP layers
put in their ``{"error": CODE}`` responses, so callers branch on classes or
codes, never on message text. Messages say what was wrong and never echo key
material or whole tokens.

Example::

    try:
        claims = jwt.decode(token, key, algorithms=["ES256"])
    except errors.ExpiredTokenError:
        ...  # tell the client to refresh
    except errors.JoseError as exc:
        ...  # exc.code == "invalid_signature", "malformed_token", ...
"""

from __future__ import annotations

__all__ = [
    "ClaimError",
    "DecryptionError",
    "ExpiredTokenError",
    "InvalidClaimError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "JoseError",
    "KeyNotFoundError",
    "MalformedTokenError",
    "MissingClaimError",
    "NotYetValidError",
    "UnsupportedAlgorithmError",
]


class JoseError(Exception):
    """Root of every error the library raises."""

    code: str = "jose_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedTokenError(JoseError):
    """The token (or a JSON/base64 part of it) is not well formed."""

    code = "malformed_token"


class UnsupportedAlgorithmError(JoseError):
    """The algorithm is unknown, ``none``, or not in the caller's allowed list."""

    code = "unsupported_algorithm"


class InvalidKeyError(JoseError):
    """A key is malformed, too weak, or does not fit the algorithm or use."""

    code = "invalid_key"


class InvalidSignatureError(JoseError):
    """The signature does not verify with any candidate key."""

    code = "invalid_signature"


class KeyNotFoundError(InvalidSignatureError):
    """No key in the key set can verify this token (for example an unknown ``kid``).

    A subclass of :class:`InvalidSignatureError` so that callers who do not
    care about the difference need not catch it separately; remote key sets
    use it to decide when a refetch is worth trying.
    """

    code = "key_not_found"


class DecryptionError(JoseError):
    """A JWE could not be decrypted. Deliberately says nothing about which step failed."""

    code = "decryption_failed"


class ClaimError(JoseError):
    """A claim (or the ``typ`` header) failed validation.

    ``claim`` names the claim and ``reason`` is a short machine-friendly word
    (``"expired"``, ``"mismatch"``, ``"missing"``, ``"type"``...).
    """

    code = "invalid_claim"

    def __init__(self, message: str, *, claim: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.claim = claim
        self.reason = reason


class ExpiredTokenError(ClaimError):
    """``exp`` has passed (now >= exp + leeway); ``expired_at`` is that ``exp``."""

    code = "token_expired"

    def __init__(self, message: str, *, expired_at: int | float, claim: str = "exp") -> None:
        super().__init__(message, claim=claim, reason="expired")
        self.expired_at = expired_at


class NotYetValidError(ClaimError):
    """``nbf`` (or an ``iat`` in the future) says the token is not valid yet."""

    code = "token_not_yet_valid"

    def __init__(self, message: str, *, claim: str = "nbf") -> None:
        super().__init__(message, claim=claim, reason="not_yet_valid")


class InvalidClaimError(ClaimError):
    """A claim has the wrong type or a value the caller did not expect."""

    code = "invalid_claim"


class MissingClaimError(ClaimError):
    """A required claim is absent."""

    code = "missing_claim"

    def __init__(self, message: str, *, claim: str) -> None:
        super().__init__(message, claim=claim, reason="missing")
