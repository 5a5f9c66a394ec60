"""Python config files for `generate` and `train`: `FILE[:ARG]` -> get_config(ARG), with typed overrides.

A config file defines `get_config()` (or `get_config(arg)`) returning an ml_collections ConfigDict,
as big_vision's do; it imports what it shares from the installed package, never from a sibling
file. `--set KEY=VALUE` overrides a field by its dotted path: the value is read as the field's
type (text for a string field, a Python literal otherwise), and an unknown key or a value of the
wrong type raises ValueError in one line that names the key.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ml_collections


def add_arguments(parser: argparse.ArgumentParser, example: str, required: bool = False) -> None:
    """The --config FILE[:ARG] and repeatable --set KEY=VALUE flags."""
    parser.add_argument("--config", required=required, metavar="FILE[:ARG]",
                        help=f"a Python config file with get_config([ARG]), e.g. {example}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field by its dotted path, e.g. --set optim.lr=1e-4 (repeatable); "
                             "the value is read as the field's type")


def load_config(spec: str | Path, overrides: Mapping[str, Any] | Iterable[str] = ()) -> ml_collections.ConfigDict:
    """get_config(ARG) of FILE for spec "FILE[:ARG]", then the overrides: {dotted key: value}, or
    "KEY=VALUE" texts as --set gives them."""
    file, _, arg = str(spec).partition(":")
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"skyreels_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {path} defines no get_config()")
    cfg = module.get_config(arg) if arg else module.get_config()
    items = overrides.items() if isinstance(overrides, Mapping) else (_split(text) for text in overrides)
    for key, value in items:
        set_field(cfg, key, value)
    return cfg


def set_field(cfg: ml_collections.ConfigDict, key: str, value: Any) -> None:
    """cfg[key] = value for a dotted key; a text value is read as the field's type (see the module)."""
    *parents, leaf = key.split(".")
    node, where = cfg, "the config"
    for part in parents:
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            raise ValueError(f"unknown config key {key!r}: {where} has no field {part!r}{_fields(node)}")
        node, where = node[part], part
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
        raise ValueError(f"unknown config key {key!r}: {where} has no field {leaf!r}{_fields(node)}")
    current = node[leaf]
    if isinstance(value, str) and not isinstance(current, str):
        value = _literal(value)
    try:
        node[leaf] = value
    except TypeError:
        raise ValueError(f"config key {key!r} is {_a(type(current).__name__)} ({current!r}); "
                         f"got the {type(value).__name__} {value!r}") from None


def _split(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set takes KEY=VALUE, got {text!r}")
    return key.strip(), value


def _literal(text: str) -> Any:
    """A Python literal (number, bool, None, list, ...) where the text is one, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _fields(node) -> str:
    return f" (it has {', '.join(node.keys())})" if isinstance(node, ml_collections.ConfigDict) else ""


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"
