"""`edgetier npu ...` and `edgetier bench energy` as a user runs them: real processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LLM_KEYS = {
    "ttft_s",
    "decode_tokens_per_s",
    "latency_s",
    "power_w",
    "energy_j",
    "joules_per_token",
    "fits",
    "memory_bytes",
}


def edgetier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args], capture_output=True, text=True, timeout=120
    )


def test_predict_json_for_an_llm_has_the_documented_keys() -> None:
    done = edgetier(
        "npu",
        "predict",
        "--hardware",
        "ax630c",
        "--model",
        "qwen2-0.5b",
        "--precision",
        "w8a16",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(data) >= LLM_KEYS
    assert data["fits"] is True and data["decode_tokens_per_s"] > 10


def test_predict_json_for_a_vision_model() -> None:
    done = edgetier(
        "npu",
        "predict",
        "--hardware",
        "ax650n",
        "--model",
        "yolov8s",
        "--precision",
        "w8a8",
        "--json",
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"latency_s", "power_w", "energy_j", "fits"} <= set(data)
    assert "ttft_s" not in data


@pytest.mark.parametrize(
    ("option", "bad", "valid"),
    [
        ("--hardware", "ax640", "ax630c"),
        ("--model", "gpt-5", "qwen2-0.5b"),
        ("--precision", "int3", "w4a16"),
    ],
)
def test_unknown_names_exit_2_naming_option_and_valid_values(
    option: str, bad: str, valid: str
) -> None:
    args = {"--hardware": "ax630c", "--model": "qwen2-0.5b", "--precision": "w8a16", option: bad}
    done = edgetier("npu", "predict", *[x for pair in args.items() for x in pair])
    assert done.returncode == 2
    assert option in done.stderr and bad in done.stderr and valid in done.stderr


def test_precision_the_chip_cannot_run_exits_2() -> None:
    done = edgetier(
        "npu", "predict", "--hardware", "ax630c", "--model", "qwen2-0.5b", "--precision", "fp16"
    )
    assert done.returncode == 2 and "--precision" in done.stderr and "int16" in done.stderr


def test_validate_json_reports_median_error_and_rows() -> None:
    done = edgetier("npu", "validate", "--json")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["median_abs_error"]["decode_tokens_per_s"] <= 0.15
    assert data["median_abs_error"]["ttft_s"] <= 0.15
    assert len(data["rows"]) >= 30 and {"measured", "predicted", "abs_error"} <= set(
        data["rows"][0]
    )


def test_list_and_table_outputs_run() -> None:
    listing = edgetier("npu", "list")
    assert (
        listing.returncode == 0 and "ax650n" in listing.stdout and "owlvit-b-32" in listing.stdout
    )
    table = edgetier("npu", "validate")
    assert table.returncode == 0 and "Median absolute error" in table.stdout


def test_bench_energy_prints_json_last_and_compares_with_a100() -> None:
    done = edgetier("bench", "energy", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"ax630c", "ax650n"} <= set(data["median_tokens_per_joule_vs_a100"])
