"""The app uvicorn serves in ``server_bench.py``: jotgate's own app plus one bare route.

uvicorn imports it by name (``--factory server_app:create``) because with
``--workers 2`` each worker process builds its own app. Settings come from the
``JOTGATE_*`` environment, exactly as ``jotgate serve`` reads them.

The ceiling, ``GET /bench/bare``, is a plain Starlette ``Route`` appended to the
*same* FastAPI app: it passes the same uvicorn (loop, HTTP parser, socket),
the same middleware stack (Starlette's error middleware, jotgate's body-size
limit) and the same router (matched after every jotgate route, like
``/auth/verify``), but none of FastAPI's dependency injection and no jotgate
work. A ratio against it therefore isolates what an endpoint costs itself. A
separate bare Starlette app would also count the middleware and router as
"endpoint cost", which is not what the targets are about.

``GET /bench/fastapi`` is the same trivial answer as a FastAPI route (request
handler, dependency solving, no dependencies): the gap between the two
ceilings is what FastAPI itself costs per request, so the analysis can tell
framework overhead from jotgate's own work.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jotgate.server import create_app
from jotgate.server.settings import Settings

__all__ = ["BARE_PATH", "FASTAPI_PATH", "create"]

BARE_PATH = "/bench/bare"
FASTAPI_PATH = "/bench/fastapi"


async def _bare(request: Request) -> Response:
    """The ceiling: an empty 200 from a plain Starlette route."""
    # Same shape of answer as /auth/verify (200, a few headers, empty body), so the
    # response path costs the same; the Authorization header is sent but not read.
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


async def _bare_fastapi() -> Response:
    """The same empty 200 through FastAPI's request handling."""
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


def create() -> FastAPI:
    """jotgate's app for the ``JOTGATE_*`` environment, with the bare ceiling route."""
    app = create_app(Settings.from_env(os.environ))
    app.router.routes.append(Route(BARE_PATH, _bare, methods=["GET"]))
    app.add_api_route(FASTAPI_PATH, _bare_fastapi, methods=["GET"], include_in_schema=False)
    return app
