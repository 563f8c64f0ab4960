"""Catalog files users bring: a chip and a model from a datasheet; clear errors for bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from npu_sim.catalog import DATA_DIR, default_catalog, load_catalog
from npu_sim.datafile import DataFileError
from npu_sim.families import load_families
from npu_sim.predictor import Predictor, load_predictor
from npu_sim.validation import HELD_OUT_CHIPS
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "chips" / "my-npu.yaml"


def _shipped_entry(chip: str) -> dict:
    return yaml.safe_load((DATA_DIR / "hardware.yaml").read_text())[chip]


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _line_of_error(message: str, path: Path) -> str:
    """The text of the file line an error message points at (`path:LINE: ...`)."""
    line = int(message.split(f"{path}:")[1].split(":", maxsplit=1)[0])
    return path.read_text().splitlines()[line - 1]


def test_example_file_adds_a_chip_and_a_model_that_predictor_can_use() -> None:
    predictor = load_predictor([EXAMPLE])
    prediction = predictor.predict("rk3576", "qwen3-1.7b", "w4a16")
    assert prediction.fits and prediction.ttft_s > 0 and prediction.decode_tokens_per_s > 0
    assert predictor.predict("rk3576", "qwen2-0.5b", "w8a8").fits  # shipped model, user chip
    assert predictor.predict("ax650n", "qwen3-1.7b", "w8a16").fits  # user model, shipped chip
    assert "rk3576" not in default_catalog().hardware_by_id  # the shipped catalog is untouched


def test_a_chip_from_a_user_file_predicts_exactly_like_the_same_chip_in_another_file(
    tmp_path: Path,
) -> None:
    # The Jetson Orin NX is in no calibration row (it is a held-out chip): it predicts from its
    # family's factors, exactly as a copy of it under another name in another file must.
    held_out = yaml.safe_load(HELD_OUT_CHIPS.read_text())["hardware"]
    path = _write(tmp_path / "mine.yaml", {"hardware": {"my-orin": held_out["jetson-orin-nx-16g"]}})
    mine = Predictor.for_catalog(load_catalog([path]))
    theirs = Predictor.for_catalog(load_catalog([HELD_OUT_CHIPS]))
    for model, precision in [("llama3.1-8b", "w4a16"), ("yolov8s", "w8a8")]:
        a = mine.predict("my-orin", model, precision, 300, 50, 4).as_dict()
        b = theirs.predict("jetson-orin-nx-16g", model, precision, 300, 50, 4).as_dict()
        assert {k: v for k, v in a.items() if k != "hardware"} == {
            k: v for k, v in b.items() if k != "hardware"
        }


def test_an_id_the_catalog_already_has_is_an_error_naming_file_line_and_field(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "clash.yaml", {"hardware": {"ax630c": _shipped_entry("ax630c")}})
    with pytest.raises(DataFileError) as caught:
        load_catalog([path])
    message = str(caught.value)
    assert f"{path}:" in message and "hardware.ax630c" in message and "hardware.yaml" in message
    assert _line_of_error(message, path).strip() == "ax630c:"  # the entry's key


def test_an_id_defined_by_two_user_files_names_both(tmp_path: Path) -> None:
    entry = {"hardware": {"npu-x": {**_shipped_entry("rk3588"), "name": "X"}}}
    first, second = _write(tmp_path / "a.yaml", entry), _write(tmp_path / "b.yaml", entry)
    with pytest.raises(DataFileError) as caught:
        load_catalog([first, second])
    message = str(caught.value)
    assert message.startswith(f"{second}:") and str(first) in message and "npu-x" in message


def test_an_unknown_key_is_an_error_suggesting_the_closest_valid_key(tmp_path: Path) -> None:
    entry = _shipped_entry("rk3588")
    entry["memroy_gib"] = entry.pop("memory_gib")
    path = _write(tmp_path / "typo.yaml", {"hardware": {"my-npu": entry}})
    with pytest.raises(DataFileError) as caught:
        load_catalog([path])
    message = str(caught.value)
    assert "unknown key `memroy_gib`; did you mean `memory_gib`?" in message
    assert "hardware.my-npu.memory_gib: required, but not given" in message
    unknown = next(line for line in message.splitlines() if "unknown key" in line)
    assert _line_of_error(unknown, path).strip().startswith("memroy_gib:")


def test_an_unknown_top_level_section_is_an_error_suggesting_the_valid_one(tmp_path: Path) -> None:
    path = _write(tmp_path / "top.yaml", {"hardwares": {}})
    with pytest.raises(DataFileError, match=r"unknown key `hardwares`; did you mean `hardware`\?"):
        load_catalog([path])


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("memory_gib", "8 GB", "must be a number, got '8 GB'"),
        ("memory_bandwidth_gbs", -17, "must be a number > 0, got -17"),
        ("tier", "fog", "must be one of 'device', 'edge' or 'cloud', got 'fog'"),
    ],
)
def test_a_bad_value_is_an_error_naming_file_line_and_field(
    tmp_path: Path, field: str, value: object, complaint: str
) -> None:
    path = _write(
        tmp_path / "bad.yaml", {"hardware": {"my-npu": {**_shipped_entry("rk3588"), field: value}}}
    )
    with pytest.raises(DataFileError) as caught:
        load_catalog([path])
    message = str(caught.value)
    assert f"hardware.my-npu.{field}" in message and complaint in message
    assert _line_of_error(message, path).strip().startswith(f"{field}:")


def test_a_missing_model_field_is_an_error_naming_file_line_and_field(tmp_path: Path) -> None:
    model = yaml.safe_load(EXAMPLE.read_text())["models"]["llm"]["qwen3-1.7b"]
    del model["vocab"]
    path = _write(tmp_path / "model.yaml", {"models": {"llm": {"my-llm": model}}})
    with pytest.raises(
        DataFileError, match=r"model\.yaml:\d+: models\.llm\.my-llm\.vocab: required, but not given"
    ):
        load_catalog([path])


def test_an_unknown_family_is_an_error_listing_the_valid_ones(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "fam.yaml",
        {"hardware": {"my-npu": {**_shipped_entry("rk3588"), "family": "hailo"}}},
    )
    with pytest.raises(DataFileError) as caught:
        load_catalog([path])
    message = str(caught.value)
    assert "hardware.my-npu.family: unknown family 'hailo'" in message
    assert all(name in message for name in load_families())


@pytest.mark.parametrize(("family", "template"), [("npu", "rk3588"), ("gpu", "a100-80g")])
def test_a_chip_of_a_generic_family_predicts_with_that_kinds_fitted_factors(
    tmp_path: Path, family: str, template: str
) -> None:
    path = _write(
        tmp_path / "g.yaml",
        {"hardware": {"new-chip": {**_shipped_entry(template), "family": family}}},
    )
    predictor = Predictor.for_catalog(load_catalog([path]))
    factors = predictor.factors["new-chip"]
    assert factors.kind == family and factors.source.startswith(f"kind {family}")
    prediction = predictor.predict(
        "new-chip", "qwen2.5-1.5b", "w8a8" if family == "npu" else "fp16"
    )
    assert prediction.fits and prediction.ttft_s > 0 and prediction.decode_tokens_per_s > 0


def _edgetier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args], capture_output=True, text=True, timeout=120
    )


def test_npu_predict_takes_a_catalog_file_and_a_bad_one_exits_2_naming_file_and_line(
    tmp_path: Path,
) -> None:
    args = ["--hardware", "rk3576", "--model", "qwen3-1.7b", "--precision", "w4a16", "--json"]
    done = _edgetier("npu", "predict", "--catalog", str(EXAMPLE), *args)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["hardware"] == "rk3576"
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("memory_gib:", "memory_gb:"))
    done = _edgetier("npu", "predict", "--catalog", str(bad), *args)
    assert done.returncode == 2 and "--catalog" in done.stderr and f"{bad}:" in done.stderr
    assert "did you mean `memory_gib`?" in done.stderr
