"""Sweep YAML → frozen dataclasses: type coercion, presets and ``key=value`` overrides.

Every problem (unknown key, wrong type, unparsable override) is collected rather than raised at
once, so one ``ConfigError`` can name them all with their file and key.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from raymir.errors import ConfigError  # noqa: F401 (raised by the loader; re-exported by raymir.config)


def _coerce(value: Any, tp: Any, key: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {value!r}")
            return tp() if _all_defaults(tp) else None
        return build(tp, value, key, errors)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            trial: list[str] = []
            out = _coerce(value, arm, key, trial)
            if not trial:
                return out
        errors.append(f"{key}: {value!r} is not a {' or '.join(a.__name__ for a in typing.get_args(tp))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        (arm, _) = typing.get_args(tp)
        return tuple(_coerce(v, arm, f"{key}[{i}]", errors) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            errors.append(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"{key}: expected a number, got {value!r}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            errors.append(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _all_defaults(cls: type) -> bool:
    return all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
               for f in dataclasses.fields(cls))


def build(cls: type, data: dict, prefix: str, errors: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in data:
        if k not in names:
            errors.append(f"{prefix + '.' if prefix else ''}{k}: unknown key (allowed: {', '.join(sorted(names))})")
    kwargs = {}
    for k, v in data.items():
        if k in names:
            before = len(errors)
            value = _coerce(v, hints[k], f"{prefix + '.' if prefix else ''}{k}", errors)
            if len(errors) == before:  # a bad value is reported once and left at its default
                kwargs[k] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        errors.append(f"{prefix or 'sweep'}: {exc}")
        return None


def default_sweeps_dir() -> Path | None:
    """The folder of default sweep files that belongs to the running raymir code.

    In a source tree (the checkout on ``sys.path``, or its editable install) that is the tree's own
    top-level sweeps/, so code and sweep files never come from two different checkouts; an
    installed wheel carries the same files as the ``raymir.sweeps`` package (YAML files, no code).
    """
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "sweeps").is_dir():
        return root / "sweeps"
    spec = importlib.util.find_spec("raymir.sweeps")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sweep_dirs() -> list[Path]:
    """Where sweep files are looked up, the first winning on a name clash: ./sweeps (the user's own
    sweeps, or a checkout's when run from its root), then the default sweeps."""
    default = default_sweeps_dir()
    return [Path.cwd() / "sweeps", *([default] if default is not None else [])]


def list_sweeps() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in reversed(sweep_dirs()):
        for f in sorted(d.glob("*.yaml")) if d.is_dir() else ():
            found[f.stem] = f
    return dict(sorted(found.items()))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _apply_override(data: dict, item: str, errors: list[str]) -> None:
    if "=" not in item:
        errors.append(f"--set {item!r}: expected key=value, e.g. pretrain.epochs=3")
        return
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        errors.append(f"--set {key}: cannot parse value {raw!r}: {exc}")
        return
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            errors.append(f"--set {key}: {part!r} is not a section")
            return
    node[parts[-1]] = value


def read_sweep(name_or_path: str, *, preset: str | None, overrides: tuple[str, ...]) -> tuple[Path, dict, list[str]]:
    """The sweep file (by name or path) with its preset and overrides merged: → (path, data, problems so far)."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        sweeps = list_sweeps()
        if name_or_path not in sweeps:
            raise ConfigError(name_or_path, [f"unknown sweep {name_or_path!r}; available: {', '.join(sweeps) or 'none'}"])
        path = sweeps[name_or_path]
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["the top level must be a mapping of sections"])
    errors: list[str] = []
    presets = data.pop("presets", {}) or {}
    if preset is not None:
        if preset not in presets:
            errors.append(f"--preset {preset!r}: unknown preset (available: {', '.join(presets) or 'none'})")
        else:
            data = _merge(data, presets[preset])
    for item in overrides:
        _apply_override(data, item, errors)
    data.setdefault("name", path.stem)
    return path, data, errors
