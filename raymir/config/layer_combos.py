"""``layer_combos`` (Choi et al. 2017): the sweep file's schema and checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from raymir.config.common import (
    FEATURES,
    ProbeConfig,
    SearchConfig,
    SweepBase,
    all_layer_combos,
    check_corpus,
    check_data,
    check_grid,
    check_pretrain,
    check_search,
)
from raymir.config.sections import SYNTHETIC_TASKS, MelParams, PretrainConfig


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to probe; ``layers`` empty means all 31 combinations."""

    kinds: tuple[str, ...] = FEATURES
    layers: tuple[str, ...] = ()
    batch_size: int = 8


@dataclass(frozen=True)
class SweepConfig(SweepBase):
    """``layer_combos`` (Choi et al. 2017): pretrain once, probe every layer combination."""

    recipe: str = "layer_combos"
    mel: MelParams = field(default_factory=MelParams)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    @property
    def layer_combos(self) -> tuple[str, ...]:
        return self.features.layers or all_layer_combos()


def check(cfg: SweepConfig) -> list[str]:
    """Semantic checks: values in range, names that exist."""
    c, pr, ft = cfg.corpus, cfg.probe, cfg.features
    p = check_corpus(c) + check_pretrain(cfg.pretrain, cfg.mel) + check_data(cfg.data)
    for k in ("clips_per_class", "event_folds"):
        if getattr(c, k) < 1:
            p.append(f"corpus.{k}: must be ≥ 1, got {getattr(c, k)}")
    for k in ft.kinds:
        if k not in FEATURES:
            p.append(f"features.kinds: unknown feature {k!r} (available: {', '.join(FEATURES)})")
    valid = set(all_layer_combos())
    for combo in ft.layers:
        if str(combo) not in valid:
            p.append(f"features.layers: {combo!r} is not a layer combination (digits 1-5, increasing, e.g. '135')")
    for t in pr.tasks:
        if t not in SYNTHETIC_TASKS:
            p.append(f"probe.tasks: unknown task {t!r} (available: {', '.join(SYNTHETIC_TASKS)})")
    return p + check_grid(pr) + check_search(cfg.search)
