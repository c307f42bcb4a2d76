"""The caller's address, believing ``X-Forwarded-For`` only from trusted proxies.

Anyone can send ``X-Forwarded-For``, so the header counts only when the
direct peer is in ``TRUSTED_PROXIES``. Then the list is read from the right
(each proxy appends the address it saw) past every trusted hop; the first
address not in a trusted range is the client. That address feeds the per-IP
login limit and the IP recorded on sessions and audit events::

    client_ip("10.0.0.2", "198.51.100.9, 10.0.0.1", trusted)   # '198.51.100.9'
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .settings import IPNetwork

__all__ = ["client_ip", "peer_is_trusted"]

_MAX_HOPS = 32  # a longer chain is garbage; reading it all would only cost time
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> _Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: _Address, nets: Sequence[IPNetwork]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in nets)


def peer_is_trusted(peer: str | None, trusted: Sequence[IPNetwork]) -> bool:
    """Whether the direct peer is one of the trusted proxies."""
    if peer is None or not trusted:
        return False
    address = _parse(peer)
    return address is not None and _trusted(address, trusted)


def client_ip(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str | None:
    """The client's address: ``peer``, or the right-most untrusted ``X-Forwarded-For`` hop.

    ``forwarded_for`` holds every ``X-Forwarded-For`` header value in order.
    """
    if peer is None or not trusted:
        return peer
    peer_address = _parse(peer)
    if peer_address is None or not _trusted(peer_address, trusted):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")][-_MAX_HOPS:]
    client = peer_address
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # A trusted proxy never writes garbage: it came from before the
            # trusted chain, so the last trusted hop is all we can vouch for.
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)
