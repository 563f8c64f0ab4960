"""`edgetier demo`: the whole idea in a minute, with the pieces that exist so far.

Today: where a request would run and what it would cost on a phone NPU, an edge box and a
data-centre GPU, and how well the model matches published measurements.
"""

from __future__ import annotations

import argparse

from edgetier.output import console, print_table
from npu_sim.predictor import default_predictor
from npu_sim.validation import validate

TOUR = [
    ("ax630c", "qwen2-0.5b", "w8a16"),
    ("ax650n", "qwen2.5-7b", "w8a16"),
    ("ax650n", "qwen2.5-7b", "w4a16"),
    ("ax650n", "llama3-8b", "w8a16"),
    ("a100-80g", "llama3-8b", "fp16"),
    ("h100-pcie-80g", "llama3.1-70b", "fp16"),
    ("ax650n", "llama3.1-70b", "w4a16"),
    ("ax650n", "yolov8s", "w8a8"),
    ("ax650n", "owlvit-b-32", "w8a8"),
]


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser("demo", help="a guided tour of EdgeTier that ends by itself")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    predictor = default_predictor()
    rows = []
    for hardware, model, precision in TOUR:
        p = predictor.predict(hardware, model, precision)
        rows.append(
            [
                hardware,
                model,
                precision,
                p.fits,
                p.ttft_s,
                p.decode_tokens_per_s,
                p.latency_s,
                p.power_w,
                p.energy_j,
            ]
        )
    print_table(
        "One request (128 prompt + 128 output tokens, or one image) on each tier's chip",
        ["hardware", "model", "precision", "fits", "TTFT s", "tokens/s", "latency s", "W", "J"],
        rows,
    )
    errors = validate().median_abs_error
    console.print(
        "Model accuracy, leave-one-out against published measurements: median error "
        + ", ".join(f"{metric} {100 * e:.1f}%" for metric, e in errors.items())
    )
    return 0
