"""Helpers for tests that run `edgetier up` as a user does: a process with flags, its JSON line,
its Prometheus."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.config import StackConfig
from deploy.processes import first_json_line
from tests.processes import children_of, is_alive

START_TIMEOUT_S = 90.0


def stack_file(folder: Path, config: StackConfig) -> Path:
    """`config` as the stack YAML file `edgetier up --config` reads."""
    path = folder / "stack.yaml"
    data = dataclasses.asdict(config)
    data["orchestrator"]["policy"] = config.orchestrator.policy.as_file_entry()
    data["orchestrator"]["policies"] = [p.as_file_entry() for p in config.orchestrator.policies]
    path.write_text(yaml.safe_dump(data))
    return path


@dataclasses.dataclass
class Up:
    """A running `edgetier up --json`: its process and the JSON line it printed once up."""

    process: subprocess.Popen[str]
    summary: dict[str, Any]
    stderr: Path

    def stop(self) -> list[int]:
        """SIGTERM, as a service manager would; asserts a clean exit and returns the pids of the
        processes it had started here (its children), to check they are gone."""
        started = children_of(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.stderr.read_text()[-3000:]
        return started


@contextlib.contextmanager
def edgetier_up(
    folder: Path, config: StackConfig, *flags: str, env: Mapping[str, str] | None = None
) -> Iterator[Up]:
    """Run `edgetier up --config ... --log-dir folder/logs --json FLAGS` until the block ends
    (killed then, if the block did not stop it)."""
    stderr = folder / "up.stderr"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgetier",
                "up",
                "--config",
                str(stack_file(folder, config)),
                "--log-dir",
                str(folder / "logs"),
                "--json",
                *flags,
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, **(env or {})},
        )
    try:
        summary = first_json_line(process.stdout, START_TIMEOUT_S)  # type: ignore[arg-type]
        if not summary:
            process.kill()
            process.wait()
            pytest.fail(f"edgetier up did not start:\n{stderr.read_text()[-3000:]}")
        yield Up(process, summary, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def all_gone(pids: list[int], timeout_s: float = 15.0) -> bool:
    """True once none of `pids` runs (within `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while any(is_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def prometheus_api(url: str, path: str, **params: str) -> Any:
    """GET a Prometheus HTTP API path; its `data`. A rejected expression fails the test."""
    address = f"{url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(address, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 400: Prometheus rejected the expression
        pytest.fail(f"{params}: {exc.read().decode()}")
    assert body["status"] == "success", body
    return body["data"]


def wait_until_scraped(summary: dict[str, Any], timeout_s: float = 90.0) -> list[Any]:
    """Poll the Prometheus of `summary` (`edgetier up --json`'s line) until it scrapes exactly
    the orchestrator and every agent, all healthy; returns its active targets."""
    url = summary["prometheus"]
    expected = {e["metrics"].split("/")[2] for e in summary["endpoints"] if e["grpc"]}
    deadline = time.monotonic() + timeout_s
    while True:
        targets = prometheus_api(url, "/api/v1/targets")["activeTargets"]
        healthy = {t["labels"]["instance"] for t in targets if t["health"] == "up"}
        if healthy == expected and len(targets) == len(expected):
            return list(targets)
        assert time.monotonic() < deadline, f"scraped {targets}, expected {sorted(expected)}"
        time.sleep(0.5)
