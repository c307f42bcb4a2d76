"""A token the gateway admitted before: remembered, yet judged again on every request."""

from __future__ import annotations

import base64
import json
import time

import httpx

from jotgate.gateway.admissions import Admissions
from jotgate.middleware import Claims
from jotgate.middleware.transport import Credentials

from .conftest import GatewayFactory, Served
from .servers import AuthStandIn, header_values

IDENTITY = ("x-user-id", "x-user-roles", "x-user-scopes", "x-session-id", "x-auth-claims")


def _bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def _identity(echo: dict[str, object]) -> dict[str, list[str]]:
    return {name: header_values(echo, name) for name in IDENTITY}


def test_a_remembered_token_sends_the_same_identity_and_forged_headers_still_go(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    token = stand_in.token(sub="u-77", roles=["reader", "writer"], scope="a b")
    first = client.get("/api/x", headers=_bearer(token))
    forged = {"X-User-Id": "admin", "X_User_Roles": "admin", "X-Auth-Claims": "e30"}
    second = client.get("/api/x", headers=_bearer(token, **forged))
    assert first.status_code == second.status_code == 200
    assert _identity(second.json()) == _identity(first.json())
    echoed = _identity(second.json())
    assert echoed["x-user-id"] == ["u-77"]
    assert echoed["x-user-roles"] == ["reader,writer"]
    assert echoed["x-user-scopes"] == ["a b"]
    claims = echoed["x-auth-claims"][0]
    assert json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"] == "u-77"
    names = [name.lower().replace("_", "-") for name, _ in second.json()["headers"]]
    assert names.count("x-user-id") == names.count("x-user-roles") == 1
    assert "authorization" not in names


def test_a_remembered_token_still_meets_each_routes_rules(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    token = stand_in.token(roles=["reader"], scope="notes:read")
    assert client.get("/api/x", headers=_bearer(token)).status_code == 200
    assert client.get("/admin/x", headers=_bearer(token)).status_code == 403
    assert client.get("/notes/write/x", headers=_bearer(token)).status_code == 403
    assert client.get("/api/x", headers=_bearer(token)).status_code == 200


def test_a_remembered_token_expires_on_time(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    gw = make_gateway([f"/api={upstream.url}"])
    exp = int(time.time()) + 2
    token = stand_in.token(exp=exp)
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        assert c.get("/api/x", headers=_bearer(token)).status_code == 200
        assert c.get("/api/x", headers=_bearer(token)).status_code == 200  # remembered
        time.sleep(max(0.0, exp - time.time()) + 0.05)
        response = c.get("/api/x", headers=_bearer(token))
        assert response.status_code == 401
        assert response.json()["error"] == "token_expired"


def test_a_remembered_token_with_a_dpop_header_is_answered_as_the_first_time(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    token = stand_in.token()
    with_proof = _bearer(token, DPoP="x.y.z")
    first = client.get("/api/x", headers=with_proof)
    assert client.get("/api/x", headers=_bearer(token)).status_code == 200
    again = client.get("/api/x", headers=with_proof)
    assert again.status_code == first.status_code == 200
    assert header_values(again.json(), "dpop") == []
    assert _identity(again.json()) == _identity(first.json())


def _claims(**raw: object) -> Claims:
    return Claims.from_dict({"sub": "u", "exp": int(time.time()) + 60, **raw})


def test_only_lone_unbound_bearer_tokens_are_remembered() -> None:
    admissions = Admissions()
    block = [(b"x-user-id", b"u")]
    alone = [(b"host", b"h"), (b"authorization", b"Bearer t1")]
    admissions.remember(alone, Credentials("t1", "bearer", ()), _claims(), block)
    found = admissions.find(alone)
    assert found is not None
    assert found.token == "t1"
    assert found.block == b"x-user-id: u\r\n"
    assert admissions.find([*alone, (b"dpop", b"proof")]) is None
    assert admissions.find([*alone, (b"authorization", b"Bearer t2")]) is None
    for bound in ({"cnf": {"jkt": "x"}}, {"fgp": "x"}, {"bnd": "x"}):
        headers = [(b"authorization", b"Bearer t3")]
        admissions.remember(headers, Credentials("t3", "bearer", ()), _claims(**bound), block)
        assert admissions.find(headers) is None
    dpop = [(b"authorization", b"DPoP t4"), (b"dpop", b"proof")]
    admissions.remember(dpop, Credentials("t4", "dpop", ("proof",)), _claims(), block)
    assert admissions.find([(b"authorization", b"DPoP t4")]) is None


def test_the_memory_is_bounded() -> None:
    admissions = Admissions(size=3)
    for i in range(10):
        headers = [(b"authorization", b"Bearer t%d" % i)]
        admissions.remember(headers, Credentials(f"t{i}", "bearer", ()), _claims(), [])
        assert len(admissions) <= 3
    assert admissions.find([(b"authorization", b"Bearer t9")]) is not None
