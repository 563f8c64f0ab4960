"""Child processes a launcher starts, watches and stops: one way for every launcher.

`LocalStack` runs the orchestrator and the agents through here, `RayStack` the orchestrator (and,
inside each Ray actor, that actor's agent), and both the local Prometheus. A child's stderr goes
to a log file; an EdgeTier child announces itself with one JSON line on stdout
(`{"event": "listening", "grpc": ..., "metrics": ...}`), which `first_json_line` reads while the
rest of its output is drained so that it never blocks on a full pipe.

Anything a stack stops is a `Member`: a local `Child`, or a handle on a process elsewhere (a Ray
actor's agent). `stop_members` stops them all the same way: SIGTERM to everyone first, so they
wind down in parallel, then SIGKILL for whoever outlives the grace period.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from edgetier.wire.auth import TOKEN_ENV

READY_TIMEOUT_S = 60.0
READY_EXIT_S = 5.0  # a child that closed its output before listening exits within this
STOP_GRACE_S = 10.0
LOG_TAIL_CHARS = 2000
_PR_SET_PDEATHSIG = 1


class LaunchError(RuntimeError):
    """A child process failed to start; the message says which and points at its log."""


class Member(Protocol):
    """What a stack needs of each thing it started: identity, where it listens, how to stop it."""

    name: str
    kind: str  # "orchestrator", "agent" or "prometheus"
    ready: dict[str, Any]  # its listening line: grpc, metrics, ...

    @property
    def log(self) -> str: ...

    def alive(self) -> bool: ...

    def terminate(self) -> None:
        """Ask it to stop gracefully (SIGTERM); returns at once."""

    def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for it to exit; True if it has."""

    def kill(self) -> None:
        """Stop it now (SIGKILL) and reap it."""


@dataclass
class Child:
    """A process this machine started, with its log file and its listening line."""

    name: str
    kind: str
    process: subprocess.Popen[str]
    log_path: Path
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return str(self.log_path)

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> bool:
        try:
            self.process.wait(timeout=max(0.0, timeout_s))
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def failure(self) -> str | None:
        """Why the child stopped, when it said so as an EdgeTier command does (its last line
        `edgetier COMMAND: reason`, no traceback in its log); None otherwise."""
        if self.alive():
            return None
        text = self.log_tail()
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines or "Traceback (most recent call last)" in text:
            return None
        found = re.match(r"^edgetier [\w-]+: (.+)$", lines[-1])
        return found.group(1) if found else None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""


def spawn(
    name: str,
    kind: str,
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = False,
    pipe_stdout: bool = True,
) -> Child:
    """Start `argv` in its own session (so the terminal's Ctrl-C reaches the launcher, which
    then stops the children in order), stderr to `log_path`, stdout piped (for
    `await_listening`) or, with `pipe_stdout=False`, to the log as well.

    `die_with_parent` asks Linux to SIGKILL the child when the thread that started it dies:
    for a launcher that may itself be killed without warning (`edgetier up` by SIGKILL, an OOM
    kill or a CI timeout; a Ray actor by Ray), so that nothing it started outlives it and holds
    its ports. Only for a launcher whose starting thread lives as long as the child (the main
    thread, or a thread that lives as long as the stack).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe_stdout else log,
            stderr=log,
            text=True,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_kill_on_parent_death() if die_with_parent else None,  # noqa: PLW1509
        )
    return Child(name, kind, process, log_path)


def edgetier_argv(args: Sequence[str]) -> list[str]:
    """`python -m edgetier ARGS` with this interpreter (the one EdgeTier is installed in)."""
    return [sys.executable, "-m", "edgetier", *args]


def edgetier_env(token: str) -> dict[str, str]:
    """The environment of an EdgeTier child: the agent token travels here, never in argv."""
    return {**os.environ, TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"}


def await_listening(child: Child, timeout_s: float = READY_TIMEOUT_S) -> Child:
    """Read the child's listening line into `child.ready`; LaunchError (with its log's tail)
    if it exits or stays silent. The caller stops the child on error."""
    assert child.process.stdout is not None
    child.ready = first_json_line(child.process.stdout, timeout_s)
    if not child.ready:
        child.wait(READY_EXIT_S)
        reason = child.failure()
        if reason is not None:
            who = child.kind if child.kind == child.name else f"{child.kind} {child.name}"
            raise LaunchError(f"{who} did not start: {reason}")
        raise LaunchError(
            f"{child.kind} {child.name} did not start (log {child.log_path}):\n{child.log_tail()}"
        )
    return child


def await_condition(
    child: Child, check: Callable[[], bool], what: str, timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Poll `check` until it holds; LaunchError if the child exits first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if not child.alive():
            raise LaunchError(
                f"{child.kind} {child.name} exited before {what} (log {child.log_path}):\n"
                f"{child.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise LaunchError(f"{child.kind} {child.name}: not {what} after {timeout_s:g}s")
        time.sleep(0.1)


def stop_members(members: Sequence[Member], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to every member (last started first), then wait for each until `grace_s` has
    passed in all, SIGKILL for the rest. Never raises for a member that is already gone."""
    ordered = list(reversed(members))
    for member in ordered:
        member.terminate()
    deadline = time.monotonic() + grace_s
    for member in ordered:
        if not member.wait(deadline - time.monotonic()):
            member.kill()


def first_json_line(stream: IO[str], timeout_s: float) -> dict[str, Any]:
    """The first JSON object a child prints, or {} if it exits or stays silent; later output
    is drained in the background so the child never blocks on a full pipe."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        first = True
        for line in stream:
            if first:
                lines.put(line)
                first = False
        if first:
            lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = lines.get(timeout=timeout_s)
    except queue.Empty:
        return {}
    if line is None:
        return {}
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def die_with_parent(parent: int) -> None:
    """Tie this running process (a worker multiprocessing started) to `parent`, as spawn's
    `die_with_parent` does for a command: SIGKILL when it dies, exit now if it already has."""
    follow = _follow_parent()
    if follow is not None:
        follow(parent)


def _kill_on_parent_death() -> Callable[[], None] | None:
    """A preexec function setting PR_SET_PDEATHSIG (Linux; None elsewhere). The libc function
    is looked up here, before fork, so the child only makes two system calls before exec (the
    way Ray starts its own processes)."""
    follow = _follow_parent()
    if follow is None:
        return None
    parent = os.getpid()
    return lambda: follow(parent)


def _follow_parent() -> Callable[[int], None] | None:
    """A function that sets PR_SET_PDEATHSIG, then checks the parent did not die before it
    took effect (the process would then have been re-parented, and exits); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    sigkill = int(signal.SIGKILL)

    def follow(parent: int) -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill)
        if os.getppid() != parent:
            os._exit(1)

    return follow
