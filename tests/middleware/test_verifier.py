"""Verifier: the policy of jwt.decode, typed claims, the cache and its two checks per hit."""

from __future__ import annotations

import time

import pytest

from jotgate import errors, jwk, jwt
from jotgate.middleware import Claims, RevocationList, TokenRevokedError, Verifier

from .conftest import AUDIENCE, ISSUER, MakeToken, make_verifier


class Clock:
    """A hand-moved clock, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_valid_token_gives_typed_claims(make_token: MakeToken, verifier: Verifier) -> None:
    token = make_token(
        sub="u-1", sid="s-1", roles=["user", "admin"], scope="notes:read notes:write"
    )
    claims = verifier.verify(token)
    assert isinstance(claims, Claims)
    assert (claims.sub, claims.sid) == ("u-1", "s-1")
    assert claims.roles == ("user", "admin")
    assert claims.scopes == ("notes:read", "notes:write")
    assert claims.has_roles("admin")
    assert not claims.has_roles("root")
    assert claims.raw["iss"] == ISSUER
    assert claims.get("nope", 7) == 7


def test_scopes_come_from_scp_when_there_is_no_scope(
    make_token: MakeToken, verifier: Verifier
) -> None:
    claims = verifier.verify(make_token(scope=None, scp=["a", "b"]))
    assert claims.scopes == ("a", "b")


def test_raw_claims_are_read_only_and_to_dict_is_a_copy(
    make_token: MakeToken, verifier: Verifier
) -> None:
    claims = verifier.verify(make_token())
    with pytest.raises(TypeError):
        claims.raw["sub"] = "someone else"  # type: ignore[index]
    copy = claims.to_dict()
    copy["roles"].append("admin")
    assert claims.roles == ("user",)
    assert claims.raw["roles"] == ["user"]


@pytest.mark.parametrize(
    ("claims", "claim"),
    [
        ({"roles": "admin"}, "roles"),
        ({"roles": ["admin", 5]}, "roles"),
        ({"roles": {"admin": True}}, "roles"),
        ({"scope": ["a"]}, "scope"),
        ({"scope": None, "scp": "a b"}, "scp"),
        ({"scope": None, "scp": ["a", None]}, "scp"),
        ({"sid": 5}, "sid"),
        ({"sid": 5, "roles": "admin"}, "sid"),  # sid is checked first
    ],
)
def test_wrongly_typed_identity_claims_are_invalid(
    make_token: MakeToken, verifier: Verifier, claims: dict[str, object], claim: str
) -> None:
    with pytest.raises(errors.InvalidClaimError) as caught:
        verifier.verify(make_token(**claims))
    assert caught.value.claim == claim


def test_policy_is_that_of_jwt_decode(make_token: MakeToken, other_key: jwk.Key) -> None:
    verifier = make_verifier()
    with pytest.raises(errors.InvalidSignatureError):
        verifier.verify(make_token(signer=other_key))
    with pytest.raises(errors.InvalidClaimError, match="issuer"):
        verifier.verify(make_token(iss="https://evil.example"))
    with pytest.raises(errors.InvalidClaimError, match="audience"):
        verifier.verify(make_token(aud="another-api"))
    with pytest.raises(errors.InvalidClaimError) as caught:
        verifier.verify(make_token(typ="JWT"))  # an ID token or a refresh JWT, not an access token
    assert caught.value.claim == "typ"
    with pytest.raises(errors.ExpiredTokenError):
        verifier.verify(make_token(lifetime=-1))
    with pytest.raises(errors.MalformedTokenError):
        verifier.verify("not.a.token")
    assert verifier.cache_len() == 0, "only verified tokens are cached"


def test_a_token_without_exp_is_refused_by_default(make_token: MakeToken) -> None:
    token = make_token(exp=None)
    with pytest.raises(errors.MissingClaimError):
        make_verifier().verify(token)
    assert make_verifier(required=()).verify(token).exp is None


def test_a_token_seen_again_comes_from_the_cache(make_token: MakeToken) -> None:
    verifier = make_verifier()
    token = make_token()
    first = verifier.verify(token)
    assert verifier.verify(token) is first
    assert verifier.cache_len() == 1


def test_a_cached_token_expires_at_its_exp(make_token: MakeToken) -> None:
    clock = Clock()
    verifier = make_verifier(clock=clock)
    token = make_token(exp=int(clock.now) + 60)
    verifier.verify(token)
    clock.now = jwt.decode_unverified(token)[1]["exp"]  # exactly exp: "on or after" fails
    with pytest.raises(errors.ExpiredTokenError):
        verifier.verify(token)
    assert verifier.cache_len() == 0


def test_leeway_applies_to_cached_tokens_too(make_token: MakeToken) -> None:
    clock = Clock()
    verifier = make_verifier(clock=clock, leeway=30)
    exp = int(clock.now) + 60
    token = make_token(exp=exp)
    verifier.verify(token)
    clock.now = exp + 29
    assert verifier.verify(token).exp == exp
    clock.now = exp + 30
    with pytest.raises(errors.ExpiredTokenError):
        verifier.verify(token)


def test_revocation_is_checked_on_new_and_cached_tokens(make_token: MakeToken) -> None:
    revoked = RevocationList()
    verifier = make_verifier(revocations=revoked)
    cached, fresh, by_jti = make_token(sid="s-1"), make_token(sid="s-1"), make_token(jti="j-9")
    verifier.verify(cached)
    verifier.verify(by_jti)
    revoked.revoke(sid="s-1", until=time.time() + 900)
    revoked.revoke(jti="j-9", until=time.time() + 900)
    for token in (cached, fresh, by_jti):
        with pytest.raises(TokenRevokedError) as caught:
            verifier.verify(token)
        assert caught.value.code == "token_revoked"
    assert verifier.cache_len() == 0, "revoked tokens leave the cache"
    assert verifier.verify(make_token(sid="s-2")).sid == "s-2"


def test_the_cache_is_bounded_first_in_first_out(make_token: MakeToken) -> None:
    verifier = make_verifier(cache_size=3)
    tokens = [make_token() for _ in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert verifier.cache_len() == 3
    first = verifier.verify(tokens[-1])
    assert verifier.verify(tokens[-1]) is first  # the newest stayed
    assert make_verifier(cache_size=0).verify(tokens[0]) is not None


def test_forget_drops_one_token_or_all(make_token: MakeToken, verifier: Verifier) -> None:
    a, b = make_token(), make_token()
    verifier.verify(a)
    verifier.verify(b)
    verifier.forget(a)
    assert verifier.cache_len() == 1
    verifier.forget()
    assert verifier.cache_len() == 0


def test_configuration_mistakes_fail_at_construction(key: jwk.Key) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        Verifier(key, algorithms=[])
    with pytest.raises(ValueError, match="algorithms"):
        Verifier(key, algorithms="ES256")
    with pytest.raises(TypeError, match="keys"):
        Verifier(b"secret", algorithms=["HS256"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cache_size"):
        Verifier(key, algorithms=["ES256"], cache_size=-1)


def test_a_key_set_picks_by_kid(make_token: MakeToken, key: jwk.Key) -> None:
    second = jwk.Key.generate("ES256", kid="k2")
    verifier = Verifier(
        jwk.KeySet([key, second.public_key()]),
        algorithms=["ES256"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    assert verifier.verify(make_token(signer=second, sub="via-k2")).sub == "via-k2"
    assert verifier.verify(make_token(sub="via-k1")).sub == "via-k1"


@pytest.mark.anyio
async def test_averify_matches_verify(make_token: MakeToken, verifier: Verifier) -> None:
    token = make_token(sub="u-a")
    assert (await verifier.averify(token)).sub == "u-a"
    assert await verifier.averify(token) is verifier.verify(token)
    with pytest.raises(errors.ExpiredTokenError):
        await verifier.averify(make_token(lifetime=-5))


@pytest.mark.parametrize(
    ("raw", "claim"),
    [({"sub": 1}, "sub"), ({"jti": ["j"]}, "jti"), ({"sid": 5, "sub": 1}, "sid")],
)
def test_claims_from_a_dict_check_sub_and_jti_too(raw: dict[str, object], claim: str) -> None:
    # jwt.decode checks sub and jti before a Verifier builds Claims; a dict
    # from anywhere else gets the same checks from Claims.from_dict.
    with pytest.raises(errors.InvalidClaimError) as caught:
        Claims.from_dict(raw)
    assert caught.value.claim == claim


def test_claims_from_a_dict_read_roles_and_both_scope_spellings() -> None:
    claims = Claims.from_dict({"sub": "u", "roles": ["a", "b"], "scp": ["x", "y"], "exp": 5})
    assert (claims.sub, claims.roles, claims.scopes, claims.exp) == ("u", ("a", "b"), ("x", "y"), 5)
    assert Claims.from_dict({"scope": "x  y", "scp": ["z"]}).scopes == ("x", "y")
    assert Claims.from_dict({}).roles == ()
