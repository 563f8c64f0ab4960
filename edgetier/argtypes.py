"""argparse value types: every number the command line takes is checked here, before anything
is sent or started, so that a bad one reads the same way everywhere and ends with exit status 2
naming the option (`argument --nodes: must be a whole number >= 1, got 0`), never a traceback
from deeper down (a protobuf field out of range, a socket that cannot bind port 70000).

Outside the layers (like `edgetier.protogen`): the subcommands and the benchmarks both use it.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Number:
    """A whole number (`whole`) or a finite number, from `low` to `high` (either may be open:
    None), `low` itself excluded with `above_low`."""

    whole: bool
    low: float | None = None
    high: float | None = None
    above_low: bool = False

    @property
    def rule(self) -> str:
        """What the value must be, in words: "a whole number from 0 to 65535"."""
        kind = "a whole number" if self.whole else "a number"
        low, high = self._text(self.low), self._text(self.high)
        if self.low is not None and self.high is not None and not self.above_low:
            return f"{kind} from {low} to {high}"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.above_low else '>='} {low}")
        if self.high is not None:
            bounds.append(f"<= {high}")
        return " ".join([kind, " and ".join(bounds)]).strip()

    def _text(self, bound: float | None) -> str:
        if bound is None:
            return ""
        return str(int(bound)) if self.whole else f"{bound:g}"

    def __call__(self, text: str) -> int | float:
        try:
            value: int | float = int(text) if self.whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {self.rule}, got {text!r}") from None
        below = self.low is not None and (value <= self.low if self.above_low else value < self.low)
        above = self.high is not None and value > self.high
        if below or above or math.isnan(value) or math.isinf(value):
            raise argparse.ArgumentTypeError(f"must be {self.rule}, got {text}")
        return value


positive_int = Number(whole=True, low=1)
non_negative_int = Number(whole=True, low=0)
positive_float = Number(whole=False, low=0, above_low=True)
non_negative_float = Number(whole=False, low=0)
#: A TCP port to bind; 0 asks the system for any free one.
port = Number(whole=True, low=0, high=65535)
#: A count sent as a protobuf uint32 (a prompt's tokens).
uint32 = Number(whole=True, low=1, high=2**32 - 1)
