"""Whatever arrives, jwe.decrypt answers with a plaintext or the one DecryptionError.

Random strings, random five-part tokens, arbitrary JSON headers sealed with
the right key, and single-byte mutations of real tokens: anything other than
DecryptionError (a ValueError from the crypto library, a TypeError from a
header of the wrong type...) would be a 500 in a server.
"""

from __future__ import annotations

import json
import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jotgate import errors, jwe, jwk

from .conftest import b64u, unb64u
from .forge import seal_dir

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ALGS = ["dir", "A128KW", "A256GCMKW", "ECDH-ES", "ECDH-ES+A128KW", "PBES2-HS256+A128KW"]
ENCS = ["A128GCM", "A128CBC-HS256"]
DIR_KEY = jwk.Key.from_secret(secrets.token_bytes(16), alg="dir")
KW_KEY = jwk.Key.from_secret(secrets.token_bytes(16), alg="A128KW")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _outcome(token: object, key: jwk.Key, algs: list[str] = ALGS) -> bytes | None:
    """The plaintext, or None for the one uniform DecryptionError (anything else propagates)."""
    message = None
    try:
        return jwe.decrypt(token, key, algorithms=algs, encryptions=ENCS, allow_zip=True).plaintext
    except errors.DecryptionError as exc:
        message = str(exc)
    assert message == "the JWE could not be decrypted"
    return None


@SETTINGS
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_random_input(token) -> None:
    assert _outcome(token, KW_KEY) is None


@SETTINGS
@given(st.lists(st.text(ALPHABET, max_size=60), min_size=5, max_size=5))
def test_random_five_part_tokens(parts) -> None:
    assert _outcome(".".join(parts), KW_KEY) is None


@SETTINGS
@given(
    st.sampled_from(ALGS),
    st.sampled_from([*ENCS, "A256GCM", "nope"]),
    st.dictionaries(
        st.sampled_from(
            ["epk", "p2c", "p2s", "iv", "tag", "zip", "kid", "cty", "crit", "apu", "x"]
        ),
        JSON_VALUES,
        max_size=4,
    ),
)
def test_arbitrary_headers_sealed_with_the_right_key(alg, enc, extra) -> None:
    """The tag verifies; only header checks stand between these and the caller."""
    header = {"alg": alg, "enc": enc, **extra}
    token = seal_dir(header, unb64u(DIR_KEY.to_jwk(private=True)["k"]), b"payload")
    result = _outcome(token, DIR_KEY, ["dir", *ALGS])
    if result is not None:
        assert (alg, enc) == ("dir", "A128GCM")


TOKENS = [
    jwe.encrypt(b"payload", KW_KEY, "A128KW", "A128CBC-HS256"),
    jwe.encrypt(b"payload", KW_KEY, "A128KW", "A128GCM", {"zip": "DEF"}),
]


@SETTINGS
@given(st.sampled_from(TOKENS), st.data())
def test_single_character_mutations(token, data) -> None:
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET + "."))
    mutated = token[:position] + replacement + token[position + 1 :]
    result = _outcome(mutated, KW_KEY)
    assert result in (None, b"payload")
    if result is not None:
        # Only a change base64url cannot see (none exists for canonical input) could pass.
        assert mutated == token


def test_an_epk_of_every_json_type_is_refused() -> None:
    for epk in (None, True, 1, 1.5, "x", [], {}, {"kty": None}):
        header = b64u(json.dumps({"alg": "ECDH-ES", "enc": "A128GCM", "epk": epk}).encode())
        assert _outcome(f"{header}..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", KW_KEY) is None
