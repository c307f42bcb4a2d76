"""Public keys and health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ..deps import RuntimeDep

router = APIRouter(tags=["meta"])


@router.get("/.well-known/jwks.json")
async def jwks(runtime: RuntimeDep) -> Response:
    """The public signing keys, cacheable for ``JWKS_MAX_AGE`` seconds."""
    document = await runtime.keys.public_jwks()
    return JSONResponse(
        document,
        headers={"Cache-Control": f"public, max-age={runtime.settings.jwks_max_age}"},
        media_type="application/jwk-set+json",
    )


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> Response:
    """200 when the database (and Redis, if configured) answer; 503 otherwise."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        # A read session: a deferred BEGIN, so it never queues behind a writer.
        async with runtime.db() as db:
            await db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure is "not ready", never a crash
        checks["database"] = "unavailable"
        healthy = False
    if runtime.redis is not None:
        try:
            await runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unavailable"
            healthy = False
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )
