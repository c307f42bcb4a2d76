"""RevocationList: the in-memory store every feed writes to."""

from __future__ import annotations

from jotgate.middleware import Claims, RevocationList, RevocationSource


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_entries_are_forgotten_after_exp_plus_grace() -> None:
    clock = Clock()
    revoked = RevocationList(grace=60, clock=clock)
    revoked.revoke(sid="s", until=clock.now + 900)
    clock.now += 900 + 59
    revoked.purge()
    assert revoked.is_revoked(Claims.from_dict({"sid": "s"})), "kept through the grace"
    clock.now += 1
    revoked.purge()
    assert len(revoked) == 0


def test_a_later_expiry_wins() -> None:
    clock = Clock()
    revoked = RevocationList(grace=0, clock=clock)
    revoked.revoke(sid="s", until=clock.now + 900)
    revoked.revoke(sid="s", until=clock.now + 10)
    clock.now += 100
    revoked.purge()
    assert revoked.is_revoked(Claims.from_dict({"sid": "s"}))


def test_it_satisfies_the_source_protocol() -> None:
    assert isinstance(RevocationList(), RevocationSource)
    assert RevocationList().apply(b'{"jti": "' + b"x" * 300 + b'", "exp": 1}') == 0
