"""A faster `__init__` for the small frozen dataclasses the core creates on every request.

A frozen dataclass pays for its immutability at construction: its generated `__init__` stores
each field with `object.__setattr__`, about 80 ns a field. The node engine and the router build
several such objects per request (Job, Finished, Request, Step, Estimate, NodeResult, Outcome),
and fleetsim builds them millions of times. `fast_init` replaces that `__init__` with one that
stores through the slots' own descriptors: the same signature and defaults, still frozen (no
`__setattr__` after construction), equal and hashable as before, in about half the time.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Class decorator, applied over `@dataclass(frozen=True, slots=True)`."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: fast_init needs a frozen dataclass with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: fast_init does not run __post_init__")
    namespace: dict[str, Any] = {}
    arguments, body = [], []
    for field in dataclasses.fields(cls):
        if not field.init or field.default_factory is not dataclasses.MISSING or field.kw_only:
            raise TypeError(f"{cls.__name__}.{field.name}: fast_init takes plain fields only")
        if field.default is dataclasses.MISSING:
            arguments.append(field.name)
        else:
            namespace[f"_default_{field.name}"] = field.default
            arguments.append(f"{field.name}=_default_{field.name}")
        namespace[f"_set_{field.name}"] = cls.__dict__[field.name].__set__
        body.append(f"    _set_{field.name}(self, {field.name})")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + "\n".join(body or ["    pass"])
    exec(source, namespace)  # the same technique dataclasses uses to build __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]
    return cls
