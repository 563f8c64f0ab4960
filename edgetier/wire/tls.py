"""TLS for every gRPC hop: the same three flags on every process.

    --tls-cert/--tls-key  this process's certificate: its server certificate, and the client
                          certificate it presents when it calls another process
    --tls-ca              the CA that signs the others' certificates: verifies servers, and an
                          agent given it requires a client certificate (mutual TLS: only the
                          orchestrator may run work on it)

The orchestrator does not require client certificates (clients authenticate with bearer
tokens), agents do once given a CA. Without the flags everything is plaintext on loopback.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import grpc

from edgetier.wire.net import ListenError, check_listen


class TlsError(ValueError):
    """A TLS flag that cannot work; `flag` names it."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag = flag


@dataclass(frozen=True)
class TlsConfig:
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise TlsError(
                "--tls-key" if self.key is None else "--tls-cert",
                "--tls-cert and --tls-key go together",
            )
        for flag, path in (
            ("--tls-cert", self.cert),
            ("--tls-key", self.key),
            ("--tls-ca", self.ca),
        ):
            if path is not None and not path.is_file():
                raise TlsError(flag, f"no such file: {path}")

    def args(self) -> list[str]:
        """The same configuration as command-line flags (for the processes a launcher starts)."""
        flags = (("--tls-cert", self.cert), ("--tls-key", self.key), ("--tls-ca", self.ca))
        return [part for flag, path in flags if path is not None for part in (flag, str(path))]

    @property
    def serves_tls(self) -> bool:
        return self.cert is not None

    def _pair(self) -> tuple[bytes, bytes] | None:
        if self.cert is None or self.key is None:
            return None
        return self.key.read_bytes(), self.cert.read_bytes()

    def server_credentials(self, require_client_auth: bool) -> grpc.ServerCredentials:
        pair = self._pair()
        if pair is None:
            raise TlsError("--tls-cert", "a TLS server needs --tls-cert and --tls-key")
        ca = self.ca.read_bytes() if self.ca is not None else None
        return grpc.ssl_server_credentials(
            [pair], root_certificates=ca, require_client_auth=require_client_auth and ca is not None
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        pair = self._pair()
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes() if self.ca is not None else None,
            private_key=pair[0] if pair else None,
            certificate_chain=pair[1] if pair else None,
        )


def add_port(
    server: grpc.aio.Server, address: str, tls: TlsConfig | None, require_client_auth: bool
) -> int:
    """Listen on `address`, with TLS when this process has a certificate; ListenError saying
    why it cannot (the port is in use, say)."""
    host, _, port = address.rpartition(":")
    check_listen("gRPC", host, int(port))
    try:
        if tls is not None and tls.serves_tls:
            return server.add_secure_port(address, tls.server_credentials(require_client_auth))
        return server.add_insecure_port(address)
    except RuntimeError:  # grpc: "Failed to bind to address ..."
        raise ListenError("gRPC", int(port), False, f"cannot listen on {address}") from None


def aio_channel(
    address: str, tls: TlsConfig | None, options: list[tuple[str, object]] | None = None
) -> grpc.aio.Channel:
    """A channel to another process: TLS when a CA to verify it with is configured."""
    if tls is not None and tls.ca is not None:
        return grpc.aio.secure_channel(address, tls.channel_credentials(), options=options)
    return grpc.aio.insecure_channel(address, options=options)


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls-cert", type=Path, help="this process's certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument(
        "--tls-ca", type=Path, help="CA certificate (PEM) that verifies the other processes"
    )


def tls_from_args(args: argparse.Namespace) -> TlsConfig | None:
    """The TLS configuration of the flags, None when none is given (raises TlsError)."""
    if args.tls_cert is None and args.tls_key is None and args.tls_ca is None:
        return None
    return TlsConfig(args.tls_cert, args.tls_key, args.tls_ca)
