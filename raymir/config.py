"""Sweep YAML → frozen dataclasses, fully validated before anything runs.

Every problem (unknown key, wrong type, bad value, unknown task/model/layer) is collected
and reported in one ``ConfigError`` that names the file and the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raymir.artist_train import MODES as ARTIST_MODES
from raymir.artist_train import ArtistTrainConfig
from raymir.audio import MelParams
from raymir.data.synthetic import TARGET_TASKS, SyntheticParams
from raymir.models.park2017 import PARK_MEL
from raymir.multitask import TrainConfig
from raymir.pretrain import PretrainConfig
from raymir.probes.svm import GAMMA_POWER as _GAMMA
from raymir.probes.svm import gamma_value  # noqa: F401  (part of the config vocabulary)
from raymir.targets.agf import AgfParams
from raymir.transfer import TransferConfig

FEATURES = ("convnet", "random", "mfcc", "convnet+mfcc")
LAYER_DIGITS = "12345"


class ConfigError(ValueError):
    """A sweep file (or override) is invalid; ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to probe; ``layers`` empty means all 31 combinations."""

    kinds: tuple[str, ...] = FEATURES
    layers: tuple[str, ...] = ()
    batch_size: int = 8


@dataclass(frozen=True)
class ProbeConfig:
    """SVM/SVR grid and cross-validation protocol."""

    tasks: tuple[str, ...] = tuple(TARGET_TASKS)
    folds: int = 10
    nested: bool = True
    scaler: tuple[bool, ...] = (True, False)
    kernels: tuple[str, ...] = ("linear", "rbf")
    C: tuple[float, ...] = (0.1, 2.0, 8.0, 32.0)
    gamma: tuple[float | str, ...] = ("2^-3", "2^-5", "2^-7", "2^-9", "2^-11", "2^-13", "1/n_features")
    max_iter: int = 1_000_000  # libsvm iterations per fit (-1: none); unscaled SVR fits can otherwise run for hours
    seed: int = 0


@dataclass(frozen=True)
class SearchConfig:
    """Ray Tune resources for the probe trials."""

    cpus_per_trial: float = 1.0
    max_concurrent_trials: int = 0  # 0: as many as the cluster's CPUs allow
    max_failures: int = 1


@dataclass(frozen=True)
class DatasetConfig:
    """A real dataset in its own layout as the probe target (``raymir.data.datasets``)."""

    dataset: str = ""  # empty: the synthetic target tasks; else gtzan, urbansound8k, fma, manifest, …
    path: str = ""  # the dataset's root folder (manifest: the CSV / JSONL file)
    split_dir: str = ""  # gtzan: folder of train*/valid*/test*.txt split lists
    size: str = "small"  # fma: small | medium | large | full


@dataclass(frozen=True)
class SweepConfig:
    """``layer_combos`` (Choi et al. 2017): pretrain once, probe every layer combination."""

    name: str
    recipe: str = "layer_combos"
    description: str = ""
    output: str = "raymir_out"
    corpus: SyntheticParams = field(default_factory=SyntheticParams)
    data: DatasetConfig = field(default_factory=DatasetConfig)
    mel: MelParams = field(default_factory=MelParams)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    @property
    def layer_combos(self) -> tuple[str, ...]:
        return self.features.layers or all_layer_combos()


AGF_TASKS = "gsedm"  # genre + the four artist group factors, in the order of the paper's names ("gsedm")
ARCHS = ("STN", "MTN", "wSTN")
KIM_MEL = MelParams(sr=22050, n_fft=1024, hop_length=512, n_mels=128, fmin=0.0, fmax=11025.0, duration=30.0)


@dataclass(frozen=True)
class DataConfig:
    """A real corpus instead of the synthetic one: a dataset in its own layout (e.g. FMA), or a CSV
    manifest (path, artist, genre[, subgenres, album])."""

    manifest: str = ""  # empty (and no dataset): the embedded synthetic corpus (its FMA-like subset)
    dataset: str = ""  # fma, or any layout with genre labels and artist groups (raymir.data.datasets)
    path: str = ""  # the dataset's root folder
    split_dir: str = ""
    size: str = "small"  # fma: small | medium | large | full
    duration: float = 30.0  # seconds read from each file (cropped or repeated)


@dataclass(frozen=True)
class AgfSweepConfig:
    """``agf_combos`` (Kim et al. 2018): artist group factors, all task combinations as STN/MTN, wSTN, MLP transfer."""

    name: str
    recipe: str = "agf_combos"
    description: str = ""
    output: str = "raymir_out"
    corpus: SyntheticParams = field(default_factory=SyntheticParams)
    data: DataConfig = field(default_factory=DataConfig)
    mel: MelParams = KIM_MEL
    agf: AgfParams = field(default_factory=AgfParams)
    tasks: str = AGF_TASKS  # the tasks whose non-empty subsets are swept
    archs: tuple[str, ...] = ARCHS
    train: TrainConfig = field(default_factory=TrainConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


SUITE_TASKS = ("genre", "emotion", "tagging", "retrieval")


@dataclass(frozen=True)
class ArtistProbeConfig:
    """The artist sweeps' probe suite: SVM/SVR grids for genre and emotion, a tagging head, retrieval."""

    tasks: tuple[str, ...] = SUITE_TASKS
    folds: int = 5  # CV folds, grouped by artist (no artist on both sides of a split)
    nested: bool = True
    scaler: tuple[bool, ...] = (True, False)
    kernels: tuple[str, ...] = ("linear", "rbf")
    C: tuple[float, ...] = (0.1, 2.0, 8.0, 32.0)
    gamma: tuple[float | str, ...] = ("2^-3", "2^-5", "2^-7", "2^-9", "2^-11", "2^-13", "1/n_features")
    max_iter: int = 1_000_000
    tagger: str = "linear"  # linear | mlp
    retrieval_k: int = 10  # recall@k
    seed: int = 0


@dataclass(frozen=True)
class ArtistLabelsConfig:
    """``artist_labels`` (Park et al. 2017): basic and Siamese artist models × number of training artists."""

    name: str
    recipe: str = "artist_labels"
    description: str = ""
    output: str = "raymir_out"
    corpus: SyntheticParams = field(default_factory=SyntheticParams)
    mel: MelParams = PARK_MEL
    models: tuple[str, ...] = ARTIST_MODES
    n_artists: tuple[int, ...] = (20, 40, 80, 120)
    heldout_artists_per_genre: int = 4  # never trained on: the retrieval and tagging probe sets
    baselines: tuple[str, ...] = ("mfcc", "random")
    train: ArtistTrainConfig = field(default_factory=ArtistTrainConfig)
    probe: ArtistProbeConfig = field(default_factory=ArtistProbeConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


@dataclass(frozen=True)
class ArtistTagsConfig:
    """``artist_tags`` (Wang et al. 2019): a convnet trained on artist tags vs the tag-trained one vs MFCC."""

    name: str
    recipe: str = "artist_tags"
    description: str = ""
    output: str = "raymir_out"
    corpus: SyntheticParams = field(default_factory=SyntheticParams)
    mel: MelParams = field(default_factory=MelParams)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    models: tuple[str, ...] = ("artist_tags", "choi_tags", "mfcc")
    artist_tags_layers: str = "5"  # Wang et al.: the last conv layer
    choi_tags_layers: str = "12345"  # Choi et al.: every layer, concatenated
    probe: ArtistProbeConfig = field(default_factory=lambda: ArtistProbeConfig(tasks=("genre", "emotion")))
    search: SearchConfig = field(default_factory=SearchConfig)


def task_combos(tasks: str = AGF_TASKS) -> tuple[str, ...]:
    """All non-empty subsets of ``tasks`` as strings in the given order ("g", …, "gmdes"), by size."""
    out = ["".join(t for i, t in enumerate(tasks) if mask >> i & 1) for mask in range(1, 2 ** len(tasks))]
    return tuple(sorted(out, key=lambda c: (len(c), [tasks.index(t) for t in c])))


def all_layer_combos() -> tuple[str, ...]:
    """The 31 non-empty subsets of layers 1..5 as strings ("1", "2", …, "12345"), by size then order."""
    out = []
    for mask in range(1, 32):
        out.append("".join(d for i, d in enumerate(LAYER_DIGITS) if mask >> i & 1))
    return tuple(sorted(out, key=lambda s: (len(s), s)))


# --- generic YAML → dataclass --------------------------------------------------------------

def _coerce(value: Any, tp: Any, key: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {value!r}")
            return tp() if _all_defaults(tp) else None
        return _build(tp, value, key, errors)
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


def _build(cls: type, data: dict, prefix: str, errors: list[str]) -> Any:
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


def _check(cfg: SweepConfig) -> list[str]:
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
    p += _check_dataset(cfg.data)
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
    if pr.folds < 2:
        p.append(f"probe.folds: must be ≥ 2, got {pr.folds}")
    if pr.nested and pr.folds < 3:
        p.append("probe.folds: nested CV needs ≥ 3 folds")
    p += _check_grid(pr)
    if cfg.search.cpus_per_trial <= 0:
        p.append(f"search.cpus_per_trial: must be > 0, got {cfg.search.cpus_per_trial}")
    return p


def _check_dataset(d: DatasetConfig | DataConfig) -> list[str]:
    from raymir.data.datasets import DATASETS

    if not d.dataset:
        return [] if not d.path else ["data.path: set data.dataset too (--dataset NAME)"]
    p = []
    if d.dataset not in DATASETS:
        p.append(f"data.dataset: unknown dataset {d.dataset!r} (available: {', '.join(DATASETS)})")
    if not d.path:
        p.append("data.path: the dataset's folder (--data PATH) is required with data.dataset")
    elif not Path(d.path).expanduser().exists():
        p.append(f"data.path: {d.path!r} does not exist")
    if d.split_dir and not Path(d.split_dir).expanduser().is_dir():
        p.append(f"data.split_dir: {d.split_dir!r} is not a folder")
    return p


def _check_grid(pr: ProbeConfig | ArtistProbeConfig) -> list[str]:
    p: list[str] = []
    for k in pr.kernels:
        if k not in ("linear", "rbf"):
            p.append(f"probe.kernels: unknown kernel {k!r} (available: linear, rbf)")
    for C in pr.C:
        if isinstance(C, (int, float)) and C <= 0:
            p.append(f"probe.C: must be > 0, got {C}")
    for g in pr.gamma:
        if isinstance(g, str) and g != "1/n_features" and not _GAMMA.match(g):
            p.append(f"probe.gamma: {g!r} is not a number, '2^k' or '1/n_features'")
        elif isinstance(g, (int, float)) and g <= 0:
            p.append(f"probe.gamma: must be > 0, got {g}")
    if pr.max_iter == 0 or pr.max_iter < -1:
        p.append(f"probe.max_iter: must be -1 (no cap) or ≥ 1, got {pr.max_iter}")
    if not pr.scaler or not pr.kernels or not pr.C:
        p.append("probe: scaler, kernels and C must each list at least one value")
    return p


def _check_agf(cfg: AgfSweepConfig) -> list[str]:
    from raymir.targets.descriptors import DESCRIPTORS, essentia_available

    p: list[str] = []
    c, tr, tf, a = cfg.corpus, cfg.train, cfg.transfer, cfg.agf
    if not cfg.tasks or any(t not in AGF_TASKS for t in cfg.tasks) or len(set(cfg.tasks)) != len(cfg.tasks):
        p.append(f"tasks: {cfg.tasks!r} must be distinct letters of {AGF_TASKS!r} (g genre, m MFCC, d ΔMFCC, "
                 "e descriptors, s subgenres)")
    for arch in cfg.archs:
        if arch not in ARCHS:
            p.append(f"archs: unknown architecture {arch!r} (available: {', '.join(ARCHS)})")
    if "wSTN" in cfg.archs and "g" not in cfg.tasks:
        p.append("archs: wSTN is a widened genre net and needs 'g' in tasks")
    if not 0 <= c.overlap <= 1:
        p.append(f"corpus.overlap: must be in [0, 1], got {c.overlap}")
    if not 0 <= c.label_noise < 0.5:
        p.append(f"corpus.label_noise: must be in [0, 0.5), got {c.label_noise}")
    if c.fma_artists_per_genre < 2 or c.fma_tracks_per_artist < 1:
        p.append("corpus: fma_artists_per_genre must be ≥ 2 and fma_tracks_per_artist ≥ 1")
    seconds = cfg.data.duration if cfg.data.manifest or cfg.data.dataset else c.duration
    p += _check_dataset(cfg.data)
    if cfg.data.manifest and cfg.data.dataset:
        p.append("data: give either data.manifest or data.dataset, not both")
    if seconds * cfg.mel.sr / cfg.mel.hop_length < 43:
        p.append(f"corpus.duration / data.duration: tracks must be ≥ 1 s (43 frames) long, got {seconds}")
    if cfg.data.manifest and not Path(cfg.data.manifest).is_file():
        p.append(f"data.manifest: no such file {cfg.data.manifest!r}")
    if a.descriptors not in DESCRIPTORS:
        p.append(f"agf.descriptors: unknown descriptor set {a.descriptors!r} (available: {', '.join(DESCRIPTORS)})")
    elif a.descriptors == "essentia" and not essentia_available():
        p.append("agf.descriptors: essentia is not installed; pip install 'raymir[essentia]'")
    for k in ("n_words", "descriptor_words", "n_topics"):
        if getattr(a, k) < 2:
            p.append(f"agf.{k}: must be ≥ 2, got {getattr(a, k)}")
    for k in ("epochs", "batch_size", "num_workers", "reports"):
        if getattr(tr, k) < 1:
            p.append(f"train.{k}: must be ≥ 1, got {getattr(tr, k)}")
    if tr.task_sampling not in ("batch", "epoch"):
        p.append(f"train.task_sampling: must be batch or epoch, got {tr.task_sampling!r}")
    if tr.precision not in ("auto", "bf16", "fp32"):
        p.append(f"train.precision: must be auto, bf16 or fp32, got {tr.precision!r}")
    if tr.lr <= 0 or tf.lr <= 0:
        p.append("train.lr and transfer.lr must be > 0")
    if not 0 < tf.val_fraction < 0.5:
        p.append(f"transfer.val_fraction: must be in (0, 0.5), got {tf.val_fraction}")
    if not 0 <= tf.dropout < 1:
        p.append(f"transfer.dropout: must be in [0, 1), got {tf.dropout}")
    for k in ("hidden", "epochs", "batch_size"):
        if getattr(tf, k) < 1:
            p.append(f"transfer.{k}: must be ≥ 1, got {getattr(tf, k)}")
    if cfg.search.cpus_per_trial <= 0:
        p.append(f"search.cpus_per_trial: must be > 0, got {cfg.search.cpus_per_trial}")
    return p


def _check_probe_suite(pr: ArtistProbeConfig, allowed: tuple[str, ...]) -> list[str]:
    p: list[str] = []
    for t in pr.tasks:
        if t not in allowed:
            p.append(f"probe.tasks: unknown task {t!r} (available here: {', '.join(allowed)})")
    if not pr.tasks:
        p.append("probe.tasks: name at least one probe task")
    if pr.folds < 2:
        p.append(f"probe.folds: must be ≥ 2, got {pr.folds}")
    if pr.nested and pr.folds < 3:
        p.append("probe.folds: nested CV needs ≥ 3 folds")
    p += _check_grid(pr)
    if pr.tagger not in ("linear", "mlp"):
        p.append(f"probe.tagger: must be linear or mlp, got {pr.tagger!r}")
    if pr.retrieval_k < 1:
        p.append(f"probe.retrieval_k: must be ≥ 1, got {pr.retrieval_k}")
    return p


def _check_corpus(c: SyntheticParams) -> list[str]:
    p: list[str] = []
    if not 0 <= c.overlap <= 1:
        p.append(f"corpus.overlap: must be in [0, 1], got {c.overlap}")
    if not 0 <= c.label_noise < 0.5:
        p.append(f"corpus.label_noise: must be in [0, 0.5), got {c.label_noise}")
    if c.duration <= 0:
        p.append(f"corpus.duration: must be > 0 seconds, got {c.duration}")
    for k in ("source_artists_per_genre", "source_tracks_per_artist", "target_artists_per_genre",
              "target_tracks_per_artist", "n_tags"):
        if getattr(c, k) < 1:
            p.append(f"corpus.{k}: must be ≥ 1, got {getattr(c, k)}")
    return p


def _check_artist_labels(cfg: ArtistLabelsConfig) -> list[str]:
    from raymir.data.music import GENRES

    p = _check_corpus(cfg.corpus) + _check_probe_suite(cfg.probe, SUITE_TASKS)
    c, tr = cfg.corpus, cfg.train
    for m in cfg.models:
        if m not in ARTIST_MODES:
            p.append(f"models: unknown model {m!r} (available: {', '.join(ARTIST_MODES)})")
    for b in cfg.baselines:
        if b not in ("mfcc", "random"):
            p.append(f"baselines: unknown baseline {b!r} (available: mfcc, random)")
    pool = (c.source_artists_per_genre - cfg.heldout_artists_per_genre) * len(GENRES)
    if cfg.heldout_artists_per_genre < 1:
        p.append(f"heldout_artists_per_genre: must be ≥ 1 (retrieval needs unseen artists), "
                 f"got {cfg.heldout_artists_per_genre}")
    if c.source_tracks_per_artist < 2:
        p.append("corpus.source_tracks_per_artist: the Siamese positive and retrieval need ≥ 2 tracks per artist")
    for n in cfg.n_artists:
        if not 2 <= n <= pool:
            p.append(f"n_artists: {n} is outside 2..{pool} (the corpus has {c.source_artists_per_genre} source "
                     f"artists per genre × {len(GENRES)} genres, {cfg.heldout_artists_per_genre} per genre held out)")
    if not cfg.n_artists or not cfg.models:
        p.append("n_artists and models must each list at least one value")
    if c.duration * cfg.mel.sr / cfg.mel.hop_length < 129:
        p.append(f"corpus.duration: the artist models train on 3-s crops; got {c.duration} s clips")
    for k in ("epochs", "batch_size", "num_workers", "reports", "n_negatives"):
        if getattr(tr, k) < 1:
            p.append(f"train.{k}: must be ≥ 1, got {getattr(tr, k)}")
    if tr.precision not in ("auto", "bf16", "fp32"):
        p.append(f"train.precision: must be auto, bf16 or fp32, got {tr.precision!r}")
    if tr.lr <= 0 or tr.margin <= 0:
        p.append("train.lr and train.margin must be > 0")
    if cfg.search.cpus_per_trial <= 0:
        p.append(f"search.cpus_per_trial: must be > 0, got {cfg.search.cpus_per_trial}")
    return p


def _check_artist_tags(cfg: ArtistTagsConfig) -> list[str]:
    from raymir.models import MODELS

    p = _check_corpus(cfg.corpus) + _check_probe_suite(cfg.probe, ("genre", "emotion"))
    pt = cfg.pretrain
    for m in cfg.models:
        if m not in ("artist_tags", "choi_tags", "mfcc"):
            p.append(f"models: unknown model {m!r} (available: artist_tags, choi_tags, mfcc)")
    valid = set(all_layer_combos())
    for k in ("artist_tags_layers", "choi_tags_layers"):
        if getattr(cfg, k) not in valid:
            p.append(f"{k}: {getattr(cfg, k)!r} is not a layer combination (digits 1-5, increasing, e.g. '5')")
    if cfg.mel.n_frames < 1280:
        p.append(f"mel: the Choi convnet needs ≥ 1280 frames (29 s at 12 kHz, hop 256); got {cfg.mel.n_frames}")
    if pt.model not in MODELS:
        p.append(f"pretrain.model: unknown model {pt.model!r} (available: {', '.join(MODELS)})")
    for k in ("epochs", "batch_size", "num_workers"):
        if getattr(pt, k) < 1:
            p.append(f"pretrain.{k}: must be ≥ 1, got {getattr(pt, k)}")
    if not 0 < pt.val_fraction < 1:
        p.append(f"pretrain.val_fraction: must be in (0, 1), got {pt.val_fraction}")
    if cfg.search.cpus_per_trial <= 0:
        p.append(f"search.cpus_per_trial: must be > 0, got {cfg.search.cpus_per_trial}")
    return p


RECIPES: dict[str, tuple[type, typing.Callable[[Any], list[str]]]] = {
    "layer_combos": (SweepConfig, _check),
    "agf_combos": (AgfSweepConfig, _check_agf),
    "artist_labels": (ArtistLabelsConfig, _check_artist_labels),
    "artist_tags": (ArtistTagsConfig, _check_artist_tags),
}
SweepConfigs = SweepConfig | AgfSweepConfig | ArtistLabelsConfig | ArtistTagsConfig


# --- files, presets, overrides ---------------------------------------------------------------

def sweep_dirs() -> list[Path]:
    """Where sweep files are looked up: ./sweeps, then the sweeps/ shipped beside the package."""
    return [Path.cwd() / "sweeps", Path(__file__).resolve().parents[1] / "sweeps"]


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


def load_sweep(name_or_path: str, *, preset: str | None = None,
               overrides: tuple[str, ...] = ()) -> SweepConfigs:
    """Load, merge preset and ``key=value`` overrides, validate; raise ConfigError listing every problem."""
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
    recipe = data.get("recipe", "layer_combos")
    if recipe not in RECIPES:
        raise ConfigError(str(path), [f"recipe: unknown recipe {recipe!r} (available: {', '.join(RECIPES)})"])
    cls, check = RECIPES[recipe]
    cfg = _build(cls, data, "", errors)
    if cfg is not None:
        errors += check(cfg)
    if errors:
        raise ConfigError(str(path), errors)
    return cfg
