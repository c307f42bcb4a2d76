"""Open the auth server's database for an admin command, without starting a server.

Unlike ``open_runtime`` this creates nothing (no signing key, no secrets) so
that looking at keys or the audit trail can never change them; it migrates
the schema only as the server would (``JOTGATE_MIGRATE``).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from ._registry import CliError
from .serve import server_settings

__all__ = ["with_database"]


def with_database(args: argparse.Namespace, work: Callable[[Any, Any], Awaitable[int]]) -> int:
    """Run ``work(settings, sessionmaker)`` on the configured database; its exit status."""
    settings = server_settings(args)
    import asyncio

    from jotgate.server.database import create_engine, migrate, session_factory
    from jotgate.server.errors import ApiError
    from jotgate.server.keystore import KeyStoreError

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            try:
                if settings.migrate:
                    await migrate(engine)
            except Exception as exc:
                raise CliError(f"cannot open the database: {type(exc).__name__}: {exc}") from None
            return await work(settings, session_factory(engine))
        except (ApiError, KeyStoreError) as exc:
            raise CliError(str(exc)) from None
        finally:
            await engine.dispose()

    return asyncio.run(main())
