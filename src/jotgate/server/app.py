"""The application factory: ``create_app(settings)`` returns a ready FastAPI app.

The lifespan opens the database (migrating it), Redis and the keys, and
closes them on shutdown; nothing is opened at import time, so tests build as
many independent apps as they like. ``jotgate serve`` opens the runtime
itself first (to report start-up problems as one line) and hands it over, so
migrations and start-up warnings happen once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .bodylimit import BodySizeLimit
from .errors import install_error_handlers
from .routes import account, auth, edge, meta, oauth, revocations
from .runtime import Runtime, open_runtime
from .settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """A jotgate auth server app for ``settings`` (default: from the environment).

    ``runtime``: one already opened with :func:`open_runtime` for these
    settings, used by the first lifespan instead of opening another (the app
    then closes it on shutdown).

    Example::

        app = create_app(Settings(database_url="sqlite+aiosqlite:///./auth.db"))
        uvicorn.run(app)
    """
    if settings is None:
        import os

        settings = Settings.from_env(os.environ)
    resolved = settings
    handed_over = [runtime] if runtime is not None else []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = handed_over.pop() if handed_over else await open_runtime(resolved)
        app.state.runtime = opened
        opened.start_housekeeping()
        try:
            yield
        finally:
            await opened.close()

    app = FastAPI(
        title="jotgate auth server",
        version="0.1.0",
        summary="Token-based authentication: access JWTs and rotating refresh tokens.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(auth.router)
    app.include_router(account.router)
    app.include_router(meta.router)
    app.include_router(edge.router)
    app.include_router(oauth.router)
    app.include_router(revocations.router)
    # /auth/verify and /auth/refresh without FastAPI's per-request machinery;
    # matched before their declared (OpenAPI) twins in the routers.
    app.router.routes[0:0] = [*edge.plain_routes(), *auth.plain_routes()]
    return app
