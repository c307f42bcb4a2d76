"""The printed walk-through: the whole token flow as curl commands to paste.

Every command goes to the gateway, the one origin a client knows: ``/auth/*``
is passed through to the auth server, ``/api/*`` needs a token, ``/public/*``
does not. Values are carried between steps in shell variables, and JSON
fields are read with ``python3`` (always there when jotgate is) rather than
``jq`` (often not). The text works in bash and zsh.

Example::

    print(walkthrough(stack.urls, access_ttl=20))
"""

from __future__ import annotations

from typing import Final

from .stack import CLIENT_ID, Urls

__all__ = ["PASSWORD", "USERNAME", "banner", "walkthrough"]

#: The demo user. The password is long and uncommon enough for the server's
#: policy (it refuses the 10,000 most common passwords).
USERNAME: Final = "alice"
PASSWORD: Final = "wombat-lantern-91"


def banner(urls: Urls, *, data_dir: str, access_ttl: int, poll_interval: float) -> str:
    """What runs where."""
    return f"""\
jotgate demo: four servers on loopback, data in {data_dir} (removed on exit)

  gateway       {urls.gateway}   <- talk to this one
    /auth/*     -> auth server   {urls.auth}   (SQLite; access tokens live {access_ttl} s)
    /api/*      -> notes service {urls.notes}   (token required)
    /public/*   -> hello service {urls.hello}   (public)
  The gateway polls the auth server's /auth/revocations every {poll_interval:g} s as the
  service client "{CLIENT_ID}", so a logout reaches it within a second.
"""


def walkthrough(urls: Urls, *, access_ttl: int) -> str:
    """The numbered steps, each a comment and commands that work when pasted."""
    body = f'{{"username": "{USERNAME}", "password": "{PASSWORD}"}}'
    refresh = '{\\"refresh_token\\": \\"$REFRESH\\"}'
    json_h = "-H 'Content-Type: application/json'"
    return f"""\
# 0. Where the gateway listens, and a helper that prints one field of a JSON answer
GW={urls.gateway}
field() {{ python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }}

# 1. Register a user: 201 and the user's id (an opaque UUID, never the username)
curl -s -X POST $GW/auth/register {json_h} -d '{body}'; echo

# 2. Log in: an access token (lives {access_ttl} s) and a refresh token; keep both
LOGIN=$(curl -s -X POST $GW/auth/login {json_h} -d '{body}')
ACCESS=$(printf '%s' "$LOGIN" | field access_token)
REFRESH=$(printf '%s' "$LOGIN" | field refresh_token)
echo "$LOGIN"

# 3. The public service needs no token, and an identity header a client makes up
#    never reaches it: "identity" is empty
curl -s $GW/public/hello -H 'X-User-Id: admin'

# 4. The protected service without a token: 401 missing_token
curl -s -i $GW/api/notes; echo

# 5. With the token: the service sees who is calling in X-User-Id, X-User-Roles,
#    X-Session-Id, X-Auth-Claims - and never the token itself
curl -s $GW/api/notes -H "Authorization: Bearer $ACCESS"

# 6. Let the access token expire: 401 token_expired tells the client to refresh
sleep {access_ttl + 1}; curl -s -i $GW/api/notes -H "Authorization: Bearer $ACCESS"; echo

# 7. Refresh: a new pair (the old refresh token is used up), same session
NEW=$(curl -s -X POST $GW/auth/refresh {json_h} -d "{refresh}")
ACCESS=$(printf '%s' "$NEW" | field access_token)
REFRESH=$(printf '%s' "$NEW" | field refresh_token)
curl -s $GW/api/notes -H "Authorization: Bearer $ACCESS"

# 8. Log out (204); within a second the gateway refuses the same, unexpired
#    token: 401 token_revoked
curl -s -i -X POST $GW/auth/logout -H "Authorization: Bearer $ACCESS"
sleep 1; curl -s -i $GW/api/notes -H "Authorization: Bearer $ACCESS"; echo

# 9. The session's refresh token died with it: 401
curl -s -X POST $GW/auth/refresh {json_h} -d "{refresh}"; echo
"""
