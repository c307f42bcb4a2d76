"""The jotgate API gateway: verify once at the edge, forward identity as headers.

DESIGN.md flow step 7. A reverse proxy (a pure ASGI app; ``jotgate gateway``
serves it with its own HTTP/1.1 server, :class:`GatewayServer`) in front of
microservices: it strips identity headers clients could forge,
verifies the access token on ``required`` routes with
:class:`jotgate.middleware.Verifier` (keys from the auth server's JWKS,
logouts pushed through Redis or polled), forwards the claims as
``X-User-Id``/``X-User-Roles``/``X-Session-Id``/``X-Auth-Claims``, and
streams bodies both ways. It also answers forward-auth checks for nginx
``auth_request``, Traefik ForwardAuth and Envoy ext_authz.

Example::

    from jotgate.gateway import Gateway, load

    settings = load(None, {"auth_server": "http://127.0.0.1:8000"},
                    routes=["/api=http://127.0.0.1:9001"])
    app = Gateway(settings)          # any ASGI server, or GatewayServer

From a shell: ``jotgate gateway --listen 127.0.0.1:8080
--auth-server http://127.0.0.1:8000 --route /api=http://127.0.0.1:9001``.
"""

from __future__ import annotations

from .app import Gateway
from .auth import Authenticator
from .config import load, parse_route
from .server import GatewayServer, Limits
from .settings import Route, Settings, SettingsError

__all__ = [
    "Authenticator",
    "Gateway",
    "GatewayServer",
    "Limits",
    "Route",
    "Settings",
    "SettingsError",
    "load",
    "parse_route",
]
