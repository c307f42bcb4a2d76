"""Performance-relevant structure of the hot paths (bench/RESULTS.md, server analysis)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from jotgate.server import create_app

from .conftest import test_settings


def _sync_dependencies(dependant: Dependant) -> list[str]:
    found: list[str] = []
    for sub in dependant.dependencies:
        call: Any = sub.call
        if call is None:
            continue
        target = call if inspect.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
        if not inspect.iscoroutinefunction(target):
            found.append(getattr(call, "__qualname__", repr(call)))
        found.extend(_sync_dependencies(sub))
    return found


def test_no_route_depends_on_a_sync_function(tmp_path: Path) -> None:
    """A plain ``def`` dependency runs in the AnyIO thread pool on every request."""
    app = create_app(test_settings(tmp_path))
    offenders = {
        route.path: sync
        for route in app.routes
        if isinstance(route, APIRoute) and (sync := _sync_dependencies(route.dependant))
    }
    assert offenders == {}
