"""argparse types for the commands' counts and seeds: a bad value is refused as the flag is read, in one line."""
from __future__ import annotations

import argparse

from skyreels_jax import values


def count(low: int = 1, high: int = 10**9):
    """An integer in [low, high] (0 is a value, not "unset": leave a flag out for its default)."""
    def parse(text: str) -> int:
        try:
            return values.integer("the value", int(text), low, high)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e) if text.lstrip("-").isdigit()
                                             else f"expected an integer in [{low}, {high}], got {text!r}") from None
    parse.__name__ = "count"
    return parse


def seed(text: str) -> int:
    try:
        return values.seed(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is an integer in [0, {values.SEED_MAX}], got {text!r}") from None
