"""Terminal output shared by the subcommands: rich tables, JSON lines, number formatting."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

# Piped output (scripts, CI logs, README tables) gets wide tables rather than 80 columns.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
#: Progress bars go to stderr, so that `--json` output on stdout stays one parseable object.
progress_console = Console(stderr=True)


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers with `digits` significant digits; None as an em dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"
    return str(value)


def print_table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 3
) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(fmt(cell, digits) for cell in row))
    console.print(table)


def print_json(data: Any) -> None:
    """One JSON object on one line (scripts read the last line)."""
    print(json.dumps(data, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
