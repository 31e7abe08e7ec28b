"""Refuse webhook URLs that reach into the server's own network.

A URL must be http(s), carry no credentials, and every address its host
resolves to must be public: not loopback, private, link-local (cloud metadata
at 169.254.169.254 included), multicast, reserved or unspecified. Checked when
an endpoint is saved and again before each delivery (DNS can change). Only an
operator can lift this, with ``COMMBASE_WEBHOOKS_ALLOW_PRIVATE_URLS=true``, for
development.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from commbase.core.errors import ValidationFailed

_BLOCKED_HOSTS = {"localhost", "metadata.google.internal", "metadata"}


class UnsafeUrl(ValidationFailed):
    """A webhook URL that points into a private network (a validation failure)."""


def _refuse(reason: str) -> UnsafeUrl:
    return UnsafeUrl(
        f"Webhook URL refused: {reason}",
        errors=[{"loc": ["body", "url"], "field": "url", "message": reason}],
    )


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_shape(url: str) -> tuple[str, int]:
    """The host and port of an acceptable URL, before any DNS lookup."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _refuse("only http and https URLs are allowed")
    if parts.username or parts.password:
        raise _refuse("credentials in the URL are not allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise _refuse("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise _refuse("the port is not valid") from exc
    return host, port


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeUrl unless every address of the URL's host is public."""
    host, port = check_shape(url)
    if allow_private:
        return
    if host in _BLOCKED_HOSTS or host.endswith((".localhost", ".internal", ".local")):
        raise _refuse(f"{host} is an internal name")
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            raise _refuse(f"{host} does not resolve") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        if not address_is_public(address.split("%")[0]):
            raise _refuse(f"{host} resolves to a non-public address ({address})")
