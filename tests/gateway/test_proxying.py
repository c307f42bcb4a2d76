"""The reverse proxy: routing, paths, hop-by-hop and forwarding headers, failures."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from .conftest import GatewayFactory, Served
from .servers import AuthStandIn, header_values


def test_paths_keep_their_prefix_by_default(client: httpx.Client) -> None:
    assert client.get("/public/a/b").json()["path"] == "/public/a/b"


@pytest.mark.parametrize(
    ("path", "upstream_path"), [("/strip/a/b", "/a/b"), ("/strip", "/"), ("/strip/", "/")]
)
def test_strip_prefix_removes_it(client: httpx.Client, path: str, upstream_path: str) -> None:
    assert client.get(path).json()["path"] == upstream_path


def test_longest_prefix_wins_and_upstream_base_path_is_kept(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    # /api/v2 -> {up}/v2 with strip_prefix, while /api -> {up} keeps the path.
    headers = {"Authorization": f"Bearer {stand_in.token()}"}
    assert client.get("/api/v2/items", headers=headers).json()["path"] == "/v2/items"
    assert client.get("/api/v22/items", headers=headers).json()["path"] == "/api/v22/items"


@pytest.mark.parametrize("path", ["/apiary", "/publicity", "/", "/unknown/x"])
def test_prefixes_match_on_segment_boundaries_only(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_query_and_percent_encoding_pass_unchanged(client: httpx.Client) -> None:
    echo = client.get("/public/a%2Fb/c%20d?x=1&y=%26").json()
    assert echo["raw_path"] == "/public/a%2Fb/c%20d"
    assert echo["query"] == "x=1&y=%26"


def test_an_upstream_base_path_goes_before_the_whole_client_path(
    make_gateway: GatewayFactory, upstream: Served
) -> None:
    gw = make_gateway([], [f"/svc={upstream.url}/base/v1", f"/root={upstream.url}"])
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        echo = c.get("/svc/a%2Fb/c%20d?x=1&y=%26").json()
        assert echo["raw_path"] == "/base/v1/svc/a%2Fb/c%20d"
        assert echo["query"] == "x=1&y=%26"
        assert c.get("/svc").json()["raw_path"] == "/base/v1/svc"
        plain = c.get("/root/x?").json()
        assert plain["raw_path"] == "/root/x"
        assert plain["query"] == ""


@pytest.mark.parametrize("path", ["/public/../api/x", "/public/./x", "/public/%2e%2e/api/x"])
def test_dot_segments_are_refused(gateway: Served, path: str) -> None:
    # Sent raw: httpx would normalise the path before it left the test.
    status_line = _raw_get(gateway, path).split(b"\r\n", 1)[0]
    assert b" 400 " in status_line


def _raw_get(served: Served, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", served.thread.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_methods_and_bodies_are_forwarded(client: httpx.Client) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        echo = client.request(method, "/public/x", content=b"hello").json()
        assert echo["method"] == method
        assert echo["body_size"] == 5


def test_request_hop_by_hop_headers_are_removed(client: httpx.Client) -> None:
    headers = [
        ("Connection", "keep-alive, X-Hop-Custom"),
        ("X-Hop-Custom", "only for the next hop"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Proxy-Authorization", "Basic dTpw"),
        ("Proxy-Connection", "keep-alive"),
        ("X-End-To-End", "kept"),
    ]
    echo = client.get("/public/x", headers=headers).json()
    received = {name.lower() for name, _ in echo["headers"]}
    for name in ("x-hop-custom", "keep-alive", "te", "trailer", "proxy-authorization",
                 "proxy-connection"):  # fmt: skip
        assert name not in received
    assert header_values(echo, "x-end-to-end") == ["kept"]
    # The gateway's own connection to the upstream is its business, not the client's.
    assert header_values(echo, "connection") in ([], ["keep-alive"])


def test_response_hop_by_hop_headers_are_removed(client: httpx.Client, upstream: Served) -> None:
    upstream.app.response_headers = [
        (b"connection", b"x-upstream-hop"),
        (b"x-upstream-hop", b"secret"),
        (b"keep-alive", b"timeout=5"),
        (b"proxy-authenticate", b"Basic"),
        (b"x-upstream-kept", b"yes"),
    ]
    try:
        response = client.get("/public/x")
    finally:
        upstream.app.response_headers = []
    assert response.status_code == 200
    assert "x-upstream-hop" not in response.headers
    assert "keep-alive" not in response.headers
    assert "proxy-authenticate" not in response.headers
    assert response.headers["x-upstream-kept"] == "yes"


def test_forwarding_headers_describe_the_client_not_what_it_claims(client: httpx.Client) -> None:
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil", "Forwarded": "for=6",
              "X-Forwarded-Prefix": "//evil.example", "X-Real-IP": "6.6.6.6"}  # fmt: skip
    echo = client.get("/public/x", headers={**forged, "Host": "shop.example"}).json()
    assert header_values(echo, "x-forwarded-prefix") == []
    assert header_values(echo, "x-real-ip") == []
    assert header_values(echo, "x-forwarded-for") == ["127.0.0.1"]
    assert header_values(echo, "x-forwarded-proto") == ["http"]
    assert header_values(echo, "x-forwarded-host") == ["shop.example"]
    assert header_values(echo, "forwarded") == []


def test_trusted_forwarding_headers_are_extended(
    make_gateway: GatewayFactory, upstream: Served
) -> None:
    gw = make_gateway([], [f"/p={upstream.url}"], trust_forwarded=True)
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    echo = httpx.get(gw.url + "/p/x", headers=headers).json()
    assert header_values(echo, "x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]
    assert header_values(echo, "x-forwarded-proto") == ["https"]


def test_every_request_gets_a_request_id(client: httpx.Client) -> None:
    response = client.get("/public/x")
    rid = response.headers["x-request-id"]
    assert len(rid) == 32
    assert header_values(response.json(), "x-request-id") == [rid]
    assert client.get("/public/x").headers["x-request-id"] != rid
    assert client.get("/nowhere").headers["x-request-id"]  # gateway's own answers too


def test_a_well_formed_client_request_id_is_kept(client: httpx.Client) -> None:
    response = client.get("/public/x", headers={"X-Request-Id": "trace-42.a:b"})
    assert response.headers["x-request-id"] == "trace-42.a:b"
    assert header_values(response.json(), "x-request-id") == ["trace-42.a:b"]
    odd = client.get("/public/x", headers={"X-Request-Id": "<script>"})
    assert odd.headers["x-request-id"] != "<script>"


def test_upstream_status_and_headers_pass_through(client: httpx.Client) -> None:
    response = client.get("/public/x?status=418")
    assert response.status_code == 418
    assert response.headers["content-type"] == "application/json"


def test_upstream_refusing_connections_is_502(make_gateway: GatewayFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nobody listens once closed
    gw = make_gateway([], [f"/down=http://127.0.0.1:{closed_port}"])
    response = httpx.get(gw.url + "/down/x")
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway"


def test_slow_upstream_is_504(make_gateway: GatewayFactory, upstream: Served) -> None:
    gw = make_gateway([], [f"/slow={upstream.url}"], upstream_timeout=0.2)
    response = httpx.get(gw.url + "/slow/x?sleep=2", timeout=10)
    assert response.status_code == 504
    assert response.json()["error"] == "gateway_timeout"


def test_healthz_answers_on_the_gateway(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_auth_routes_pass_through_to_the_auth_server(client: httpx.Client) -> None:
    response = client.post("/auth/login", json={"username": "a", "password": "b"})
    assert response.status_code == 200
    assert response.json() == {**response.json(), "auth_server": True, "path": "/auth/login"}
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.json()["keys"][0]["kid"] == "k1"


def test_served_without_lifespan_the_gateway_starts_on_first_request(
    auth_server: Served, upstream: Served, stand_in: AuthStandIn
) -> None:
    from jotgate.gateway import Gateway, load

    from .servers import ServerThread

    settings = load(None, {"auth_server": auth_server.url, "revocation_poll_interval": 0.1},
                    routes=[f"/api={upstream.url}"])  # fmt: skip
    app = Gateway(settings)

    async def served(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/test-shutdown":
            await app.shutdown()  # on the server's loop, which owns the connections
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    thread = ServerThread(served, lifespan="off").start()
    try:
        token = stand_in.token()
        response = httpx.get(thread.url + "/api/x", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert app.auth.feed_started
    finally:
        httpx.get(thread.url + "/test-shutdown")
        thread.stop()
