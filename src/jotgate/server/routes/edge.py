"""Forward-auth for edge proxies (nginx auth_request, Traefik ForwardAuth)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ..deps import Authenticated
from ..schemas import ErrorBody
from ..tokens import require_role

router = APIRouter(tags=["edge"])


@router.get(
    "/auth/verify",
    status_code=200,
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
async def verify(
    claims: Authenticated,
    role: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """200 with identity headers for a valid, unrevoked access token; else 401/403.

    The proxy copies ``X-User-Id``, ``X-Session-Id`` and ``X-User-Roles`` to
    the upstream request (after stripping any the client sent itself).
    """
    if role is not None:
        require_role(claims, role)
    return Response(
        status_code=200,
        headers={
            "X-User-Id": claims.sub,
            "X-Session-Id": claims.sid,
            "X-User-Roles": ",".join(claims.roles),
            "Cache-Control": "no-store",
        },
    )
