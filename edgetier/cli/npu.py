"""`edgetier npu`: the catalogs, one prediction, and the model's validation against measurements."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from edgetier.argtypes import positive_int
from edgetier.cli.catalogs import add_catalog_argument, predictor_from_args
from edgetier.cli.output import console, print_json, print_table
from npu_sim.catalog import UnknownNameError, default_catalog
from npu_sim.models import LLM
from npu_sim.predictor import (
    DEFAULT_OUTPUT_TOKENS,
    DEFAULT_PROMPT_TOKENS,
)
from npu_sim.validation import METHODS, Comparison, ValidationReport, validate


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    catalog = default_catalog()
    npu = commands.add_parser("npu", help="the calibrated NPU/GPU performance and power model")
    sub = npu.add_subparsers(dest="npu_command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="show the hardware, model and precision catalogs")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_catalog_argument(listing)
    listing.set_defaults(handler=_list)

    predict = sub.add_parser(
        "predict",
        help="predict latency, throughput, power and energy of a model on a chip",
        description="Predict one request, or --batch B identical ones served together (one "
        "after another where the hardware does not batch; decode_tokens_per_s is then the "
        "aggregate rate).",
    )
    predict.add_argument(
        "--hardware", required=True, metavar="HW", help=_shipped(catalog.hardware_by_id)
    )
    predict.add_argument("--model", required=True, metavar="M", help=_shipped(catalog.models_by_id))
    predict.add_argument(
        "--precision", required=True, metavar="P", help=", ".join(sorted(catalog.precisions_by_id))
    )
    predict.add_argument("--prompt-tokens", type=positive_int, default=DEFAULT_PROMPT_TOKENS)
    predict.add_argument("--output-tokens", type=positive_int, default=DEFAULT_OUTPUT_TOKENS)
    predict.add_argument("--batch", type=positive_int, default=1)
    predict.add_argument("--json", action="store_true", help="print one JSON object")
    add_catalog_argument(predict)
    predict.set_defaults(handler=_predict)

    check = sub.add_parser(
        "validate",
        help="leave-one-out and leave-one-chip-out comparison with published measurements",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    add_catalog_argument(check)
    check.set_defaults(handler=_validate)


def _shipped(ids: Iterable[str]) -> str:
    return "shipped: " + ", ".join(sorted(ids)) + " (and the --catalog files' ids)"


def _list(args: argparse.Namespace) -> int:
    catalog = predictor_from_args(args).catalog
    if args.json:
        print_json(
            {
                "hardware": {k: vars(v) for k, v in catalog.hardware_by_id.items()},
                "models": {k: {**vars(v), "kind": v.kind} for k, v in catalog.models_by_id.items()},
                "precisions": {k: vars(v) for k, v in catalog.precisions_by_id.items()},
            }
        )
        return 0
    print_table(
        "Hardware",
        [
            "id",
            "tier",
            "family",
            "peak TOPS",
            "memory GiB",
            "bandwidth GB/s",
            "idle W",
            "max W",
            "batches",
        ],
        [
            [
                h.id,
                h.tier,
                h.family,
                ", ".join(f"{k} {v:g}" for k, v in h.peak_tops.items()),
                h.memory_gib,
                h.memory_bandwidth_gbs,
                h.idle_w,
                h.max_w,
                h.batching,
            ]
            for h in catalog.hardware_by_id.values()
        ],
    )
    llms = [m for m in catalog.models_by_id.values() if isinstance(m, LLM)]
    print_table(
        "LLMs (parameters derived from the architecture)",
        ["id", "params (B)", "layers", "hidden", "heads", "kv heads", "vocab", "context"],
        [
            [m.id, m.params / 1e9, m.layers, m.hidden, m.heads, m.kv_heads, m.vocab, m.max_context]
            for m in llms
        ],
    )
    print_table(
        "Vision models (per image)",
        ["id", "task", "params (M)", "GFLOPs", "resolution"],
        [
            [m.id, m.task, m.params / 1e6, m.flops / 1e9, m.resolution]
            for m in catalog.models_by_id.values()
            if not isinstance(m, LLM)
        ],
    )
    print_table(
        "Precisions",
        ["id", "bytes/weight", "head bytes/weight", "activation bytes", "compute rate"],
        [
            [
                p.name,
                p.weight_bytes,
                p.head_weight_bytes,
                p.activation_bytes,
                " or ".join(p.compute),
            ]
            for p in catalog.precisions_by_id.values()
        ],
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    predictor = predictor_from_args(args)
    try:
        prediction = predictor.predict(
            args.hardware,
            args.model,
            args.precision,
            args.prompt_tokens,
            args.output_tokens,
            args.batch,
        )
    except UnknownNameError as exc:
        args.parser.error(f"argument --{exc.kind}: {exc}")
    except ValueError as exc:  # the chip has no compute rate for this precision
        args.parser.error(f"argument --precision: {exc}")
    if args.json:
        print_json(prediction.as_dict())
        return 0
    data = prediction.as_dict()
    print_table(
        f"{args.model} on {args.hardware} at {args.precision}",
        ["quantity", "value"],
        [[key, value] for key, value in data.items() if key not in ("kind",)],
        digits=4,
    )
    if not prediction.fits:
        console.print(f"[bold red]{prediction.memory}[/]")
    return 0


COLUMNS = ["row", "hardware", "model", "precision", "batch", "metric", "measured"]
COLUMNS += ["LOO", "LOO %", "LOCO", "LOCO %"]


def _validate(args: argparse.Namespace) -> int:
    report = validate(predictor_from_args(args).catalog)
    if args.json:
        print_json(report.as_dict())
        return 0
    chip_out = {(c.row, c.metric): c for c in report.chip_out}
    print_table(
        "Each row predicted by a model fitted without it (leave-one-out) and without any row "
        "of its chip (leave-one-chip-out)",
        COLUMNS,
        [
            [
                c.where,
                c.hardware,
                c.model,
                c.precision,
                c.batch,
                c.metric,
                c.measured,
                c.predicted,
                _percent(c.abs_error),
                chip_out[(c.row, c.metric)].predicted,
                _percent(chip_out[(c.row, c.metric)].abs_error),
            ]
            for c in report.comparisons
        ],
        digits=4,
    )
    print_table(
        "Held-out chips (in no calibration row), predicted from their datasheets",
        ["row", "hardware", "model", "precision", "metric", "measured", "predicted", "%"],
        [_held_out_row(c) for c in report.held_out],
        digits=4,
    )
    _print_medians(report)
    for missing in report.unmodelled:
        console.print(
            f"not modelled: {missing.where} {missing.hardware}/{missing.model}: {missing.note}"
        )
    return 0


def _held_out_row(c: Comparison) -> list[object]:
    row: list[object] = [c.where, c.hardware, c.model, c.precision, c.metric, c.measured]
    return [*row, c.predicted, _percent(c.abs_error)]


def _percent(error: float | None) -> float | None:
    return None if error is None else 100 * error


def _print_medians(report: ValidationReport) -> None:
    overall = {method: report.medians(method) for method in METHODS}
    metrics = sorted(set().union(*overall.values()))
    print_table(
        "Median absolute error per metric, %",
        ["method", *metrics],
        [[method, *(_percent(overall[method].get(m)) for m in metrics)] for method in METHODS],
    )
    rows = []
    for method in METHODS:
        for family, errors in report.by_family(method).items():
            rows.append([method, family, *(_percent(errors.get(m)) for m in metrics)])
    print_table(
        "Median absolute error per family and metric, %", ["method", "family", *metrics], rows
    )
