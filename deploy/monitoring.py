"""A local Prometheus for a running stack (`edgetier up --prometheus`), started as one more child.

Its run directory holds what deploy.prometheus.install copies (config and rules), the file_sd
target files the orchestrator writes (`targets/`, its `--sd-dir`) and the TSDB (`data/`), so a
run leaves everything in one place. It listens on loopback only: the Grafana datasource
(deploy/grafana/provisioning) expects http://127.0.0.1:9090.
"""

from __future__ import annotations

import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

from deploy.processes import Child, LaunchError, await_condition, spawn
from deploy.prometheus import install

DEFAULT_PORT = 9090
TARGETS_DIR = "targets"
READY_TIMEOUT_S = 30.0


class PrometheusMissingError(LaunchError):
    """There is no `prometheus` binary on PATH."""


def prometheus_binary() -> str:
    """Path of the `prometheus` binary; PrometheusMissingError (saying how to get it) if absent."""
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusMissingError(
            "prometheus is not on PATH: install it (Debian/Ubuntu: apt-get install prometheus; "
            "else https://prometheus.io/download/) or leave out --prometheus"
        )
    return found


def prepare(run_dir: Path) -> Path:
    """Install config and rules into `run_dir`; returns the folder the orchestrator must write
    its file_sd targets into."""
    install(run_dir)
    return run_dir / TARGETS_DIR


def start_prometheus(binary: str, run_dir: Path, port: int, log_path: Path) -> Child:
    """Start Prometheus on 127.0.0.1:`port` (0: a free port) over a `prepare`d run dir and wait
    until it is ready; its `ready` holds its URL. The caller stops it (also on LaunchError)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    child = spawn(
        "prometheus",
        "prometheus",
        [
            binary,
            f"--config.file={run_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={run_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log_path,
        pipe_stdout=False,
        die_with_parent=True,
    )
    try:
        await_condition(child, lambda: _ok(f"{url}/-/ready"), f"ready on {url}", READY_TIMEOUT_S)
    except LaunchError:
        child.kill()
        raise
    child.ready = {"url": url, "metrics": f"{url}/metrics"}
    return child


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (Prometheus cannot report a port it picked itself)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False
