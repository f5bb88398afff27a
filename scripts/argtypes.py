"""argparse types shared by the benches and load scripts: a number is refused by name
(exit 2) when it is out of range, never run as a load that means nothing."""

from __future__ import annotations

import argparse
from typing import Any


def above(kind: type[int] | type[float], low: float, *, inclusive: bool = False) -> Any:
    """An argparse type: a number of ``kind`` above ``low`` (or equal, ``inclusive``); any
    other value is refused by name (exit 2), never run as a load that means nothing."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(
                f"{value} is not {'at least' if inclusive else 'above'} {low:g}"
            )
        return value

    return parse
