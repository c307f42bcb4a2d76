"""The demo's two sample services: tiny ASGI apps that echo what the gateway told them.

A service behind the gateway never sees a token; it learns who is calling
from the identity headers the gateway adds (``X-User-Id``, ...). These
services answer every request with JSON that shows exactly those headers,
so the demo can show both sides of the bargain: on the protected service
the gateway's identity arrives, and on the public one an identity header a
client made up (``curl -H 'X-User-Id: admin'``) never does.

Example::

    app = EchoService("notes")          # serve with uvicorn
    # GET /api/notes -> {"service": "notes", "path": "/api/notes",
    #                    "identity": {"x-user-id": "6f1c...", ...}, ...}
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

__all__ = ["IDENTITY_HEADERS", "EchoService"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: The headers a service behind the gateway may trust (docs/gateway.md).
IDENTITY_HEADERS: Final = (
    "x-user-id",
    "x-user-roles",
    "x-user-scopes",
    "x-session-id",
    "x-auth-claims",
)


class EchoService:
    """An ASGI app named ``name`` that answers every HTTP request with what it received."""

    def __init__(self, name: str) -> None:
        """``name`` appears in every answer, so a reader can tell the services apart."""
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point; lifespan is accepted and ignored, websockets are refused."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        # Drain the body so a client that sends one is not left hanging.
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        body = json.dumps(self.describe(scope), indent=2).encode() + b"\n"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def describe(self, scope: Scope) -> dict[str, Any]:
        """The answer's content: service, request line, identity headers, token presence."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            if name in IDENTITY_HEADERS:
                headers[name] = raw_value.decode("latin-1")
        answer: dict[str, Any] = {
            "service": self.name,
            "method": scope["method"],
            "path": scope["path"],
            "identity": headers,
            # The gateway keeps the token at the edge by default: say so.
            "saw_authorization_header": any(
                name.lower() == b"authorization" for name, _ in scope["headers"]
            ),
        }
        claims = _claims(headers.get("x-auth-claims"))
        if claims is not None:
            answer["claims_from_x_auth_claims"] = claims
        return answer


def _claims(value: str | None) -> Any:
    """X-Auth-Claims (unpadded base64url JSON) decoded for display, or None."""
    if not value:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        # Left out of the answer rather than failing the whole echo.
        return None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
