"""Fixtures for the interoperability tests: jotgate against PyJWT, joserfc,
Node's jsonwebtoken@9 and Node's jose@6, in both directions.

The Python peers come with the ``test`` extra. The Node peers are pinned in
``tests/interop/node/package.json`` and ``package-lock.json``; install them with

    npm ci --prefix tests/interop/node

Without ``node`` on PATH or without that install, the Node cases skip and say
why. With ``CI=true`` in the environment they fail instead, so a CI job that
forgot the install cannot go green by skipping half the matrix.

All Node cases share one ``node peer.mjs`` process per session (a Node start
costs far more than a token), closed when the session ends.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import pytest

from jotgate import jwk

from .cases import Case
from .peers import NODE_DIR, JoserfcPeer, NodePeer, NodeProcess, Peer, PyJWTPeer

NODE_LIBS = ("jsonwebtoken", "jose")


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: Node peers are required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node_process() -> Iterator[NodeProcess]:
    """The shared Node peer process, or a visible skip (a failure under CI=true)."""
    node = shutil.which("node")
    if node is None:
        _skip_or_fail("node is not on PATH")
    assert node is not None
    missing = [lib for lib in NODE_LIBS if not (NODE_DIR / "node_modules" / lib).is_dir()]
    if missing:
        _skip_or_fail(
            f"Node peers not installed ({', '.join(missing)}): "
            "run `npm ci --prefix tests/interop/node`"
        )
    process = NodeProcess(node)
    try:
        versions = process.request(op="versions")
        # A stale node_modules would quietly test other versions than the pins.
        pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
        stale = {lib: versions[lib] for lib in NODE_LIBS if versions[lib] != pinned[lib]}
        if stale:
            _skip_or_fail(
                f"installed Node peers {stale} differ from the pins {pinned}: "
                "run `npm ci --prefix tests/interop/node`"
            )
        yield process
    finally:
        process.close()


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Peer:
    """The peer named by the test's ``peer`` parameter (use ``indirect=["peer"]``)."""
    name: str = request.param
    if name == "pyjwt":
        return PyJWTPeer()
    if name == "joserfc":
        return JoserfcPeer()
    lib = name.removeprefix("node-")
    if lib not in NODE_LIBS:
        raise ValueError(f"unknown peer {name}")
    return NodePeer(lib, request.getfixturevalue("node_process"))


class KeyCache:
    """One jotgate key per case, made on first use and kept for the session.

    RSA generation is the slow part of this suite; sharing keys across peers
    and directions keeps each test file to a few seconds.
    """

    def __init__(self) -> None:
        self._keys: dict[str, jwk.Key] = {}

    def __getitem__(self, case: Case) -> jwk.Key:
        if case.id not in self._keys:
            self._keys[case.id] = self._generate(case)
        return self._keys[case.id]

    @staticmethod
    def _generate(case: Case) -> jwk.Key:
        if case.alg == "EdDSA" and case.crv == "Ed448":
            # generate() names the curve through the alg; an Ed448 key meant
            # for the polymorphic "EdDSA" alg is the same key rebound to it.
            member = jwk.Key.generate("Ed448").to_jwk(private=True)
            key = jwk.Key.from_jwk({**member, "alg": "EdDSA"})
        else:
            key = jwk.Key.generate(case.alg)
        if case.crv is not None and key.crv != case.crv:
            raise AssertionError(f"{case.id}: generated a {key.crv} key, wanted {case.crv}")
        return key


@pytest.fixture(scope="session")
def keys() -> KeyCache:
    return KeyCache()
