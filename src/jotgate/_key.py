"""The :class:`Key` type behind :mod:`jotgate.jwk`: one key, its JWK metadata, its uses.

See :mod:`jotgate.jwk` for the public face and examples.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import _b64, _keyload
from ._jwk_members import (
    AnyPrivate,
    AnyPublic,
    curve_of,
    parse_asymmetric,
    private_members,
    public_members,
)
from ._keycheck import MIN_PBES2_PASSWORD, check_secret
from ._keymeta import (
    PASSWORD_ALGS,
    check_key_ops,
    check_metadata_str,
    minimum_secret,
    public_ops,
)
from .errors import InvalidKeyError
from .jwa import ALGORITHMS, Algorithm, PrivateKey, PublicKey, Signer, Verifier

__all__ = ["Key", "short_repr"]

Operation = Literal["sign", "verify"]

_EDDSA_NAMES: Final = frozenset({"EdDSA", "Ed25519", "Ed448"})


_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def short_repr(value: object) -> str:
    """A repr cut to 40 characters, for error messages about untrusted values."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Key:
    """One key with its JWK metadata. Build it with a ``from_*`` or ``generate`` classmethod."""

    __slots__ = (
        "_jwe",
        "_private",
        "_public",
        "_secret",
        "_signers",
        "_verifiers",
        "alg",
        "crv",
        "key_ops",
        "kid",
        "kty",
        "use",
    )

    kty: str
    crv: str | None
    kid: str | None
    alg: str | None
    use: str | None
    key_ops: frozenset[str] | None

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        private: AnyPrivate | None = None,
        public: AnyPublic | None = None,
        kid: str | None = None,
        alg: str | None = None,
        use: str | None = None,
        key_ops: Iterable[str] | None = None,
    ) -> None:
        """Internal: prefer :meth:`generate`, :meth:`from_secret`, :meth:`from_pem`, ..."""
        self._secret = secret
        self._private = private
        if private is not None and public is None:
            public = private.public_key()
        self._public = public
        if secret is not None:
            self.kty, self.crv = "oct", None
        elif public is not None:
            self.crv = curve_of(public)
            if isinstance(public, rsa.RSAPublicKey):
                self.kty = "RSA"
            else:
                self.kty = "EC" if isinstance(public, ec.EllipticCurvePublicKey) else "OKP"
        else:
            raise InvalidKeyError("a key needs a secret or a key object")
        self.alg = check_metadata_str(alg, "alg")
        self.use = check_metadata_str(use, "use")
        self.key_ops = check_key_ops(key_ops)
        self._verifiers: dict[str, Verifier] = {}
        self._signers: dict[str, Signer] = {}
        # Prepared JWE key-management objects, by alg name (see jotgate.jwe).
        self._jwe: dict[tuple[str, bool], Any] = {}
        if self.alg in ALGORITHMS:
            row = ALGORITHMS[self.alg]
            if not row.fits(self.kty, self.crv):
                raise InvalidKeyError(
                    f"a {self.kty} key{' on ' + self.crv if self.crv else ''} "
                    f"does not fit alg {self.alg}"
                )
            if row.kty == "oct" and secret is not None and len(secret) < row.min_secret_bytes:
                raise InvalidKeyError(
                    f"{self.alg} needs a secret of at least {row.min_secret_bytes} bytes"
                )
        if kid is not None and not isinstance(kid, str):
            raise InvalidKeyError("kid must be a string")
        # Asymmetric keys default to their RFC 7638 thumbprint. A secret
        # key's thumbprint is a hash of the secret, so it is not published.
        if kid is None and secret is None:
            kid = self.thumbprint()
        self.kid = kid

    # -- constructors -------------------------------------------------------

    @classmethod
    def generate(cls, alg: str, *, kid: str | None = None, size: int | None = None) -> Key:
        """A fresh random key for ``alg`` (RSA: ``size`` bits, default 2048)."""
        row = ALGORITHMS.get(alg)
        if row is None:
            raise InvalidKeyError(f"cannot generate a key for {short_repr(alg)}")
        if size is not None and row.kty != "RSA":
            raise InvalidKeyError(f"size applies to RSA keys only, not {alg}")
        if row.kty == "oct":
            return cls(secret=secrets.token_bytes(row.min_secret_bytes), kid=kid, alg=alg)
        return cls(private=_keyload.generate_private(row, size), kid=kid, alg=alg)

    @classmethod
    def from_secret(
        cls, secret: bytes | str, *, alg: str | None = None, kid: str | None = None
    ) -> Key:
        """An HMAC (or, with an encryption ``alg``, a content/wrap) secret key.

        Refuses empty secrets, secrets under 32 bytes (16 for encryption
        algorithms) and anything that looks like PEM, DER, SSH or JWK data.
        """
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not isinstance(raw, bytes):
            raise InvalidKeyError("a secret must be bytes or str")
        check_secret(raw, minimum=minimum_secret(alg))
        return cls(secret=raw, kid=kid, alg=alg)

    @classmethod
    def from_password(
        cls,
        password: str | bytes,
        *,
        alg: str = "PBES2-HS512+A256KW",
        kid: str | None = None,
    ) -> Key:
        """A password for PBES2 key wrapping (RFC 7518 §4.8), bound to ``alg``.

        At least 8 characters (NIST SP 800-63B); anything that looks like
        key material is refused as for secrets. The key carries ``alg`` and
        ``use: enc``, so it never signs, never verifies a JWS and never
        stands in for a raw key of another algorithm.

        Example::

            key = jwk.Key.from_password("correct horse battery staple")
            token = jwe.encrypt(b"...", key, "PBES2-HS512+A256KW", "A256GCM")
        """
        if alg not in PASSWORD_ALGS:
            raise InvalidKeyError(f"a password is for PBES2 algorithms, not {short_repr(alg)}")
        raw = password.encode("utf-8") if isinstance(password, str) else password
        if not isinstance(raw, bytes):
            raise InvalidKeyError("a password must be str or bytes")
        check_secret(raw, minimum=MIN_PBES2_PASSWORD)
        return cls(secret=raw, kid=kid, alg=alg, use="enc")

    @classmethod
    def from_pem(
        cls,
        data: bytes | str,
        *,
        password: bytes | str | None = None,
        alg: str | None = None,
        kid: str | None = None,
    ) -> Key:
        """A public or private key (or X.509 certificate's key) from PEM text."""
        private, public = _keyload.load_pem(data, password)
        return cls(private=private, public=public, alg=alg, kid=kid)

    @classmethod
    def from_der(
        cls,
        data: bytes,
        *,
        password: bytes | str | None = None,
        alg: str | None = None,
        kid: str | None = None,
    ) -> Key:
        """A public or private key (or X.509 certificate's key) from DER bytes."""
        private, public = _keyload.load_der(data, password)
        return cls(private=private, public=public, alg=alg, kid=kid)

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any] | str | bytes) -> Key:
        """A key from a JWK object (a mapping, or its JSON text)."""
        jwk = _keyload.jwk_object(data)
        if "keys" in jwk and "kty" not in jwk:
            raise InvalidKeyError("this is a JWK Set; use KeySet.from_jwks")
        alg = check_metadata_str(jwk.get("alg"), "alg")
        use = check_metadata_str(jwk.get("use"), "use")
        kid = check_metadata_str(jwk.get("kid"), "kid")
        key_ops = jwk.get("key_ops")
        if key_ops is not None and not isinstance(key_ops, list):
            raise InvalidKeyError("JWK 'key_ops' must be an array")
        if jwk.get("kty") == "oct":
            k = jwk.get("k")
            if not isinstance(k, str):
                raise InvalidKeyError("JWK oct key needs a string 'k'")
            secret = _b64.decode(k, what="JWK member 'k'", error=InvalidKeyError)
            check_secret(secret, minimum=minimum_secret(alg, use))
            return cls(secret=secret, kid=kid, alg=alg, use=use, key_ops=key_ops)
        private, public = parse_asymmetric(jwk)
        return cls(private=private, public=public, kid=kid, alg=alg, use=use, key_ops=key_ops)

    @classmethod
    def from_key_object(
        cls,
        obj: PrivateKey | PublicKey | AnyPrivate | AnyPublic,
        *,
        alg: str | None = None,
        kid: str | None = None,
    ) -> Key:
        """Wrap a ``cryptography`` key object (checked like any import)."""
        private, public = _keyload.check_key_object(obj)
        return cls(private=private, public=public, alg=alg, kid=kid)

    @classmethod
    def load(
        cls,
        data: bytes | str,
        *,
        password: bytes | str | None = None,
        alg: str | None = None,
        kid: str | None = None,
    ) -> Key:
        """A key from PEM, JWK JSON or DER, whichever ``data`` is. Never a raw secret."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if not isinstance(raw, bytes):
            raise InvalidKeyError("key data must be bytes or str")
        text = raw.strip()
        if text.startswith(b"-----BEGIN"):
            return cls.from_pem(raw, password=password, alg=alg, kid=kid)
        if text.startswith(b"{"):
            key = cls.from_jwk(text)
            if alg is not None and key.alg is not None and key.alg != alg:
                raise InvalidKeyError(f"the JWK is for {key.alg}, not {alg}")
            if alg is not None or kid is not None:
                key = key._with(alg=alg or key.alg, kid=kid or key.kid)
            return key
        if text.startswith(b"\x30"):
            return cls.from_der(raw, password=password, alg=alg, kid=kid)
        raise InvalidKeyError("not a PEM, JWK or DER key (load secrets with Key.from_secret)")

    def _with(self, *, alg: str | None, kid: str | None) -> Key:
        return Key(
            secret=self._secret,
            private=self._private,
            public=self._public,
            kid=kid,
            alg=alg,
            use=self.use,
            key_ops=self.key_ops,
        )

    # -- properties and export -----------------------------------------------

    @property
    def is_private(self) -> bool:
        """True for secret keys and asymmetric private keys."""
        return self._secret is not None or self._private is not None

    @property
    def is_symmetric(self) -> bool:
        """True for ``oct`` (secret) keys."""
        return self._secret is not None

    def public_key(self) -> Key:
        """This key without its private part (secret keys have none to drop)."""
        if self._secret is not None:
            raise InvalidKeyError("a secret key has no public part")
        if self._private is None:
            return self
        return Key(
            public=self._public,
            kid=self.kid,
            alg=self.alg,
            use=self.use,
            key_ops=public_ops(self.key_ops),
        )

    def to_jwk(self, private: bool = False) -> dict[str, Any]:
        """The key as a JWK dict; ``private=True`` includes private members."""
        if self._secret is not None:
            if not private:
                raise InvalidKeyError("a secret key has no public JWK; pass private=True")
            members: dict[str, Any] = {"kty": "oct", "k": _b64.encode_str(self._secret)}
        else:
            assert self._public is not None
            members = public_members(self._public)
            if private:
                if self._private is None:
                    raise InvalidKeyError("this is a public key")
                members.update(private_members(self._private))
        out: dict[str, Any] = {"kty": members.pop("kty")}
        if self.kid is not None:
            out["kid"] = self.kid
        for name in ("alg", "use"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.key_ops is not None:
            ops = self.key_ops if private else public_ops(self.key_ops)
            out["key_ops"] = sorted(ops or ())
        out.update(members)
        return out

    def to_pem(self, private: bool = False, password: bytes | str | None = None) -> bytes:
        """SubjectPublicKeyInfo PEM, or PKCS#8 (encrypted with ``password``) when private."""
        if self._secret is not None:
            raise InvalidKeyError("secret keys have no PEM form")
        return _keyload.to_pem(self._private if private else None, self._public, password)

    def thumbprint(self, hash: str = "sha256") -> str:
        """The RFC 7638 JWK thumbprint, base64url-encoded."""
        if self._secret is not None:
            required: dict[str, str] = {"k": _b64.encode_str(self._secret), "kty": "oct"}
        else:
            assert self._public is not None
            required = public_members(self._public)
        hash_class = _HASHES.get(hash)
        if hash_class is None:
            raise InvalidKeyError(f"unsupported thumbprint hash {short_repr(hash)}")
        digest = hashes.Hash(hash_class())
        digest.update(json.dumps(required, separators=(",", ":"), sort_keys=True).encode())
        return _b64.encode_str(digest.finalize())

    def __repr__(self) -> str:
        kind = "private" if self.is_private else "public"
        curve = f" {self.crv}" if self.crv else ""
        return f"<Key {self.kty}{curve} {kind} kid={self.kid!r} alg={self.alg!r}>"

    # -- use ---------------------------------------------------------------

    def unusable_reason(self, alg: Algorithm, operation: Operation) -> str | None:
        """Why this key may not ``operation`` with ``alg``, or None when it may."""
        if not alg.fits(self.kty, self.crv):
            where = f" on {self.crv}" if self.crv else ""
            article = "an" if self.kty in ("RSA", "EC", "OKP") else "a"
            return f"{article} {self.kty} key{where} cannot be used with {alg.name}"
        # "EdDSA" and the fully-specified "Ed25519"/"Ed448" name one scheme;
        # the curve check above already holds the key to its curve.
        same_eddsa = self.alg in _EDDSA_NAMES and alg.name in _EDDSA_NAMES
        if self.alg is not None and self.alg != alg.name and not same_eddsa:
            return f"the key is for {self.alg}, not {alg.name}"
        if self.use is not None and self.use != "sig":
            return f"the key's use is {self.use!r}, not 'sig'"
        if self.key_ops is not None and operation not in self.key_ops:
            return f"the key's key_ops do not include {operation!r}"
        if operation == "sign" and not self.is_private:
            return "a public key cannot sign"
        return None

    def unusable_reason_for_encryption(
        self, names: Collection[str], operations: Collection[str], *, decrypting: bool
    ) -> str | None:
        """Why this key's metadata forbids a JWE use, or None when it allows it.

        ``names`` are the ``alg`` values the key may carry for this use (the
        key-management algorithm; for ``dir`` also the content encryption);
        ``operations`` the ``key_ops`` any one of which permits it. Key type,
        curve and size are the JWE algorithm table's business, not this one's.
        """
        if self.alg is not None and self.alg not in names:
            return "the key's alg does not allow this use"
        if self.use is not None and self.use != "enc":
            return f"the key's use is {self.use!r}, not 'enc'"
        if self.key_ops is not None and self.key_ops.isdisjoint(operations):
            return "the key's key_ops do not allow this use"
        if decrypting and not self.is_private:
            return "a public key cannot decrypt"
        return None

    def _require(self, alg: Algorithm, operation: Operation) -> None:
        reason = self.unusable_reason(alg, operation)
        if reason is not None:
            raise InvalidKeyError(reason)

    def select(self, alg: Algorithm, kid: str | None) -> Sequence[Key]:
        """Key-source protocol: this key, if it may verify ``alg`` (its kid is not compared)."""
        self._require(alg, "verify")
        return (self,)

    def verifier(self, alg: Algorithm) -> Verifier:
        """The cached ``verify(signing_input, signature) -> bool`` for ``alg``."""
        verify = self._verifiers.get(alg.name)
        if verify is None:
            self._require(alg, "verify")
            if self._secret is not None:
                verify = alg.hmac_verifier(self._secret)
            else:
                verify = alg.public_verifier(self._public)  # type: ignore[arg-type]
            self._verifiers[alg.name] = verify
        return verify

    def signer(self, alg: Algorithm) -> Signer:
        """The cached ``sign(signing_input) -> signature`` for ``alg``."""
        sign = self._signers.get(alg.name)
        if sign is None:
            self._require(alg, "sign")
            if self._secret is not None:
                sign = alg.hmac_signer(self._secret)
            else:
                sign = alg.private_signer(self._private)  # type: ignore[arg-type]
            self._signers[alg.name] = sign
        return sign

    def default_algorithm(self) -> Algorithm:
        """``alg`` if set, else the usual algorithm for this key type."""
        if self.alg is not None:
            row = ALGORITHMS.get(self.alg)
            if row is None:
                raise InvalidKeyError(f"the key is for {self.alg}, which does not sign")
            return row
        name = {"oct": "HS256", "RSA": "RS256", "OKP": "EdDSA"}.get(self.kty)
        if name is None:
            name = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(
                self.crv or "", "ES256K"
            )
        return ALGORITHMS[name]
