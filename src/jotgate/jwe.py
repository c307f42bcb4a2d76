"""JWE compact serialization (RFC 7516, algorithms of RFC 7518): tokens no one else can read.

Every decryption in jotgate goes through :func:`decrypt_compact`. Like the
JWS verify core it checks sizes before decoding anything and parses the
protected header strictly; then it insists that ``alg`` and ``enc`` are in
the caller's lists, lets the key (or the key set, by ``kid``) supply the
key-management object it has cached for that ``alg``, and decrypts.
Whatever goes wrong — a malformed part, an algorithm not allowed, a wrong
key, a tampered tag, IV, header or encrypted key — the caller gets the same
:class:`~jotgate.errors.DecryptionError` with the same message, so that an
attacker probing the decrypter learns nothing about which step failed.

Secure by default: RSA1_5 is not implemented (Bleichenbacher); ``zip: DEF``
is refused unless ``allow_zip=True``, and then the inflated size is capped;
the PBES2 iteration count is capped before any work; keys are checked
against the algorithm (type, curve, exact size, ``use``/``key_ops``/``alg``);
ECDH ephemeral keys must be on our key's curve. Keys named by the token
(``jwk``, ``jku``, ``x5u``, ``x5c``) are never used. JSON serializations
(several recipients, unprotected headers, extra AAD) are not supported.

Example::

    key = jwk.Key.from_secret(secrets.token_bytes(32), alg="A256KW")
    token = jwe.encrypt(b"hello", key, "A256KW", "A256GCM")
    decrypted = jwe.decrypt(token, key, algorithms=["A256KW"], encryptions=["A256GCM"])
    assert decrypted.plaintext == b"hello"
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping
from typing import Any, Final, NamedTuple

from . import _b64, _json
from ._json import copy_tree
from ._jwe_agree import Ecdh
from ._jwe_content import ENCRYPTIONS, fail, open_once
from ._jwe_keymgmt import ALGORITHMS, FAMILY_PARAMS, KeyManagement, manager_for
from ._jwe_parse import (
    MAX_DECOMPRESSED_LENGTH,
    MAX_HEADER_LENGTH,
    MAX_TOKEN_LENGTH,
    STRING_PARAMS,
    header_cache,
    inflate,
    load_header,
    split,
)
from .errors import (
    DecryptionError,
    InvalidKeyError,
    JoseError,
    MalformedTokenError,
    UnsupportedAlgorithmError,
)
from .jwk import Key, KeySet

__all__ = [
    "ALGORITHMS",
    "ENCRYPTIONS",
    "MAX_DECOMPRESSED_LENGTH",
    "MAX_HEADER_LENGTH",
    "MAX_PBES2_COUNT",
    "MAX_TOKEN_LENGTH",
    "Decrypted",
    "decrypt",
    "decrypt_compact",
    "decrypt_nested",
    "default_key_management",
    "encrypt",
    "encrypt_nested",
    "is_compact_jwe",
]

#: Default cap on the PBES2 ``p2c`` iteration count a token may demand (jose@6
#: uses the same); not below the count jotgate itself encrypts with.
MAX_PBES2_COUNT: Final = 10_000

_REFUSED_ALGORITHMS: Final = {
    "RSA1_5": "RSA1_5 is not supported: PKCS#1 v1.5 key encryption invites "
    "Bleichenbacher's attack; use RSA-OAEP-256",
}
# Set by the library on encrypt; a caller may not supply them.
_GENERATED: Final = frozenset({"epk", "iv", "tag", "p2s", "crit"})

_SEGMENT_CACHE_SIZE: Final = 256
_new_tuple: Final = tuple.__new__
# isinstance tuples built once: `str | bytes` in a call builds a union object every time.
_TEXT: Final = (str, bytes)
_KEYS: Final = (Key, KeySet)
_segment_cache: dict[tuple[str, str, str | None], bytes] = {}
# ECDH headers without caller extras: the JSON text before the epk's, per (alg, enc, kid).
_epk_prefixes: dict[tuple[str, str, str | None], str] = {}


class Decrypted(NamedTuple):
    """What :func:`decrypt` returns: the protected header, the plaintext, the key that decrypted."""

    header: dict[str, Any]
    plaintext: bytes
    key: Key


# -- checking the caller's choices -------------------------------------------


def _check_names(names: Collection[str], table: Mapping[str, object], what: str) -> None:
    """Refuse an allowed-list that is not a list of names we implement (a caller error)."""
    if isinstance(names, _TEXT) or not names:
        raise UnsupportedAlgorithmError(
            f"{what} must be a non-empty list of names, e.g. [{next(iter(table))!r}]"
        )
    for name in names:
        if name not in table:
            raise UnsupportedAlgorithmError(_unsupported(name, what))


def _unsupported(name: object, what: str) -> str:
    if isinstance(name, str) and name in _REFUSED_ALGORITHMS:
        return _REFUSED_ALGORITHMS[name]
    shown = name if isinstance(name, str) and len(name) <= 32 else "(invalid)"
    return f"unsupported {what[:-1] if what.endswith('s') else what} {shown!r}"


# -- decryption --------------------------------------------------------------


def _candidates(key: Key | KeySet, header: Mapping[str, Any]) -> tuple[Key, ...]:
    if isinstance(key, Key):
        return (key,)
    kid = header.get("kid")
    if kid is None:
        return tuple(key)
    found = key.get(kid)
    if found is None:
        fail()
    return (found,)


def decrypt_compact(
    token: str | bytes,
    key: Key | KeySet,
    algorithms: Collection[str],
    encryptions: Collection[str],
    *,
    allow_zip: bool = False,
    max_pbes2_count: int = MAX_PBES2_COUNT,
) -> tuple[dict[str, Any], bytes, Key]:
    """The decrypt core: (header, plaintext, key) of a compact JWE, or DecryptionError.

    The returned header may be shared with the header cache: do not mutate it.
    """
    return _decrypt(token, key, algorithms, encryptions, allow_zip, max_pbes2_count)


def _decrypt(
    token: str | bytes,
    key: Key | KeySet,
    algorithms: Collection[str],
    encryptions: Collection[str],
    allow_zip: bool,
    max_pbes2_count: int,
) -> tuple[dict[str, Any], bytes, Key]:
    """:func:`decrypt_compact` with positional options (one call less for :func:`decrypt`)."""
    _check_names(algorithms, ALGORITHMS, "algorithms")
    _check_names(encryptions, ENCRYPTIONS, "encryptions")
    if not isinstance(key, _KEYS):
        raise InvalidKeyError("decrypt with a jwk.Key or jwk.KeySet")
    if type(max_pbes2_count) is not int or max_pbes2_count < 1:
        raise TypeError("max_pbes2_count must be a positive int")
    try:
        head, ek_part, iv_part, ct_part, tag_part = split(token)
        header = header_cache.get(head) or load_header(head)
        if header["alg"] not in algorithms or header["enc"] not in encryptions:
            fail()
        if "zip" in header and not allow_zip:
            fail()
        row = ALGORITHMS[header["alg"]]
        enc = ENCRYPTIONS[header["enc"]]
        # split() checked that the token is ASCII: straight to the bytes decoder.
        decode = _b64.decode_ascii
        encrypted_key = decode(ek_part.encode("ascii"))
        iv = decode(iv_part.encode("ascii"))
        ciphertext = decode(ct_part.encode("ascii"))
        tag = decode(tag_part.encode("ascii"))
        aad = head.encode("ascii")  # RFC 7516 §5.1 step 14: ASCII(BASE64URL(header))
        if type(key) is Key:
            manager = manager_for(row, key, True)
            if type(manager) is Ecdh:
                # ECDH-ES with one key, the usual case: a new CEK per message,
                # opened once, without the loop's cipher object. Same checks
                # and the same one error as the loop below.
                cek = manager.open_cek(enc, header, encrypted_key)
                plaintext = open_once(enc, cek, iv, ciphertext, tag, aad)
                if plaintext is None:
                    fail()
                if "zip" in header:
                    plaintext = inflate(plaintext)
                return header, plaintext, key
        for candidate in _candidates(key, header):
            manager = manager_for(row, candidate, True)
            if manager is None:
                continue
            try:
                cipher = manager.open_cipher(enc, header, encrypted_key, max_pbes2_count)
            except DecryptionError:
                continue
            plaintext = cipher.open(iv, ciphertext, tag, aad)
            if plaintext is not None:
                if "zip" in header:
                    plaintext = inflate(plaintext)
                return header, plaintext, candidate
        fail()
    except JoseError:
        # Codec errors (MalformedTokenError...) become the one uniform error.
        fail()


def decrypt(
    token: str | bytes,
    key: Key | KeySet,
    *,
    algorithms: Collection[str],
    encryptions: Collection[str],
    allow_zip: bool = False,
    max_pbes2_count: int = MAX_PBES2_COUNT,
) -> Decrypted:
    """Decrypt a compact JWE; return its header, plaintext and the key that decrypted it.

    ``algorithms`` (key management, e.g. ``["ECDH-ES+A256KW"]``) and
    ``encryptions`` (content, e.g. ``["A256GCM"]``) are required lists.
    ``allow_zip`` accepts ``zip: DEF`` (inflated size capped at
    :data:`MAX_DECOMPRESSED_LENGTH`); ``max_pbes2_count`` caps PBES2's ``p2c``.
    Every failure is the same :class:`~jotgate.errors.DecryptionError`.

    Example::

        decrypted = jwe.decrypt(token, private_key, algorithms=["RSA-OAEP-256"],
                                encryptions=["A256GCM"])
    """
    header, plaintext, used = _decrypt(
        token, key, algorithms, encryptions, allow_zip, max_pbes2_count
    )
    if ALGORITHMS[header["alg"]].params:
        # epk/iv/p2s headers are built anew for every token and never cached
        # (see load_header): this one is the caller's already.
        return _new_tuple(Decrypted, (header, plaintext, used))  # minus its Python __new__
    # A static header may be shared with the cache: hand out a copy the caller may change.
    return Decrypted(copy_tree(header), plaintext, used)


def is_compact_jwe(token: object) -> bool:
    """True when ``token`` has the five dot-separated parts of a compact JWE (nothing checked)."""
    if isinstance(token, bytes):
        return token.count(b".") == 4
    return isinstance(token, str) and token.count(".") == 4


# -- encryption --------------------------------------------------------------


def _row(algorithm: object) -> KeyManagement:
    row = ALGORITHMS.get(algorithm) if isinstance(algorithm, str) else None
    if row is None:
        raise UnsupportedAlgorithmError(_unsupported(algorithm, "algorithm"))
    return row


def _header(
    row: KeyManagement, encryption: str, key: Key, headers: Mapping[str, Any] | None
) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": row.name, "enc": encryption}
    if key.kid is not None:
        header["kid"] = key.kid
    if headers:
        for name, value in headers.items():
            if name in ("alg", "enc"):
                if value != header[name]:
                    raise UnsupportedAlgorithmError(f"headers[{name!r}] differs from the argument")
            elif name in _GENERATED or (name in FAMILY_PARAMS and name not in row.params):
                raise MalformedTokenError(f"jotgate does not encrypt with a {name!r} header")
            elif name == "zip" and value != "DEF":
                raise MalformedTokenError("the only 'zip' is 'DEF'")
            elif name in STRING_PARAMS and not isinstance(value, str):
                raise MalformedTokenError(f"headers[{name!r}] must be a string")
            else:
                header[name] = value
    return header


def encrypt(
    plaintext: bytes,
    key: Key,
    algorithm: str,
    encryption: str,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Encrypt ``plaintext`` as a compact JWE to ``key`` (a public or secret key).

    ``algorithm`` is the key management (``"ECDH-ES+A256KW"``, ``"RSA-OAEP-256"``,
    ``"A256KW"``, ``"dir"``, ``"PBES2-HS512+A256KW"``...), ``encryption`` the
    content encryption (``"A256GCM"``...). ``headers`` adds protected header
    parameters: ``typ``, ``cty``, ``zip: "DEF"`` (compress first), ``p2c``
    (PBES2 iterations, at least 1000), ``apu``/``apv`` (ECDH); ``kid`` comes
    from the key unless given.

    Example::

        token = jwe.encrypt(b"secret", recipient.public_key(), "ECDH-ES+A256KW", "A256GCM")
    """
    if not isinstance(plaintext, bytes):
        raise TypeError("the JWE plaintext must be bytes")
    row = _row(algorithm)
    enc = ENCRYPTIONS.get(encryption) if isinstance(encryption, str) else None
    if enc is None:
        raise UnsupportedAlgorithmError(_unsupported(encryption, "encryption"))
    if not isinstance(key, Key):
        raise InvalidKeyError("encrypt with a jwk.Key")
    manager = manager_for(row, key, False)
    if manager is None:
        raise InvalidKeyError(row.unfit_reason(key, False) or "the key cannot encrypt")
    if not headers and not manager.dynamic:
        # Static headers (dir, KW, RSA without extras) are cached per key id.
        cache_key = (row.name, enc.name, key.kid)
        segment = _segment_cache.get(cache_key)
        cipher, encrypted_key = manager.seal_cipher(enc, {})
        if segment is None:
            segment = _b64.encode(_json.dumps(_header(row, enc.name, key, None)))
            if len(_segment_cache) >= _SEGMENT_CACHE_SIZE:
                _segment_cache.clear()
            _segment_cache[cache_key] = segment
    elif not headers and type(manager) is Ecdh:
        # ECDH-ES without extras: the header is the cached JSON of alg, enc and
        # kid, then the epk's text, byte for byte what _json.dumps would write.
        cache_key = (row.name, enc.name, key.kid)
        prefix = _epk_prefixes.get(cache_key)
        if prefix is None:
            static = _json.dumps(_header(row, enc.name, key, None)).decode("utf-8")
            prefix = static[:-1] + ',"epk":'
            if len(_epk_prefixes) >= _SEGMENT_CACHE_SIZE:
                _epk_prefixes.clear()
            _epk_prefixes[cache_key] = prefix
        cipher, encrypted_key, epk = manager.seal_epk(enc)
        segment = _b64.encode((prefix + epk + "}").encode("utf-8"))
    else:
        header = _header(row, enc.name, key, headers)
        cipher, encrypted_key = manager.seal_cipher(enc, header)
        segment = _b64.encode(_json.dumps(header))
        if header.get("zip") == "DEF":
            deflater = zlib.compressobj(wbits=-15)
            plaintext = deflater.compress(plaintext) + deflater.flush()
    iv, ciphertext, tag = cipher.seal(plaintext, segment)
    encode = _b64.encode
    return b".".join(
        (segment, encode(encrypted_key), encode(iv), encode(ciphertext), encode(tag))
    ).decode("ascii")


# -- nested JWTs (RFC 7519 §5.2): helpers for jotgate.jwt --------------------


def default_key_management(key: Key) -> str:
    """The key-management algorithm used for ``key`` when none is named.

    The key's ``alg`` when it is a JWE algorithm; else RSA-OAEP-256 for RSA
    keys, ECDH-ES+A256KW for EC/OKP keys, and AES Key Wrap of the key's size
    for 16/24/32-byte secrets.
    """
    if key.alg in ALGORITHMS:
        return key.alg
    if key.alg is not None and key.alg not in ENCRYPTIONS:
        raise InvalidKeyError(f"the key is for {key.alg[:32]}, not for encryption")
    if key.kty == "RSA":
        return "RSA-OAEP-256"
    if key.kty in ("EC", "OKP"):
        return "ECDH-ES+A256KW"
    size = len(key._secret or b"")
    if size in (16, 24, 32):
        return f"A{size * 8}KW"
    raise InvalidKeyError("name the key management (e.g. 'dir') for a secret of this size")


def encrypt_nested(
    jws_token: str, key: Key, algorithm: str | None = None, encryption: str = "A256GCM"
) -> str:
    """Encrypt a signed JWT to ``key`` as a nested JWT (``cty: "JWT"``, RFC 7519 §5.2)."""
    chosen = algorithm if algorithm is not None else default_key_management(key)
    return encrypt(jws_token.encode("ascii"), key, chosen, encryption, {"cty": "JWT"})


def decrypt_nested(
    token: str | bytes,
    key: Key | KeySet,
    algorithms: Collection[str],
    encryptions: Collection[str],
) -> bytes:
    """The inner signed JWT of a nested JWT; the JWE must say ``cty: "JWT"``.

    The inner token still has to be verified (that is :func:`jotgate.jwt.decode`'s job).
    """
    header, plaintext, _ = decrypt_compact(token, key, algorithms, encryptions)
    cty = header.get("cty")
    if not isinstance(cty, str) or cty.lower().removeprefix("application/") != "jwt":
        raise MalformedTokenError("the JWE does not hold a nested JWT (its cty is not 'JWT')")
    return plaintext
