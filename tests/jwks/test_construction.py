"""RemoteKeySet construction: URLs from configuration only, sane options, optional httpx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from jotgate.jwks import RemoteKeySet

from .conftest import JwksServer

MakeRemote = Callable[..., RemoteKeySet]


@pytest.mark.parametrize(
    "url",
    [
        "",
        "jwks.json",
        "/jwks.json",
        "//auth.example.com/jwks.json",
        "ftp://auth.example.com/jwks.json",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:application/json,{}",
        "https://",
        "https://user:secret@auth.example.com/jwks.json",
    ],
)
def test_urls_other_than_absolute_http_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        RemoteKeySet(url)


def test_a_url_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(TypeError):
        RemoteKeySet(b"https://auth.example.com/jwks.json")  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["https://auth.example.com/jwks.json", "HTTP://10.0.0.1:8080/k"])
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert RemoteKeySet(url).url == url


@pytest.mark.parametrize(
    "options",
    [
        {"max_age": 0},
        {"max_age": -1},
        {"max_age": float("nan")},
        {"max_age": float("inf")},
        {"max_age": True},
        {"max_age": "600"},
        {"min_age": 700},
        {"min_age": 30, "max_age": 20},
        {"cooldown": -1},
        {"timeout": 0},
        {"max_bytes": 0},
        {"max_bytes": 1.5},
        {"max_bytes": True},
    ],
)
def test_nonsense_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|exceed"):
        RemoteKeySet("https://auth.example.com/jwks.json", **options)  # type: ignore[arg-type]


def test_defaults() -> None:
    remote = RemoteKeySet("https://auth.example.com/jwks.json")
    assert (remote.max_age, remote.min_age, remote.cooldown) == (600, 60, 30)
    assert (remote.timeout, remote.max_bytes) == (5.0, 512 * 1024)
    assert RemoteKeySet("https://a.example/k", max_age=20).min_age == 20


def test_an_injected_sync_client_is_used_and_left_open(
    server: JwksServer, make_remote: MakeRemote
) -> None:
    with httpx.Client() as client:
        remote = make_remote(sync_client=client)
        assert remote.get_sync("k1").get("k1") is not None
        remote.close()
        assert not client.is_closed
    assert server.hits["/jwks.json"] == 1


def test_close_releases_the_own_client_and_the_cache_stays_usable(
    server: JwksServer, make_remote: MakeRemote
) -> None:
    with make_remote() as remote:
        remote.get_sync()
    assert remote.get_sync("k1").get("k1") is not None
    assert "1 keys" in repr(remote)
    remote.close()
    remote.close()  # twice is fine


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_core_library_does_not_import_httpx() -> None:
    result = _run(
        "import sys\n"
        "import jotgate\n"
        "from jotgate import errors, jwa, jwk, jws, jwt\n"
        "assert 'httpx' not in sys.modules, 'httpx imported'\n"
        "assert 'jotgate.jwks' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr


def test_without_httpx_the_import_error_names_the_extra() -> None:
    result = _run(
        "import sys\n"
        "sys.modules['httpx'] = None  # as if not installed\n"
        "try:\n"
        "    import jotgate.jwks\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'jotgate[remote]'" in result.stdout
