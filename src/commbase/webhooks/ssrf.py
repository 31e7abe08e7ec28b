"""Which webhook URLs and addresses commbase may connect to (the SSRF guard).

A URL must be http(s), carry no credentials, name a port from 1 to 65535 and a
host that is a DNS name (international names are sent in their ASCII form) or
an IP literal: dotted-decimal IPv4, or bracketed IPv6 without a zone.

Every address the host resolves to must be allowed, and the dispatcher connects
only to addresses it has just checked (``transport.GuardedNetworkBackend``
resolves once per connection, checks every answer, then connects to the checked
address), so a name that changes its answer between a check and a connection
(DNS rebinding) reaches nothing new. The check when an endpoint is saved is an
early, friendly refusal; the one at each connection is the guarantee.

Never allowed, whatever the settings: link-local addresses (169.254.0.0/16,
fe80::/10), cloud metadata names and addresses, unspecified and multicast
addresses. Allowed only when an operator sets
``COMMBASE_WEBHOOKS_ALLOW_PRIVATE_URLS=true`` (for development): loopback,
private, shared (100.64.0.0/10), reserved and every other non-global address,
and names like ``localhost`` or ``*.internal``.

IPv6 forms that carry an IPv4 address are judged by the IPv4 address they
carry: IPv4-mapped and -compatible (``::ffff:0:0/96``, ``::/96``), 6to4
(``2002::/16``), Teredo (``2001::/32``: server and client, the client stored
inverted) and NAT64 (``64:ff9b::/96``, ``64:ff9b:1::/48``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from commbase.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> its addresses, in the order to try them.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT_S = 5.0
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure platform (WireServer): a global-looking address
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")
_INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
# IPv6 ranges whose last 32 bits are an IPv4 address.
_LOW32_CARRIERS = tuple(
    ipaddress.ip_network(n)
    for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")


class UnsafeUrl(ValidationFailed):
    """A webhook URL that is malformed or reaches a refused address (a validation failure)."""


def _refuse(reason: str) -> UnsafeUrl:
    return UnsafeUrl(
        f"Webhook URL refused: {reason}",
        errors=[{"loc": ["body", "url"], "field": "url", "message": reason}],
    )


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a URL points: its host as sent (ASCII, no trailing dot) and port."""

    host: str
    port: int


def _carried_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client); ``teredo`` undoes the client's inversion
    if int(ip) > 1 and any(ip in network for network in _LOW32_CARRIERS):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    return []


def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """What makes ``address`` refused ("a non-public address"), or None when allowed."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    carried: list[IPAddress] = []
    if isinstance(ip, ipaddress.IPv6Address):
        carried.extend(_carried_ipv4(ip))
    for each in (ip, *carried):
        if each in _METADATA_ADDRESSES or each.is_link_local:
            return "a link-local or cloud metadata address"
        if each.is_unspecified or each.is_multicast:
            return "not a unicast address"
    if allow_private:
        return None
    if any(not each.is_global for each in carried or [ip]):
        return "a non-public address"
    return None


def name_refusal(host: str, *, allow_private: bool) -> str | None:
    """Why the name ``host`` may not be used whatever it resolves to, or None."""
    if host in _METADATA_NAMES:
        return f"{host} is a cloud metadata name"
    if not allow_private and (host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES)):
        return f"{host} is an internal name"
    return None


def _host(raw: str) -> str:
    """The host if it is an IP address written plainly or a valid DNS name; else UnsafeUrl."""
    if ":" in raw:
        if "%" in raw:
            raise _refuse("IPv6 zone identifiers are not allowed")
        try:
            return str(ipaddress.IPv6Address(raw))
        except ValueError as exc:
            raise _refuse("the host is not a valid IPv6 address") from exc
    host = raw[:-1] if raw.endswith(".") else raw
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # Resolvers read 2130706433, 0x7f.1 or 127.1 as 127.0.0.1: only the plain form.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            raise _refuse("write IPv4 addresses as four decimal numbers (203.0.113.7)") from exc
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refuse("the host is not a valid name")
    return host


def parse(url: str) -> Destination:
    """The destination of an acceptable URL, before any DNS lookup; else UnsafeUrl."""
    try:
        parts = httpx.URL(url)
        raw_host = parts.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise _refuse("not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise _refuse("only http and https URLs are allowed")
    if parts.userinfo:
        raise _refuse("credentials in the URL are not allowed")
    if not raw_host:
        raise _refuse("the URL has no host")
    port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise _refuse("the port must be 1 to 65535")
    return Destination(host=_host(raw_host.lower()), port=port)


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def allowed_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolve
) -> list[str]:
    """Every address ``host`` has, resolved once, all of them allowed; else UnsafeUrl."""
    name = host[:-1] if host.endswith(".") else host
    refusal = name_refusal(name.lower(), allow_private=allow_private)
    if refusal:
        raise _refuse(refusal)
    try:
        addresses = [str(ipaddress.ip_address(name))]
    except ValueError:
        try:
            addresses = list(await resolver(name, port))
        except (OSError, UnicodeError) as exc:
            raise _refuse(f"{name} does not resolve") from exc
    if not addresses:
        raise _refuse(f"{name} does not resolve")
    for address in addresses:
        refusal = address_refusal(address, allow_private=allow_private)
        if refusal:
            raise _refuse(
                f"{address} is {refusal}"
                if address == name
                else f"{name} resolves to {refusal} ({address})"
            )
    return addresses


async def check_url(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolve
) -> Destination:
    """The URL's destination, once its shape and every address of its host are allowed."""
    destination = parse(url)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            await allowed_addresses(
                destination.host,
                destination.port,
                allow_private=allow_private,
                resolver=resolver,
            )
    except TimeoutError as exc:
        raise _refuse(f"{destination.host} did not resolve in time") from exc
    return destination
