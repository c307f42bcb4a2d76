"""Settings: a TOML file or flags, the same keys either way, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from jotgate.cli import main
from jotgate.gateway import Route, SettingsError, load, parse_route
from jotgate.gateway.routing import Router

AUTH = {"auth_server": "http://127.0.0.1:8000"}


def test_the_issues_flags_give_the_expected_settings() -> None:
    settings = load(
        None,
        {"listen": "127.0.0.1:8080", **AUTH},
        routes=["/api=http://127.0.0.1:9001"],
        public_routes=["/public=http://127.0.0.1:9002"],
    )
    assert settings.listen == ("127.0.0.1", 8080)
    assert settings.jwks == "http://127.0.0.1:8000/.well-known/jwks.json"
    assert settings.expected_issuer == "http://127.0.0.1:8000"
    assert settings.routes == (
        Route("/api", "http://127.0.0.1:9001", auth="required"),
        Route("/public", "http://127.0.0.1:9002", auth="public"),
    )


def test_a_file_and_flags_mean_the_same(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        """
        listen = "127.0.0.1:9999"
        auth_server = "http://127.0.0.1:8000/"
        audience = "notes"
        strip_headers = ["X-Tenant-Id"]
        upstream_timeout = "2s"

        [[routes]]
        prefix = "/admin/"
        upstream = "http://127.0.0.1:9003"
        roles = ["admin", "ops"]
        scopes = ["notes:write"]
        strip_prefix = true
        """
    )
    from_file = load(config, {"listen": "127.0.0.1:8080"})
    from_flags = load(
        None,
        {"listen": "127.0.0.1:8080", "auth_server": "http://127.0.0.1:8000/",
         "audience": "notes", "strip_headers": "X-Tenant-Id", "upstream_timeout": "2s"},
        routes=["/admin/=http://127.0.0.1:9003 roles=admin,ops scopes=notes:write strip_prefix"],
    )  # fmt: skip
    assert from_file == from_flags
    assert from_file.listen == ("127.0.0.1", 8080)  # the flag wins over the file
    assert from_file.routes[0].prefix == "/admin"
    assert from_file.routes[0].roles == ("admin", "ops")
    assert from_file.strip_headers == ("x-tenant-id",)
    assert from_file.upstream_timeout == 2.0


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load(
            None,
            {"listen": "nowhere", "upstream_timeout": "soon", "algorithms": "HS256",
             "expired_status": "500", "revocation_poll_interval": "5s", "colour": "red"},
            routes=["/api=ftp://x", "/apiary=http://127.0.0.1:1 roles"],
            public_routes=["/pub=http://127.0.0.1:2 roles=admin", "missing-equals"],
        )  # fmt: skip
    text = "\n".join(caught.value.problems)
    for expected in ("listen", "upstream_timeout", "HS256", "expired_status",
                     "revocation_poll_interval", "colour: unknown setting"):  # fmt: skip
        assert expected in text


@pytest.mark.parametrize(
    ("routes", "problem"),
    [
        ([], "routes: none configured"),
        (["/api=http://a:1", "/api/=http://b:1"], "configured twice"),
        (["/healthz=http://a:1"], "gateway's own path"),
        (["/auth=http://a:1"], "gateway's own path"),
        (["/a/../b=http://a:1"], "'..' segment"),
        (["/a%2F=http://a:1"], "plain characters only"),
        (["/a=http://user:pw@a:1"], "credentials"),
        (["/a=http://a:1 colour=red"], "unknown key 'colour'"),
        (["/a=http://a:1 auth=maybe"], "'public' or 'required'"),
        (["/a=http://a:1 roles"], "roles needs a value"),
    ],
)
def test_bad_routes_are_explained(routes: list[str], problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(None, AUTH, routes=routes)
    assert problem in "\n".join(caught.value.problems)


def test_public_route_cannot_ask_for_roles() -> None:
    with pytest.raises(SettingsError, match="public but asks for roles"):
        load(None, AUTH, public_routes=["/p=http://a:1 roles=admin"])


def test_keys_need_an_auth_server_or_a_jwks_url() -> None:
    with pytest.raises(SettingsError, match="auth_server: needed"):
        load(None, {}, routes=["/a=http://a:1"])
    settings = load(None, {"jwks_url": "https://keys.example/jwks"}, routes=["/a=http://a:1"])
    assert settings.jwks == "https://keys.example/jwks"


def test_unreadable_or_broken_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file"):
        load(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("listen = \n")
    with pytest.raises(SettingsError, match="config file"):
        load(broken)


def test_route_flag_syntax() -> None:
    assert parse_route("/a=http://h:1 keep-authorization strip_prefix=false") == {
        "prefix": "/a", "upstream": "http://h:1", "auth": "required",
        "keep_authorization": "true", "strip_prefix": "false",
    }  # fmt: skip


def test_longest_prefix_on_segment_boundaries() -> None:
    router = Router(
        [Route("/api", "http://a"), Route("/api/v2", "http://b"), Route("/", "http://c")]
    )
    assert router.match("/api/v2/x").upstream == "http://b"  # type: ignore[union-attr]
    assert router.match("/api/v22").upstream == "http://a"  # type: ignore[union-attr]
    assert router.match("/apiary").upstream == "http://c"  # type: ignore[union-attr]
    assert Router([Route("/api", "http://a")]).match("/apiary") is None


def test_cli_reports_bad_settings_as_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["gateway", "--auth-server", "not a url", "--route", "/api=http://h:1"])
    assert status == 2
    err = capsys.readouterr().err
    assert "invalid gateway settings" in err
    assert "auth_server" in err


def test_cli_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--listen", "--auth-server", "--route", "--public-route", "--config"):
        assert flag in out
