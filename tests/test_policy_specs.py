"""Policy specs (routing.specs): built-ins and users' classes by path, options checked against
the constructor, the file and command-line forms, and the errors a user sees."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetsim.scenario import load_scenario
from npu_sim.datafile import DataFileError
from routing.policies import BUILTINS, Cascade, CloudOnly
from routing.specs import PolicyError, PolicySpec, spec_from_file, with_cli_options
from tests.conftest import REPO

USER_MODULE = '''
from routing.policies import CloudOnly


class EdgeInstead(CloudOnly):
    """A user's policy: cloud-only's code, pointed at the edge."""

    tiers = ("edge",)


class Tuned(CloudOnly):
    def __init__(self, seed: int = 0, spread: int = 2, label: str = "x") -> None:
        super().__init__(seed)
        self.spread = spread
        self.label = label


class NotAPolicy:
    pass
'''


@pytest.fixture
def user_module(tmp_path: Path) -> Iterator[str]:
    """A module `user_policies_<n>` of policies in a folder on the Python path."""
    name = f"user_policies_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def test_a_builtin_by_name_builds_with_its_options_and_labels_them() -> None:
    spec = PolicySpec("cascade", {"threshold": 0.7, "small_model": "qwen2.5-1.5b"})
    policy = spec.build(seed=3)
    assert isinstance(policy, Cascade)
    assert (policy.threshold, policy.small_model, policy.seed) == (0.7, "qwen2.5-1.5b", 3)
    assert spec.label == "cascade(small_model=qwen2.5-1.5b, threshold=0.7)"
    assert PolicySpec("cascade").label == "cascade"


def test_every_builtin_builds_by_name_with_defaults() -> None:
    for name, cls in BUILTINS.items():
        assert type(PolicySpec(name).build()) is cls


def test_an_unknown_name_lists_the_builtins_and_the_path_form() -> None:
    with pytest.raises(
        PolicyError, match=r"unknown policy 'fastest'; built-in: device-first.*:Class"
    ):
        PolicySpec("fastest").build()


def test_an_unknown_option_is_named_with_the_closest_valid_one() -> None:
    with pytest.raises(PolicyError, match=r"unknown option `treshold`; did you mean `threshold`\?"):
        PolicySpec("cascade", {"treshold": 0.7}).build()
    with pytest.raises(PolicyError, match="unknown option `x`; valid options: none"):
        PolicySpec("device-first", {"x": 1}).build()


def test_an_ill_typed_or_out_of_range_option_is_named() -> None:
    with pytest.raises(PolicyError, match=r"option threshold='high': .*number"):
        PolicySpec("cascade", {"threshold": "high"}).build()
    with pytest.raises(PolicyError, match="threshold: a confidence between 0 and 1, got 7"):
        PolicySpec("cascade", {"threshold": 7}).build()
    with pytest.raises(PolicyError, match="small_model: unknown model 'gpt-9'"):
        PolicySpec("cascade", {"small_model": "gpt-9"}).build()
    with pytest.raises(PolicyError, match="small_model: yolov8s is not an LLM"):
        PolicySpec("cascade", {"small_model": "yolov8s"}).build()
    with pytest.raises(PolicyError, match=r"auroc: between 0.5 \(a coin\) and 1"):
        PolicySpec("cascade", {"auroc": 1.2}).build()


def test_a_user_class_by_path_subclassing_a_builtin_runs_its_own_code(user_module: str) -> None:
    policy = PolicySpec(f"{user_module}:EdgeInstead").build()
    assert isinstance(policy, CloudOnly) and policy.tiers == ("edge",)
    tuned = PolicySpec(f"{user_module}:Tuned", {"spread": "3"}).build()
    assert tuned.spread == 3  # validated and converted by the constructor's annotation


def test_bad_paths_say_what_is_wrong(user_module: str) -> None:
    with pytest.raises(PolicyError, match=r"cannot import 'no_such_module'.*PYTHONPATH"):
        PolicySpec("no_such_module:X").build()
    with pytest.raises(PolicyError, match="has no Policy subclass named 'Missing'"):
        PolicySpec(f"{user_module}:Missing").build()
    with pytest.raises(PolicyError, match="has no Policy subclass named 'NotAPolicy'"):
        PolicySpec(f"{user_module}:NotAPolicy").build()


def test_file_entries_take_a_name_or_a_mapping_with_name_or_class_and_options() -> None:
    assert spec_from_file("cloud-only") == PolicySpec("cloud-only")
    assert spec_from_file({"name": "cascade", "options": {"threshold": 0.7}}) == PolicySpec(
        "cascade", {"threshold": 0.7}
    )
    assert spec_from_file({"class": "m:C"}) == PolicySpec("m:C")
    for bad, message in [
        ({"name": "cascade", "class": "m:C"}, "exactly one of name"),
        ({"nme": "cascade"}, r"unknown key `nme`; did you mean `name`\?"),
        ({"class": "module.C"}, "package.module:Class"),
        ({"name": "cascade", "options": [1]}, "options must be a mapping"),
        (3, "a policy is a name, or a mapping"),
    ]:
        with pytest.raises(PolicyError, match=message):
            spec_from_file(bad)
    spec = PolicySpec("cascade", {"threshold": 0.7})
    assert spec_from_file(spec.as_file_entry()) == spec


def test_command_line_options_go_to_the_one_policy_or_the_one_named() -> None:
    one = with_cli_options([PolicySpec("cascade")], ["threshold=0.7", "small_model=qwen2.5-1.5b"])
    assert one == [PolicySpec("cascade", {"threshold": 0.7, "small_model": "qwen2.5-1.5b"})]
    two = [PolicySpec("device-first"), PolicySpec("cascade")]
    assert with_cli_options(two, ["cascade.threshold=0.2"])[1].options == {"threshold": 0.2}
    with pytest.raises(PolicyError, match="several policies are chosen; say which one"):
        with_cli_options(two, ["threshold=0.2"])
    with pytest.raises(PolicyError, match="no chosen policy 'energy-aware'"):
        with_cli_options(two, ["energy-aware.x=1"])
    with pytest.raises(PolicyError, match=r"expected \[POLICY\.\]KEY=VALUE"):
        with_cli_options(two, ["cascade.threshold"])


def test_a_scenario_file_takes_policies_with_options_and_names_the_line_of_a_bad_one(
    tmp_path: Path,
) -> None:
    text = (REPO / "scenarios" / "tiny.yaml").read_text()
    good = tmp_path / "good.yaml"
    good.write_text(
        text + "policies:\n  - device-first\n  - {name: cascade, options: {threshold: 0.7}}\n"
    )
    scenario = load_scenario(good)
    assert [p.label for p in scenario.policies] == ["device-first", "cascade(threshold=0.7)"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "policies:\n  - device-first\n  - {name: cascade, options: {tresh: 1}}\n")
    with pytest.raises(DataFileError) as error:
        load_scenario(bad)
    line = len(text.splitlines()) + 3
    assert f"bad.yaml:{line}: policies.1: policy 'cascade': unknown option `tresh`" in str(
        error.value
    )
