"""Settings from JOTGATE_* variables and flags, validated with one line per problem."""

from __future__ import annotations

import pytest

from jotgate.server import Settings, SettingsError
from jotgate.server.settings import parse_duration


def test_defaults_need_no_configuration() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.signing_alg == "ES256"
    assert settings.access_token_ttl == 900
    assert settings.refresh_token_ttl == 14 * 86400
    assert settings.session_max_age == 30 * 86400
    assert settings.refresh_reuse_grace == 10
    assert settings.token_transport == "body"
    assert settings.expired_status == 401
    assert settings.registration == "open"
    assert settings.secret is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("2s", 2), ("14d", 1_209_600), ("3600", 3600), ("2h", 7200)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_env_values_are_read_and_converted() -> None:
    settings = Settings.from_env(
        {
            "JOTGATE_DATABASE_URL": "postgresql://postgres@127.0.0.1/test",
            "JOTGATE_ACCESS_TOKEN_TTL": "5m",
            "JOTGATE_SIGNING_ALG": "eddsa",
            "JOTGATE_EXPIRED_STATUS": "419",
            "JOTGATE_TOKEN_TRANSPORT": "both",
            "JOTGATE_SECRET": "a long operator secret value",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert settings.access_token_ttl == 300
    assert settings.signing_alg == "EdDSA"
    assert settings.expired_status == 419
    assert settings.token_transport == "both"
    assert "a long operator" not in repr(settings)


def test_flags_override_env_and_the_issuer_follows_the_port() -> None:
    settings = Settings.from_env({"JOTGATE_PORT": "9000"}, overrides={"port": 9100})
    assert settings.port == 9100
    assert settings.issuer == "http://127.0.0.1:9100"


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "JOTGATE_ACCESS_TOKEN_TTL": "fifteen",
                "JOTGATE_SIGNING_ALG": "none",
                "JOTGATE_EXPIRED_STATUS": "500",
                "JOTGATE_DATABASE_URL": "mysql://x",
                "JOTGATE_SECRET": "short",
                "JOTGATE_PORT": "99999",
            }
        )
    problems = caught.value.problems
    assert len(problems) == 6
    joined = "\n".join(problems)
    for name in ("ACCESS_TOKEN_TTL", "SIGNING_ALG", "EXPIRED_STATUS", "DATABASE_URL", "PORT"):
        assert f"JOTGATE_{name}=" in joined
    assert "JOTGATE_SECRET=<hidden>" in joined
    assert "short" not in joined


def test_refresh_ttl_cannot_exceed_the_session_cap() -> None:
    with pytest.raises(SettingsError, match="REFRESH_TOKEN_TTL"):
        Settings.from_env({"JOTGATE_REFRESH_TOKEN_TTL": "40d"})
