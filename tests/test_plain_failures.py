"""A busy port, a missing orchestrator, a refused token: one line each that says what to do, no
traceback; and no temporary folder left behind by a stack that stopped cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local import LocalStack
from deploy.processes import first_json_line
from tests.live import small_stack
from tests.up_process import stack_file

pytestmark = pytest.mark.timeout(120)


def edgetier(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process (this test) listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_up_on_a_busy_port_says_so_in_one_line(busy_port: int, tmp_path: Path) -> None:
    done = edgetier("up", "--port", str(busy_port), env={"TMPDIR": str(tmp_path)})
    assert done.returncode == 1
    assert done.stderr == (
        f"edgetier up: orchestrator did not start: port {busy_port} is in use "
        "(is a stack already running? use --port)\n"
    )
    assert list(tmp_path.iterdir()) == []  # the reason is said: no log folder to keep


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["orchestrator", "--port"], "edgetier orchestrator: port {port} is in use (is a stack"),
        (
            ["orchestrator", "--port", "0", "--metrics-port"],
            "edgetier orchestrator: metrics port {port} is in use (is a stack already running? "
            "use --metrics-port)",
        ),
        (
            [
                *("agent", "--name", "a", "--tier", "edge", "--hardware", "ax650n"),
                *("--models", "qwen2.5-0.5b:w8a16", "--no-register", "--metrics-port"),
            ],
            "edgetier agent: argument --metrics-port: metrics port {port} is in use",
        ),
    ],
)
def test_a_server_on_a_busy_port_says_which_in_one_line(
    busy_port: int, flags: list[str], expected: str
) -> None:
    done = edgetier(*flags, str(busy_port))
    assert done.returncode == 1
    assert done.stderr.startswith(expected.format(port=busy_port)), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "command", [["infer", "--model", "qwen2.5-0.5b", "--prompt", "hi"], ["nodes"]]
)
def test_no_orchestrator_is_one_line_saying_how_to_start_one(command: list[str]) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    done = edgetier(*command, "--orchestrator", address)
    assert done.returncode == 1
    assert done.stderr == (
        f"edgetier {command[0]}: no orchestrator answers at {address} (start one with "
        "`edgetier up`, or give its address with --orchestrator)\n"
    )


@pytest.fixture(scope="module")
def guarded() -> Iterator[str]:
    """An orchestrator that wants the client token `s3cret`."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "edgetier", "orchestrator", "--port", "0"),
            *("--metrics-port", "0", "--client-token", "s3cret"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready = first_json_line(process.stdout, 60)  # type: ignore[arg-type]
        assert ready, "the orchestrator did not start"
        yield str(ready["grpc"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ([], "requires a client token: pass --token or set $EDGETIER_TOKEN"),
        (["--token", "wrong"], "refused the client token: check --token or $EDGETIER_TOKEN"),
    ],
)
def test_a_missing_or_refused_token_is_one_line_naming_the_option(
    guarded: str, token: list[str], expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGETIER_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "edgetier", "nodes", "--orchestrator", guarded, *token],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 1
    assert done.stderr == f"edgetier nodes: the orchestrator {expected}\n"
    allowed = edgetier("nodes", "--orchestrator", guarded, "--token", "s3cret", "--json")
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["nodes"] == []


def test_a_stack_removes_its_temporary_log_folder_on_a_clean_stop_and_keeps_a_given_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where mkdtemp makes it
    with LocalStack(small_stack(), port=0) as stack:
        temporary = stack.log_dir
        assert temporary is not None and (temporary / "orchestrator.log").is_file()
    assert not temporary.exists()
    given = tmp_path / "logs"
    with LocalStack(small_stack(), port=0, log_dir=given):
        pass
    assert (given / "orchestrator.log").is_file()


def test_up_stopped_by_sigterm_leaves_no_temporary_folder(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "edgetier", "up", "--port", "0", "--json"),
            *("--config", str(stack_file(tmp_path, small_stack()))),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
    )
    try:
        summary = first_json_line(process.stdout, 90)  # type: ignore[arg-type]
        assert summary, "edgetier up did not start"
        logs = Path(summary["endpoints"][0]["log"]).parent
        assert logs.parent == tmp_path / "tmp" and logs.is_dir()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
