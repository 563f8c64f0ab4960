"""`edgetier`: one command, a subcommand per capability (`--help` on each).

Each subcommand lives in its own module with a `register(subparsers)` function; this module only
assembles them, so adding a capability is one import here.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence

from edgetier.cli import (
    agent,
    bench,
    dashboards,
    demo,
    load,
    npu,
    orchestrator,
    router,
    sim,
    up,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgetier",
        description="Cloud-edge-device AI inference: orchestrator, simulated NPUs, fleetsim.",
    )
    parser.add_argument("--version", action="version", version=f"edgetier {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, up, load, npu, orchestrator, bench, sim, router, dashboards, agent):
        module.register(commands)
    return parser


def _version() -> str:
    """The installed distribution's version (pyproject.toml's, through pip's metadata)."""
    try:
        return importlib.metadata.version("edgetier")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: pip install -e .)"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `edgetier ... | head`
        sys.stderr.close()
        return 0
