"""`edgetier npu`: the catalogs, one prediction, and the model's validation against measurements."""

from __future__ import annotations

import argparse

from edgetier.cli.argtypes import positive_int
from edgetier.cli.output import console, print_json, print_table
from npu_sim.catalog import default_catalog
from npu_sim.models import LLM
from npu_sim.predictor import DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS, default_predictor
from npu_sim.validation import validate


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    catalog = default_catalog()
    npu = commands.add_parser("npu", help="the calibrated NPU/GPU performance and power model")
    sub = npu.add_subparsers(dest="npu_command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="show the hardware, model and precision catalogs")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=_list)

    predict = sub.add_parser(
        "predict",
        help="predict latency, throughput, power and energy of a model on a chip",
        description="Predict one request, or --batch B identical ones served together (one "
        "after another where the hardware does not batch; decode_tokens_per_s is then the "
        "aggregate rate).",
    )
    predict.add_argument(
        "--hardware", required=True, metavar="HW", choices=sorted(catalog.hardware_by_id)
    )
    predict.add_argument(
        "--model", required=True, metavar="M", choices=sorted(catalog.models_by_id)
    )
    predict.add_argument(
        "--precision", required=True, metavar="P", choices=sorted(catalog.precisions_by_id)
    )
    predict.add_argument("--prompt-tokens", type=positive_int, default=DEFAULT_PROMPT_TOKENS)
    predict.add_argument("--output-tokens", type=positive_int, default=DEFAULT_OUTPUT_TOKENS)
    predict.add_argument("--batch", type=positive_int, default=1)
    predict.add_argument("--json", action="store_true", help="print one JSON object")
    predict.set_defaults(handler=_predict, parser=predict)

    check = sub.add_parser("validate", help="leave-one-out comparison with published measurements")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_validate)


def _list(args: argparse.Namespace) -> int:
    catalog = default_catalog()
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
    try:
        prediction = default_predictor().predict(
            args.hardware,
            args.model,
            args.precision,
            args.prompt_tokens,
            args.output_tokens,
            args.batch,
        )
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


def _validate(args: argparse.Namespace) -> int:
    report = validate()
    if args.json:
        print_json(report.as_dict())
        return 0
    print_table(
        "Leave-one-out: each row predicted with factors fitted without it",
        ["row", "hardware", "model", "precision", "metric", "measured", "predicted", "error %"],
        [
            [
                c.row + 2,
                c.hardware,
                c.model,
                c.precision,
                c.metric,
                c.measured,
                c.predicted,
                None if c.abs_error is None else 100 * c.abs_error,
            ]
            for c in report.comparisons
        ],
        digits=4,
    )
    print_table(
        "Median absolute error per metric",
        ["metric", "median error %"],
        [[metric, 100 * error] for metric, error in report.median_abs_error.items()],
    )
    for missing in report.unmodelled:
        console.print(
            f"not modelled: row {missing.row + 2} {missing.hardware}/{missing.model}: "
            f"{missing.note}"
        )
    return 0
