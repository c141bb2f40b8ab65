"""``layer_combos`` (Choi et al. 2017): the sweep file's schema and checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from raymir.audio import MelParams
from raymir.config.common import (
    FEATURES,
    DatasetConfig,
    ProbeConfig,
    SearchConfig,
    SweepBase,
    all_layer_combos,
    check_dataset,
    check_grid,
    check_search,
)
from raymir.data.synthetic import TARGET_TASKS
from raymir.pretrain import PretrainConfig


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
    data: DatasetConfig = field(default_factory=DatasetConfig)
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
    from raymir.models import MODELS

    p: list[str] = []
    c, pt, pr, ft, mel = cfg.corpus, cfg.pretrain, cfg.probe, cfg.features, cfg.mel
    if not 0 <= c.overlap <= 1:
        p.append(f"corpus.overlap: must be in [0, 1], got {c.overlap}")
    if not 0 <= c.label_noise < 0.5:
        p.append(f"corpus.label_noise: must be in [0, 0.5), got {c.label_noise}")
    if c.duration <= 0:
        p.append(f"corpus.duration: must be > 0 seconds, got {c.duration}")
    for k in ("source_artists_per_genre", "source_tracks_per_artist", "target_artists_per_genre",
              "target_tracks_per_artist", "clips_per_class", "event_folds", "n_tags"):
        if getattr(c, k) < 1:
            p.append(f"corpus.{k}: must be ≥ 1, got {getattr(c, k)}")
    if mel.n_frames < 1280:
        p.append(f"mel: the Choi convnet needs ≥ 1280 frames (29 s at 12 kHz, hop 256); got {mel.n_frames}")
    if pt.model not in MODELS:
        p.append(f"pretrain.model: unknown model {pt.model!r} (available: {', '.join(MODELS)})")
    for k in ("epochs", "batch_size", "num_workers"):
        if getattr(pt, k) < 1:
            p.append(f"pretrain.{k}: must be ≥ 1, got {getattr(pt, k)}")
    if not 0 < pt.val_fraction < 1:
        p.append(f"pretrain.val_fraction: must be in (0, 1), got {pt.val_fraction}")
    p += check_dataset(cfg.data)
    if pt.precision not in ("auto", "bf16", "fp32"):
        p.append(f"pretrain.precision: must be auto, bf16 or fp32, got {pt.precision!r}")
    if pt.lr <= 0:
        p.append(f"pretrain.lr: must be > 0, got {pt.lr}")
    for k in ft.kinds:
        if k not in FEATURES:
            p.append(f"features.kinds: unknown feature {k!r} (available: {', '.join(FEATURES)})")
    valid = set(all_layer_combos())
    for combo in ft.layers:
        if str(combo) not in valid:
            p.append(f"features.layers: {combo!r} is not a layer combination (digits 1-5, increasing, e.g. '135')")
    for t in pr.tasks:
        if t not in TARGET_TASKS:
            p.append(f"probe.tasks: unknown task {t!r} (available: {', '.join(TARGET_TASKS)})")
    return p + check_grid(pr) + check_search(cfg.search)
