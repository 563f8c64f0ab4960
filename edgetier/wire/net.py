"""Addresses: how a server names itself to others."""

from __future__ import annotations

import errno
import socket

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def advertised_host(host: str) -> str:
    """The host others should dial: the bound one, or this machine's name for a wildcard."""
    return socket.gethostname() if host in WILDCARD_HOSTS else host


class ListenError(OSError):
    """A server cannot listen where it was asked to. `service` is "gRPC" or "metrics";
    `in_use` says whether another process holds the port (the usual case)."""

    def __init__(self, service: str, port: int, in_use: bool, message: str) -> None:
        super().__init__(message)
        self.service, self.port, self.in_use = service, port, in_use


def check_listen(service: str, host: str, port: int) -> None:
    """Raise ListenError, in words, if the system refuses `host:port` (tried by binding a
    plain socket there): before a gRPC server binds it, since gRPC only says that it failed,
    and logs a line of its own. Port 0 (any free one) is always possible."""
    if port == 0:
        return
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            return
    except OSError as exc:
        name = "port" if service == "gRPC" else f"{service} port"
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(service, port, True, f"{name} {port} is in use") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            message = f"{host} is not an address of this machine"
        else:
            message = f"cannot listen on {host_port(host, port)}: {exc.strerror or exc}"
        raise ListenError(service, port, False, message) from None
