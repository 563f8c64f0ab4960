"""The physics claims of npu_sim, each against the published figures it rests on."""

from __future__ import annotations

import pytest

from npu_sim.calibration import load_measurements
from npu_sim.predictor import Predictor, load_predictor
from npu_sim.validation import validate
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "chips" / "my-npu.yaml"
#: airockchip/rknn-llm benchmark.md (v1.3.0), RK3576, 128-token prompt: TTFT in seconds at
#: (w4a16, w8a8). The RK3576 is in no calibration row: it is known by its datasheet only.
RK3576_TTFT = {
    "qwen2-0.5b": (0.34237, 0.34427),
    "qwen3-0.6b": (0.46861, 0.46154),
    "tinyllama-1.1b": (0.54368, 0.53413),
    "phi3-mini": (1.82912, 1.61597),
}


@pytest.mark.parametrize("model", sorted(RK3576_TTFT))
def test_npu_w4a16_and_w8a8_ttft_are_about_equal_as_rknn_llm_publishes(model: str) -> None:
    predictor = load_predictor([EXAMPLE])
    w4a16 = predictor.predict("rk3576", model, "w4a16", 128, 64).ttft_s
    w8a8 = predictor.predict("rk3576", model, "w8a8", 128, 64).ttft_s
    published = RK3576_TTFT[model][0] / RK3576_TTFT[model][1]
    assert w4a16 / w8a8 == pytest.approx(published, rel=0.15)


def test_npu_w4a16_and_w8a16_prefill_at_the_same_16_bit_rate(predictor: Predictor) -> None:
    w4a16 = predictor.predict("ax650n", "qwen2.5-7b", "w4a16").ttft_s
    w8a16 = predictor.predict("ax650n", "qwen2.5-7b", "w8a16").ttft_s
    assert w4a16 == pytest.approx(w8a16, rel=1e-9)


def test_ax_llm_prefills_one_whole_128_token_window_for_a_short_prompt_and_two_for_129(
    predictor: Predictor,
) -> None:
    window = predictor.predict("ax630c", "qwen2-0.5b", "w8a16", 128).ttft_s
    assert predictor.predict("ax630c", "qwen2-0.5b", "w8a16", 10).ttft_s == window
    assert predictor.predict("ax630c", "qwen2-0.5b", "w8a16", 129).ttft_s > 1.8 * window


@pytest.mark.parametrize("hardware", ["a100-80g", "h100-pcie-80g", "h100-sxm-80g"])
def test_datacenter_gpu_at_batch_1_draws_well_below_its_tdp_and_more_at_batch_64(
    predictor: Predictor, hardware: str
) -> None:
    tdp = predictor.catalog.hardware(hardware).max_w
    one = predictor.predict(hardware, "llama3.1-8b", "fp16", 634, 400, 1)
    many = predictor.predict(hardware, "llama3.1-8b", "fp16", 634, 400, 64)
    assert one.power_w < 0.7 * tdp
    assert many.power_w > one.power_w * 1.1
    assert many.joules_per_token < one.joules_per_token / 5


BATCHED = [row for row in load_measurements() if row.batch > 1]


def test_batched_gpu_power_and_joules_per_token_are_within_20_percent_of_published() -> None:
    report = validate()
    checked = [
        c for c in report.comparisons if c.batch > 1 and c.metric in ("power_w", "joules_per_token")
    ]
    assert len(checked) == sum(
        (r.power_w is not None) + (r.joules_per_token is not None) for r in BATCHED
    )
    for comparison in checked:
        assert comparison.abs_error is not None and comparison.abs_error <= 0.20, comparison


def test_leave_one_chip_out_errors_are_reported_per_family_and_metric() -> None:
    report = validate()
    families = report.by_family("leave_one_chip_out")
    assert {"axera-npu", "rockchip-npu", "nvidia-gpu"} <= set(families)
    assert set(report.median_abs_error_chip_out) == set(report.median_abs_error)
    assert report.median_abs_error_chip_out["decode_tokens_per_s"] <= 0.25
