"""Per-library setup for ``jwe_dpop_bench.py``: one closure per case, keys loaded once.

Cases are ``"<alg>/encrypt"`` and ``"<alg>/decrypt"`` for the JWE key-management
algorithms in ``JWE_ALGS`` (content encryption always A256GCM), and ``"dpop/..."`` for
the DPoP proof check. Each ``setup_*`` imports its library inside the function, so a
worker process only ever imports the one library it measures.

A case is a ``Case(fn, refill)``: the timing loop calls ``fn(None)`` n times. Cases that
must see a fresh input on every call (a DPoP proof is good once) take it from a pool
that ``refill(n)`` fills, untimed, before each batch; their ``fn`` pays one
``list.pop`` per call, as the floor's does.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ENC", "JWE_ALGS", "Case", "setup"]

JWE_ALGS = ("dir", "A256KW", "ECDH-ES+A256KW", "RSA-OAEP-256")
ENC = "A256GCM"
DPOP_URL = "https://api.example.com/notes"


@dataclass
class Case:
    """What the timing loop calls, and how to prepare fresh inputs for ``n`` calls."""

    fn: Callable[[Any], Any]
    refill: Callable[[int], None] | None = None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pool(make: Callable[[], Any], use: Callable[[Any], Any]) -> Case:
    items: list[Any] = []

    def refill(n: int) -> None:
        items[:] = [make() for _ in range(n)]

    pop = items.pop
    return Case(lambda _: use(pop()), refill)


def setup(library: str, m: dict[str, Any]) -> dict[str, Case]:
    """Every case ``library`` supports, prepared from the parent's material ``m``."""
    return {
        "jotgate": _setup_jotgate,
        "joserfc": _setup_joserfc,
        "jwcrypto": _setup_jwcrypto,
        "floor": _setup_floor,
    }[library](m)


def _setup_jotgate(m: dict[str, Any]) -> dict[str, Case]:
    from jotgate import dpop, jwe, jwk, jws

    private = {
        "dir": jwk.Key.from_secret(bytes.fromhex(m["cek"]), alg="dir"),
        "A256KW": jwk.Key.from_secret(bytes.fromhex(m["kek"]), alg="A256KW"),
        "ECDH-ES+A256KW": jwk.Key.from_pem(m["ec_pem"]),
        "RSA-OAEP-256": jwk.Key.from_pem(m["rsa_pem"]),
    }
    plaintext = m["payload"].encode()
    cases: dict[str, Case] = {}
    for alg, key in private.items():
        public = key if key.is_symmetric else key.public_key()
        token = m["tokens"][alg]

        def enc(_: Any, public: jwk.Key = public, alg: str = alg) -> str:
            return jwe.encrypt(plaintext, public, alg, ENC)

        def dec(_: Any, key: jwk.Key = key, alg: str = alg, token: str = token) -> bytes:
            return jwe.decrypt(token, key, algorithms=[alg], encryptions=[ENC]).plaintext

        cases[f"{alg}/encrypt"], cases[f"{alg}/decrypt"] = Case(enc), Case(dec)

    client = jwk.Key.from_pem(m["dpop_pem"])
    client_public, jkt, token = client.public_key(), client.thumbprint(), m["access_token"]
    replay = dpop.MemoryReplayCache(max_entries=10_000_000)

    def proof() -> str:
        return dpop.create_proof(client, "GET", DPOP_URL, access_token=token)

    def check(value: str) -> dpop.Proof:
        return dpop.verify_proof(
            value, htm="GET", htu=DPOP_URL, access_token=token, expected_jkt=jkt, replay=replay
        )

    def cold_proof() -> tuple[str, str]:
        stranger = jwk.Key.generate("ES256")
        return dpop.create_proof(stranger, "GET", DPOP_URL), stranger.thumbprint()

    def cold_check(item: tuple[str, str]) -> dpop.Proof:
        return dpop.verify_proof(item[0], htm="GET", htu=DPOP_URL, replay=replay)

    cases["dpop/check"] = _pool(proof, check)
    cases["dpop/jws-verify"] = _pool(
        proof, lambda value: jws.verify_compact(value, client_public, ["ES256"])
    )
    cases["dpop/cold-key"] = _pool(cold_proof, cold_check)
    return cases


def _setup_joserfc(m: dict[str, Any]) -> dict[str, Case]:
    from joserfc import jwe
    from joserfc.jwk import ECKey, OctKey, RSAKey

    keys = {
        "dir": OctKey.import_key(bytes.fromhex(m["cek"])),
        "A256KW": OctKey.import_key(bytes.fromhex(m["kek"])),
        "ECDH-ES+A256KW": ECKey.import_key(m["ec_pem"]),
        "RSA-OAEP-256": RSAKey.import_key(m["rsa_pem"]),
    }
    plaintext = m["payload"].encode()
    cases: dict[str, Case] = {}
    for alg, key in keys.items():
        allowed = [alg, ENC]
        token = m["tokens"][alg]
        protected = {"alg": alg, "enc": ENC}

        def enc(_: Any, key: Any = key, allowed: list[str] = allowed, p: Any = protected) -> str:
            return jwe.encrypt_compact(p, plaintext, key, algorithms=allowed)

        def dec(_: Any, key: Any = key, allowed: list[str] = allowed, token: str = token) -> bytes:
            return jwe.decrypt_compact(token, key, algorithms=allowed).plaintext

        cases[f"{alg}/encrypt"], cases[f"{alg}/decrypt"] = Case(enc), Case(dec)
    return cases


def _setup_jwcrypto(m: dict[str, Any]) -> dict[str, Case]:
    from jwcrypto import jwe, jwk  # type: ignore[import-untyped]

    def oct_key(hex_secret: str) -> Any:
        return jwk.JWK(kty="oct", k=_b64url(bytes.fromhex(hex_secret)))

    keys = {
        "dir": oct_key(m["cek"]),
        "A256KW": oct_key(m["kek"]),
        "ECDH-ES+A256KW": jwk.JWK.from_pem(m["ec_pem"].encode()),
        "RSA-OAEP-256": jwk.JWK.from_pem(m["rsa_pem"].encode()),
    }
    plaintext = m["payload"].encode()
    cases: dict[str, Case] = {}
    for alg, key in keys.items():
        allowed = [alg, ENC]
        public = key if alg in ("dir", "A256KW") else jwk.JWK.from_json(key.export_public())
        token = m["tokens"][alg]
        protected = json.dumps({"alg": alg, "enc": ENC})

        def enc(
            _: Any, public: Any = public, allowed: list[str] = allowed, p: str = protected
        ) -> str:
            message = jwe.JWE(plaintext, protected=p, algs=allowed)
            message.add_recipient(public)
            return message.serialize(compact=True)

        def dec(_: Any, key: Any = key, allowed: list[str] = allowed, token: str = token) -> bytes:
            message = jwe.JWE(algs=allowed)
            message.deserialize(token, key=key)
            return message.payload

        cases[f"{alg}/encrypt"], cases[f"{alg}/decrypt"] = Case(enc), Case(dec)
    return cases


def _setup_floor(m: dict[str, Any]) -> dict[str, Case]:
    """Bare ``cryptography``: the primitives each case needs, nothing else (no parsing,
    no base64, no JSON, no checks). A lower bound, not a library."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

    plaintext = m["payload"].encode()
    cek, kek = bytes.fromhex(m["cek"]), bytes.fromhex(m["kek"])
    ec_key = serialization.load_pem_private_key(m["ec_pem"].encode(), None)
    rsa_key = serialization.load_pem_private_key(m["rsa_pem"].encode(), None)
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), label=None, algorithm=hashes.SHA256())
    aad = b"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0"  # a header segment's size

    def parts(alg: str) -> tuple[bytes, bytes, bytes, bytes, dict[str, Any]]:
        head, ek, iv, ct, tag = (
            base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in m["tokens"][alg].split(".")
        )
        header = json.loads(head)
        return m["tokens"][alg].split(".")[0].encode(), ek, iv, ct + tag, header

    def concat_kdf(shared: bytes) -> bytes:
        other = (
            (len(b"ECDH-ES+A256KW").to_bytes(4, "big") + b"ECDH-ES+A256KW")
            + bytes(8)
            + ((256).to_bytes(4, "big"))
        )
        return ConcatKDFHash(hashes.SHA256(), 32, other).derive(shared)

    cases: dict[str, Case] = {}
    aes_cek = AESGCM(cek)
    cases["dir/encrypt"] = Case(lambda _: aes_cek.encrypt(os.urandom(12), plaintext, aad))
    cases["A256KW/encrypt"] = Case(
        lambda _: (
            aes_key_wrap(kek, k := os.urandom(32)),
            AESGCM(k).encrypt(os.urandom(12), plaintext, aad),
        )
    )
    ec_public = ec_key.public_key()

    def ecdh_encrypt(_: Any) -> Any:
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        wrapping = concat_kdf(ephemeral.exchange(ec.ECDH(), ec_public))
        content = os.urandom(32)
        return aes_key_wrap(wrapping, content), AESGCM(content).encrypt(
            os.urandom(12), plaintext, aad
        )

    cases["ECDH-ES+A256KW/encrypt"] = Case(ecdh_encrypt)
    rsa_public = rsa_key.public_key()
    cases["RSA-OAEP-256/encrypt"] = Case(
        lambda _: (
            rsa_public.encrypt(k := os.urandom(32), oaep),
            AESGCM(k).encrypt(os.urandom(12), plaintext, aad),
        )
    )

    head, _, iv, body, _ = parts("dir")
    cases["dir/decrypt"] = Case(lambda _, h=head, iv=iv, b=body: aes_cek.decrypt(iv, b, h))
    head, ek, iv, body, _ = parts("A256KW")
    cases["A256KW/decrypt"] = Case(
        lambda _, h=head, ek=ek, iv=iv, b=body: AESGCM(aes_key_unwrap(kek, ek)).decrypt(iv, b, h)
    )
    head, ek, iv, body, header = parts("ECDH-ES+A256KW")
    epk = header["epk"]
    numbers = ec.EllipticCurvePublicNumbers(
        *(int.from_bytes(base64.urlsafe_b64decode(epk[c] + "=="), "big") for c in ("x", "y")),
        ec.SECP256R1(),
    )

    def ecdh_decrypt(
        _: Any, h: bytes = head, ek: bytes = ek, iv: bytes = iv, b: bytes = body
    ) -> bytes:
        # The epk is imported per token (it differs every time), as a library must.
        wrapping = concat_kdf(ec_key.exchange(ec.ECDH(), numbers.public_key()))
        return AESGCM(aes_key_unwrap(wrapping, ek)).decrypt(iv, b, h)

    cases["ECDH-ES+A256KW/decrypt"] = Case(ecdh_decrypt)
    head, ek, iv, body, _ = parts("RSA-OAEP-256")
    cases["RSA-OAEP-256/decrypt"] = Case(
        lambda _, h=head, ek=ek, iv=iv, b=body: AESGCM(rsa_key.decrypt(ek, oaep)).decrypt(iv, b, h)
    )

    dpop_key = serialization.load_pem_private_key(m["dpop_pem"].encode(), None)
    assert isinstance(dpop_key, ec.EllipticCurvePrivateKey)
    dpop_public, ecdsa = dpop_key.public_key(), ec.ECDSA(hashes.SHA256())
    # A proof's signing input is about 350 bytes; each call verifies a different one.
    size = m["proof_input_bytes"]

    def signed() -> tuple[bytes, bytes]:
        data = os.urandom(size)
        return dpop_key.sign(data, ecdsa), data

    cases["dpop/check"] = _pool(signed, lambda item: dpop_public.verify(item[0], item[1], ecdsa))
    return cases
