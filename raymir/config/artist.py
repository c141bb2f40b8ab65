"""``artist_labels`` (Park et al. 2017) and ``artist_tags`` (Wang et al. 2019): schemas and checks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from raymir.config.common import (
    CHOI_LAYERS,
    LAYER_KEYWORDS,
    GridConfig,
    SearchConfig,
    SweepBase,
    check_corpus,
    check_data,
    check_encoder_section,
    check_grid,
    check_layer_item,
    check_pretrain,
    check_search,
    check_training,
    combo_layers,
)
from raymir.config.sections import (
    ARTIST_MODELS,
    PARK_MEL,
    EncoderConfig,
    MelParams,
    ParkTrainConfig,
    PretrainConfig,
)

SUITE_TASKS = ("genre", "emotion", "tagging", "retrieval")
# The given encoders the artist sweeps probe, each with the front end its release was trained on (the sweep's mel
# must equal it: raymir computes the spectrogram, the file holds only the net).
RELEASE_MELS = {"choi2017_keras": MelParams(), "park2017_keras": PARK_MEL}
RELEASE_NAMES = {"choi2017_keras": "Choi 2017 tagger", "park2017_keras": "Park 2017 artist model"}
# Encoders loaded by raymir.encoders: embed resamples the clips to the encoder's own rate, so the mel section does not
# constrain them; how many layers they have is known only once loaded (encoder.layers is checked against it then).
GIVEN_ENCODERS = ("torch", "hear")
KINDS = ("", *RELEASE_MELS, *GIVEN_ENCODERS)


# An artist trial probes one encoder: its features and probes run as a Ray task holding search.cpus_per_trial CPUs
# and search.gpus_per_trial GPUs; there are no layer combinations to batch.
ARTIST_SEARCH_UNUSED = {"combos_per_trial": "an artist trial probes one encoder's feature, not a grid of layer "
                                            "combinations"}


@dataclass(frozen=True)
class ArtistProbeConfig(GridConfig):
    """The artist sweeps' probe suite: SVM/SVR grids for genre and emotion, a tagging head, retrieval."""

    tasks: tuple[str, ...] = SUITE_TASKS
    folds: int = 5  # CV folds, grouped by artist (no artist on both sides of a split)
    tagger: str = "linear"  # linear | mlp
    retrieval_k: int = 10  # recall@k
    # Each repeat r re-draws the CV folds (seed + r) and, with repeat_training, re-trains the encoders (their seed
    # + r); repeat 0 is the single run's. The held-out artist split stays fixed.
    repeats: int = 1
    repeat_training: bool = True


@dataclass(frozen=True)
class ArtistLabelsConfig(SweepBase):
    """``artist_labels`` (Park et al. 2017): basic and Siamese artist models × number of training artists."""

    recipe: str = "artist_labels"
    mel: MelParams = PARK_MEL
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # a given encoder: no artist model is trained
    models: tuple[str, ...] = ARTIST_MODELS
    n_artists: tuple[int, ...] = (20, 40, 80, 120)
    heldout_artists_per_genre: int = 4  # never trained on: the retrieval and tagging probe sets
    baselines: tuple[str, ...] = ("mfcc", "random")
    train: ParkTrainConfig = field(default_factory=ParkTrainConfig)
    probe: ArtistProbeConfig = field(default_factory=ArtistProbeConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


@dataclass(frozen=True)
class ArtistTagsConfig(SweepBase):
    """``artist_tags`` (Wang et al. 2019): a convnet trained on artist tags vs the tag-trained one vs MFCC."""

    recipe: str = "artist_tags"
    mel: MelParams = field(default_factory=MelParams)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # a given encoder: nothing is pretrained
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    models: tuple[str, ...] = ("artist_tags", "choi_tags", "mfcc")
    artist_tags_layers: str = "5"  # Wang et al.: the last conv layer
    choi_tags_layers: str = "12345"  # Choi et al.: every layer, concatenated
    probe: ArtistProbeConfig = field(default_factory=lambda: ArtistProbeConfig(tasks=("genre", "emotion")))
    search: SearchConfig = field(default_factory=SearchConfig)


def check_probe_suite(pr: ArtistProbeConfig, allowed: tuple[str, ...]) -> list[str]:
    p: list[str] = []
    for t in pr.tasks:
        if t not in allowed:
            p.append(f"probe.tasks: unknown task {t!r} (available here: {', '.join(allowed)})")
    if not pr.tasks:
        p.append("probe.tasks: name at least one probe task")
    p += check_grid(pr)
    if pr.tagger not in ("linear", "mlp"):
        p.append(f"probe.tagger: must be linear or mlp, got {pr.tagger!r}")
    if pr.retrieval_k < 1:
        p.append(f"probe.retrieval_k: must be ≥ 1, got {pr.retrieval_k}")
    if pr.repeats < 1:
        p.append(f"probe.repeats: must be ≥ 1 (1: one run, its interval from the folds alone), got {pr.repeats}")
    return p


def check_artist_encoder(e: EncoderConfig, mel: MelParams) -> list[str]:
    """The ``encoder:`` section of an artist sweep: a released Keras model whose front end ``mel`` must equal, or a
    torch / HEAR encoder (any front end; ``encoder.layers`` written as a combination, its layers checked on load)."""
    if e.kind == "embeddings":
        return ["encoder.kind: embeddings carry their own labels; probe them with layer_combos --encoder embeddings:PATH"]
    p = check_encoder_section(e, KINDS)
    if e.kind in GIVEN_ENCODERS:
        problem = check_layer_item(e.layers) if e.layers else None
        if problem or e.layers in LAYER_KEYWORDS or e.layers.startswith("windows:"):
            p.append(f"encoder.layers: {e.layers!r} is not a layer combination ('3', '123'; from 10 layers on "
                     "'1+2+12'; empty: the last layer)")
    if e.kind not in RELEASE_MELS:
        return p
    release = RELEASE_MELS[e.kind]
    changed = [f"{f.name} {getattr(mel, f.name)} → {getattr(release, f.name)}" for f in fields(MelParams)
               if getattr(mel, f.name) != getattr(release, f.name)]
    if changed:
        p.append(f"mel: the released {RELEASE_NAMES[e.kind]}'s front end is fixed; with encoder.kind {e.kind} set mel "
                 f"to the release's (changed: {', '.join(changed)})")
    if e.kind == "park2017_keras" and e.layers:
        p.append(f"encoder.layers: the Park 2017 track feature is its last conv layer's (max over each 3-s segment, "
                 f"mean over segments); leave encoder.layers empty, got {e.layers!r}")
    if e.kind == "choi2017_keras" and e.layers:
        try:
            combo_layers(e.layers, CHOI_LAYERS)
        except ValueError as err:
            p.append(f"encoder.layers: {err} (the Choi 2017 tagger; empty: all five, '12345', as Choi et al.)")
    return p


def check_segments(seconds: float, key: str, mel: MelParams) -> list[str]:
    """Park's nets (trained, or the release's track feature) take 3-s segments: a clip must hold one."""
    if seconds * mel.sr / mel.hop_length < 129:
        return [f"{key}: the artist models and the Park 2017 track feature take 3-s segments; got {seconds} s clips"]
    return []


def check_artist_labels(cfg: ArtistLabelsConfig) -> list[str]:
    p = check_corpus(cfg.corpus) + check_probe_suite(cfg.probe, SUITE_TASKS) + check_data(cfg.data)
    p += check_artist_encoder(cfg.encoder, cfg.mel)
    c, tr = cfg.corpus, cfg.train
    real = bool(cfg.data.source.dataset)  # a real source: its number of artists is known once it is read
    for b in cfg.baselines:
        if b not in ("mfcc", "random"):
            p.append(f"baselines: unknown baseline {b!r} (available: mfcc, random)")
    if cfg.heldout_artists_per_genre < 1:
        p.append(f"heldout_artists_per_genre: must be ≥ 1 (retrieval needs unseen artists), "
                 f"got {cfg.heldout_artists_per_genre}")
    if c.source_tracks_per_artist < 2 and not real:
        p.append("corpus.source_tracks_per_artist: the Siamese positive and retrieval need ≥ 2 tracks per artist")
    seconds, key = (cfg.data.duration, "data.duration") if real and cfg.data.duration else (c.duration, "corpus.duration")
    if cfg.encoder.kind not in ("choi2017_keras", *GIVEN_ENCODERS):  # the Choi tagger repeats every clip to 29 s;
        # torch / HEAR encoders take clips of any length
        p += check_segments(seconds, key, cfg.mel)
    p += check_training(tr, "train", counts=("epochs", "batch_size", "num_workers", "reports", "n_negatives"))
    if tr.margin <= 0:
        p.append(f"train.margin: must be > 0, got {tr.margin}")
    if not cfg.encoder.kind:  # a given encoder trains no artist model: models and n_artists do not apply
        p += check_artist_models(cfg)
    return p + check_search(cfg.search, unused=ARTIST_SEARCH_UNUSED)


def check_artist_models(cfg: ArtistLabelsConfig) -> list[str]:
    """The artist models to train: known models, and numbers of training artists the corpus holds."""
    from raymir.data.music import GENRES

    c, p = cfg.corpus, []
    real = bool(cfg.data.source.dataset)  # a real source: its number of artists is known once it is read
    for m in cfg.models:
        if m not in ARTIST_MODELS:
            p.append(f"models: unknown model {m!r} (available: {', '.join(ARTIST_MODELS)})")
    pool = (c.source_artists_per_genre - cfg.heldout_artists_per_genre) * len(GENRES)
    for n in cfg.n_artists:
        if n < 2:
            p.append(f"n_artists: must be ≥ 2, got {n}")
        elif n > pool and not real:
            p.append(f"n_artists: {n} exceeds {pool} (the corpus has {c.source_artists_per_genre} source "
                     f"artists per genre × {len(GENRES)} genres, {cfg.heldout_artists_per_genre} per genre held out)")
    if not cfg.n_artists or not cfg.models:
        p.append("n_artists and models must each list at least one value")
    return p


def check_artist_tags(cfg: ArtistTagsConfig) -> list[str]:
    p = check_corpus(cfg.corpus) + check_probe_suite(cfg.probe, ("genre", "emotion")) + check_data(cfg.data)
    p += check_artist_encoder(cfg.encoder, cfg.mel)
    if cfg.encoder.kind and cfg.data.source.dataset:
        p.append(f"data.source: encoder.kind {cfg.encoder.kind} gives the encoder, nothing is pretrained; "
                 "leave data.source empty")
    if cfg.encoder.kind == "park2017_keras":
        p += check_segments(cfg.data.duration or cfg.corpus.duration, "data.duration" if cfg.data.duration
                            else "corpus.duration", cfg.mel)
    for m in cfg.models:
        if m not in ("artist_tags", "choi_tags", "mfcc"):
            p.append(f"models: unknown model {m!r} (available: artist_tags, choi_tags, mfcc)")
    for k in ("artist_tags_layers", "choi_tags_layers"):
        try:
            combo_layers(getattr(cfg, k), CHOI_LAYERS)
        except ValueError as e:
            p.append(f"{k}: {e}")
    # a given encoder pretrains nothing (pretrain.seed only seeds its random-weights twin), and its front end is fixed
    p += check_training(cfg.pretrain, "pretrain") if cfg.encoder.kind else check_pretrain(cfg.pretrain, cfg.mel)
    return p + check_search(cfg.search, unused=ARTIST_SEARCH_UNUSED)
