"""Slowing down password guessing, after OWASP's Authentication Cheat Sheet.

Every failed login counts on two keys: the account (``acct:NAME``, from
whatever address — so a botnet cannot spread guesses thin) and the client
address (``ip:ADDR``, whatever the account — so one address cannot spray a
common password over many accounts). Past a key's threshold each further
failure blocks it for ``base * 2**n`` seconds, capped: a blocked attempt gets
429 with ``Retry-After`` and costs neither a password hash nor a count.
Counters are forgotten ``LOGIN_WINDOW`` after their last failure.

An attacker must not be able to lock the real user out, so:

* the cap (``LOGIN_MAX_DELAY``, 5 minutes) bounds any block, and blocks are
  not renewed by refused attempts;
* a success clears the account's counter and marks (account, address) as a
  known client for ``SESSION_MAX_AGE``; the account's block does not apply
  to a known client, who is still subject to its own address's limit. This
  is the cheat sheet's device-cookie idea keyed on the address, which works
  for API clients that keep no cookies.

A success never clears the address's counter: otherwise an attacker could
reset it by logging into an account of their own between guesses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ApiError
from .settings import Settings
from .throttle_stores import Counter, DelayRule, ThrottleStore

__all__ = ["Block", "LoginThrottle", "ThrottlePolicy", "too_many_attempts"]


@dataclass(frozen=True)
class ThrottlePolicy:
    """The two delay rules and how long a known client is remembered."""

    account: DelayRule
    ip: DelayRule
    known_for: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        """The policy the ``LOGIN_*`` settings describe."""

        def rule(threshold: int) -> DelayRule:
            return DelayRule(
                threshold=threshold,
                base=settings.login_base_delay,
                cap=settings.login_max_delay,
                window=settings.login_window,
            )

        return cls(
            account=rule(settings.login_account_threshold),
            ip=rule(settings.login_ip_threshold),
            known_for=settings.session_max_age,
        )


@dataclass(frozen=True)
class Block:
    """A failure that (re)started a block: which key and for how long."""

    scope: str  # "account" or "ip"
    failures: int
    seconds: float


def too_many_attempts(retry_after: float) -> ApiError:
    """429 ``too_many_attempts`` with ``Retry-After`` in whole seconds (at least 1)."""
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        429,
        "too_many_attempts",
        f"too many failed logins; try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


@dataclass
class LoginThrottle:
    """Checks and counts login attempts; ``clock`` is injectable (tests move time)."""

    store: ThrottleStore
    policy: ThrottlePolicy
    clock: Callable[[], float] = field(default=time.time)

    @staticmethod
    def _keys(account: str | None, ip: str | None) -> tuple[str | None, str | None, str | None]:
        acct = f"acct:{account}" if account else None
        addr = f"ip:{ip}" if ip else None
        known = f"known:{account}|{ip}" if account and ip else None
        return acct, addr, known

    async def check(self, *, account: str | None, ip: str | None) -> None:
        """Raise 429 (:func:`too_many_attempts`) while a key that applies is blocked."""
        acct, addr, known = self._keys(account, ip)
        keys = [k for k in (acct, addr, known) if k]
        if not keys:
            return
        now = self.clock()
        found = await self.store.read(keys, now)
        waits = []
        if addr in found and found[addr].blocked_until > now:
            waits.append(found[addr].blocked_until)
        if acct in found and found[acct].blocked_until > now and known not in found:
            waits.append(found[acct].blocked_until)
        if waits:
            raise too_many_attempts(max(waits) - now)

    async def failed(self, *, account: str | None, ip: str | None) -> list[Block]:
        """Count a failure on both keys; the blocks it started (for the audit trail)."""
        acct, addr, _ = self._keys(account, ip)
        now = self.clock()
        blocks = []
        scopes = (("account", acct, self.policy.account), ("ip", addr, self.policy.ip))
        for scope, key, rule in scopes:
            if key is None:
                continue
            counter: Counter = await self.store.fail(key, rule, now)
            if counter.blocked_until > now:
                blocks.append(Block(scope, counter.failures, counter.blocked_until - now))
        return blocks

    async def succeeded(self, *, account: str | None, ip: str | None) -> None:
        """Clear the account's counter and remember this (account, address) pair."""
        acct, _, known = self._keys(account, ip)
        if acct:
            await self.store.clear(acct)
        if known:
            await self.store.mark(known, self.clock(), self.policy.known_for)
