"""Checks of single values (counts, sizes, floats, seeds): one line that names the value and says what to use.

Zero is a value like any other here: only None means "not given" (the caller fills it from the model's
defaults before checking).
"""
from __future__ import annotations

import math
import numbers
import re

SEED_MAX = 2**32 - 1  # the reference draws seeds in [0, 2^32); jax keys take them whole


def integer(name: str, value, low: int, high: int, hint: str = "") -> int:
    """value as an int in [low, high] (bools and floats are refused: 5.0 frames is a mistake)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer in [{low}, {high}]{hint}; got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}]{hint}; got {value}")
    return value


def real(name: str, value, low: float, high: float, hint: str = "", open_low: bool = False) -> float:
    """value as a finite float in [low, high] ((low, high] with open_low)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in {'(' if open_low else '['}{low}, {high}]{hint}; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{hint}; got {value}")
    if value < low or value > high or (open_low and value == low):
        raise ValueError(f"{name} must be in {'(' if open_low else '['}{low}, {high}]{hint}; got {value}")
    return value


def seed(value) -> int:
    return integer("seed", value, 0, SEED_MAX)


def text(name: str, value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string; got {type(value).__name__}")
    return value


def path_and_strength(text: str) -> tuple[str, float]:
    """'PATH[:STRENGTH]' (a LoRA file and its weight) -> (path, strength); the strength defaults to 1."""
    path, sep, strength = text.rpartition(":")
    if not sep or not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", strength):
        return text, 1.0
    return path, real(f"the strength of {path}", float(strength), -1e3, 1e3)

