"""Refresh-token rotation on PostgreSQL straight through asyncpg.

Two round trips on a small asyncpg pool of this module's own: FIND (the
Core statement of :mod:`.refresh_sql`, compiled for asyncpg), then the four
writes as one statement. Through SQLAlchemy's async layer a rotation was
seven round trips (BEGIN, five statements, COMMIT) with more Python per
statement than the round trip itself, plus a ping per checkout; on a small
machine each round trip's socket send and wake-up of the database process
is what costs.

Races are PostgreSQL's: the conditional ``UPDATE ... WHERE used_at IS NULL``
blocks on the winner's row lock and then finds the row used, so the loser
writes nothing and retries (:class:`.refresh_rules.LostRace`).
"""

from __future__ import annotations

import json
from typing import Any, Final

from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import URL

from .refresh_rules import (
    USED_BEFORE,
    Found,
    LostRace,
    Plan,
    Rotated,
    UsedBefore,
    judge,
    rotation_of,
)
from .refresh_sql import FIND

__all__ = ["PgRotations", "asyncpg_dsn"]

# SQLAlchemy leaves this constructor unannotated.
_DIALECT: Final = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


_FIND_SQL: Final = str(FIND.compile(dialect=_DIALECT))

# The whole rotation in one statement (data-modifying CTEs run exactly once,
# all or nothing): the presented token becomes used only if it is still unused
# (and the token it succeeded loses its sealed grace copy), and only if it did
# (``won``) are the successor inserted, the session touched and the audit row
# written. A concurrent rotation of the same token waits for the winner's row
# lock, re-checks ``used_at IS NULL``, finds it used, and writes nothing.
# The same statements as refresh_sql's ROTATE, insert, TOUCH and AUDIT.
_ROTATE_SQL: Final = """
WITH rotated AS (
    UPDATE refresh_tokens SET
        used_at = CASE WHEN id = $1::varchar THEN $2::timestamptz ELSE used_at END,
        successor_id = CASE WHEN id = $1::varchar THEN $3::varchar ELSE successor_id END,
        successor_sealed = CASE WHEN id = $1::varchar THEN $4::bytea ELSE NULL END
    WHERE (id = $1::varchar AND used_at IS NULL) OR successor_id = $1::varchar
    RETURNING id
), won AS (
    SELECT id FROM rotated WHERE id = $1::varchar
), successor AS (
    INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)
    SELECT $3::varchar, $5::varchar, $6::varchar, $2::timestamptz, $7::timestamptz FROM won
), touched AS (
    UPDATE sessions SET
        last_used_at = $2::timestamptz,
        ip = coalesce($8::varchar, ip),
        dpop_jkt = coalesce(dpop_jkt, $9::varchar)
    WHERE id = $5::varchar AND EXISTS (SELECT 1 FROM won)
), audited AS (
    INSERT INTO audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $10::timestamptz, $11::varchar, $12::varchar, $5::varchar, $13::varchar,
        $14::varchar, $15::json
    FROM won
)
SELECT count(*) FROM won
"""


def asyncpg_dsn(url: URL) -> str:
    """``postgresql+asyncpg://...`` as the plain DSN asyncpg itself takes."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _keep(_connection: Any) -> None:
    """No reset query on release: this pool's connections never change session state.

    (asyncpg's default reset costs a round trip per release; it still rolls
    back a transaction left open, which these statements never leave.)
    """


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

        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._max_size, reset=_keep
        )

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
        async with self._pool.acquire() as connection:
            # Two round trips, no explicit transaction: a read, then one
            # atomic statement whose own condition guards the race.
            found = _found(await connection.fetchrow(_FIND_SQL, plan.token_hash))
            if not judge(found, now=plan.now, access_sid=plan.access_sid, proof_jkt=plan.proof_jkt):
                return USED_BEFORE
            assert found is not None
            rotated = rotation_of(found, plan)
            successor = plan.successor
            audit = plan.audit
            won = await connection.fetchval(
                _ROTATE_SQL,
                found.id,
                plan.now,
                successor.id,
                successor.sealed,
                rotated.session.id,
                successor.token_hash,
                rotated.expires_at,
                plan.ip,
                # Bound from now on, like a login with a proof (if not bound yet).
                plan.proof_jkt if found.dpop_jkt is None else None,
                audit["at"],
                audit["event"],
                rotated.user.id,
                audit["ip"],
                audit["user_agent"],
                json.dumps(audit["detail"]),
            )
            if won != 1:
                raise LostRace
        return rotated
