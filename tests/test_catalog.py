"""The catalogs load, hold what the issues name, derive sizes right and reject bad files clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from npu_sim.calibration import with_calibration_models
from npu_sim.catalog import DATA_DIR, UnknownNameError, default_catalog, load_catalog
from npu_sim.datafile import DataFileError
from npu_sim.models import LLM
from npu_sim.validation import HELD_OUT_CHIPS

HARDWARE = [
    "ax630c",
    "ax650n",
    "rk3588",
    "jetson-orin-nano-super",
    "jetson-agx-orin-64g",
    "a100-80g",
    "h100-pcie-80g",
]
LLMS = [
    "qwen2-0.5b",
    "qwen2-1.5b",
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "qwen2.5-3b",
    "qwen2.5-7b",
    "qwen2.5-72b",
    "qwen3-0.6b",
    "tinyllama-1.1b",
    "llama3.2-1b",
    "llama3.2-3b",
    "llama3-8b",
    "llama3.1-8b",
    "llama3.1-70b",
    "llama2-7b",
    "phi3-mini",
]
VISION = ["yolov5s", "yolov8s", "vit-b-16", "clip-vit-b-16", "owlvit-b-32"]
PRECISIONS = ["fp16", "int16", "w8a16", "w8a8", "w4a16", "w2a16"]


def test_catalog_holds_every_named_entry() -> None:
    catalog = default_catalog()
    assert set(HARDWARE) <= set(catalog.hardware_by_id)
    assert set(LLMS + VISION) <= set(catalog.models_by_id)
    assert set(PRECISIONS) <= set(catalog.precisions_by_id)
    for hardware in catalog.hardware_by_id.values():
        assert hardware.sources["peak_tops"] and hardware.sources["memory_bandwidth_gbs"]


@pytest.mark.parametrize("model_id", LLMS)
def test_llm_sizes_are_derived_from_architecture(model_id: str) -> None:
    model = default_catalog().model(model_id)
    assert isinstance(model, LLM)
    assert model.params == pytest.approx(model.published_params, rel=0.03)


CALIBRATION_LLMS = ["phi3.5-mini", "gemma2-2b", "gemma2-9b"]


@pytest.mark.parametrize("model_id", CALIBRATION_LLMS)
def test_calibration_only_llm_sizes_are_derived_from_architecture(model_id: str) -> None:
    model = with_calibration_models(default_catalog()).model(model_id)
    assert isinstance(model, LLM)
    assert model.params == pytest.approx(model.published_params, rel=0.03)


def test_calibration_only_models_stay_out_of_the_serving_catalog() -> None:
    # The serving catalog offers only models with quality figures; calibration rows may use more.
    assert not set(CALIBRATION_LLMS) & set(default_catalog().models_by_id)


def test_held_out_chips_name_the_source_of_their_peak_and_bandwidth() -> None:
    for hardware in load_catalog([HELD_OUT_CHIPS]).hardware_by_id.values():
        assert hardware.sources["peak_tops"] and hardware.sources["memory_bandwidth_gbs"]


def test_unknown_name_lists_valid_ids() -> None:
    with pytest.raises(UnknownNameError) as caught:
        default_catalog().hardware("ax640")
    assert "ax630c" in str(caught.value) and "ax640" in str(caught.value)


def _catalog_copy(tmp_path: Path) -> Path:
    for name in ("hardware.yaml", "models.yaml", "precisions.yaml"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def test_bad_field_is_named_with_file_and_line(tmp_path: Path) -> None:
    folder = _catalog_copy(tmp_path)
    path = folder / "hardware.yaml"
    path.write_text(path.read_text().replace("memory_gib: 4\n", "memory_gib: four\n", 1))
    with pytest.raises(DataFileError) as caught:
        load_catalog(data_dir=folder)
    message = str(caught.value)
    assert "hardware.yaml:" in message and "ax630c.memory_gib" in message
    line = int(message.split("hardware.yaml:")[1].split(":", maxsplit=1)[0])
    assert "memory_gib: four" in path.read_text().splitlines()[line - 1]


def test_missing_field_and_missing_source_are_rejected(tmp_path: Path) -> None:
    folder = _catalog_copy(tmp_path)
    path = folder / "models.yaml"
    path.write_text(path.read_text().replace("layers: 24, ", "", 1))
    with pytest.raises(DataFileError, match=r"llm\.qwen2-0\.5b\.layers: required, but not given"):
        load_catalog(data_dir=folder)
    folder = _catalog_copy(tmp_path)
    path = folder / "hardware.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("    idle_w: estimated (not published); a third", "    #: a third", 1)
    )
    with pytest.raises(DataFileError, match=r"ax630c: .*missing \['idle_w'\]"):
        load_catalog(data_dir=folder)
    path.write_text(
        text.replace("    idle_w: estimated (not published); a third", "    idle: a third", 1)
    )
    with pytest.raises(
        DataFileError, match=r"ax630c\.sources\.idle: unknown key `idle`; did you mean `idle_w`\?"
    ):
        load_catalog(data_dir=folder)


def test_invalid_yaml_and_missing_file_are_reported(tmp_path: Path) -> None:
    folder = _catalog_copy(tmp_path)
    (folder / "precisions.yaml").write_text("fp16: {weight_bytes: [\n")
    with pytest.raises(DataFileError, match=r"precisions\.yaml: not valid YAML"):
        load_catalog(data_dir=folder)
    (folder / "precisions.yaml").unlink()
    with pytest.raises(DataFileError, match=r"precisions\.yaml: cannot read"):
        load_catalog(data_dir=folder)
