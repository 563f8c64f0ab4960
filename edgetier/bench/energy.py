"""`edgetier bench energy`: tokens/s and joules/token of every LLM on every chip it fits.

Checks the vendors' claim that edge NPUs are ten times as energy-efficient as a GPU: for each
NPU row, the ratio of its tokens per joule to the A100's for the same model (FP16, batch 1, the
same request: 128 prompt tokens, 128 output tokens), and to the A100's at batch 32, where a
data-centre GPU actually runs.
"""

from __future__ import annotations

import argparse
import statistics

from edgetier.argtypes import positive_int
from edgetier.bench import BenchResult
from npu_sim.models import LLM
from npu_sim.predictor import Prediction, default_predictor

REFERENCE = "a100-80g"
PRECISIONS = ("fp16", "w8a16", "w4a16")
GPU_BATCH = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt-tokens", type=positive_int, default=128)
    parser.add_argument("--output-tokens", type=positive_int, default=128)


def _tokens_per_joule(prediction: Prediction) -> float:
    assert prediction.joules_per_token is not None
    return 1.0 / prediction.joules_per_token


def run(args: argparse.Namespace) -> BenchResult:
    predictor = default_predictor()
    catalog = predictor.catalog
    llms = [m.id for m in catalog.models_by_id.values() if isinstance(m, LLM)]
    shape = (args.prompt_tokens, args.output_tokens)
    reference = {}
    for model in llms:
        single = predictor.predict(REFERENCE, model, "fp16", *shape)
        batched = predictor.predict(REFERENCE, model, "fp16", *shape, batch=GPU_BATCH)
        if single.fits and batched.fits:
            reference[model] = (_tokens_per_joule(single), _tokens_per_joule(batched))
    rows, ratios = [], {}
    for hardware in catalog.hardware_by_id.values():
        for model in llms:
            for precision in PRECISIONS:
                if hardware.compute_rate(catalog.precision(precision)) is None:
                    continue
                if hardware.tier == "cloud" and precision != "fp16":
                    continue
                prediction = predictor.predict(hardware.id, model, precision, *shape)
                if not prediction.fits:
                    continue
                tpj = _tokens_per_joule(prediction)
                vs_b1, vs_b32 = (
                    (tpj / reference[model][0], tpj / reference[model][1])
                    if model in reference
                    else (None, None)
                )
                if hardware.tier != "cloud" and vs_b1 is not None:
                    ratios.setdefault(hardware.id, []).append(vs_b1)
                rows.append(
                    [
                        hardware.id,
                        model,
                        precision,
                        prediction.decode_tokens_per_s,
                        prediction.power_w,
                        prediction.joules_per_token,
                        vs_b1,
                        vs_b32,
                    ]
                )
    summary = {
        "median_tokens_per_joule_vs_a100": {hw: statistics.median(r) for hw, r in ratios.items()},
        "rows": [dict(zip(COLUMNS, row, strict=True)) for row in rows],
    }
    notes = [
        f"x A100 = tokens per joule relative to {REFERENCE} at FP16 for the same model "
        f"(batch 1, and batch {GPU_BATCH}); {shape[0]} prompt + {shape[1]} output tokens."
    ]
    return BenchResult("Energy per token, batch 1", COLUMNS, rows, summary, notes)


COLUMNS = [
    "hardware",
    "model",
    "precision",
    "tokens/s",
    "power W",
    "J/token",
    "x A100 b1",
    f"x A100 b{GPU_BATCH}",
]
