"""TLS on every gRPC hop, with a CA and certificates the test makes: the orchestrator serves
TLS, agents serve mutual TLS (only a holder of a CA-signed certificate may run work on them),
and registration, routing and the CLI all work over it."""

from __future__ import annotations

import datetime
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy.local import LocalStack, first_json_line
from edgetier.v1 import agent_pb2, agent_pb2_grpc
from edgetier.wire.tls import TlsConfig
from orchestrator.client import OrchestratorClient
from tests.live import small_stack, wait_for

pytestmark = pytest.mark.timeout(120)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_pki(folder: Path, names: list[str]) -> None:
    """A CA (ca.pem) and, per name, a certificate for 127.0.0.1/localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("edgetier test CA"))
        .issuer_name(_name("edgetier test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder / "ca", ca_key, ca)
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write(folder / name, key, cert)


def _start(args: list[str], pki: Path, name: str) -> tuple[subprocess.Popen[str], dict]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgetier",
            *args,
            "--tls-cert",
            str(pki / f"{name}.pem"),
            "--tls-key",
            str(pki / f"{name}.key"),
            "--tls-ca",
            str(pki / "ca.pem"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = first_json_line(process.stdout, 30)
    assert ready, process.stderr.read() if process.poll() is not None else "no JSON line"
    return process, ready


def test_every_hop_is_tls_and_agents_demand_client_certificates(tmp_path: Path) -> None:
    make_pki(tmp_path, ["orchestrator", "agent", "stranger"])
    processes = []
    try:
        orchestrator, o = _start(
            ["orchestrator", "--port", "0", "--time-scale", "0"], tmp_path, "orchestrator"
        )
        processes.append(orchestrator)
        agent, a = _start(
            [
                "agent",
                "--name",
                "dev",
                "--tier",
                "device",
                "--hardware",
                "ax630c",
                "--models",
                "qwen2.5-0.5b:w8a16",
                "--nodes",
                "2",
                "--time-scale",
                "0",
                "--orchestrator",
                o["grpc"],
            ],
            tmp_path,
            "agent",
        )
        processes.append(agent)
        ca = tmp_path / "ca.pem"
        with OrchestratorClient(o["grpc"], timeout_s=30, tls_ca=ca) as client:
            wait_for(lambda: len(client.nodes()) == 2, "registration over TLS")
            assert client.infer("qwen2.5-0.5b", prompt="hi", max_tokens=4)["tier"] == "device"

        # A plaintext client cannot talk to the TLS orchestrator.
        with OrchestratorClient(o["grpc"], timeout_s=5) as plain, pytest.raises(grpc.RpcError) as c:
            plain.nodes()
        assert c.value.code() == grpc.StatusCode.UNAVAILABLE

        # The agent runs work only for a client with a CA-signed certificate.
        run = agent_pb2.RunRequest(
            node="dev-0", model="qwen2.5-0.5b", prompt_tokens=4, output_tokens=2
        )
        anonymous = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
        with (
            grpc.secure_channel(a["grpc"], anonymous) as channel,
            pytest.raises(grpc.RpcError) as caught,
        ):
            agent_pb2_grpc.DeviceAgentStub(channel).Run(run, timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        known = grpc.ssl_channel_credentials(
            root_certificates=ca.read_bytes(),
            private_key=(tmp_path / "stranger.key").read_bytes(),
            certificate_chain=(tmp_path / "stranger.pem").read_bytes(),
        )
        with grpc.secure_channel(a["grpc"], known) as channel:
            assert agent_pb2_grpc.DeviceAgentStub(channel).Run(run, timeout=10).output_tokens == 2

        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgetier",
                "infer",
                "--orchestrator",
                o["grpc"],
                "--tls-ca",
                str(ca),
                "--model",
                "qwen2.5-0.5b",
                "--prompt-tokens",
                "4",
                "--max-tokens",
                "2",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1])["output_tokens"] == 2
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)


def test_bad_tls_flags_are_named(tmp_path: Path) -> None:
    for args, flag in (
        (["--tls-cert", str(tmp_path / "missing.pem")], "--tls-key"),
        (["--tls-ca", str(tmp_path / "missing.pem")], "--tls-ca"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "edgetier", "orchestrator", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and flag in done.stderr, done.stderr


def test_edgetier_up_runs_the_whole_stack_over_tls(tmp_path: Path) -> None:
    """One certificate for every process of a local stack (`edgetier up --tls-*`)."""
    make_pki(tmp_path, ["node"])
    tls = TlsConfig(tmp_path / "node.pem", tmp_path / "node.key", tmp_path / "ca.pem")
    with (
        LocalStack(small_stack(time_scale=0.0), port=0, log_dir=tmp_path / "logs", tls=tls) as s,
        OrchestratorClient(s.address, timeout_s=30, tls_ca=tmp_path / "ca.pem") as client,
    ):
        assert client.infer("llama3.1-70b", prompt_tokens=8, max_tokens=2)["tier"] == "cloud"
        assert (
            client.infer("qwen2.5-0.5b", prompt_tokens=8, max_tokens=2, client_node="dev-0")["tier"]
            == "device"
        )
