"""Adapters that give every interop peer the same small face.

A peer signs claims with a jotgate-generated key, or verifies a token against
one, each in its own native way: PyJWT and jsonwebtoken get PEM (and raw HMAC
secrets), joserfc and jose get the JWK. Whatever a peer refuses comes back as
:class:`PeerRefused` with a coarse ``kind`` ("expired", "audience",
"signature", "unsupported", ...), so tests can assert that a peer refused for
the *right reason* without knowing four error hierarchies.

The Node peers live in one ``node peer.mjs`` child per session
(:class:`NodeProcess`), spoken to in line-delimited JSON.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import re
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import joserfc.errors
import joserfc.jwk
import joserfc.jwt
import jwt as pyjwt

from jotgate import jwk

from .cases import Case

NODE_DIR = Path(__file__).parent / "node"
NODE_SCRIPT = NODE_DIR / "peer.mjs"
#: Generous: a reply normally takes milliseconds; this only bounds a hung Node.
NODE_REPLY_TIMEOUT = 30.0

Claims = dict[str, Any]
Header = dict[str, Any]


class PeerRefused(Exception):
    """A peer refused to sign or verify; ``kind`` says why, ``detail`` what it said."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Peer(Protocol):
    name: str
    #: Whether verify() can check the header ``typ`` itself (``typ=``).
    checks_typ: bool

    def sign(self, case: Case, key: jwk.Key, claims: Claims, *, typ: str | None = None) -> str:
        """Sign ``claims`` with the private ``key`` under ``case.alg``."""
        ...

    def verify(
        self,
        case: Case,
        key: jwk.Key,
        token: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        typ: str | None = None,
        now: int | None = None,
    ) -> tuple[Header, Claims]:
        """Verify ``token`` with the public half of ``key``; raise PeerRefused."""
        ...


def hmac_secret(key: jwk.Key) -> bytes:
    """The raw HMAC secret, read from the key's own JWK export."""
    k = key.to_jwk(private=True)["k"]
    return base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))


def verifying_key(key: jwk.Key) -> jwk.Key:
    """What a verifier holds: the public half, or the secret itself for HMAC."""
    return key if key.is_symmetric else key.public_key()


def _jwk(key: jwk.Key, *, private: bool) -> dict[str, Any]:
    # jotgate will not export a secret key as a "public" JWK, rightly: a
    # verifier of an HMAC token holds the secret.
    return key.to_jwk(private=private or key.is_symmetric)


def _pyjwt_material(key: jwk.Key, *, private: bool) -> bytes:
    return hmac_secret(key) if key.is_symmetric else key.to_pem(private=private)


class PyJWTPeer:
    name = "pyjwt"
    checks_typ = False

    def sign(self, case: Case, key: jwk.Key, claims: Claims, *, typ: str | None = None) -> str:
        headers = {"typ": typ} if typ else None
        try:
            return pyjwt.encode(
                claims, _pyjwt_material(key, private=True), algorithm=case.alg, headers=headers
            )
        except NotImplementedError as exc:  # PyJWT's "Algorithm not supported"
            raise PeerRefused("unsupported", str(exc)) from exc

    def verify(
        self,
        case: Case,
        key: jwk.Key,
        token: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        typ: str | None = None,
        now: int | None = None,
    ) -> tuple[Header, Claims]:
        if now is not None or typ is not None:
            # PyJWT reads the wall clock, with no hook, and never compares typ.
            raise TypeError("PyJWT has neither a clock hook nor a typ check")
        try:
            decoded = pyjwt.decode_complete(
                token,
                _pyjwt_material(key, private=False),
                algorithms=[case.alg],
                audience=audience,
                issuer=issuer,
            )
        except pyjwt.ExpiredSignatureError as exc:
            raise PeerRefused("expired", str(exc)) from exc
        except pyjwt.InvalidAudienceError as exc:
            raise PeerRefused("audience", str(exc)) from exc
        except pyjwt.InvalidSignatureError as exc:
            raise PeerRefused("signature", str(exc)) from exc
        except (pyjwt.InvalidAlgorithmError, NotImplementedError) as exc:
            raise PeerRefused("unsupported", str(exc)) from exc
        except pyjwt.PyJWTError as exc:
            raise PeerRefused("other", f"{type(exc).__name__}: {exc}") from exc
        return decoded["header"], decoded["payload"]


class JoserfcPeer:
    name = "joserfc"
    checks_typ = False  # jwt.decode returns the header; it does not compare typ.

    def sign(self, case: Case, key: jwk.Key, claims: Claims, *, typ: str | None = None) -> str:
        header = {"alg": case.alg, **({"typ": typ} if typ else {})}
        with _joserfc_errors():
            return joserfc.jwt.encode(
                header,
                claims,
                joserfc.jwk.import_key(_jwk(key, private=True)),
                # Naming the alg lets joserfc use its non-"recommended" rows.
                algorithms=[case.alg],
            )

    def verify(
        self,
        case: Case,
        key: jwk.Key,
        token: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        typ: str | None = None,
        now: int | None = None,
    ) -> tuple[Header, Claims]:
        if typ is not None:
            raise TypeError("joserfc does not check typ")
        with _joserfc_errors():
            decoded = joserfc.jwt.decode(
                token, joserfc.jwk.import_key(_jwk(key, private=False)), algorithms=[case.alg]
            )
            # joserfc verifies signatures and claims in two separate steps.
            options: dict[str, Any] = {}
            if audience is not None:
                options["aud"] = {"essential": True, "value": audience}
            if issuer is not None:
                options["iss"] = {"essential": True, "value": issuer}
            joserfc.jwt.JWTClaimsRegistry(now=now, **options).validate(decoded.claims)
        return dict(decoded.header), dict(decoded.claims)


@contextmanager
def _joserfc_errors() -> Iterator[None]:
    """Translate joserfc's errors; hush its RFC 9864 deprecation of "EdDSA".

    The warning is expected (the polymorphic name is tested on purpose), and
    letting it through would only add noise to every EdDSA case.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        try:
            yield
        except joserfc.errors.JoseError as exc:
            raise PeerRefused(_joserfc_kind(exc), f"{type(exc).__name__}: {exc}") from exc


def _joserfc_kind(exc: joserfc.errors.JoseError) -> str:
    if isinstance(exc, joserfc.errors.ExpiredTokenError):
        return "expired"
    if isinstance(exc, joserfc.errors.InvalidClaimError) and exc.claim == "aud":
        return "audience"
    if isinstance(exc, joserfc.errors.BadSignatureError):
        return "signature"
    if isinstance(
        exc, joserfc.errors.UnsupportedAlgorithmError | joserfc.errors.InvalidKeyCurveError
    ):
        return "unsupported"
    return "other"


class NodeProcess:
    """One ``node peer.mjs`` child, spoken to one JSON line at a time."""

    def __init__(self, node: str) -> None:
        # stderr goes to a file, not a pipe nobody drains, so a chatty or
        # crashing Node can neither block nor lose its last words.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._proc = subprocess.Popen(
            [node, str(NODE_SCRIPT)],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        # A reader thread turns the blocking pipe into a queue we can time out on.
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ids = itertools.count(1)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def request(self, **req: Any) -> dict[str, Any]:
        """Send one request and return Node's reply (``ok`` true or false)."""
        assert self._proc.stdin is not None
        req["id"] = next(self._ids)
        try:
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            line = self._replies.get(timeout=NODE_REPLY_TIMEOUT)
        except (BrokenPipeError, queue.Empty) as exc:
            raise RuntimeError(f"the Node peer stopped answering:\n{self.stderr()}") from exc
        if line is None:
            raise RuntimeError(f"the Node peer exited:\n{self.stderr()}")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("id") != req["id"]:
            raise RuntimeError(f"out-of-order reply from the Node peer: {reply}")
        return reply

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        """Close stdin (the script exits on EOF); kill only if it will not go."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()


_JSONWEBTOKEN_UNSUPPORTED = re.compile(
    r'"algorithm" must be a valid string enum value'
    r"|^secretOrPrivateKey must be an asymmetric key when using"
    r"|^Unknown key type"
    r'|^"alg" parameter for "\w+" key type must be one of'
)


class NodePeer:
    """jsonwebtoken@9 or jose@6, run inside the shared :class:`NodeProcess`."""

    def __init__(self, lib: str, process: NodeProcess) -> None:
        self.lib = lib
        self.name = f"node-{lib}"
        self.checks_typ = lib == "jose"
        self._process = process

    def _key(self, key: jwk.Key, *, private: bool) -> dict[str, Any]:
        if self.lib == "jose":
            return {"jwk": _jwk(key, private=private)}
        if key.is_symmetric:
            return {"secret": base64.urlsafe_b64encode(hmac_secret(key)).decode().rstrip("=")}
        return {"pem": key.to_pem(private=private).decode()}

    def _call(self, **req: Any) -> dict[str, Any]:
        reply = self._process.request(lib=self.lib, **req)
        if not reply["ok"]:
            raise PeerRefused(self._kind(reply["error"]), json.dumps(reply["error"]))
        return reply

    def _kind(self, error: dict[str, Any]) -> str:
        name, code, claim = error["name"], error["code"], error["claim"]
        message: str = error["message"]
        if self.lib == "jose":
            by_code = {
                "ERR_JWT_EXPIRED": "expired",
                "ERR_JWS_SIGNATURE_VERIFICATION_FAILED": "signature",
                "ERR_JOSE_NOT_SUPPORTED": "unsupported",
                "ERR_JOSE_ALG_NOT_ALLOWED": "unsupported",
            }
            if code == "ERR_JWT_CLAIM_VALIDATION_FAILED" and claim in ("aud", "typ"):
                return {"aud": "audience", "typ": "typ"}[claim]
            # WebCrypto's own refusal of a curve jose does not map to the alg.
            if name == "DataError" and "algorithm name mismatch" in message:
                return "unsupported"
            return by_code.get(code, "other")
        if name == "TokenExpiredError":
            return "expired"
        if message.startswith("jwt audience invalid"):
            return "audience"
        if message == "invalid signature":
            return "signature"
        # jsonwebtoken has no "unsupported" error: its option schema and its
        # key-type checks are how it says it has no such algorithm.
        if _JSONWEBTOKEN_UNSUPPORTED.search(message):
            return "unsupported"
        return "other"

    def sign(self, case: Case, key: jwk.Key, claims: Claims, *, typ: str | None = None) -> str:
        header = {"typ": typ} if typ else {}
        reply = self._call(
            op="sign",
            alg=case.alg,
            key=self._key(key, private=True),
            payload=claims,
            header=header,
        )
        token: str = reply["token"]
        return token

    def verify(
        self,
        case: Case,
        key: jwk.Key,
        token: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        typ: str | None = None,
        now: int | None = None,
    ) -> tuple[Header, Claims]:
        if typ is not None and not self.checks_typ:
            raise TypeError("jsonwebtoken does not check typ")
        options = {
            name: value
            for name, value in {
                "audience": audience,
                "issuer": issuer,
                "typ": typ,
                "now": now,
            }.items()
            if value is not None
        }
        reply = self._call(
            op="verify",
            alg=case.alg,
            key=self._key(key, private=False),
            token=token,
            options=options,
        )
        return reply["header"], reply["payload"]
