"""Policy specs: which policy to run and with which options, as files and command lines say it.

A spec names a built-in (`cascade`) or a class by dotted path (`my_pkg.policies:Mine`, a
`Policy` subclass importable from the Python path, as Ray Serve takes request routers), with
keyword options for its constructor. Everything that chooses a policy (`edgetier up`,
`edgetier orchestrator`, `edgetier sim run --policies`, `sim sweep --param policy=...`, stack
and scenario files) goes through `PolicySpec`, so a name, a path and an option are checked in
one place: an unknown option or a value of the wrong type is an error naming it and the valid
ones, before anything runs. A request never loads code: live, it may only name a policy the
orchestrator loaded at start.

In files a spec is a string, or a mapping with `name` (a built-in) or `class` (a path) and
`options`; on the command line it is a name or path, and `--policy-option [POLICY.]KEY=VALUE`.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import pydantic
import yaml

from npu_sim import datafile
from npu_sim.schema_errors import unknown_key_message
from routing.policies import BUILTINS
from routing.policy import Policy

#: The keys of a policy written as a mapping in a file, and what each holds.
FILE_KEYS = {
    "name": "a built-in policy",
    "class": "a Policy subclass on the Python path, as package.module:Class",
    "options": "keyword arguments of its constructor",
}


class PolicyError(ValueError):
    """A policy spec that cannot be loaded; the message says why, in words a user reads."""


@dataclass(frozen=True)
class PolicySpec:
    """A policy and its constructor options. `ref` is a built-in name or `module:Class`."""

    ref: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:  # options is a dict: hash what tells specs apart
        return hash(self.label)

    @property
    def label(self) -> str:
        """The name the policy's results carry (records, summary rows, replies, metrics): its
        ref, with its options when it has any, so two settings of one policy stay apart."""
        if not self.options:
            return self.ref
        return f"{self.ref}({', '.join(f'{k}={v}' for k, v in sorted(self.options.items()))})"

    def as_file_entry(self) -> str | dict[str, Any]:
        """The spec as a file writes it (`spec_from_file` reads it back)."""
        if not self.options:
            return self.ref
        key = "class" if ":" in self.ref else "name"
        return {key: self.ref, "options": dict(self.options)}

    def policy_class(self) -> type[Policy]:
        """The class the spec names: a built-in, or imported from the Python path."""
        if ":" not in self.ref:
            found = BUILTINS.get(self.ref)
            if found is None:
                raise PolicyError(
                    f"unknown policy {self.ref!r}; built-in: {', '.join(BUILTINS)}; or a "
                    "Policy subclass by its path, package.module:Class"
                )
            return found
        module_name, _, class_name = self.ref.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PolicyError(
                f"policy {self.ref!r}: cannot import {module_name!r} ({exc}); is its folder "
                "on PYTHONPATH?"
            ) from None
        found = getattr(module, class_name, None)
        if not (isinstance(found, type) and issubclass(found, Policy)):
            raise PolicyError(
                f"policy {self.ref!r}: {module_name} has no Policy subclass named {class_name!r}"
            )
        if inspect.isabstract(found):
            raise PolicyError(f"policy {self.ref!r}: {class_name} does not implement decide()")
        return found

    def build(self, seed: int = 0) -> Policy:
        """A fresh policy: its options checked against the constructor (names and types),
        `seed` passed when the constructor takes one."""
        cls = self.policy_class()
        accepted = option_types(cls)
        unknown = sorted(set(self.options) - set(accepted))
        if unknown:
            problem = unknown_key_message(unknown[0], accepted, what="option")
            raise PolicyError(f"policy {self.ref!r}: {problem}")
        values: dict[str, Any] = {}
        for key, value in self.options.items():
            try:
                values[key] = datafile.check(accepted[key], value)
            except ValueError as exc:
                raise PolicyError(f"policy {self.ref!r}: option {key}={value!r}: {exc}") from None
        if "seed" in inspect.signature(cls).parameters:
            values["seed"] = seed
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"policy {self.ref!r}: {exc}") from None


def option_types(cls: type[Policy]) -> dict[str, Any]:
    """The options a policy takes: its constructor's keyword parameters (but `seed`), with
    their annotated types (Any where there is none)."""
    hints = typing.get_type_hints(cls.__init__)
    return {
        name: hints.get(name, Any)
        for name, parameter in inspect.signature(cls).parameters.items()
        if name != "seed"
        and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    }


def spec_from_file(entry: Any) -> PolicySpec:
    """A spec as files write it: `name`, or `{name: NAME | class: PATH, options: {...}}`."""
    if isinstance(entry, str):
        return PolicySpec(entry)
    if not isinstance(entry, Mapping):
        raise PolicyError("a policy is a name, or a mapping with name or class and options")
    unknown = sorted(set(entry) - set(FILE_KEYS))
    if unknown:
        raise PolicyError(unknown_key_message(str(unknown[0]), FILE_KEYS))
    if ("name" in entry) == ("class" in entry):
        raise PolicyError("a policy mapping takes exactly one of name (a built-in) or class")
    ref = entry.get("name", entry.get("class"))
    if not isinstance(ref, str) or not ref:
        raise PolicyError("a policy's name or class must be a non-empty string")
    if "class" in entry and ":" not in ref:
        raise PolicyError(f"class {ref!r} must be a path of the form package.module:Class")
    options = entry.get("options") or {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise PolicyError("a policy's options must be a mapping of option names to values")
    return PolicySpec(ref, dict(options))


def _entry(entry: Any) -> PolicySpec:
    try:
        return spec_from_file(entry)
    except PolicyError as exc:
        raise ValueError(str(exc)) from None


#: A policy as a file field: validated into a PolicySpec (its options are checked by `build`).
PolicyEntry = Annotated[
    PolicySpec,
    pydantic.BeforeValidator(_entry),
    pydantic.WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "a built-in's name, or package.module:Class"},
                {
                    "type": "object",
                    "properties": {
                        key: {
                            "type": "object" if key == "options" else "string",
                            "description": text,
                        }
                        for key, text in FILE_KEYS.items()
                    },
                    "additionalProperties": False,
                    "oneOf": [{"required": ["name"]}, {"required": ["class"]}],
                },
            ]
        }
    ),
]


def with_cli_options(specs: list[PolicySpec], options: Iterable[str]) -> list[PolicySpec]:
    """`specs` with `--policy-option [POLICY.]KEY=VALUE` applied (values read as YAML scalars:
    0.7 is a number, qwen2.5-0.5b a string). Without a POLICY prefix an option goes to the one
    policy given; with several, the prefix (a name, path or label) says which."""
    merged = [dict(spec.options) for spec in specs]
    for text in options:
        target, key, value = _parse_option(text)
        if target is None:
            if len(specs) != 1:
                raise PolicyError(
                    f"--policy-option {text}: several policies are chosen; say which one as "
                    "POLICY.KEY=VALUE"
                )
            index = 0
        else:
            found = [i for i, spec in enumerate(specs) if target in (spec.ref, spec.label)]
            if not found:
                raise PolicyError(
                    f"--policy-option {text}: no chosen policy {target!r}; chosen: "
                    + ", ".join(spec.label for spec in specs)
                )
            index = found[0]
        merged[index][key] = value
    return [PolicySpec(spec.ref, opts) for spec, opts in zip(specs, merged, strict=True)]


def _parse_option(text: str) -> tuple[str | None, str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise PolicyError(f"--policy-option {text!r}: expected [POLICY.]KEY=VALUE")
    target, dot, key = name.strip().rpartition(".")
    if not key.isidentifier():
        raise PolicyError(f"--policy-option {text!r}: {key!r} is not an option name")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return (target if dot else None), key, value


def unique_labels(specs: Iterable[PolicySpec]) -> list[PolicySpec]:
    """`specs`, refusing two with the same label (their results would mix)."""
    found: list[PolicySpec] = []
    for spec in specs:
        if any(spec.label == other.label for other in found):
            raise PolicyError(f"policy {spec.label!r} is chosen twice")
        found.append(spec)
    return found
