"""Sweep YAML → frozen dataclasses, fully validated before anything runs.

Every problem (unknown key, wrong type, bad value, unknown task/model/layer) is collected and
reported in one ``ConfigError`` that names the file and the key. The YAML key ``recipe`` picks
the schema: one module per recipe here, the shared sections in ``common``.
"""

from __future__ import annotations

import typing
from typing import Any

from raymir.config.agf_combos import AGF_TASKS, ARCHS, KIM_MEL, AgfSweepConfig, task_combos
from raymir.config.agf_combos import check as _check_agf
from raymir.config.artist import (
    SUITE_TASKS,
    ArtistLabelsConfig,
    ArtistProbeConfig,
    ArtistTagsConfig,
    check_artist_labels,
    check_artist_tags,
)
from raymir.config.common import (
    FEATURES,
    DataConfig,
    DataSource,
    GridConfig,
    ProbeConfig,
    SearchConfig,
    SweepBase,
    all_layer_combos,
    combo_layers,
    combo_name,
    resolve_layer_combos,
)
from raymir.config.layer_combos import FeatureConfig, SweepConfig, WeightingConfig
from raymir.config.layer_combos import check as _check_layer_combos
from raymir.config.loader import ConfigError, build, list_sweeps, read_sweep, sweep_dirs
from raymir.config.sections import (
    ARTIST_MODELS,
    PARK_MEL,
    SYNTHETIC_TASKS,
    AgfParams,
    EncoderConfig,
    KimTrainConfig,
    MelParams,
    ParkTrainConfig,
    PretrainConfig,
    SyntheticParams,
    TransferConfig,
    gamma_value,
)

# recipe name → (its sweep file's schema, its checks); ``raymir.recipes.RECIPES`` adds how each runs.
SCHEMAS: dict[str, tuple[type, typing.Callable[[Any], list[str]]]] = {
    "layer_combos": (SweepConfig, _check_layer_combos),
    "agf_combos": (AgfSweepConfig, _check_agf),
    "artist_labels": (ArtistLabelsConfig, check_artist_labels),
    "artist_tags": (ArtistTagsConfig, check_artist_tags),
}
SweepConfigs = SweepConfig | AgfSweepConfig | ArtistLabelsConfig | ArtistTagsConfig


def load_sweep(name_or_path: str, *, preset: str | None = None, overrides: tuple[str, ...] = ()) -> SweepConfigs:
    """Load, merge preset and ``key=value`` overrides, validate; raise ConfigError listing every problem."""
    path, data, errors = read_sweep(name_or_path, preset=preset, overrides=overrides)
    recipe = data.get("recipe")
    if recipe not in SCHEMAS:
        what = "missing" if recipe is None else f"unknown recipe {recipe!r}"
        raise ConfigError(str(path), [f"recipe: {what} (available: {', '.join(SCHEMAS)})"])
    cls, check = SCHEMAS[recipe]
    cfg = build(cls, data, "", errors)
    if cfg is not None:
        errors += check(cfg)
    if errors:
        raise ConfigError(str(path), errors)
    return cfg


__all__ = ["AGF_TASKS", "ARCHS", "ARTIST_MODELS", "FEATURES", "KIM_MEL", "PARK_MEL", "SCHEMAS", "SUITE_TASKS",
           "SYNTHETIC_TASKS", "AgfParams", "AgfSweepConfig", "ArtistLabelsConfig", "ArtistProbeConfig",
           "ArtistTagsConfig", "ConfigError", "DataConfig", "DataSource", "EncoderConfig", "FeatureConfig", "GridConfig",
           "KimTrainConfig", "MelParams", "ParkTrainConfig", "PretrainConfig", "ProbeConfig", "SearchConfig",
           "SweepBase", "SweepConfig", "SweepConfigs", "SyntheticParams", "TransferConfig", "WeightingConfig",
           "all_layer_combos", "combo_layers", "combo_name", "gamma_value", "list_sweeps", "load_sweep",
           "resolve_layer_combos", "sweep_dirs", "task_combos"]
