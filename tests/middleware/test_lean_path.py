"""The Verifier's lean miss path refuses exactly what ``jwt.decode`` refuses.

``Verifier`` decodes new tokens with ``jwt._Prepared`` (options fixed once,
header checks and key choice remembered per header segment) and checks
claims with ``_claims.checker`` (``check`` specialised for fixed options).
Each is compared here with the public function it stands in for, over many
bad tokens and claim sets: the same result, or the same error class,
message and claim. Every token goes through a prepared decoder twice, since
the first sight of a header and the remembered one take different code.
The ASGI fast path (a Bearer header, a token bound to nothing) is checked
against the answers of the full path.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from jotgate import _b64, _claims, errors, jwk, jwt
from jotgate.jwa import ALGORITHMS
from jotgate.middleware import AuthMiddleware, RevocationList, Verifier

from .conftest import AUDIENCE, ISSUER

HS = jwk.Key.generate("HS256", kid="h1")
HS_OTHER = jwk.Key.generate("HS256", kid="h1")
ES = jwk.Key.generate("ES256", kid="e1")
NOW = int(time.time())


def _segment(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return _b64.encode_str(text.encode("utf-8"))


def forge(
    claims: Any,
    header: Any = None,
    *,
    key: jwk.Key = HS,
    alg: str | None = None,
) -> str:
    """A token with exactly this header and payload (dicts or raw JSON text), signed by ``key``."""
    alg = alg or ("HS256" if key.is_symmetric else "ES256")
    if header is None:
        header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = key.signer(ALGORITHMS[alg])(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64.encode_str(signature)}"


def good(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u-1",
        "sid": "s-1",
        "jti": "j-1",
        "iat": NOW,
        "exp": NOW + 900,
        "roles": ["user"],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def header(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"alg": "HS256", "typ": "at+jwt", "kid": "h1"}
    value.update(changes)
    return {name: item for name, item in value.items() if item is not None}


def _tampered() -> str:
    head, _, tail = forge(good()).split(".")
    return f"{head}.{_segment(good(sub='u-2'))}.{tail}"


def _swap_signature(token: str, signature: str) -> str:
    return token.rsplit(".", 1)[0] + "." + signature


VALID = forge(good())
TOKENS: dict[str, Any] = {
    "valid": VALID,
    "valid, second header spelling": forge(good(), header(typ="application/at+jwt")),
    "valid, list audience": forge(good(aud=["other", AUDIENCE])),
    "other key": forge(good(), key=HS_OTHER),
    "tampered payload": _tampered(),
    "no signature": _swap_signature(VALID, ""),
    "short signature": _swap_signature(VALID, VALID.rsplit(".", 1)[1][:-4]),
    "padded signature": _swap_signature(VALID, VALID.rsplit(".", 1)[1] + "="),
    "non-canonical signature": _swap_signature(VALID, VALID.rsplit(".", 1)[1][:-1] + "B"),
    "impossible signature length": _swap_signature(VALID, VALID.rsplit(".", 1)[1] + "A"),
    "alg none": forge(good(), header(alg="none")).rsplit(".", 1)[0] + ".",
    "alg not allowed": forge(good(), header(alg="HS384")),
    "alg unknown": forge(good(), header(alg="XX999")),
    "alg missing": forge(good(), {"typ": "at+jwt"}),
    "ES256 token, HS256 key": forge(good(), header(alg="ES256", kid="e1"), key=ES),
    "typ wrong": forge(good(), header(typ="JWT")),
    "typ missing": forge(good(), header(typ=None)),
    "typ not a string": forge(good(), header(typ=7)),
    "kid not a string": forge(good(), header(kid=5)),
    "kid unknown": forge(good(), header(kid="nope")),
    "crit unknown": forge(good(), header(crit=["exp2"], exp2=1)),
    "crit registered": forge(good(), header(crit=["alg"])),
    "crit empty": forge(good(), header(crit=[])),
    "b64 false": forge(good(), header(b64=False, crit=["b64"])),
    "zip": forge(good(), header(zip="DEF")),
    "enc": forge(good(), header(enc="A256GCM")),
    "header not JSON": "bm90IGpzb24." + VALID.split(".", 1)[1],
    "header an array": forge(good(), "[1]"),
    "header duplicate": forge(good(), '{"alg":"HS256","alg":"HS256"}'),
    "header too long": forge(good(), header(pad="x" * 5000)),
    "expired": forge(good(exp=NOW - 10)),
    "expires now": forge(good(exp=NOW - 1, iat=NOW - 100)),
    "exp a string": forge(good(exp=str(NOW + 900))),
    "exp a bool": forge(good(exp=True)),
    "exp a float": forge(good(exp=NOW + 900.5)),
    "exp huge": forge(good(exp=10**400)),
    "exp missing": forge(good(exp=None)),
    "nbf future": forge(good(nbf=NOW + 600)),
    "nbf a string": forge(good(nbf="soon")),
    "iat future": forge(good(iat=NOW + 600)),
    "iat a list": forge(good(iat=[NOW])),
    "iss wrong": forge(good(iss="https://evil.example")),
    "iss missing": forge(good(iss=None)),
    "iss a number": forge(good(iss=1)),
    "iss a prefix": forge(good(iss=ISSUER[:-1])),
    "aud wrong": forge(good(aud="another-api")),
    "aud missing": forge(good(aud=None)),
    "aud a number": forge(good(aud=5)),
    "aud list, no match": forge(good(aud=["a", "b"])),
    "aud list with a number": forge(good(aud=[AUDIENCE, 5])),
    "aud empty list": forge(good(aud=[])),
    "sub a number": forge(good(sub=42)),
    "sub null": forge(good(sub=None) | {"sub": None}),
    "jti an object": forge(good(jti={"a": 1})),
    "claims duplicate": forge('{"iss":"a","iss":"b"}'),
    "claims an array": forge("[1, 2]"),
    "claims not JSON": forge("{nope"),
    "claims NaN": forge('{"exp": NaN}'),
    "claims with whitespace": forge(" " + json.dumps(good()) + " "),
    "claims lone surrogate": forge('{"sub": "\\ud800", "exp": ' + str(NOW + 900) + "}"),
    "claims not UTF-8": VALID.split(".")[0] + "." + _b64.encode_str(b"\xff\xfe") + ".AA",
    "two parts": VALID.rsplit(".", 1)[0],
    "four parts": VALID + ".x",
    "five parts (a JWE)": "a.b.c.d.e",
    "empty": "",
    "dots only": "..",
    "non-ASCII": VALID[:-2] + "é",
    "too long": VALID + "A" * (64 * 1024),
    "bytes": VALID.encode("ascii"),
}

# Policies as a Verifier would hold them (issuer/audience may be lists).
POLICIES: dict[str, dict[str, Any]] = {
    "verifier default": {
        "algorithms": ["HS256"],
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "typ": "at+jwt",
        "required": ("exp",),
    },
    "lists and leeway": {
        "algorithms": ["HS384", "HS256"],
        "issuer": ["https://other.example", ISSUER],
        "audience": [AUDIENCE, "x"],
        "leeway": 30,
        "required": ("exp", "sub", "jti"),
    },
    "no issuer, audience or typ": {"algorithms": ["HS256"]},
}

KEYS: dict[str, Any] = {
    "key": HS,
    "key set": jwk.KeySet([HS]),
    "key set of two": jwk.KeySet([jwk.Key.generate("HS256", kid="h0"), HS]),
}


def outcome(call: Callable[[], Any]) -> tuple[str, Any, Any]:
    try:
        return ("ok", call(), None)
    except errors.JoseError as exc:
        return (type(exc).__name__, str(exc), getattr(exc, "claim", None))


@pytest.mark.parametrize("keys_name", list(KEYS))
@pytest.mark.parametrize("policy_name", list(POLICIES))
@pytest.mark.parametrize("token_name", list(TOKENS))
def test_the_prepared_decoder_answers_as_jwt_decode(
    token_name: str, policy_name: str, keys_name: str
) -> None:
    token, policy, keys = TOKENS[token_name], POLICIES[policy_name], KEYS[keys_name]
    expected = outcome(lambda: jwt.decode(token, keys, now=NOW, **policy))
    prepared = jwt._Prepared(**policy)
    for attempt in ("first sight of the header", "header remembered"):
        got = outcome(lambda: prepared.decode(token, keys, NOW))
        assert got == expected, attempt
    if expected[0] == "ok" and isinstance(token, str):  # the lean path gave the answer
        assert token.split(".")[0] in prepared._heads


def test_the_prepared_decoder_follows_a_new_key_set() -> None:
    # A remote key set hands out a new KeySet object when it refreshes.
    prepared = jwt._Prepared(**POLICIES["verifier default"])
    assert prepared.decode(VALID, jwk.KeySet([HS]))["sub"] == "u-1"
    with pytest.raises(errors.InvalidSignatureError):
        prepared.decode(VALID, jwk.KeySet([HS_OTHER]))
    assert prepared.decode(VALID, jwk.KeySet([HS]))["sub"] == "u-1"


def test_many_headers_do_not_grow_the_prepared_memo() -> None:
    prepared = jwt._Prepared(**POLICIES["verifier default"])
    for n in range(200):
        prepared.decode(forge(good(), header(kid="h1", n=n)), HS, NOW)
    assert len(prepared._heads) <= 64


# Verifier.verify takes str tokens only: the bytes cases are jwt.decode's alone.
@pytest.mark.parametrize("token_name", [n for n, t in TOKENS.items() if isinstance(t, str)])
def test_the_verifier_refuses_what_jwt_decode_refuses(token_name: str) -> None:
    token = TOKENS[token_name]
    policy = POLICIES["verifier default"]
    expected = outcome(lambda: jwt.decode(token, HS, now=NOW, **policy))
    verifier = Verifier(HS, clock=lambda: NOW, **policy)
    got = outcome(lambda: verifier.verify(token))
    if expected[0] == "ok":
        assert got[0] == "ok"
        assert dict(got[1].raw) == expected[1]
    elif token_name == "five parts (a JWE)":
        assert got[0] == "MalformedTokenError"  # refused before decode: no decryption key
    else:
        assert got == expected


CLAIM_SETS: list[dict[str, Any]] = [
    good(),
    good(exp=NOW),
    good(exp=NOW + 0.5),
    good(exp=NOW - 29),
    good(exp=NOW - 31),
    good(exp="1"),
    good(exp=False),
    good(exp=None),
    good(nbf=NOW + 29),
    good(nbf=NOW + 31),
    good(nbf=None) | {"nbf": None},
    good(iat=NOW + 31),
    good(iat=1.5),
    good(iss=None),
    good(iss="https://other.example"),
    good(iss=["x"]),
    good(aud=None),
    good(aud="x"),
    good(aud=["y", "x"]),
    good(aud=["y"]),
    good(aud=("x",)),
    good(aud=[1]),
    good(sub=1),
    good(sub=None),
    good(jti=b"j"),
    good(jti=None),
    {},
]
CHECK_OPTIONS: list[dict[str, Any]] = [
    {},
    {"issuer": ISSUER, "audience": AUDIENCE, "required": ("exp",)},
    {"issuer": ISSUER, "audience": "x", "leeway": 30},
    {"issuer": [ISSUER, "https://other.example"], "audience": ["x", AUDIENCE]},
    {"audience": ("x",), "required": ["sub", "jti", "exp"]},
    {"subject": "u-1", "max_age": 60, "issuer": ISSUER, "audience": AUDIENCE},
]


@pytest.mark.parametrize(("claims", "options"), list(itertools.product(CLAIM_SETS, CHECK_OPTIONS)))
def test_the_specialised_claim_check_answers_as_check(
    claims: dict[str, Any], options: dict[str, Any]
) -> None:
    expected = outcome(lambda: _claims.check(claims, NOW, **options))
    specialised = _claims.checker(**options)
    assert outcome(lambda: specialised(claims, NOW)) == expected


def test_a_generator_of_required_claims_counts_on_every_check() -> None:
    specialised = _claims.checker(required=(name for name in ["sub"]))
    for _ in range(2):
        with pytest.raises(errors.MissingClaimError):
            specialised({}, NOW)


# -- the ASGI fast path -------------------------------------------------------


def asgi_answer(
    app: AuthMiddleware, headers: list[tuple[bytes, bytes]]
) -> tuple[int | None, Any, list[dict[str, Any]]]:
    """(status or None, the claims the app saw, messages sent) for one request."""
    sent: list[dict[str, Any]] = []
    seen: dict[str, Any] = {}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    async def receive() -> Any:
        return {"type": "http.request"}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen["claims"] = scope["jotgate.claims"]

    app.app = inner
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    coroutine = app(scope, receive, send)
    with pytest.raises(StopIteration):
        coroutine.send(None)
    status = sent[0]["status"] if sent else None
    return status, seen.get("claims"), sent


async def _unused(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("asgi_answer puts the app in")


def _middleware(verifier: Verifier | None = None) -> AuthMiddleware:
    if verifier is None:
        verifier = Verifier(HS, clock=lambda: NOW, **POLICIES["verifier default"])
    return AuthMiddleware(_unused, verifier)


def _expected_answer(verifier: Verifier, token: str) -> tuple[int | None, Any]:
    """(status or None, claims or the JSON body) the full path gives ``token``."""
    try:
        return None, verifier.verify(token)
    except errors.JoseError as exc:
        return verifier.failure(exc).status, json.loads(verifier.failure(exc).body)


@pytest.mark.parametrize("policy_name", list(POLICIES))
@pytest.mark.parametrize("token_name", [name for name in TOKENS if name != "bytes"])
def test_the_asgi_fast_path_answers_as_the_verifier(token_name: str, policy_name: str) -> None:
    token, policy = TOKENS[token_name], POLICIES[policy_name]
    app = _middleware(Verifier(HS, clock=lambda: NOW, **policy))
    headers = [(b"authorization", b"Bearer " + token.encode("utf-8"))]
    verifier = Verifier(HS, clock=lambda: NOW, **policy)
    for attempt in ("first sight", "seen before"):  # a cache miss, then a hit when it passed
        expected = _expected_answer(verifier, token)
        status, claims, sent = asgi_answer(app, headers)
        if expected[0] is None:
            assert (status, claims) == expected, attempt
        else:
            assert (status, json.loads(sent[1]["body"])) == expected, attempt


# Claim types a Verifier checks beyond jwt.decode (Claims), on the fast path too.
TYPED_TOKENS: dict[str, str] = {
    "roles a string": forge(good(roles="admin")),
    "roles with a number": forge(good(roles=["admin", 5])),
    "roles an object": forge(good(roles={"admin": True})),
    "roles empty": forge(good(roles=[])),
    "scope a list": forge(good(scope=["a"])),
    "scope a string": forge(good(scope="a b")),
    "scp a string": forge(good(scp="a b")),
    "scp with a null": forge(good(scp=["a", None])),
    "scp a list": forge(good(scp=["a", "b"])),
    "sid a number": forge(good(sid=5)),
    "sid a number, roles a string": forge(good(sid=5, roles="admin")),
}


@pytest.mark.parametrize("token_name", list(TYPED_TOKENS))
def test_the_asgi_fast_path_types_claims_as_the_verifier(token_name: str) -> None:
    token = TYPED_TOKENS[token_name]
    policy = POLICIES["verifier default"]
    app = _middleware(Verifier(HS, clock=lambda: NOW, **policy))
    headers = [(b"authorization", b"Bearer " + token.encode())]
    verifier = Verifier(HS, clock=lambda: NOW, **policy)
    for attempt in ("first sight", "seen before"):
        expected = _expected_answer(verifier, token)
        status, claims, sent = asgi_answer(app, headers)
        if expected[0] is None:
            assert (status, claims) == expected, attempt
        else:
            assert (status, json.loads(sent[1]["body"])) == expected, attempt


@pytest.mark.parametrize(
    "headers",
    [
        [
            (b"authorization", b"Basic dXNlcjpwYXNz"),
            (b"authorization", b"Bearer " + VALID.encode()),
        ],
        [(b"authorization", b"bearer " + VALID.encode())],
        [(b"authorization", b"  BEARER   " + VALID.encode() + b" \t")],
        [(b"authorization", b"Bearer " + VALID.encode()), (b"authorization", b"Bearer junk")],
    ],
    ids=["basic then bearer", "lower case", "blanks", "first of two"],
)
def test_the_asgi_fast_path_reads_the_header_as_read_credentials(
    headers: list[tuple[bytes, bytes]],
) -> None:
    status, claims, _ = asgi_answer(_middleware(), headers)
    assert status is None
    assert claims.sub == "u-1"


def test_a_bearer_header_with_nothing_after_it_is_an_invalid_token() -> None:
    status, _, sent = asgi_answer(_middleware(), [(b"authorization", b"Bearer ")])
    assert status == 401
    assert json.loads(sent[1]["body"])["error"] == "invalid_token"


def test_the_fast_path_still_checks_a_fingerprint_binding() -> None:
    token = forge(good(fgp="a" * 43))
    status, _, _ = asgi_answer(_middleware(), [(b"authorization", b"Bearer " + token.encode())])
    assert status == 401
    # and a second time, from the cache
    status, _, _ = asgi_answer(_middleware(), [(b"authorization", b"Bearer " + token.encode())])
    assert status == 401


def test_the_fast_path_refuses_a_dpop_bound_token_sent_as_bearer() -> None:
    token = forge(good(cnf={"jkt": "x" * 43}))
    app = _middleware()
    for _ in range(2):  # a miss, then a hit
        status, _, _ = asgi_answer(app, [(b"authorization", b"Bearer " + token.encode())])
        assert status == 401


def test_the_fast_path_refuses_a_revoked_session_on_hit_and_miss() -> None:
    revocations = RevocationList()
    verifier = Verifier(
        HS, clock=lambda: NOW, revocations=revocations, **POLICIES["verifier default"]
    )
    app = _middleware(verifier)
    headers = [(b"authorization", b"Bearer " + VALID.encode())]
    assert asgi_answer(app, headers)[0] is None
    revocations.revoke(sid="s-1", until=NOW + 900)
    assert asgi_answer(app, headers)[0] == 401
    assert asgi_answer(app, headers)[0] == 401


# -- the cache ----------------------------------------------------------------


def test_the_cache_evicts_first_in_first_out_and_stays_bounded() -> None:
    verifier = Verifier(HS, cache_size=3, clock=lambda: NOW, **POLICIES["verifier default"])
    tokens = [forge(good(jti=f"j-{n}")) for n in range(6)]
    for token in tokens:
        verifier.verify(token)
        assert verifier.cache_len() <= 3
    cached = set(verifier._cache)
    assert cached == set(tokens[-3:])


def test_forgotten_tokens_do_not_let_the_cache_outgrow_its_bound() -> None:
    verifier = Verifier(HS, cache_size=3, clock=lambda: NOW, **POLICIES["verifier default"])
    tokens = [forge(good(jti=f"j-{n}")) for n in range(10)]
    for token in tokens:
        verifier.verify(token)
        verifier.forget(token)
        verifier.verify(token)
        assert verifier.cache_len() <= 3
        assert len(verifier._order) <= 3
    verifier.forget()
    assert verifier.cache_len() == 0
    assert len(verifier._order) == 0


def test_the_fast_path_caches_until_exp_plus_leeway() -> None:
    now = [float(NOW)]
    verifier = Verifier(HS, clock=lambda: now[0], leeway=30, **POLICIES["verifier default"])
    app = _middleware(verifier)
    headers = [(b"authorization", b"Bearer " + VALID.encode())]
    assert asgi_answer(app, headers)[0] is None
    assert verifier.cache_len() == 1
    now[0] = NOW + 900 + 29.5  # exp is NOW + 900: inside the leeway, a hit
    assert asgi_answer(app, headers)[0] is None
    now[0] = NOW + 900 + 30
    status, _, sent = asgi_answer(app, headers)
    assert status == 401
    assert json.loads(sent[1]["body"])["error"] == "token_expired"
    assert verifier.cache_len() == 0


def test_the_fast_path_caches_a_token_without_exp_when_exp_is_not_required() -> None:
    now = [float(NOW)]
    policy = POLICIES["verifier default"] | {"required": ()}
    verifier = Verifier(HS, clock=lambda: now[0], **policy)
    app = _middleware(verifier)
    token = forge(good(exp=None))
    headers = [(b"authorization", b"Bearer " + token.encode())]
    assert asgi_answer(app, headers)[0] is None
    now[0] = NOW + 10**9
    assert asgi_answer(app, headers)[0] is None
    assert verifier.cache_len() == 1


def test_the_fast_path_evicts_first_in_first_out_and_stays_bounded() -> None:
    verifier = Verifier(HS, cache_size=3, clock=lambda: NOW, **POLICIES["verifier default"])
    app = _middleware(verifier)
    tokens = [forge(good(jti=f"j-{n}")) for n in range(6)]
    for token in tokens:
        assert asgi_answer(app, [(b"authorization", b"Bearer " + token.encode())])[0] is None
        assert verifier.cache_len() <= 3
        assert len(verifier._order) <= 3
    assert set(verifier._cache) == set(tokens[-3:])


def test_the_fast_path_caches_nothing_with_cache_size_0() -> None:
    verifier = Verifier(HS, cache_size=0, clock=lambda: NOW, **POLICIES["verifier default"])
    app = _middleware(verifier)
    for _ in range(2):
        assert asgi_answer(app, [(b"authorization", b"Bearer " + VALID.encode())])[0] is None
    assert verifier.cache_len() == 0


def test_the_fast_path_refuses_a_revoked_token_id_before_caching_it() -> None:
    revocations = RevocationList()
    revocations.revoke(jti="j-1", until=NOW + 900)
    verifier = Verifier(
        HS, clock=lambda: NOW, revocations=revocations, **POLICIES["verifier default"]
    )
    status, _, sent = asgi_answer(
        _middleware(verifier), [(b"authorization", b"Bearer " + VALID.encode())]
    )
    assert status == 401
    assert json.loads(sent[1]["body"])["error"] == "token_revoked"
    assert verifier.cache_len() == 0
