"""``GET /auth/revocations``: the polling side of the revocation feed (docs/middleware.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ..deps import RuntimeDep
from ..errors import ApiError
from ..oauth import OAuthError, authenticate_service
from ..revocation_feed import UnknownCursor, read_feed
from ..schemas import ErrorBody

router = APIRouter(tags=["edge"])


@router.get(
    "/auth/revocations",
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 410: {"model": ErrorBody}},
)
async def revocations(
    request: Request,
    runtime: RuntimeDep,
    since: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Revoked sessions as ``{"revoked": [{"sid", "exp"}...], "cursor"}``, after ``since``.

    Without ``since``: every current entry. An unknown cursor gets 410 (start
    over without it). With ``REVOCATION_FEED=clients`` callers authenticate
    like introspection callers; by default anyone may read it, so a gateway
    or service started with nothing but the server's URL follows logouts
    within a second. It holds only revoked session ids (opaque, random, and
    already dead) and when their tokens expire.
    """
    if runtime.settings.revocation_feed == "clients":
        try:
            await authenticate_service(request, runtime, {})
        except OAuthError as exc:
            raise ApiError(exc.status, exc.error, exc.description, headers=exc.headers) from None
    try:
        page = await read_feed(runtime.db, since)
    except UnknownCursor:
        raise ApiError(
            410, "cursor_unknown", "this cursor is unknown; poll again without since"
        ) from None
    return JSONResponse(
        {"revoked": page.revoked, "cursor": page.cursor}, headers={"Cache-Control": "no-store"}
    )
