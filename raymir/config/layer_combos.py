"""``layer_combos`` (Choi et al. 2017): the sweep file's schema and checks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from raymir.config.common import (
    CHOI_LAYERS,
    FEATURES,
    MAX_COMBINATIONS,
    ProbeConfig,
    SearchConfig,
    SweepBase,
    check_corpus,
    check_data,
    check_encoder_section,
    check_grid,
    check_layer_item,
    check_pretrain,
    check_search,
    resolve_layer_combos,
)
from raymir.config.sections import SYNTHETIC_TASKS, EncoderConfig, MelParams, PretrainConfig

KINDS = ("", "choi2017_keras", "park2017_keras", "torch", "hear", "embeddings")  # the encoder kinds this sweep takes
FIVE_LAYERS = ("", "choi2017_keras")  # raymir's own convnet and the released Choi model: their layer count is known
HEADS = ("linear", "mlp")


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to probe. ``layers``: layer combinations ("135"; from 10 layers on "1+2+12") and keywords
    (all, singles, cumulative, windows:K; ``raymir.config.common.resolve_layer_combos``); empty means all, up to
    ``max_combinations`` of them."""

    kinds: tuple[str, ...] = FEATURES
    layers: tuple[str, ...] = ()
    batch_size: int = 8
    max_combinations: int = MAX_COMBINATIONS


@dataclass(frozen=True)
class WeightingConfig:
    """The learned layer weighting probe (``raymir.probes.weighting``): a softmax weight per layer trained with a
    linear or MLP head, beside the SVM grids of the convnet and random features."""

    enabled: bool = False
    head: str = "linear"  # linear | mlp (one hidden ReLU layer of ``hidden`` units)
    hidden: int = 128
    epochs: int = 300  # full-batch Adam steps per fold
    lr: float = 0.01
    weight_decay: float = 0.0001  # on the head's parameters
    seed: int = 0


@dataclass(frozen=True)
class SweepConfig(SweepBase):
    """``layer_combos`` (Choi et al. 2017): pretrain once (or take a given encoder), probe every layer combination."""

    recipe: str = "layer_combos"
    mel: MelParams = field(default_factory=MelParams)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)


def check_encoder(cfg: SweepConfig) -> list[str]:
    """The ``encoder:`` section, and the settings a given encoder rules out."""
    e = cfg.encoder
    p = check_encoder_section(e, KINDS)
    if e.kind not in KINDS[1:]:
        return p
    if cfg.data.source.dataset:
        p.append(f"data.source: encoder.kind {e.kind} gives the encoder, nothing is pretrained; leave data.source empty")
    if e.kind == "choi2017_keras":
        changed = [f.name for f in fields(MelParams) if getattr(cfg.mel, f.name) != getattr(MelParams(), f.name)]
        if changed:
            p.append(f"mel: the released Choi 2017 model's front end is fixed (12 kHz, 96 mels, 29 s); keep mel at its "
                     f"defaults with encoder.kind choi2017_keras (changed: {', '.join(changed)})")
    if e.kind == "embeddings":
        others = [k for k in cfg.features.kinds if k != "convnet"]
        if others:
            p.append(f"features.kinds: embeddings come without audio, so only 'convnet' (their layers) can be probed; "
                     f"drop {', '.join(others)} (--encoder embeddings:PATH sets features.kinds=[convnet])")
        if cfg.data.dataset:
            p.append("data.dataset: embeddings carry their own labels (the manifest beside the arrays); leave data.dataset empty")
    return p


def check(cfg: SweepConfig) -> list[str]:
    """Semantic checks: values in range, names that exist."""
    c, pr, ft = cfg.corpus, cfg.probe, cfg.features
    p = check_corpus(c) + check_pretrain(cfg.pretrain, cfg.mel) + check_data(cfg.data) + check_encoder(cfg)
    for k in ("clips_per_class", "event_folds"):
        if getattr(c, k) < 1:
            p.append(f"corpus.{k}: must be ≥ 1, got {getattr(c, k)}")
    for k in ft.kinds:
        if k not in FEATURES:
            p.append(f"features.kinds: unknown feature {k!r} (available: {', '.join(FEATURES)})")
    p += check_layers(ft, cfg.encoder.kind)
    for t in pr.tasks:
        if t not in SYNTHETIC_TASKS:
            p.append(f"probe.tasks: unknown task {t!r} (available: {', '.join(SYNTHETIC_TASKS)})")
    if pr.repeats < 1:
        p.append(f"probe.repeats: must be ≥ 1, got {pr.repeats}")
    return p + check_grid(pr) + check_search(cfg.search) + check_weighting(cfg.weighting, ft)


def check_layers(ft: FeatureConfig, encoder_kind: str) -> list[str]:
    """``features.layers``: each item's notation; with raymir's own convnet or the released Choi model (5 layers)
    also that its layers exist and ``all`` is within ``features.max_combinations``. Other encoders' layer counts
    are known once they are read: the recipe checks there (``raymir.recipes.layer_combos.sweep_combos``)."""
    p = [f"features.layers: {why}" for why in map(check_layer_item, ft.layers) if why]
    if ft.max_combinations < 1:
        p.append(f"features.max_combinations: must be ≥ 1, got {ft.max_combinations}")
    if not p and encoder_kind in FIVE_LAYERS:
        try:
            resolve_layer_combos(ft.layers, CHOI_LAYERS, limit=ft.max_combinations)
        except ValueError as e:
            p.append(f"features.layers: {e}")
    return p


def check_weighting(w: WeightingConfig, ft: FeatureConfig) -> list[str]:
    """The ``weighting:`` section (checked also while it is off, so that turning it on cannot fail later)."""
    p = [] if w.head in HEADS else [f"weighting.head: {w.head!r} is not one of {', '.join(HEADS)}"]
    p += [f"weighting.{k}: must be ≥ 1, got {getattr(w, k)}" for k in ("hidden", "epochs") if getattr(w, k) < 1]
    if not w.lr > 0:
        p.append(f"weighting.lr: must be > 0, got {w.lr}")
    if w.weight_decay < 0:
        p.append(f"weighting.weight_decay: must be ≥ 0, got {w.weight_decay}")
    if w.enabled and not {"convnet", "random"} & set(ft.kinds):
        p.append("weighting.enabled: weights the layers of convnet or random features; features.kinds has neither")
    return p
