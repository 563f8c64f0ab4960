"""`edgetier dashboards`: regenerate the Grafana dashboards from code, or check they are fresh."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgetier.cli.output import console, print_json


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dashboards = commands.add_parser("dashboards", help="the generated Grafana dashboards")
    sub = dashboards.add_subparsers(dest="dashboards_command", required=True, metavar="COMMAND")

    build = sub.add_parser(
        "build",
        help="regenerate deploy/grafana/dashboards/*.json from deploy/grafana/*.py",
        description="Regenerate the dashboards' JSON, or with --check only compare it with "
        "the committed files (exit status 1 if any is stale).",
    )
    build.add_argument("--check", action="store_true", help="fail if the committed JSON is stale")
    build.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="where the JSON files are (default: deploy/grafana/dashboards, what Grafana loads)",
    )
    build.set_defaults(handler=_build)

    queries = sub.add_parser(
        "queries", help="every panel's PromQL, variables at 'All', to paste into Prometheus"
    )
    queries.add_argument("--json", action="store_true", help="print one JSON array")
    queries.set_defaults(handler=_queries)


def _build(args: argparse.Namespace) -> int:
    from deploy.grafana import DASHBOARDS_DIR, dashboards

    directory = args.output or DASHBOARDS_DIR
    try:
        if args.check:
            stale = dashboards.stale(directory)
            if stale:
                print(
                    f"stale dashboards: {', '.join(stale)}; run: edgetier dashboards build",
                    file=sys.stderr,
                )
                return 1
            console.print("dashboards are up to date")
            return 0
        for path in dashboards.write(directory):
            console.print(f"wrote {path}")
    except ModuleNotFoundError as exc:  # the SDK is in the dev extra
        print(
            f"edgetier dashboards build needs {exc.name}: pip install -e '.[dev]'", file=sys.stderr
        )
        return 2
    return 0


def _queries(args: argparse.Namespace) -> int:
    from deploy.grafana.dashboards import panel_queries

    rows = panel_queries()
    if args.json:
        print_json([{"dashboard": d, "panel": p, "expr": e} for d, p, e in rows])
        return 0
    for dashboard, panel, expr in rows:
        console.print(f"{dashboard} / {panel}", style="bold", markup=False)
        print(expr)
    return 0
