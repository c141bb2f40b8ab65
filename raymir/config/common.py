"""What several sweep configs share: the corpus and output fields, the SVM/SVR grid, Ray Tune
resources, a real dataset as target, and the checks on them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from raymir.config.sections import GAMMA_POWER, PRECISIONS, SYNTHETIC_TASKS, SyntheticParams

FEATURES = ("convnet", "random", "mfcc", "convnet+mfcc")
SOLVERS = ("libsvm", "lssvm")
CHOI_LAYERS = 5  # raymir's Choi convnet and the released Choi model: five conv layers
DIGIT_LAYERS = 9  # up to 9 layers a combination is a string of digits ("135"); from 10 on, "+"-joined ("1+2+12")
LAYER_KEYWORDS = ("all", "singles", "cumulative")  # and "windows:K"
MAX_COMBINATIONS = 63  # features.max_combinations' default: every combination of up to 6 layers
_COMBO = re.compile(r"[1-9][0-9]*(\+[1-9][0-9]*)*")
_WINDOWS = re.compile(r"windows:([0-9]+)")


@dataclass(frozen=True)
class DataSource:
    """A dataset in its own on-disk layout (``raymir.data.datasets``)."""

    dataset: str = ""  # empty: the embedded synthetic corpus; else gtzan, mtat, fma, manifest, …
    path: str = ""  # the dataset's root folder (manifest: the CSV / JSONL file)
    split_dir: str = ""  # gtzan: folder of train*/valid*/test*.txt split lists
    size: str = "small"  # fma: small | medium | large | full


@dataclass(frozen=True)
class DataConfig(DataSource):
    """The ``data:`` section of every sweep: real datasets in place of the synthetic corpus.

    ``dataset``/``path`` (``--dataset``/``--data``) is the dataset the sweep is measured on: the
    probe target of ``layer_combos``, ``artist_labels`` and ``artist_tags``, the training corpus of
    ``agf_combos``. ``source`` (``--source-dataset``/``--source-data``) is the pretraining data:
    tagged clips (MTAT, a manifest with tags) for the tagging convnets, clips with artists (FMA, a
    manifest with an artist column) for the artist models.
    """

    source: DataSource = field(default_factory=DataSource)
    duration: float = 0.0  # seconds read per clip (cropped or repeated); 0: the front end's clip length


@dataclass(frozen=True)
class SweepBase:
    """Fields every sweep file has; ``recipe`` picks the config class (see ``raymir.config.RECIPES``)."""

    name: str
    recipe: str = ""
    description: str = ""
    output: str = "raymir_out"
    corpus: SyntheticParams = field(default_factory=SyntheticParams)  # the embedded corpus (where data is unset)
    data: DataConfig = field(default_factory=DataConfig)


@dataclass(frozen=True)
class GridConfig:
    """The SVM/SVR probe grid (Choi et al.) and its cross-validation protocol."""

    folds: int = 10
    nested: bool = True
    scaler: tuple[bool, ...] = (True, False)
    kernels: tuple[str, ...] = ("linear", "rbf")
    C: tuple[float, ...] = (0.1, 2.0, 8.0, 32.0)
    gamma: tuple[float | str, ...] = ("2^-3", "2^-5", "2^-7", "2^-9", "2^-11", "2^-13", "1/n_features")
    max_iter: int = 1_000_000  # libsvm iterations per fit (-1: none); unscaled SVR fits can otherwise run for hours
    seed: int = 0
    solver: str = "libsvm"  # libsvm: exact SVM/SVR (scikit-learn's) | lssvm: least-squares SVM in torch, GPU if any
    device: str = "auto"  # lssvm: auto (cuda when visible) | cpu | cuda
    solver_precision: str = "auto"  # lssvm: auto | mixed (float32 factors refined to float64) | fp64
    kernel_memory_gb: float = 4.0  # per trial; above it libsvm computes kernel rows itself (same scores, slower)


@dataclass(frozen=True)
class ProbeConfig(GridConfig):
    """The grid on the synthetic target tasks (``layer_combos``)."""

    tasks: tuple[str, ...] = SYNTHETIC_TASKS
    repeats: int = 1  # CV repeated with folds re-drawn (seed + r); predefined folds are used once
    # with repeats > 1, each repeat also pretrains the convnet again (pretrain.seed + r) and draws a new random-weights
    # net (pretrain.seed + 1 + r): the intervals then cover the training seed, not only the folds; predefined folds
    # are then probed once per repeat's features. false: repeat 0's nets are probed on every repeat's folds.
    repeat_training: bool = True


@dataclass(frozen=True)
class SearchConfig:
    """Ray Tune resources for the probe trials."""

    cpus_per_trial: float = 1.0
    max_concurrent_trials: int = 0  # 0: as many as the cluster's CPUs allow
    max_failures: int = 1
    combos_per_trial: int = 8  # layer combinations fitted in one trial: they share its per-layer kernels
    gpus_per_trial: float = 0.0  # > 0 with probe.solver lssvm on a cluster with GPUs


def combo_name(layers: tuple[int, ...], n_layers: int) -> str:
    """Layers (1-based, increasing) as a combination's name: digits up to 9 layers ("135"), "+"-joined from 10
    ("1+3+12"). The digit notation is the cache and MLflow key of every sweep of the 5-layer convnets."""
    return ("" if n_layers <= DIGIT_LAYERS else "+").join(str(layer) for layer in layers)


def combo_layers(combo: str, n_layers: int) -> tuple[int, ...]:
    """A combination's layers, 1-based and increasing: "135" → (1, 3, 5) for ≤ 9 layers; "1+3+12" → (1, 3, 12) and
    "12" → (12,) for ≥ 10. ValueError naming the combination and ``n_layers`` when it is not one of theirs."""
    digits = n_layers <= DIGIT_LAYERS
    example = "'135'" if digits else "'1+2+12'"
    if not _COMBO.fullmatch(combo) or (digits and "+" in combo):
        raise ValueError(f"{combo!r} is not a layer combination of {n_layers} layers (write "
                         f"{'digits' if digits else 'layer numbers joined by +'}, increasing, e.g. {example})")
    layers = tuple(int(c) for c in combo) if digits else tuple(int(t) for t in combo.split("+"))
    beyond = [layer for layer in layers if not 1 <= layer <= n_layers]
    if beyond:
        raise ValueError(f"{combo!r} is not a layer combination of {n_layers} layers: it names layer {beyond[0]}, "
                         f"not one of 1-{n_layers}")
    if any(a >= b for a, b in zip(layers, layers[1:])):
        raise ValueError(f"{combo!r} is not a layer combination of {n_layers} layers: its layers must increase, each "
                         f"once (e.g. {example})")
    return layers


def all_layer_combos(n_layers: int = CHOI_LAYERS) -> tuple[str, ...]:
    """The non-empty subsets of layers 1..n_layers (31 for 5 layers: "1", "2", …, "12345"), by size, then in
    order of their layers."""
    subsets = [tuple(i + 1 for i in range(n_layers) if mask >> i & 1) for mask in range(1, 2 ** n_layers)]
    return tuple(combo_name(s, n_layers) for s in sorted(subsets, key=lambda s: (len(s), s)))


def check_layer_item(item: str) -> str | None:
    """Why an item of ``features.layers`` is not a keyword (all, singles, cumulative, windows:K) or a combination's
    notation (digits or "+"-joined layer numbers); None when it is. Whether its layers exist needs the encoder's
    layer count (:func:`resolve_layer_combos`)."""
    if item in LAYER_KEYWORDS or _COMBO.fullmatch(item):
        return None
    windows = _WINDOWS.fullmatch(item)
    if windows:
        return None if int(windows.group(1)) >= 1 else f"{item!r}: a window holds at least 1 layer (windows:K, K ≥ 1)"
    return (f"{item!r} is not a layer combination ('135'; from 10 layers on '1+2+12') or one of "
            f"{', '.join(LAYER_KEYWORDS)}, windows:K")


def _keyword_combos(item: str, n_layers: int, *, limit: int) -> tuple[tuple[int, ...], ...] | None:
    """The layer tuples a keyword stands for, or None when ``item`` is not a keyword."""
    layers = tuple(range(1, n_layers + 1))
    if item == "all":
        n_combos = 2 ** n_layers - 1
        if n_combos > limit:
            raise ValueError(f"'all' is {n_combos} layer combinations of {n_layers} layers, more than "
                             f"features.max_combinations={limit}; list fewer (singles, cumulative, windows:K, explicit "
                             f"combinations) or raise features.max_combinations")
        return tuple(combo_layers(c, n_layers) for c in all_layer_combos(n_layers))
    if item == "singles":
        return tuple((layer,) for layer in layers)
    if item == "cumulative":
        return tuple(layers[:k] for k in layers)
    windows = _WINDOWS.fullmatch(item)
    if windows is None:
        return None
    k = int(windows.group(1))
    if not 1 <= k <= n_layers:
        raise ValueError(f"{item!r}: windows of {k} layers do not fit {n_layers} layers (K from 1 to {n_layers})")
    return tuple(layers[i:i + k] for i in range(n_layers - k + 1))


def resolve_layer_combos(spec: tuple[str, ...], n_layers: int, *, limit: int = MAX_COMBINATIONS) -> tuple[str, ...]:
    """``features.layers`` for an encoder of ``n_layers`` layers → the combinations' names, in the order given,
    each once.

    spec: explicit combinations ("135", "1+2+12") and keywords: all (the default, for an empty spec: every
    combination, at most ``limit`` of them), singles (1, 2, …, L), cumulative (1, 12, 123, …), windows:K (every
    run of K consecutive layers). ValueError naming the item and ``n_layers`` for one that does not fit.
    """
    out: dict[str, None] = {}
    for item in spec or ("all",):
        problem = check_layer_item(item)
        if problem:
            raise ValueError(problem)
        combos = _keyword_combos(item, n_layers, limit=limit)
        for layers in combos if combos is not None else (combo_layers(item, n_layers),):
            out[combo_name(layers, n_layers)] = None
    return tuple(out)


FMA_SIZES = ("small", "medium", "large", "full")


def _check_source(d: DataSource, prefix: str) -> list[str]:
    from raymir.data.datasets import DATASETS

    if not d.dataset:
        given = [k for k in ("path", "split_dir") if getattr(d, k)]
        return [f"{prefix}.{k}: set {prefix}.dataset too" for k in given]
    p = []
    if d.dataset not in DATASETS:
        p.append(f"{prefix}.dataset: unknown dataset {d.dataset!r} (available: {', '.join(DATASETS)})")
    if not d.path:
        p.append(f"{prefix}.path: the dataset's folder (or manifest file) is required with {prefix}.dataset")
    elif not Path(d.path).expanduser().exists():
        p.append(f"{prefix}.path: {d.path!r} does not exist")
    if d.split_dir and not Path(d.split_dir).expanduser().is_dir():
        p.append(f"{prefix}.split_dir: {d.split_dir!r} is not a folder")
    if d.size not in FMA_SIZES:
        p.append(f"{prefix}.size: must be one of {', '.join(FMA_SIZES)}, got {d.size!r}")
    return p


def check_data(d: DataConfig, *, source: bool = True) -> list[str]:
    """The ``data:`` section; ``source=False``: the recipe takes no separate pretraining data."""
    p = _check_source(d, "data") + _check_source(d.source, "data.source")
    if d.source.dataset and not source:
        p.append("data.source: this recipe trains on data.dataset itself; leave data.source empty")
    if d.duration < 0:
        p.append(f"data.duration: must be ≥ 0 seconds (0: the front end's clip length), got {d.duration}")
    return p


def check_grid(pr: GridConfig) -> list[str]:
    p: list[str] = []
    if pr.folds < 2:
        p.append(f"probe.folds: must be ≥ 2, got {pr.folds}")
    if pr.nested and pr.folds < 3:
        p.append("probe.folds: nested CV needs ≥ 3 folds")
    for k in pr.kernels:
        if k not in ("linear", "rbf"):
            p.append(f"probe.kernels: unknown kernel {k!r} (available: linear, rbf)")
    for C in pr.C:
        if isinstance(C, (int, float)) and C <= 0:
            p.append(f"probe.C: must be > 0, got {C}")
    for g in pr.gamma:
        if isinstance(g, str) and g != "1/n_features" and not GAMMA_POWER.match(g):
            p.append(f"probe.gamma: {g!r} is not a number, '2^k' or '1/n_features'")
        elif isinstance(g, (int, float)) and g <= 0:
            p.append(f"probe.gamma: must be > 0, got {g}")
    if pr.max_iter == 0 or pr.max_iter < -1:
        p.append(f"probe.max_iter: must be -1 (no cap) or ≥ 1, got {pr.max_iter}")
    if pr.solver not in SOLVERS:
        p.append(f"probe.solver: unknown solver {pr.solver!r} (available: {', '.join(SOLVERS)})")
    if pr.device not in ("auto", "cpu", "cuda"):
        p.append(f"probe.device: {pr.device!r} is not auto, cpu or cuda")
    if pr.solver_precision not in ("auto", "mixed", "fp64"):
        p.append(f"probe.solver_precision: {pr.solver_precision!r} is not auto, mixed or fp64")
    if not pr.kernel_memory_gb > 0:
        p.append(f"probe.kernel_memory_gb: must be > 0, got {pr.kernel_memory_gb}")
    if not pr.scaler or not pr.kernels or not pr.C:
        p.append("probe: scaler, kernels and C must each list at least one value")
    return p


def check_corpus(c: SyntheticParams) -> list[str]:
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


def check_training(t, prefix: str, *, counts: tuple[str, ...] = ("epochs", "batch_size", "num_workers")) -> list[str]:
    """What every training section (``PretrainConfig``, ``KimTrainConfig``, ``ParkTrainConfig``) must satisfy:
    ``counts`` ≥ 1, a known precision, loader processes ≥ 0, a positive learning rate."""
    p = [f"{prefix}.{k}: must be ≥ 1, got {getattr(t, k)}" for k in counts if getattr(t, k) < 1]
    if t.precision not in PRECISIONS:
        p.append(f"{prefix}.precision: must be {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}, got {t.precision!r}")
    if t.loader_workers < 0:
        p.append(f"{prefix}.loader_workers: must be ≥ 0, got {t.loader_workers}")
    if t.lr <= 0:
        p.append(f"{prefix}.lr: must be > 0, got {t.lr}")
    return p


def check_pretrain(pt, mel) -> list[str]:
    """Tagging pretraining of the Choi convnet (``PretrainConfig``) on its front end (``MelParams``)."""
    from raymir.models import MODELS  # the registry of nets (imports torch: only when a sweep is checked)

    p: list[str] = []
    if mel.n_frames < 1280:
        p.append(f"mel: the Choi convnet needs ≥ 1280 frames (29 s at 12 kHz, hop 256); got {mel.n_frames}")
    if pt.model not in MODELS:
        p.append(f"pretrain.model: unknown model {pt.model!r} (available: {', '.join(MODELS)})")
    if not 0 < pt.val_fraction < 1:
        p.append(f"pretrain.val_fraction: must be in (0, 1), got {pt.val_fraction}")
    return p + check_training(pt, "pretrain")


def check_search(s: SearchConfig, *, unused: dict[str, str] | None = None) -> list[str]:
    """The search section's values; ``unused``: {setting: why this sweep has no use for it}, refused when set away
    from its default (a setting a sweep would silently ignore misleads whoever sized the cluster by it)."""
    p = [f"search.cpus_per_trial: must be > 0, got {s.cpus_per_trial}"] if s.cpus_per_trial <= 0 else []
    if s.combos_per_trial < 1:
        p.append(f"search.combos_per_trial: must be ≥ 1, got {s.combos_per_trial}")
    if s.gpus_per_trial < 0:
        p.append(f"search.gpus_per_trial: must be ≥ 0, got {s.gpus_per_trial}")
    default = SearchConfig()
    for name, why in (unused or {}).items():
        if getattr(s, name) != getattr(default, name):
            p.append(f"search.{name}: does not apply here ({why}); leave it at {getattr(default, name)}, "
                     f"got {getattr(s, name)}")
    return p


ENCODER_PATHS = {"choi2017_keras": "file", "park2017_keras": "file", "embeddings": "folder"}
ENCODER_WANTS = {"choi2017_keras": "the released model_best.hdf5", "park2017_keras": "a released Park 2017 .h5",
                 "torch": "module.path:factory or file.py:factory", "hear": "an importable HEAR module's name",
                 "embeddings": "a folder of per-layer .npy arrays and a manifest"}


def check_encoder_section(e, kinds: tuple[str, ...]) -> list[str]:
    """The ``encoder:`` section (an :class:`~raymir.config.sections.EncoderConfig`) for a sweep taking ``kinds``
    ("" = its own nets): kind known, path given and of the right sort, torch / hear settings in range."""
    from raymir.config.sections import POOLINGS

    if e.kind not in kinds:
        return [f"encoder.kind: {e.kind!r} is not available here (available: '' to train raymir's own nets, "
                f"{', '.join(k for k in kinds if k)})"]
    if not e.kind:
        return [f"encoder.path: set encoder.kind too ({', '.join(k for k in kinds if k)})"] if e.path else []
    p = [f"encoder.path: required with encoder.kind {e.kind}: {ENCODER_WANTS[e.kind]}"] if not e.path else []
    sort = ENCODER_PATHS.get(e.kind)
    path = Path(e.path).expanduser()
    if e.path and sort and not (path.is_file() if sort == "file" else path.is_dir()):
        p.append(f"encoder.path: {e.path!r} is not a {sort} ({ENCODER_WANTS[e.kind]})")
    if e.kind == "torch" and e.path:
        module, _, factory = e.path.rpartition(":")
        if not module or not factory.isidentifier():
            p.append(f"encoder.path: {e.path!r}: expected {ENCODER_WANTS['torch']}")
    if e.weights and e.kind not in ("torch", "hear"):
        p.append(f"encoder.weights: only for encoder.kind torch or hear (the {e.kind} path is the whole model)")
    if e.weights and not Path(e.weights).expanduser().is_file():
        p.append(f"encoder.weights: {e.weights!r} is not a file")
    if e.pooling not in POOLINGS:
        p.append(f"encoder.pooling: {e.pooling!r} is not one of {', '.join(POOLINGS)}")
    if e.window_seconds < 0:
        p.append(f"encoder.window_seconds: must be ≥ 0 (0: the whole clip at once), got {e.window_seconds}")
    return p
