"""DPoP in the server (RFC 9449): bound tokens, proofs on every use, replay and nonces.

A client that sends a ``DPoP`` proof to /auth/login, /auth/refresh or
/auth/token gets ``token_type: DPoP`` and tokens bound to the proof key's
thumbprint: the access token carries ``cnf.jkt`` and the session remembers
the key, so each later refresh must be proved by the same key. The server's
protected routes and /auth/verify then want ``Authorization: DPoP <token>``
with a fresh proof for that very request (``htm``, ``htu``, ``ath``); a bound
token sent as ``Bearer`` is refused.

Proof ``jti`` values are remembered across processes: in Redis when
configured (``SET NX``), else in the ``dpop_jti`` table (an INSERT that
does nothing on a duplicate key). Nonces (``DPOP_NONCE``) are stateless
HMACs of the time window under a secret every process derives alike.

Failures: 400 at the token endpoints (RFC 9449 §5, OAuth style), 401 with
``WWW-Authenticate: DPoP error="invalid_dpop_proof"`` on protected routes;
``use_dpop_nonce`` answers carry a fresh ``DPoP-Nonce``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jotgate import dpop, errors

from .errors import ApiError, invalid_token
from .models import DPoPProof
from .settings import Settings

__all__ = [
    "DPOP_ALGORITHMS",
    "DPoPService",
    "DatabaseReplayCache",
    "bound_jkt",
    "request_url",
]

#: Proof algorithms accepted (and advertised in challenges).
DPOP_ALGORITHMS: Final = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
_MIN_TTL: Final = 1.0

log = logging.getLogger("jotgate.server")


class DatabaseReplayCache:
    """The ``dpop.AsyncReplayCache`` contract on the server's database.

    One transaction: drop the key if its time is up, then insert it unless
    present. On PostgreSQL a racing insert of the same key waits on the
    primary key and then does nothing; on SQLite transactions are serial.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def acheck_and_store(self, key: str, expires_at: float) -> bool:
        """True (and ``key`` kept until ``expires_at``) when new; False for a replay."""
        now = time.time()
        async with self._sessions() as db, db.begin():
            await db.execute(
                delete(DPoPProof).where(DPoPProof.key == key, DPoPProof.expires_at <= now)
            )
            values = {"key": key, "expires_at": max(expires_at, now + _MIN_TTL)}
            dialect = db.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            result = await db.execute(
                insert(DPoPProof).values(**values).on_conflict_do_nothing(index_elements=["key"])
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def purge_expired(self) -> None:
        """Housekeeping: forget proofs that can no longer be replayed anyway."""
        async with self._sessions() as db, db.begin():
            await db.execute(delete(DPoPProof).where(DPoPProof.expires_at <= time.time()))


def request_url(settings: Settings, path: str) -> str:
    """This server's public URL for ``path``: the issuer's origin, never a client's Host."""
    origin = urlsplit(settings.issuer)
    return f"{origin.scheme}://{origin.netloc}{path}"


class DPoPService:
    """Checks proofs for the token endpoints and for protected routes."""

    def __init__(
        self,
        settings: Settings,
        replay: dpop.AsyncReplayCache,
        nonces: dpop.NonceSource | None,
    ) -> None:
        self._settings = settings
        self.replay = replay
        self.nonces = nonces

    def nonce_headers(self) -> dict[str, str]:
        """``DPoP-Nonce`` with the current nonce when nonces are required, else nothing."""
        return {"DPoP-Nonce": self.nonces.issue()} if self.nonces else {}

    def _error(self, exc: dpop.DPoPError, *, status: int) -> ApiError:
        code = exc.code
        message = str(exc)
        headers = self.nonce_headers() if code == "use_dpop_nonce" else {}
        if status == 401:
            algs = " ".join(DPOP_ALGORITHMS)
            headers["WWW-Authenticate"] = (
                f'DPoP error="{code}", error_description="{message}", algs="{algs}"'
            )
        return ApiError(status, code, message, headers=headers)

    async def _verify(
        self,
        proofs: list[str],
        *,
        htm: str,
        htu: str,
        status: int,
        access_token: str | None = None,
        expected_jkt: str | None = None,
    ) -> dpop.Proof:
        try:
            return await dpop.averify_proof(
                proofs,
                htm=htm,
                htu=htu,
                algorithms=DPOP_ALGORITHMS,
                access_token=access_token,
                expected_jkt=expected_jkt,
                nonce=self.nonces,
                replay=self.replay,
            )
        except dpop.DPoPError as exc:
            raise self._error(exc, status=status) from None
        except Exception:
            # The replay store could not answer (full, Redis or the database
            # down): not the client's fault, and never a pass.
            log.warning("DPoP replay cache unavailable", exc_info=True)
            raise ApiError(503, "try_again", "DPoP proofs cannot be checked now; retry") from None

    async def token_request_jkt(self, request: Request) -> str | None:
        """The proof key of a login/refresh/token request, or None when it sent no proof."""
        proofs = request.headers.getlist("dpop")
        if not proofs:
            return None
        url = request_url(self._settings, request.url.path)
        proof = await self._verify(proofs, htm=request.method, htu=url, status=400)
        return proof.jkt

    async def check_resource(
        self, request: Request, *, token: str, jkt: str, htm: str, htu: str
    ) -> None:
        """A protected request with a DPoP-bound token: one valid, fresh proof by that key."""
        await self._verify(
            request.headers.getlist("dpop"),
            htm=htm,
            htu=htu,
            status=401,
            access_token=token,
            expected_jkt=jkt,
        )


def bound_jkt(claims: dict[str, Any]) -> str | None:
    """The token's ``cnf.jkt``; a malformed ``cnf`` makes the token invalid."""
    try:
        return dpop.bound_jkt(claims)
    except errors.JoseError:
        raise invalid_token("invalid_token", "the access token's cnf claim is malformed") from None
