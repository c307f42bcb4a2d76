"""Sign an exact signing input with a jotgate key: the one thing ``jws.sign`` cannot do.

``jws.sign`` always serializes its own protected header, so it cannot
reproduce a published token whose header was written by hand (RFC 7515 A.1
has a CRLF and a space in it). To still check the published signature
octets, the signing input is signed with ``Key.signer``, the prepared signer
that ``jws.sign`` itself calls, so the key's import, its use/alg checks and
the algorithm table are all on the path; only the header code is not.
"""

from __future__ import annotations

from jotgate import jwa, jwk

from ._vectors import b64u


def signature_over(key: jwk.Key, alg: str, signing_input: bytes) -> str:
    """The base64url signature that ``alg`` with ``key`` puts on ``signing_input``."""
    return b64u(key.signer(jwa.get(alg))(signing_input))
