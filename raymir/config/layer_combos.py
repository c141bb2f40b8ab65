"""``layer_combos`` (Choi et al. 2017): the sweep file's schema and checks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from raymir.config.common import (
    FEATURES,
    ProbeConfig,
    SearchConfig,
    SweepBase,
    all_layer_combos,
    check_corpus,
    check_data,
    check_encoder_section,
    check_grid,
    check_pretrain,
    check_search,
)
from raymir.config.sections import SYNTHETIC_TASKS, EncoderConfig, MelParams, PretrainConfig

KINDS = ("", "choi2017_keras", "torch", "hear", "embeddings")  # the encoder kinds this sweep takes


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to probe; ``layers`` empty means all 31 combinations."""

    kinds: tuple[str, ...] = FEATURES
    layers: tuple[str, ...] = ()
    batch_size: int = 8


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

    @property
    def layer_combos(self) -> tuple[str, ...]:
        return self.features.layers or all_layer_combos()


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
    valid = set(all_layer_combos())
    for combo in ft.layers:
        if str(combo) not in valid:
            p.append(f"features.layers: {combo!r} is not a layer combination (digits 1-5, increasing, e.g. '135')")
    for t in pr.tasks:
        if t not in SYNTHETIC_TASKS:
            p.append(f"probe.tasks: unknown task {t!r} (available: {', '.join(SYNTHETIC_TASKS)})")
    return p + check_grid(pr) + check_search(cfg.search)
