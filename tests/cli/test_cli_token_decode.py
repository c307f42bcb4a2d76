"""``jotgate token decode``: a token's contents for people, clearly NOT verified."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jotgate import jwk, jwt

from .conftest import NOW, Run


def _token(es256: jwk.Key, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(claims, es256, headers=headers or None)


def _decode(run: Run, token: str, *extra: str) -> str:
    result = run("token", "decode", token, "--now", str(NOW), *extra)
    assert result.status == 0, result.err
    return result.out


def test_shows_banner_header_claims_times_and_countdown(run: Run, es256: jwk.Key) -> None:
    token = _token(es256, {"sub": "u-42", "iat": NOW - 57, "exp": NOW + 843})
    out = _decode(run, token)
    lines = out.splitlines()
    assert "NOT VERIFIED" in lines[0]
    assert '  "sub": "u-42",' in lines
    assert '  "kid": "es-1"' in lines
    assert "  iat  issued     2027-01-15T07:59:03Z  57s ago" in lines
    assert "  exp  expires    2027-01-15T08:14:03Z  in 14m 3s" in lines
    assert "Status    valid for another 14m 3s (lifetime 15m)" in lines
    assert "Signature 64 bytes, not verified" in lines
    assert "\033[" not in out  # not a terminal: no colour


def test_header_and_claims_blocks_are_json(run: Run, es256: jwk.Key) -> None:
    claims = {"sub": "u", "aud": ["a", "b"], "ctx": {"ip": "10.0.0.1", "n": [1, {"x": None}]}}
    out = _decode(run, _token(es256, claims))
    body = out.split("Claims\n", 1)[1].split("\n}\n", 1)[0] + "\n}"
    assert json.loads(body) == claims


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"exp": NOW - 300}, "EXPIRED 5m ago"),
        ({"exp": NOW}, "EXPIRED 0s ago"),  # exp is the first instant it is invalid
        ({"nbf": NOW + 7200, "exp": NOW + 9000}, "not valid yet: usable in 2h"),
        ({"iat": NOW + 90}, "issued in the future (in 1m 30s)"),
        ({"sub": "x"}, "no 'exp': this token never expires"),
        ({"exp": "tomorrow"}, "'exp' cannot be read as a time"),
        ({"exp": True}, "'exp' cannot be read as a time"),
        ({"exp": NOW + 3 * 86400 + 5 * 3600 + 59}, "valid for another 3d 5h"),
    ],
)
def test_status_line(run: Run, es256: jwk.Key, claims: dict[str, Any], status: str) -> None:
    out = _decode(run, _token(es256, claims))
    assert f"Status    {status}\n" in out


def test_a_time_beyond_the_calendar_is_reported_not_crashed_on(run: Run, es256: jwk.Key) -> None:
    out = _decode(run, _token(es256, {"exp": 1e300}))
    assert "exp  expires    out of the calendar's range" in out


def test_json_output(run: Run, es256: jwk.Key) -> None:
    token = _token(es256, {"sub": "u", "iat": NOW - 60, "exp": NOW + 840})
    view = json.loads(_decode(run, token, "--json"))
    assert view["verified"] is False
    assert view["header"] == {"alg": "ES256", "typ": "JWT", "kid": "es-1"}
    assert view["claims"]["sub"] == "u"
    assert view["times"]["exp"] == {
        "value": NOW + 840,
        "utc": "2027-01-15T08:14:00Z",
        "relative": "in 14m",
        "seconds_from_now": 840,
    }
    assert view["status"] == {"state": "valid", "text": "valid for another 14m (lifetime 15m)"}
    assert view["signature_bytes"] == 64


def test_now_accepts_iso_8601(run: Run, es256: jwk.Key) -> None:
    token = _token(es256, {"exp": NOW + 60})
    out = _decode(run, token, "--now", "2027-01-15T08:00:00+01:00")
    assert "in 1h 1m" in out


def test_reads_stdin_and_drops_a_bearer_prefix(run: Run, es256: jwk.Key) -> None:
    token = _token(es256, {"sub": "from-stdin"})
    result = run("token", "decode", "-", "--json", stdin=f"Bearer {token}\n")
    assert result.status == 0
    assert json.loads(result.out)["claims"] == {"sub": "from-stdin"}


def test_decodes_without_any_key_even_a_forged_signature(run: Run, es256: jwk.Key) -> None:
    head, body, _ = _token(es256, {"sub": "admin"}).split(".")
    out = _decode(run, f"{head}.{body}.AAAA")
    assert "NOT VERIFIED" in out
    assert "Signature 3 bytes, not verified" in out


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "a.b",
        "e30.e30.e30.e30.e30",  # JWE-shaped
        "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.AAAA",  # payload is not JSON
        "eyJhbGciOiJFUzI1NiJ9.WzFd.AAAA",  # payload is a JSON array
        "eyJhbGciOiJFUzI1NiJ9=.e30.AAAA",  # padded base64url
        "eyJhbGciOiJFUzI1NiIsImEiOjEsImEiOjJ9.e30.AAAA",  # duplicate header member
    ],
)
def test_malformed_tokens_are_one_error_line_and_exit_1(run: Run, token: str) -> None:
    result = run("token", "decode", token)
    assert result.status == 1
    assert result.out == ""
    assert result.err.startswith("jotgate: error: malformed_token:")
    assert result.err.count("\n") == 1


def test_empty_stdin_is_an_error(run: Run) -> None:
    result = run("token", "decode", "-", stdin="\n")
    assert result.status == 1
    assert "no token" in result.err


def test_binary_stdin_is_an_error(run: Run) -> None:
    result = run("token", "decode", "-", stdin=b"\xff\xfe\x00")
    assert result.status == 1
    assert result.err.startswith("jotgate: error:")


def test_terminal_control_characters_in_claims_are_escaped(run: Run, es256: jwk.Key) -> None:
    sneaky = "ok\u001b[2J\u009b31m\u202egnp.exe\u2028"
    out = _decode(run, _token(es256, {"name": sneaky, "名前": "ジョット"}))
    for raw in ("\u001b", "\u009b", "\u202e", "\u2028"):
        assert raw not in out
    assert '"name": "ok\\u001b[2J\\u009b31m\\u202egnp.exe\\u2028"' in out
    assert '"名前": "ジョット"' in out  # ordinary non-ASCII text is shown as is
    view = json.loads(_decode(run, _token(es256, {"name": sneaky}), "--json"))
    assert view["claims"]["name"] == sneaky  # escaped, yet the same JSON value


def test_colour_only_when_asked_on_a_non_terminal(run: Run, es256: jwk.Key) -> None:
    token = _token(es256, {"exp": NOW - 1})
    coloured = _decode(run, token, "--color", "always")
    assert "\033[1;31mEXPIRED 1s ago\033[0m" in coloured
    assert "\033[" not in _decode(run, token, "--color", "never")


def test_an_unsigned_alg_none_token_is_shown_as_never_verifiable(run: Run) -> None:
    out = _decode(run, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.")
    assert 'alg "none" is not one jotgate verifies' in out
    assert "--alg none" not in out
    assert "Signature none: the token is unsigned" in out
