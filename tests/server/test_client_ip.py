"""Client addresses: X-Forwarded-For only from trusted proxies, and only its untrusted part."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from jotgate.server import Settings, SettingsError
from jotgate.server.clientip import client_ip

from .conftest import bearer, running, test_settings

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        # No trusted proxy configured or an untrusted peer: the header is ignored.
        ("198.51.100.1", ["6.6.6.6"], "198.51.100.1"),
        # A trusted peer: the right-most address that is not a trusted hop.
        ("10.0.0.2", ["198.51.100.9"], "198.51.100.9"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.9, 10.0.0.1"], "198.51.100.9"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.9"], "198.51.100.9"),  # several headers
        # Garbage before the trusted chain: only the chain is believed.
        ("10.0.0.2", ["not-an-ip, 10.0.0.1"], "10.0.0.1"),
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.9:4711"], "198.51.100.9"),
        ("2001:db8::5", ["[2001:db8:ffff::1]:443, 2001:db8::7"], "2001:db8:ffff::1"),
        ("::ffff:10.0.0.2", ["198.51.100.9"], "198.51.100.9"),  # v4-mapped peer
    ],
)
def test_forwarded_for_is_read_from_the_right_past_trusted_hops(
    peer: str, header: list[str], expected: str
) -> None:
    trusted = TRUSTED if peer != "198.51.100.1" else ()
    assert client_ip(peer, header, trusted) == expected


def test_untrusted_peers_cannot_spoof_their_address() -> None:
    assert client_ip("198.51.100.1", ["10.0.0.1"], TRUSTED) == "198.51.100.1"


def test_trusted_proxies_setting_takes_a_cidr_list() -> None:
    settings = Settings.from_env({"JOTGATE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1 ::1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="JOTGATE_TRUSTED_PROXIES"):
        Settings.from_env({"JOTGATE_TRUSTED_PROXIES": "10.0.0.0/33"})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("trusted", "recorded"), [("203.0.113.0/24", "198.51.100.23"), ("", "203.0.113.7")]
)
async def test_sessions_record_the_forwarded_address_only_behind_a_trusted_proxy(
    tmp_path: Path, trusted: str, recorded: str
) -> None:
    settings = test_settings(tmp_path, trusted_proxies=trusted)
    async with running(settings) as server:
        await server.register()
        forwarded = {"X-Forwarded-For": "198.51.100.23"}
        login = await server.client.post(
            "/auth/login",
            json={"username": "alice", "password": "correct horse battery staple"},
            headers=forwarded,
        )
        access = login.json()["access_token"]
        sessions = await server.client.get("/auth/sessions", headers=bearer(access))
        assert [s["ip"] for s in sessions.json()] == [recorded]
