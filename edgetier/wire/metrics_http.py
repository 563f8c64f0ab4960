"""Serving a Prometheus registry on /metrics, for the orchestrator and the agents alike."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from edgetier.wire.net import check_listen


class MetricsHTTPServer:
    """prometheus_client's HTTP exposition of one registry, on its own daemon thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._httpd: WSGIServer
        self._thread: threading.Thread
        check_listen("metrics", host, port)
        self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        self.port: int = self._httpd.server_port

    def close(self) -> None:
        """Stop serving and release the port (blocks up to about half a second)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
