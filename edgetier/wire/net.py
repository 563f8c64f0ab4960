"""Addresses: how a server names itself to others."""

from __future__ import annotations

import socket

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def advertised_host(host: str) -> str:
    """The host others should dial: the bound one, or this machine's name for a wildcard."""
    return socket.gethostname() if host in WILDCARD_HOSTS else host
