"""Trace replay: the Azure LLM inference traces of 2023 (Splitwise, ISCA 2024; CC-BY 4.0), or
any CSV with the same columns: TIMESTAMP, ContextTokens, GeneratedTokens.

TIMESTAMP is a date and time ("2023-11-16 18:15:46.6805900", any number of fractional digits)
or plain seconds. Arrival times are relative to the earliest row and divided by `speedup`. Each
request gets a model from the scenario's weighted mix and an origin device, both seeded, and
its token counts capped to the model's context when `cap_to_context` (a 14k-token prompt is
legal in the trace but not for a 2k-context model).

The three columns are read once into numpy arrays (24 bytes a row); requests are built as they
are replayed.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fleetsim.scenario import Scenario, Trace
from fleetsim.workload.arrival import (
    CHUNK,
    DEVICES,
    MODELS,
    Arrival,
    draw_devices,
    llm_task,
    new_arrival,
    shaped,
    slo_table,
    stream,
)
from npu_sim.quality import DEFAULT_TASK, TRACE_TASKS
from routing.request import Request

TRACES_DIR = Path(__file__).resolve().parent.parent / "data" / "traces"
#: What each shipped trace records (the keys of npu_sim.quality.TRACE_TASKS).
TRACE_KINDS = {"azure_llm_2023_conv.csv": "conversation", "azure_llm_2023_code.csv": "code"}
COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


class TraceError(ValueError):
    """A trace file that is missing or not in the expected format (names file and row)."""


def resolve(name: str, base_dir: str | Path = "") -> Path:
    """`name` as given, beside the scenario, or among the shipped traces."""
    for candidate in (Path(name), Path(base_dir or ".") / name, TRACES_DIR / name):
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.name for p in TRACES_DIR.glob("*.csv")))
    raise TraceError(f"trace {name!r} not found (beside the scenario or shipped: {shipped})")


def _day_and_seconds(text: str) -> tuple[int, float]:
    """A TIMESTAMP as (day number, seconds into the day), kept apart so that sub-microsecond
    fractions survive: seconds since 1970 as one float would round them. Plain seconds are
    day 0."""
    try:
        return 0, float(text)
    except ValueError:
        pass
    day, _, clock = text.strip().partition(" ")
    hours, minutes, seconds = clock.split(":")
    return dt.date.fromisoformat(day).toordinal(), int(hours) * 3600 + int(minutes) * 60 + float(
        seconds
    )


@functools.lru_cache(maxsize=8)
def read_trace(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seconds since the first arrival, context tokens, generated tokens), by arrival."""
    days: list[int] = []
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TraceError(f"{path}: missing columns {', '.join(missing)}")
        for row_no, row in enumerate(reader, start=2):
            try:
                day, seconds = _day_and_seconds(row["TIMESTAMP"])
                days.append(day)
                times.append(seconds)
                prompts.append(max(1, int(row["ContextTokens"])))
                outputs.append(max(1, int(row["GeneratedTokens"])))
            except (ValueError, TypeError) as exc:
                raise TraceError(f"{path}:{row_no}: {exc}") from None
    if not times:
        raise TraceError(f"{path}: no rows")
    day = np.asarray(days, dtype=np.int64)
    relative = (day - day.min()) * 86_400.0 + np.asarray(times)
    relative -= relative.min()
    order = np.argsort(relative, kind="stable")
    return (
        relative[order],
        np.asarray(prompts, dtype=np.int64)[order],
        np.asarray(outputs, dtype=np.int64)[order],
    )


def trace_task(workload: Trace) -> str:
    """The task family of a trace's LLM requests: the scenario's `task`, else the one the
    shipped trace of that name records (conversation: chat; code: code), else the default."""
    if workload.task is not None:
        return workload.task
    kind = TRACE_KINDS.get(Path(workload.file).name)
    return TRACE_TASKS[kind] if kind is not None else DEFAULT_TASK


def trace_arrivals(scenario: Scenario, workload: Trace, seed: int) -> Iterator[Arrival]:
    times, prompts, outputs = read_trace(resolve(workload.file, scenario.base_dir))
    names = list(workload.models)
    weights = np.array([workload.models[m] for m in names], dtype=float)
    weights /= weights.sum()
    slo = slo_table(scenario, names)
    catalog = scenario.predictor().catalog
    task = trace_task(workload)
    tasks = [llm_task(catalog.model(model), task) for model in names]
    devices = scenario.device_ids(workload.device_group)
    models_rng, devices_rng = stream(seed, MODELS), stream(seed, DEVICES)
    end = scenario.duration_s if scenario.duration_s is not None else math.inf
    count = len(times) if workload.requests is None else min(len(times), workload.requests)
    for first in range(0, count, CHUNK):
        last = min(first + CHUNK, count)
        n = last - first
        which = models_rng.choice(len(names), n, p=weights).tolist()
        origins = draw_devices(devices, workload.devices, devices_rng, first, n)
        at = (times[first:last] / workload.speedup).tolist()
        for i, (t, k, context, generated, origin) in enumerate(
            zip(
                at,
                which,
                prompts[first:last].tolist(),
                outputs[first:last].tolist(),
                origins,
                strict=True,
            )
        ):
            if t > end:
                return
            model = names[k]
            prompt, output = shaped(
                catalog.model(model), context, generated, workload.cap_to_context
            )
            yield new_arrival(
                t,
                Request(f"r{first + i}", model, prompt, output, slo[model], origin, tasks[k]),
            )


def trace_horizon(scenario: Scenario, workload: Trace) -> float:
    times, _, _ = read_trace(resolve(workload.file, scenario.base_dir))
    count = len(times) if workload.requests is None else min(len(times), workload.requests)
    last = float(times[count - 1]) / workload.speedup
    return min(last, scenario.duration_s or math.inf)
