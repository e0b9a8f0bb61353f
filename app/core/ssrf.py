"""Keep webhook requests away from internal networks (server-side request forgery).

A URL is checked when an endpoint is registered and again on every send. The send-time
check runs inside the HTTP client's connect step (``GuardedBackend``): the host is
resolved once, every address is checked, and the socket is opened to a checked address,
so a DNS answer that changes between the check and the connection cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpcore
import httpx
from httpcore._backends.auto import AutoBackend
from httpcore._backends.base import SOCKET_OPTION, AsyncNetworkStream

from app.core.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_TIMEOUT = 5.0


class UnsafeUrl(Exception):
    """The URL may not be called; ``code`` names the rule, the message explains it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped or 6to4), if any."""
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip.sixtofour
    return None


def _in_networks(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def address_problem(ip: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``ip`` may not be called (``"private"``, ``"loopback"``, …), or None if it may."""
    embedded = _embedded_ipv4(ip)
    candidates: list[IPAddress] = [ip] if embedded is None else [ip, embedded]
    if any(_in_networks(c, allowed) for c in candidates):
        return None
    target = embedded or ip
    if target.is_unspecified:
        return "unspecified"
    if target.is_loopback:
        return "loopback"
    if target.is_link_local:
        return "link_local"
    if target.is_multicast:
        return "multicast"
    if target.is_reserved:
        return "reserved"
    if target.is_private:
        return "private"
    if not target.is_global:
        return "not_global"
    return None


def parse_url(url: str, settings: Settings) -> tuple[str, int]:
    """Check the URL's form and scheme; return its host (no brackets) and port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("invalid_url", f"The URL is malformed: {exc}.") from exc
    scheme = parts.scheme.lower()
    allowed_schemes = ("https", "http") if settings.webhook_allow_http else ("https",)
    if scheme not in allowed_schemes:
        raise UnsafeUrl(
            "scheme_not_allowed",
            "Only https:// URLs are accepted."
            if scheme == "http"
            else f"The URL must start with {' or '.join(s + '://' for s in allowed_schemes)}.",
        )
    host = parts.hostname
    if not host:
        raise UnsafeUrl("invalid_url", "The URL has no host.")
    if parts.fragment:
        raise UnsafeUrl("invalid_url", "The URL may not have a #fragment.")
    if any(ch.isspace() for ch in url):
        raise UnsafeUrl("invalid_url", "The URL may not contain whitespace.")
    return host, port or (443 if scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, without blocking the event loop."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise UnsafeUrl("unresolvable_host", f"The host {host!r} could not be resolved.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UnsafeUrl("unresolvable_host", f"The host {host!r} could not be resolved.")
    return addresses


def check_addresses(host: str, addresses: Sequence[IPAddress], settings: Settings) -> None:
    """Refuse the host if any of its addresses is internal and not explicitly allowed."""
    for ip in addresses:
        problem = address_problem(ip, settings.webhook_allowed_networks)
        if problem is not None:
            shown = "" if host == str(ip) else f"{host!r} resolves to "
            raise UnsafeUrl(
                "forbidden_address",
                f"Webhooks may not target internal addresses: {shown}{ip} "
                f"({problem.replace('_', '-')}).",
            )


async def check_url(url: str, settings: Settings) -> None:
    """The full registration-time check: form, scheme, resolution and every address."""
    host, port = parse_url(url, settings)
    check_addresses(host, await resolve(host, port), settings)


class GuardedBackend(AutoBackend):
    """An httpcore network backend that resolves, checks, then connects to a checked IP."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: typing.Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        host = host.strip("[]")
        addresses = await resolve(host, port)
        check_addresses(host, addresses, self.settings)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await super().connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose connections go through the guard."""

    def __init__(self, settings: Settings, *, max_connections: int) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(settings),
        )
