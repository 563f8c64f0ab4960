"""`edgetier sim schema|validate|init`: writing scenario and stack files without guessing.

    edgetier sim init > my.yaml          # an annotated starter: every key, its unit, its default
    edgetier sim validate my.yaml        # check a file without running it (--stack: a stack file)
    edgetier sim schema [--stack]        # the JSON Schema editors complete and check files with

The schemas are generated from the dataclasses that validate the files (their field docstrings
are the descriptions); the committed copies beside the code are what editors point at, and a test
keeps them equal to this output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deploy.config import SCHEMA_FILE as STACK_SCHEMA
from deploy.config import StackConfig, load_config
from fleetsim.runner import expected_requests
from fleetsim.scenario import SCHEMA_FILE as SCENARIO_SCHEMA
from fleetsim.scenario import STARTER_FILE, Scenario, load_scenario
from fleetsim.workload.trace import TraceError
from npu_sim import datafile
from npu_sim.datafile import DataFileError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of scenario files (--stack: of stack files)",
        description="Print the JSON Schema of scenario files, or with --stack of `edgetier up "
        f"--config` files. Committed copies: {_shown(SCENARIO_SCHEMA)}, "
        f"{_shown(STACK_SCHEMA)}.",
    )
    schema.add_argument("--stack", action="store_true", help="the stack file schema")
    schema.set_defaults(handler=_schema)

    validate = sub.add_parser(
        "validate",
        help="check a scenario (or --stack file) without running it",
        description="Check a scenario file as `sim run` would (schema, names, policies and their "
        "options, the trace file) and say what it holds; exit 2 naming file, line and key.",
    )
    validate.add_argument("file", type=Path, help="scenario YAML file (or stack file, --stack)")
    validate.add_argument("--stack", action="store_true", help="FILE is a stack file")
    validate.set_defaults(handler=_validate)

    init = sub.add_parser(
        "init",
        help="print an annotated starter scenario: every key, its unit and its default",
        description="Print a scenario that runs as it is, with every key explained (optional "
        "ones commented out, with their defaults): edgetier sim init > my.yaml",
    )
    init.set_defaults(handler=_init)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def schema_text(schema: Any) -> str:
    """The JSON Schema of `schema` as committed: indented, one trailing newline."""
    return json.dumps(datafile.json_schema(schema), indent=2) + "\n"


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text(StackConfig if args.stack else Scenario))
    return 0


def _validate(args: argparse.Namespace) -> int:
    try:
        if args.stack:
            config = load_config(args.file)
            summary = f"a valid stack file: {len(config.agents)} agents, {config.node_count} nodes"
        else:
            scenario = load_scenario(args.file)
            requests = expected_requests(scenario)  # reads the trace: a missing one fails here
            summary = (
                f"a valid scenario {scenario.name!r}: {scenario.node_count} nodes in "
                f"{len(scenario.topology)} groups, {requests} requests, "
                f"{len(scenario.policies)} policies"
            )
    except (DataFileError, TraceError) as exc:
        print(f"edgetier sim validate: {exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: {summary}")
    return 0


def _init(args: argparse.Namespace) -> int:
    sys.stdout.write(f"# yaml-language-server: $schema={SCENARIO_SCHEMA.as_uri()}\n")
    sys.stdout.write(STARTER_FILE.read_text(encoding="utf-8"))
    return 0
