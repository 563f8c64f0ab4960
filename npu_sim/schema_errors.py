"""pydantic's validation errors as sentences a user reads: the one place that translates them.

pydantic reports `{"type": "greater_than", "loc": ("workload", "poisson", "mix", 0,
"prompt_tokens", "constrained-int"), "msg": "Input should be greater than 0"}`; a user should
read `workload.mix.0.prompt_tokens: must be a whole number >= 1, got 0`. So both halves are
translated here:

- the location: the tags pydantic adds for the members of a union (`poisson`,
  `constrained-int`, `Tokens`) and for dictionary keys (`[key]`) are not keys of the file; they
  are recognised by walking the input along the location, and dropped;
- the message: one phrase per error type, with the value that was given, an unknown key with
  the closest valid one ("did you mean `queue_capacity`?"), a validator's own message as it is.

When a value fails every member of a union (a token count is a number or a mapping), the
member whose type matched the value speaks ("must be a whole number >= 1, got 0"); when none
did, one message says what each would have accepted ("must be a whole number or a mapping").
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic.json_schema import SkipJsonSchema

#: A problem in a file: (where, as keys and list indices from the top; message).
Problem = tuple[tuple[int | str, ...], str]

UNKNOWN_KEY = frozenset({"unexpected_keyword_argument", "extra_forbidden"})
#: Errors that say only "the value is not of this member's type", and what that type is.
EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value)",
    "dataclass_type": "a mapping (key: value)",
    "dataclass_args_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "tuple_type": "a list",
}
BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


@dataclass(frozen=True)
class _Located:
    loc: tuple[int | str, ...]  # keys of the file only
    unions: tuple[tuple[int | str, ...], ...]  # where union tags were dropped, outermost first
    error: Mapping[str, Any]

    @property
    def mismatch(self) -> bool:
        """A union member refusing the value's type outright (not a problem inside it)."""
        return self.error["type"] in EXPECTED and bool(self.unions) and self.loc == self.unions[-1]


def problems(exc: pydantic.ValidationError, data: Any, schema: Any) -> list[Problem]:
    """`exc`'s errors as (location in the file, sentence), for `data` validated as `schema`."""
    located = [_locate(error, data) for error in exc.errors()]
    found: list[Problem] = []
    merged: set[tuple[int | str, ...]] = set()
    for item in located:
        if not item.mismatch:
            found.append(_problem(item, schema))
            continue
        members = [other for other in located if item.loc in other.unions]
        if not all(other.mismatch and other.loc == item.loc for other in members):
            continue  # another member matched the value's type: its complaint is the one
        if item.loc in merged:
            continue
        merged.add(item.loc)
        expected = list(dict.fromkeys(EXPECTED[other.error["type"]] for other in members))
        found.append((item.loc, f"must be {' or '.join(expected)}, got {shown(item.error)}"))
    return found


def message(exc: pydantic.ValidationError, value: Any, schema: Any) -> str:
    """All of `exc`'s problems with one value, in one line (a location only where it has one)."""
    return "; ".join(
        f"{'.'.join(map(str, loc))}: {text}" if loc else text
        for loc, text in problems(exc, value, schema)
    )


def _locate(error: Mapping[str, Any], data: Any) -> _Located:
    """The error's location with pydantic's tags dropped: a part that is not a key (or index)
    of the input where it stands is a tag, unless it is the key a missing-key or unknown-key
    error is about."""
    loc: list[int | str] = []
    unions: list[tuple[int | str, ...]] = []
    parts = tuple(error["loc"])
    about_a_key = error["type"] in UNKNOWN_KEY or error["type"] == "missing"
    node = data
    for i, part in enumerate(parts):
        is_index = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if is_index or (isinstance(node, Mapping) and part in node):
            node = node[part]
        elif about_a_key and i == len(parts) - 1:
            node = None
        else:
            if part != "[key]":
                unions.append(tuple(loc))
            continue
        loc.append(part)
    return _Located(tuple(loc), tuple(unions), error)


def _problem(item: _Located, schema: Any) -> Problem:
    error, loc = item.error, item.loc
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in UNKNOWN_KEY:
        return loc, unknown_key_message(str(loc[-1]), keys_at(schema, loc[:-1]))
    if kind == "missing":
        return loc, "required, but not given"
    if kind == "union_tag_not_found":  # pydantic stops here: look for a misspelt key too
        key = ctx["discriminator"].strip("'")
        valid = keys_at(schema, loc)
        given = error["input"] if isinstance(error["input"], Mapping) else {}
        unknown = sorted(str(k) for k in given if k not in valid)
        if unknown:
            return (*loc, unknown[0]), unknown_key_message(unknown[0], valid)
        return (*loc, key), f"required, but not given: one of {', '.join(_tags(schema, loc, key))}"
    if kind == "union_tag_invalid":
        key = ctx["discriminator"].strip("'")
        what = [str(part) for part in loc if isinstance(part, str)][-1:]  # "workload kind"
        valid = ctx["expected_tags"].replace("'", "")
        given = shown({"input": error["input"][key]})
        return (*loc, key), f"unknown {' '.join([*what, key])} {given}; valid: {valid}"
    if kind in ("value_error", "assertion_error"):
        return loc, str(ctx.get("error", error["msg"]))
    if kind in EXPECTED:
        return loc, f"must be {EXPECTED[kind]}, got {shown(error)}"
    if kind in BOUNDS:
        name, sign = BOUNDS[kind]
        bound = ctx[name]
        if isinstance(bound, int) and sign in (">", "<"):  # a whole number: say it inclusively
            bound, sign = (bound + 1, ">=") if sign == ">" else (bound - 1, "<=")
        whole = isinstance(bound, int)
        number, bound_text = ("a whole number", str(bound)) if whole else ("a number", f"{bound:g}")
        return loc, f"must be {number} {sign} {bound_text}, got {shown(error)}"
    if kind in ("too_short", "too_long"):
        count = ctx["min_length"] if kind == "too_short" else ctx["max_length"]
        least = "at least" if kind == "too_short" else "at most"
        entries = "entry" if count == 1 else "entries"
        return loc, f"must have {least} {count} {entries}, got {ctx['actual_length']}"
    if kind == "literal_error" and error["loc"][-1] == "[key]":  # a key of a closed set
        return loc, unknown_key_message(
            str(error["input"]), re.findall(r"'([^']*)'", ctx["expected"])
        )
    if kind == "literal_error":
        expected = ctx["expected"]
        return (
            loc,
            f"must be {'one of ' if ' or ' in expected else ''}{expected}, got {shown(error)}",
        )
    if kind == "finite_number":
        return loc, f"must be a finite number, got {shown(error)}"
    if kind == "string_pattern_mismatch":
        return loc, f"must match the pattern {ctx['pattern']}, got {shown(error)}"
    return loc, str(error["msg"])


def shown(error: Mapping[str, Any]) -> str:
    """The value an error is about, as a user wrote it."""
    value = error.get("input")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value) if isinstance(value, str) else str(value)


def unknown_key_message(
    key: str, valid: Iterable[str], what: str = "key", list_valid: bool = False
) -> str:
    """ "unknown key `x`; did you mean `y`?" (or the valid keys when none is close, or always
    with `list_valid`)."""
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1)
    listed = f"valid {what}s: {', '.join(valid) or 'none'}"
    if close:
        return f"unknown {what} `{key}`; did you mean `{close[0]}`?" + (
            f" ({listed})" if list_valid else ""
        )
    return f"unknown {what} `{key}`; {listed}"


def child(schema: Any, key: int | str) -> Any:
    """The type found at `key` inside a value of type `schema`, or None."""
    origin, args = typing.get_origin(schema), typing.get_args(schema)
    if origin is typing.Annotated:
        return child(args[0], key)
    if origin in (typing.Union, types.UnionType):
        return next((c for c in (child(a, key) for a in args) if c is not None), None)
    if origin in (dict, Mapping):
        return args[1]
    if origin in (list, tuple):
        return args[0]
    if dataclasses.is_dataclass(schema):
        return typing.get_type_hints(schema, include_extras=True).get(str(key))
    return None


def members(schema: Any) -> list[Any]:
    """The types a value of `schema` may be: the members of a union (Annotated unwrapped)."""
    origin, args = typing.get_origin(schema), typing.get_args(schema)
    if origin is typing.Annotated:
        return members(args[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in members(a)]
    return [schema]


def file_fields(record: Any) -> dict[str, Any]:
    """The keys a file may give a dataclass, with their types: its init fields but those left
    out of the JSON Schema (fields the loader sets)."""
    hints = typing.get_type_hints(record, include_extras=True)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(record)
        if f.init
        and not any(
            isinstance(m, SkipJsonSchema) for m in getattr(hints[f.name], "__metadata__", ())
        )
    }


def keys_at(schema: Any, loc: tuple[int | str, ...]) -> list[str]:
    """The keys the mapping at `loc` may hold (its dataclass's fields), walking `schema`."""
    for key in loc:
        schema = child(schema, key)
    return sorted(
        {
            key
            for member in members(schema)
            if dataclasses.is_dataclass(member)
            for key in file_fields(member)
        }
    )


def _tags(schema: Any, loc: tuple[int | str, ...], key: str) -> list[str]:
    """The values the discriminator `key` may take in the tagged union at `loc`."""
    for part in loc:
        schema = child(schema, part)
    return [
        tag
        for member in members(schema)
        if dataclasses.is_dataclass(member)
        for tag in typing.get_args(typing.get_type_hints(member).get(key))
    ]
