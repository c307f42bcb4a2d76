"""Which route a request path belongs to, and the path its upstream receives.

Matching is longest prefix first, on path-segment boundaries: ``/api``
matches ``/api`` and ``/api/x`` but never ``/apiary``. It runs on the
decoded path; the upstream gets the client's raw (still percent-encoded)
path, so the gateway never changes what a path means by re-encoding it.

Paths with ``.`` or ``..`` segments or backslashes are refused before
matching: an upstream that normalises ``/public/../admin`` to ``/admin``
would otherwise be reached through a public route's rules.

Example::

    router = Router([Route("/api", "http://127.0.0.1:9001")])
    router.match("/api/notes")     # the /api route
    router.match("/apiary")        # None
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from .settings import Route

__all__ = ["Router", "is_unsafe_path", "upstream_target"]


def is_unsafe_path(path: str) -> bool:
    """True for paths whose meaning an upstream might change by normalising them."""
    if "\\" in path or "\x00" in path or not path.startswith("/"):
        return True
    # A "." or ".." segment starts with "/.": most paths have none, and skip the split.
    return "/." in path and any(segment in (".", "..") for segment in path.split("/"))


class Router:
    """Routes by longest matching prefix."""

    def __init__(self, routes: Iterable[Route]) -> None:
        """Order once, longest prefix first, so the first match is the best one."""
        self._routes = sorted(routes, key=lambda route: len(route.prefix), reverse=True)
        # (prefix, prefix + "/", route), made once rather than on every request.
        self._table = [
            (route.prefix, "/" if route.prefix == "/" else route.prefix + "/", route)
            for route in self._routes
        ]

    def match(self, path: str) -> Route | None:
        """The route for ``path`` (decoded), or None."""
        for prefix, below, route in self._table:
            if path.startswith(below) or path == prefix:
                return route
        return None


def upstream_target(route: Route, path: str, raw_path: bytes, query: bytes) -> str:
    """The URL to request upstream: its base, the forwarded path, the query.

    ``path`` is the decoded path the route matched, ``raw_path`` the bytes
    the client sent (ASGI ``raw_path``).
    """
    forwarded = raw_path.decode("latin-1")
    if route.strip_prefix and route.prefix != "/":
        if forwarded.startswith(route.prefix):
            forwarded = forwarded[len(route.prefix) :]
        else:
            # The client percent-encoded part of the prefix: cut the decoded
            # path and encode the rest again (only reserved characters change).
            forwarded = quote(path[len(route.prefix) :], safe="/:@!$&'()*+,;=-._~")
        if not forwarded.startswith("/"):
            forwarded = "/" + forwarded
    url = route.upstream + forwarded
    if query:
        url += "?" + query.decode("latin-1")
    return url
