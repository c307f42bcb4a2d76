"""Refresh-token rotation on PostgreSQL straight through asyncpg.

The same statements as the Core path (:mod:`.refresh_sql`, compiled once for
asyncpg: ``$n`` parameters with their casts), run on a small asyncpg pool of
this module's own. SQLAlchemy's async layer costs more Python per statement
than the statement's round trip itself, and a rotation is five statements;
here each is one asyncpg call, and connections are not pinged on checkout.

Races are PostgreSQL's: the conditional ``UPDATE ... WHERE used_at IS NULL``
blocks on the winner's row lock and then finds the row used, so the loser's
transaction is rolled back as a :class:`.refresh_rules.LostRace` and retried.
"""

from __future__ import annotations

import json
from typing import Any, Final

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import URL

from .refresh_rules import (
    USED_BEFORE,
    Family,
    Found,
    Holder,
    LostRace,
    Plan,
    Rotated,
    UsedBefore,
    judge,
)
from .refresh_sql import AUDIT, FIND, ROTATE, TOKENS, TOUCH

__all__ = ["PgRotations", "asyncpg_dsn"]

# SQLAlchemy leaves this constructor unannotated.
_DIALECT: Final = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


def _sql(statement: Any, columns: list[str] | None = None) -> tuple[str, list[str]]:
    compiled = statement.compile(dialect=_DIALECT, column_keys=columns)
    return str(compiled), list(compiled.positiontup or [])


_FIND_SQL, _FIND_ARGS = _sql(FIND)
_ROTATE_SQL, _ROTATE_ARGS = _sql(ROTATE)
_TOUCH_SQL, _TOUCH_ARGS = _sql(TOUCH)
_INSERT_SQL, _INSERT_ARGS = _sql(
    insert(TOKENS), ["id", "session_id", "token_hash", "created_at", "expires_at"]
)
_AUDIT_SQL, _AUDIT_ARGS = _sql(
    insert(AUDIT), ["at", "event", "user_id", "session_id", "ip", "user_agent", "detail"]
)


def _args(order: list[str], values: dict[str, Any]) -> list[Any]:
    return [values[name] for name in order]


def asyncpg_dsn(url: URL) -> str:
    """``postgresql+asyncpg://...`` as the plain DSN asyncpg itself takes."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _found(row: Any) -> Found | None:
    if row is None:
        return None
    roles = row["roles"]
    return Found(
        id=row["id"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        sid=row["sid"],
        session_expires_at=row["session_expires_at"],
        revoked_at=row["revoked_at"],
        dpop_jkt=row["dpop_jkt"],
        uid=row["uid"],
        # JSON columns come back as text from asyncpg without a codec.
        roles=list(json.loads(roles)) if isinstance(roles, str) else list(roles or []),
        disabled=bool(row["disabled"]),
    )


class PgRotations:
    """Rotations on a small asyncpg pool (``start`` it, ``close`` it)."""

    def __init__(self, dsn: str, *, max_size: int = 8) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._pool: Any = None  # an asyncpg.Pool (asyncpg ships no type information)

    async def start(self) -> None:
        """Open the pool (one connection at once, more on demand)."""
        # The postgres extra; only PostgreSQL deployments get here.
        import asyncpg  # type: ignore[import-untyped]

        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._max_size)

    async def close(self) -> None:
        """Close the pool's connections."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def rotate(self, plan: Plan) -> Rotated | UsedBefore:
        """Find, judge and rotate in one transaction; :data:`USED_BEFORE` if used already.

        Refusals raise :class:`.errors.ApiError` (nothing written); a lost race
        raises :class:`.refresh_rules.LostRace` (rolled back).
        """
        assert self._pool is not None, "PgRotations.start() first"
        async with self._pool.acquire() as connection, connection.transaction():
            found = _found(await connection.fetchrow(_FIND_SQL, plan.token_hash))
            if not judge(found, now=plan.now, access_sid=plan.access_sid, proof_jkt=plan.proof_jkt):
                return USED_BEFORE
            assert found is not None
            assert found.sid is not None
            assert found.uid is not None
            assert found.session_expires_at is not None
            successor = plan.successor
            changed = await connection.fetch(
                _ROTATE_SQL,
                *_args(
                    _ROTATE_ARGS,
                    {
                        "p_tid": found.id,
                        "p_now": plan.now,
                        "p_successor": successor.id,
                        "p_sealed": successor.sealed,
                    },
                ),
            )
            if found.id not in [row[0] for row in changed]:
                raise LostRace
            expires_at = plan.expiry(found.session_expires_at)
            await connection.execute(
                _INSERT_SQL,
                *_args(
                    _INSERT_ARGS,
                    {
                        "id": successor.id,
                        "session_id": found.sid,
                        "token_hash": successor.token_hash,
                        "created_at": plan.now,
                        "expires_at": expires_at,
                    },
                ),
            )
            await connection.execute(
                _TOUCH_SQL,
                *_args(
                    _TOUCH_ARGS,
                    {
                        "p_sid": found.sid,
                        "p_now": plan.now,
                        "p_ip": plan.ip,
                        # Bound from now on, like a login with a proof (if not bound yet).
                        "p_jkt": plan.proof_jkt if found.dpop_jkt is None else None,
                    },
                ),
            )
            audit = {
                **plan.audit,
                "user_id": found.uid,
                "session_id": found.sid,
                "detail": json.dumps(plan.audit["detail"]),
            }
            await connection.execute(_AUDIT_SQL, *_args(_AUDIT_ARGS, audit))
        return Rotated(
            user=Holder(found.uid, found.roles),
            session=Family(found.sid, found.session_expires_at),
            plain=successor.plain,
            expires_at=expires_at,
            now=plan.now,
        )
