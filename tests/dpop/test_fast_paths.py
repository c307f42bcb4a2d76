"""verify_proof's shortcuts keep every check: htu spelled like the request, ASCII compares.

The proof's ``htu`` is normalised only when its text differs from the
request URI's (the same text has the same normal form), and constant-time
comparisons skip the UTF-8 encoding when both sides are ASCII.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from jotgate import dpop
from jotgate._dpop_checks import same

from .conftest import URL, Forge, check


def test_same_text_htu_accepted(forge: Forge) -> None:
    assert check(forge(htu=URL)).claims["htu"] == URL


@pytest.mark.parametrize(
    "spelling",
    [
        "HTTPS://API.Example.COM/notes",
        URL + "?q=1#frag",
        "https://api.example.com:443/./notes",
    ],
)
def test_other_spelling_of_the_same_uri_accepted(forge: Forge, spelling: str) -> None:
    assert check(forge(htu=spelling)).claims["htu"] == spelling


@pytest.mark.parametrize("htu", [URL + "/x", URL.replace("https", "http", 1), "not a uri"])
def test_other_uri_refused(forge: Forge, htu: str) -> None:
    with pytest.raises(dpop.DPoPError) as caught:
        check(forge(htu=htu))
    assert caught.value.reason == "htu"


def test_unusable_request_uri_refused_even_when_the_proof_says_the_same(forge: Forge) -> None:
    bad = "https://user@api.example.com/notes"
    with pytest.raises(dpop.DPoPError) as caught:
        check(forge(htu=bad), htu=bad)
    assert caught.value.reason == "htu"


def test_durations_of_every_kind(forge: Forge) -> None:
    for age, slack in ((60, 5), (60.0, 5.0), (timedelta(minutes=1), timedelta(seconds=5))):
        check(forge(), max_age=age, leeway=slack)


def test_same() -> None:
    assert same("abc", "abc")
    assert not same("abc", "abd")
    assert not same("abc", "abcd")
    assert same("ünï", "ünï")
    assert not same("ünï", "uni")
    assert not same("abc", "äbc")
