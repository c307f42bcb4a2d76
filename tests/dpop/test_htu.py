"""normalize_htu: RFC 3986 §6.2.2 / §6.2.3 normalization, query and fragment dropped."""

from __future__ import annotations

import pytest

from jotgate.dpop import normalize_htu


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("https://api.example.com/notes", "https://api.example.com/notes"),
        ("HTTPS://API.Example.COM/notes", "https://api.example.com/notes"),  # §6.2.2.1
        ("https://api.example.com/Notes", "https://api.example.com/Notes"),  # paths keep case
        ("https://api.example.com:443/notes", "https://api.example.com/notes"),  # §6.2.3
        ("http://api.example.com:80/notes", "http://api.example.com/notes"),
        ("http://api.example.com:443/notes", "http://api.example.com:443/notes"),
        ("https://api.example.com:/notes", "https://api.example.com/notes"),
        ("https://api.example.com", "https://api.example.com/"),  # empty path is "/"
        ("https://api.example.com?q=1", "https://api.example.com/"),
        ("https://api.example.com/notes?q=1#frag", "https://api.example.com/notes"),
        ("https://api.example.com/a/./b/../c", "https://api.example.com/a/c"),  # §6.2.2.3
        ("https://api.example.com/a/b/c/./../../g", "https://api.example.com/a/g"),
        ("https://api.example.com/a/.", "https://api.example.com/a/"),
        ("https://api.example.com/../..", "https://api.example.com/"),
        ("https://api.example.com/a//b", "https://api.example.com/a//b"),
        ("https://api.example.com/%7euser", "https://api.example.com/~user"),  # §6.2.2.2
        ("https://api.example.com/a%2fb", "https://api.example.com/a%2Fb"),
        ("https://api.example.com/%2E%2E/x", "https://api.example.com/x"),
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
        ("https://[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443/x"),
        ("https://127.0.0.1:8000/x", "https://127.0.0.1:8000/x"),
    ],
)
def test_normal_form(uri: str, normal: str) -> None:
    assert normalize_htu(uri) == normal


@pytest.mark.parametrize(
    "uri",
    [
        "/notes",
        "api.example.com/notes",
        "ftp://api.example.com/notes",
        "https:///notes",
        "https://user:pw@api.example.com/notes",
        "https://api.example.com:99999/notes",
        "https://api.example.com:port/notes",
        "https://api.example.com/a b",
        "https://api.example.com/caf\u00e9",
        "https://api.example.com/%zz",
        "https://[::1/x",
        "",
    ],
)
def test_not_an_http_uri(uri: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by fault
        normalize_htu(uri)
