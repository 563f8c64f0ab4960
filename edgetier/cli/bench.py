"""`edgetier bench NAME [--json]`: the one entry point for benchmarks (code in `edgetier.bench`).

Prints a table (or, with --json, one JSON object as the last line) and writes
`results/bench/NAME.json` under the current directory (beside `edgetier sim run`'s results).
"""

from __future__ import annotations

import argparse
import importlib
import json

from edgetier import bench
from edgetier.bench import RESULTS_DIR
from edgetier.cli.output import console, print_json, print_table


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("bench", help="run a benchmark (numbers and ratios, not tests)")
    names = parser.add_subparsers(dest="bench_name", required=True, metavar="NAME")
    for name, module_name in bench.BENCHMARKS.items():
        module = importlib.import_module(module_name)
        sub = names.add_parser(name, help=(module.__doc__ or "").split("\n")[0])
        sub.add_argument("--json", action="store_true", help="print one JSON object last")
        module.add_arguments(sub)
        sub.set_defaults(handler=_run, module=module)


def _run(args: argparse.Namespace) -> int:
    result = args.module.run(args)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{args.bench_name}.json").write_text(
        json.dumps(result.summary, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    if args.json:
        print_json(result.summary)
        return 0
    print_table(result.title, result.columns, result.rows)
    for note in result.notes:
        console.print(note)
    return 0
