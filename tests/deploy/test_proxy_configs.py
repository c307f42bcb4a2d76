"""deploy/traefik and deploy/envoy, checked structurally (neither proxy is installable here).

These parse the shipped files and check the settings the forward-auth contract
depends on; they cannot show that Traefik or Envoy behave as configured. The
header names are taken from a real ``GET /auth/verify`` answer where possible,
so a header the server starts sending cannot be silently left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import sign_up
from .servers import DEPLOY_NGINX, ServerThread

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

#: Every identity header name the server or the built-in gateway may send
#: (src/jotgate/gateway/headers.py); a client must never get any of them through.
ALL_IDENTITY = {"x-user-id", "x-user-roles", "x-user-scopes", "x-session-id", "x-auth-claims"}


def _yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("PyYAML is missing (it comes with the test extra)")
        pytest.skip("PyYAML is not installed")
    with path.open() as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def server_identity(auth: ServerThread) -> set[str]:
    """The X-* header names a real /auth/verify puts on a 200 (with roles, so none is empty)."""
    with httpx.Client(base_url=f"http://{auth.address}", timeout=10) as client:
        user = sign_up(client, auth, roles=("admin",))
        response = client.get("/auth/verify", headers=user.bearer)
    assert response.status_code == 200
    names = {name.lower() for name in response.headers if name.lower().startswith("x-")}
    assert "x-user-id" in names
    return names


# --- Traefik ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def traefik() -> dict[str, Any]:
    config: dict[str, Any] = _yaml(DEPLOY / "traefik" / "dynamic.yml")["http"]
    return config


def test_traefik_static_config_trusts_no_client_forwarded_headers() -> None:
    static = _yaml(DEPLOY / "traefik" / "traefik.yml")
    assert static["entryPoints"]["web"]["forwardedHeaders"]["insecure"] is False
    assert (DEPLOY / "traefik" / static["providers"]["file"]["filename"]).exists()


def test_traefik_forward_auth_middlewares(
    traefik: dict[str, Any], server_identity: set[str]
) -> None:
    checks = {n: m["forwardAuth"] for n, m in traefik["middlewares"].items() if "forwardAuth" in m}
    assert checks
    for name, check in checks.items():
        assert re.fullmatch(r"http://[^/]+/auth/verify(\?role=\w+)?", check["address"]), name
        assert check["trustForwardHeader"] is False, name
        copied = {header.lower() for header in check["authResponseHeaders"]}
        assert server_identity <= copied, name
        sent = {header.lower() for header in check["authRequestHeaders"]}
        assert {"authorization", "cookie"} <= sent, name


def test_traefik_every_router_strips_identity_first(traefik: dict[str, Any]) -> None:
    middlewares = traefik["middlewares"]
    for name, router in traefik["routers"].items():
        first = middlewares[router["middlewares"][0]]
        removed = {
            h.lower().replace("_", "-")
            for h, v in first["headers"]["customRequestHeaders"].items()
            if v == ""
        }
        assert removed >= ALL_IDENTITY, name
        underscored = {h.lower() for h in first["headers"]["customRequestHeaders"] if "_" in h}
        assert {h.replace("-", "_") for h in ALL_IDENTITY} <= underscored, name


def test_traefik_only_public_routes_skip_the_check(traefik: dict[str, Any]) -> None:
    middlewares = traefik["middlewares"]
    for name, router in traefik["routers"].items():
        checked = any("forwardAuth" in middlewares[m] for m in router["middlewares"])
        public = router["service"] == "jotgate-auth" or "/public/" in router["rule"]
        assert checked != public, name
        if router["service"] == "app":
            # The application gets identity headers, never the token.
            assert "jotgate-strip-token" in router["middlewares"], name


# --- Envoy -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def envoy_hcm() -> dict[str, Any]:
    config = _yaml(DEPLOY / "envoy" / "envoy.yaml")
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    typed: dict[str, Any] = hcm["typed_config"]
    return typed


def _filters(hcm: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f["typed_config"] for f in hcm["http_filters"]}


def _patterns(matcher: dict[str, Any]) -> set[str]:
    return {p["exact"] for p in matcher["patterns"]}


def test_envoy_filter_order_strips_before_the_check(envoy_hcm: dict[str, Any]) -> None:
    names = [f["name"] for f in envoy_hcm["http_filters"]]
    assert names == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.ext_authz",
        "envoy.filters.http.router",
    ]
    mutations = _filters(envoy_hcm)["envoy.filters.http.header_mutation"]["mutations"]
    removed = {m["remove"] for m in mutations["request_mutations"] if "remove" in m}
    assert removed >= ALL_IDENTITY
    options = envoy_hcm["common_http_protocol_options"]
    assert options["headers_with_underscores_action"] == "DROP_HEADER"
    assert envoy_hcm["use_remote_address"] is True


def test_envoy_ext_authz_http_service(envoy_hcm: dict[str, Any], server_identity: set[str]) -> None:
    ext_authz = _filters(envoy_hcm)["envoy.filters.http.ext_authz"]
    assert ext_authz["failure_mode_allow"] is False
    assert ext_authz["status_on_error"]["code"] == "ServiceUnavailable"
    service = ext_authz["http_service"]
    assert service["path_override"] == "/auth/verify"
    assert "path_prefix" not in service
    assert {"authorization", "cookie"} <= _patterns(
        service["authorization_request"]["allowed_headers"]
    )
    answer = service["authorization_response"]
    assert server_identity <= _patterns(answer["allowed_upstream_headers"])
    assert "www-authenticate" in _patterns(answer["allowed_client_headers"])
    clusters = {
        c["name"] for c in _yaml(DEPLOY / "envoy" / "envoy.yaml")["static_resources"]["clusters"]
    }
    assert service["server_uri"]["cluster"] in clusters


def test_envoy_only_public_routes_skip_the_check(envoy_hcm: dict[str, Any]) -> None:
    (host,) = envoy_hcm["route_config"]["virtual_hosts"]
    for route in host["routes"]:
        per_filter = route.get("typed_per_filter_config", {})
        disabled = per_filter.get("envoy.filters.http.ext_authz", {}).get("disabled", False)
        prefix = route["match"]["prefix"]
        public = prefix in ("/auth/", "/.well-known/", "/public/")
        assert disabled == public, prefix
        if route["route"]["cluster"] == "app":
            assert "authorization" in route["request_headers_to_remove"], prefix


def test_every_envoy_type_is_a_v3_api() -> None:
    text = (DEPLOY / "envoy" / "envoy.yaml").read_text()
    types = re.findall(r'"@type": (\S+)', text)
    assert types
    for url in types:
        assert re.fullmatch(r"type\.googleapis\.com/envoy\.[a-z_.]+\.v3\.[A-Za-z]+", url), url


# --- nginx, the same cross-check ---------------------------------------------------------


def test_nginx_captures_and_clears_every_identity_header(server_identity: set[str]) -> None:
    protect = (DEPLOY_NGINX / "jotgate-protect.conf").read_text().lower()
    for name in server_identity:
        assert f"$upstream_http_{name.replace('-', '_')};" in protect, name
    headers = (DEPLOY_NGINX / "jotgate-proxy-headers.conf").read_text().lower()
    cleared = set(re.findall(r"^proxy_set_header (x-[a-z-]+) ", headers, re.MULTILINE))
    assert cleared >= ALL_IDENTITY
