"""Staged rotation: a new key is published first and signs later; an old one is
published until its last token has expired."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from jotgate import jwt
from jotgate.server.keystates import key_states
from jotgate.server.models import SigningKey

from .conftest import bearer, running, test_settings

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
RETAIN = 960.0  # a 15-minute access token plus a minute of leeway


def row(kid: str, *, at: float, alg: str = "ES256", active: bool = True) -> SigningKey:
    created = T0 + dt.timedelta(seconds=at - 600 if at > 0 else at)
    return SigningKey(
        kid=kid,
        alg=alg,
        private_jwk=b"",
        encrypted=False,
        public_jwk={},
        created_at=created,
        active=active,
        activates_at=T0 + dt.timedelta(seconds=at),
    )


def states_at(rows: list[SigningKey], seconds: float, alg: str = "ES256") -> dict[str, str]:
    now = T0 + dt.timedelta(seconds=seconds)
    return {k.kid: k.state for k in key_states(rows, alg=alg, retain_for=RETAIN, now=now)}


def test_a_rotated_key_is_pending_then_active_and_the_old_one_retires_after_its_tokens() -> None:
    rows = [row("old", at=0), row("new", at=600)]
    assert states_at(rows, 599) == {"new": "pending", "old": "active"}
    assert states_at(rows, 600) == {"new": "active", "old": "retiring"}
    assert states_at(rows, 600 + RETAIN - 1) == {"new": "active", "old": "retiring"}
    assert states_at(rows, 600 + RETAIN) == {"new": "active", "old": "retired"}


def test_retirement_times_are_reported() -> None:
    rows = [row("old", at=0), row("new", at=600)]
    states = key_states(rows, alg="ES256", retain_for=RETAIN, now=T0)
    by_kid = {k.kid: k for k in states}
    assert by_kid["old"].retires_at is None  # not replaced until "new" activates
    states = key_states(rows, alg="ES256", retain_for=RETAIN, now=T0 + dt.timedelta(seconds=700))
    by_kid = {k.kid: k for k in states}
    assert by_kid["old"].retires_at == T0 + dt.timedelta(seconds=600 + RETAIN)


def test_a_key_withdrawn_by_hand_is_retired_and_never_signs() -> None:
    withdrawn = row("bad", at=300)
    withdrawn.retired_at = T0 + dt.timedelta(seconds=400)
    rows = [row("old", at=0), withdrawn]
    assert states_at(rows, 500)["bad"] == "retired"


def test_an_algorithm_change_retires_the_old_algorithms_keys() -> None:
    rows = [row("ec", at=0), row("ed", at=100, alg="EdDSA")]
    assert states_at(rows, 200, alg="EdDSA") == {"ed": "active", "ec": "retiring"}
    assert states_at(rows, 100 + RETAIN, alg="EdDSA")["ec"] == "retired"


@pytest.mark.anyio
async def test_a_delayed_key_is_published_at_once_and_signs_after_the_delay(
    tmp_path: Path,
) -> None:
    async with running(test_settings(tmp_path)) as server:
        before = await server.signup()
        old_kid = jwt.decode_unverified(before["access_token"])[0]["kid"]
        new_kid = await server.runtime.keys.rotate(activate_after=1)
        published = (await server.client.get("/.well-known/jwks.json")).json()
        assert {k["kid"] for k in published["keys"]} == {old_kid, new_kid}
        during = await server.login()
        assert jwt.decode_unverified(during["access_token"])[0]["kid"] == old_kid
        await asyncio.sleep(1.05)
        after = await server.login()
        assert jwt.decode_unverified(after["access_token"])[0]["kid"] == new_kid
        published = (await server.client.get("/.well-known/jwks.json")).json()
        assert {k["kid"] for k in published["keys"]} == {old_kid, new_kid}  # still retiring
        for tokens in (before, during, after):
            me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
            assert me.status_code == 200
        states = {k.kid: k.state for k in await server.runtime.keys.states()}
        assert states == {old_kid: "retiring", new_kid: "active"}
