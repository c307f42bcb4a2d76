"""The ``htu`` comparison of RFC 9449 §4.3 step 9: one normal form for HTTP URIs.

A DPoP proof names the request it was made for by method and URI. The
server compares that URI with the one it received "without query and
fragment parts", after the syntax- and scheme-based normalization of
RFC 3986 §6.2.2 and §6.2.3. :func:`normalize_htu` maps every spelling of one
resource to one string, so the comparison is plain string equality:

- scheme and host in lower case (§6.2.2.1);
- percent-escapes with upper-case hex digits, and escaped unreserved
  characters (``%7E`` -> ``~``) decoded (§6.2.2.2);
- ``.`` and ``..`` segments removed (§6.2.2.3);
- the scheme's default port dropped, an empty path made ``/`` (§6.2.3);
- query and fragment dropped (RFC 9449 §4.2).

Only absolute ``http``/``https`` URIs with a host are accepted, and none with
userinfo (RFC 9110 §4.2.4 forbids sending it). Anything else is a
``ValueError`` that the caller turns into its own error.

Example::

    assert normalize_htu("HTTPS://Server.Example.COM:443/a/./b?x=1#f") == (
        "https://server.example.com/a/b"
    )
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

__all__ = ["normalize_htu", "strip_query"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_UNRESERVED: Final = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
# A stray '%' not followed by two hex digits is not a URI at all.
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _normalize_escapes(text: str) -> str:
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text):
        raise ValueError("a '%' that starts no percent-escape")
    return _ESCAPE.sub(_escape, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path, segment by segment (linear time)."""
    segments = path.split("/")[1:]
    if "." not in segments and ".." not in segments:
        return path
    out: list[str] = []
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
            continue
        if i == last:
            out.append("")  # "/a/." and "/a/b/.." keep their trailing slash
    return "/" + "/".join(out)


@lru_cache(maxsize=512)
def normalize_htu(uri: str) -> str:
    """The normal form of an HTTP(S) URI without its query and fragment.

    Raises ``ValueError`` for anything that is not an absolute http(s) URI
    with a host and without userinfo.
    """
    if not isinstance(uri, str):
        raise ValueError("a URI must be a string")
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in uri):
        raise ValueError("a URI has no spaces, control or non-ASCII characters")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("the URI must be absolute, with scheme http or https")
    if "@" in parts.netloc:
        raise ValueError("the URI must not carry userinfo")
    host = parts.hostname  # lower-cased by urlsplit; IPv6 without its brackets
    if not host:
        raise ValueError("the URI has no host")
    port = parts.port  # ValueError for a non-numeric or out-of-range port
    authority = _normalize_escapes(host).lower()
    if ":" in authority:
        authority = f"[{authority}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    path = _remove_dot_segments(_normalize_escapes(parts.path or "/"))
    return f"{scheme}://{authority}{path}"


def strip_query(uri: str) -> str:
    """``uri`` without its query and fragment, otherwise as written (for new proofs)."""
    return uri.split("#", 1)[0].split("?", 1)[0]
