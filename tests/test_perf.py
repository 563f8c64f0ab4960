"""The performance and power model: the seed's claims, physical properties, and accuracy."""

from __future__ import annotations

import filecmp

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npu_sim.calibration import MEASUREMENTS_CSV
from npu_sim.catalog import default_catalog
from npu_sim.models import LLM
from npu_sim.predictor import Predictor, default_predictor
from npu_sim.validation import validate
from tests.conftest import SHARED

CATALOG = default_catalog()
LLM_IDS = sorted(m.id for m in CATALOG.models_by_id.values() if isinstance(m, LLM))
RUNS = sorted(
    (hw.id, model, precision.name)
    for hw in CATALOG.hardware_by_id.values()
    for model in LLM_IDS
    for precision in CATALOG.precisions_by_id.values()
    if hw.compute_rate(precision) is not None
)
#: Every seventh run at batch 8, split by whether the model fits: the batching test runs on the
#: first list, the misfit test on the second, so no test passes without checking something.
BATCH_RUNS = RUNS[::7]
FIT_AT_BATCH_8 = [r for r in BATCH_RUNS if default_predictor().predict(*r, batch=8).fits]
MISFIT_AT_BATCH_8 = [r for r in BATCH_RUNS if r not in FIT_AT_BATCH_8]


def test_ax630c_runs_qwen2_0_5b_above_10_tokens_per_s_at_1_to_2_watts(predictor: Predictor) -> None:
    prediction = predictor.predict("ax630c", "qwen2-0.5b", "w8a16")
    assert prediction.decode_tokens_per_s is not None and prediction.decode_tokens_per_s > 10
    assert prediction.power_w is not None and 1.0 <= prediction.power_w <= 2.0


def test_int4_decodes_about_twice_as_fast_as_int8_on_ax650n(predictor: Predictor) -> None:
    int8 = predictor.predict("ax650n", "qwen2.5-7b", "w8a16").decode_tokens_per_s
    int4 = predictor.predict("ax650n", "qwen2.5-7b", "w4a16").decode_tokens_per_s
    assert int8 and int4 and 1.6 <= int4 / int8 <= 2.2


def test_llama3_8b_fits_ax650n_and_llama3_1_70b_fits_no_npu(predictor: Predictor) -> None:
    assert predictor.predict("ax650n", "llama3-8b", "w8a16").fits
    for hardware in ("ax630c", "ax650n"):
        for precision in ("int16", "w8a16", "w8a8", "w4a16", "w2a16"):
            prediction = predictor.predict(hardware, "llama3.1-70b", precision)
            assert not prediction.fits
            assert prediction.latency_s is None and "does not fit" in prediction.memory


def test_leave_one_out_error_is_within_10_percent_for_llms_and_15_for_vision() -> None:
    errors = validate().median_abs_error
    assert errors["decode_tokens_per_s"] <= 0.10
    assert errors["ttft_s"] <= 0.10
    assert errors["latency_s"] <= 0.15


def test_packaged_calibration_set_equals_shared_original() -> None:
    original = SHARED / "data" / "npu_measurements.csv"
    if not original.exists():
        pytest.skip("../shared is not beside this checkout")
    assert filecmp.cmp(original, MEASUREMENTS_CSV, shallow=False), (
        "npu_sim/data/npu_measurements.csv differs from ../shared/data/npu_measurements.csv: "
        "copy the shared file over"
    )


@settings(max_examples=150, deadline=None)
@given(
    run=st.sampled_from(RUNS),
    prompt=st.integers(1, 2000),
    output=st.integers(1, 1000),
    extra_prompt=st.integers(1, 500),
    extra_output=st.integers(1, 500),
)
def test_time_and_energy_grow_with_tokens(
    predictor: Predictor,
    run: tuple[str, str, str],
    prompt: int,
    output: int,
    extra_prompt: int,
    extra_output: int,
) -> None:
    base = predictor.predict(*run, prompt, output)
    longer_prompt = predictor.predict(*run, prompt + extra_prompt, output)
    longer_output = predictor.predict(*run, prompt, output + extra_output)
    assume(base.fits and longer_prompt.fits and longer_output.fits)
    for bigger in (longer_prompt, longer_output):
        assert bigger.latency_s >= base.latency_s
        assert bigger.energy_j >= base.energy_j


@settings(max_examples=150, deadline=None)
@given(
    run=st.sampled_from(RUNS),
    prompt=st.integers(1, 4000),
    output=st.integers(1, 2000),
    batch=st.integers(1, 16),
)
def test_energy_is_at_least_idle_power_times_time(
    predictor: Predictor, run: tuple[str, str, str], prompt: int, output: int, batch: int
) -> None:
    prediction = predictor.predict(*run, prompt, output, batch)
    assume(prediction.fits)
    idle = CATALOG.hardware(run[0]).idle_w
    assert prediction.energy_j >= idle * prediction.latency_s * (1 - 1e-12)
    assert prediction.power_w <= CATALOG.hardware(run[0]).max_w * (1 + 1e-12)


def _no_wider(low: str, high: str) -> bool:
    a, b = CATALOG.precision(low), CATALOG.precision(high)
    return (
        a.weight_bytes <= b.weight_bytes
        and a.head_weight_bytes <= b.head_weight_bytes
        and a.activation_bytes <= b.activation_bytes
        and low != high
    )


@settings(max_examples=150, deadline=None)
@given(
    run=st.sampled_from(RUNS),
    other=st.sampled_from(sorted(CATALOG.precisions_by_id)),
    prompt=st.integers(1, 2000),
)
def test_lower_precision_never_decodes_slower(
    predictor: Predictor, run: tuple[str, str, str], other: str, prompt: int
) -> None:
    hardware, model, precision = run
    assume(_no_wider(other, precision))
    assume(CATALOG.hardware(hardware).compute_rate(CATALOG.precision(other)) is not None)
    high = predictor.predict(hardware, model, precision, prompt)
    assume(high.fits)
    low = predictor.predict(hardware, model, other, prompt)
    assert low.fits
    assert low.decode_tokens_per_s >= high.decode_tokens_per_s * (1 - 1e-9)


@pytest.mark.parametrize("run", FIT_AT_BATCH_8)
def test_batch_8_decodes_at_least_as_fast_as_batch_1(
    predictor: Predictor, run: tuple[str, str, str]
) -> None:
    one = predictor.predict(*run, batch=1)
    eight = predictor.predict(*run, batch=8)
    assert eight.decode_tokens_per_s >= one.decode_tokens_per_s


@pytest.mark.parametrize("run", MISFIT_AT_BATCH_8)
def test_runs_that_do_not_fit_at_batch_8_are_reported_as_misfits_without_times(
    predictor: Predictor, run: tuple[str, str, str]
) -> None:
    prediction = predictor.predict(*run, batch=8)
    assert not prediction.fits and "does not fit" in prediction.memory
    assert prediction.latency_s is None and prediction.energy_j is None
