"""JWE peers: joserfc in-process, and jose@6 in one Node process per session.

Both take keys as JWKs exported by jotgate (secrets as raw bytes), and report
a refusal as :class:`PeerRefused` so tests can tell "the peer said no" from a
broken test.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import joserfc.errors
import joserfc.jwe
import joserfc.jwk
import pytest

from jotgate import jwk

from .conftest import b64u, raw_secret, unb64u

HERE = Path(__file__).parent
NODE_SCRIPT = HERE / "node_jwe_peer.mjs"
JOSE_DIR = HERE.parent / "interop" / "node" / "node_modules" / "jose"
#: Only bounds a hung Node; a reply normally takes milliseconds.
REPLY_TIMEOUT = 30.0


class PeerRefused(Exception):
    """The peer would not encrypt or decrypt."""


def skip_or_fail(reason: str) -> None:
    """Skip with a reason, or fail under CI=true (where the peers must be installed)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Node JWE peer is required)", pytrace=False)
    pytest.skip(reason)


def public_jwk(key: jwk.Key) -> dict[str, Any]:
    """What a sender holds: the public JWK (secret keys as themselves)."""
    return key.to_jwk(private=True) if key.is_symmetric else key.public_key().to_jwk()


# -- joserfc -----------------------------------------------------------------------


def _joserfc_key(key: jwk.Key, *, private: bool) -> Any:
    if key.is_symmetric:
        return joserfc.jwk.OctKey.import_key(raw_secret(key))
    return joserfc.jwk.import_key(key.to_jwk(private=private))


def joserfc_encrypt(
    key: jwk.Key, alg: str, enc: str, plaintext: bytes, header: dict[str, Any]
) -> str:
    try:
        return joserfc.jwe.encrypt_compact(
            {"alg": alg, "enc": enc, **header},
            plaintext,
            _joserfc_key(key, private=False),
            algorithms=[alg, enc],
        )
    except (joserfc.errors.JoseError, ValueError) as exc:
        raise PeerRefused(f"{type(exc).__name__}: {exc}") from exc


def joserfc_decrypt(
    key: jwk.Key, alg: str, enc: str, token: str, *, zip_allowed: bool = False
) -> tuple[dict[str, Any], bytes]:
    allowed = [alg, enc, "DEF"] if zip_allowed else [alg, enc]
    try:
        found = joserfc.jwe.decrypt_compact(
            token, _joserfc_key(key, private=True), algorithms=allowed
        )
    except (joserfc.errors.JoseError, ValueError) as exc:
        raise PeerRefused(f"{type(exc).__name__}: {exc}") from exc
    assert found.plaintext is not None
    return dict(found.protected), found.plaintext


# -- jose@6 in Node ------------------------------------------------------------------


class NodeJwePeer:
    """One ``node node_jwe_peer.mjs`` child, spoken to in line-delimited JSON."""

    def __init__(self, node: str) -> None:
        self._process = subprocess.Popen(
            [node, str(NODE_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._replies: queue.Queue[str] = queue.Queue()
        # A reader thread lets a hung Node time out instead of hanging pytest.
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._replies.put(line)

    def request(self, **message: Any) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()
        try:
            reply: dict[str, Any] = json.loads(self._replies.get(timeout=REPLY_TIMEOUT))
        except queue.Empty:
            raise AssertionError("the Node JWE peer did not answer") from None
        if not reply.pop("ok"):
            raise PeerRefused(f"{reply.get('code')}: {reply.get('message')}")
        return reply

    def encrypt(self, key: jwk.Key, alg: str, enc: str, plaintext: bytes, header: dict) -> str:
        reply = self.request(
            op="encrypt",
            jwk=public_jwk(key),
            alg=alg,
            enc=enc,
            plaintext=b64u(plaintext),
            header=header,
        )
        return str(reply["token"])

    def decrypt(self, key: jwk.Key, alg: str, enc: str, token: str) -> tuple[dict, bytes]:
        reply = self.request(
            op="decrypt", jwk=key.to_jwk(private=True), alg=alg, enc=enc, token=token
        )
        return reply["header"], unb64u(reply["plaintext"])

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def start_node_peer() -> NodeJwePeer | None:
    """The Node peer, or a skip (a failure under CI=true) when Node or jose is missing."""
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not on PATH")
        return None
    if not (JOSE_DIR / "package.json").is_file():
        skip_or_fail("jose is not installed: run `npm ci --prefix tests/interop/node`")
        return None
    return NodeJwePeer(node)
