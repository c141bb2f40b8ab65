"""A given encoder in place of a net raymir trains (the ``encoder:`` section, ``--encoder KIND:PATH``).

A given encoder is a :class:`TrackFeature`: one function, clips → features, and what those features depend
on beside the clips (``params``: the file's sha256 and the options that make raymir's net the release), so
:func:`track_features` caches them by content. The released Keras models (``raymir.models.keras_release``)
give two:

- ``choi2017_keras``: the Choi 2017 tagger's pooled layer features ([n, 5, 32] stored, the layers of
  ``encoder.layers`` concatenated; "" means all five, "12345", as Choi et al.), on clips repeated to 29 s
  at 12 kHz — the same cache entries as ``layer_combos``' features of the release;
- ``park2017_keras``: the Park 2017 track feature ([n, 256]): Park's front end (log10(1 + 10·mel) at
  22.05 kHz), the release's standardisation (inside the imported net), per 3-s segment the last conv
  layer's max over time, mean over segments.

Each has a random-weights twin (the same net and options, untrained, seeded by the caller) as its baseline.

Any encoder in ``raymir.encoders``' two forms gives one too:

- ``torch`` / ``hear``: the pooled layers of ``encoder.layers`` concatenated ([n, Σ d_i]; "" means the last
  layer: the artist suites probe one track feature, and the last layer is what a user usually means by "the
  embedding"), from ``AudioEncoder.embed`` on each subset's clips at the subset's rate (resampled to the
  encoder's). A clip the encoder fails on is a NaN row and a message, never a crash: the recipes leave it out of
  the probes and record it. The random-weights twin is the torch factory's module without ``encoder.weights``;
  a HEAR module, or a torch module without weights, has none (:func:`no_twin`).

Another kind plugs in as one more entry of :data:`RELEASES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raymir import cache
from raymir.config.common import combo_layers, combo_name
from raymir.config.sections import PARK_MEL, EncoderConfig
from raymir.data.subset import Subset
from raymir.encoders import AudioEncoder, load_encoder
from raymir.errors import ModelFileError
from raymir.extract import cached_features_and_failures, layer_features, state_digest
from raymir.models.choi2017 import Choi2017
from raymir.models.keras_release import (
    CHOI_MEL,
    CHOI_RELEASE_OPTIONS,
    CHOI_TAGS,
    PARK_RELEASE_OPTIONS,
    ReleaseInfo,
    load_choi2017,
    load_park2017,
)
from raymir.models.park2017 import Park2017, ParkFrontend, track_feature
from raymir.session import log


@dataclass(frozen=True)
class Extractor:
    """A net whose pooled layer features are extracted, and what they depend on beside the clips (the cache key)."""

    net: torch.nn.Module
    params: dict


def release_feature_params(sha256: str) -> dict:
    """What the released Choi model's features depend on beside the clips: the file's content (its sha256),
    the options that make a Choi2017 the release, and its front end."""
    return {"encoder": "choi2017_keras", "sha256": sha256, "options": CHOI_RELEASE_OPTIONS, "mel": asdict(CHOI_MEL)}


def random_choi(seed: int) -> Extractor:
    """A Choi2017 with the release's options and untrained He-normal weights drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    net = Choi2017(len(CHOI_TAGS), mel=CHOI_MEL, **CHOI_RELEASE_OPTIONS)
    return Extractor(net, {"model": state_digest(net.state_dict()), "options": CHOI_RELEASE_OPTIONS,
                           "mel": asdict(CHOI_MEL)})


# --- track features of a given encoder ------------------------------------------------------------------


def _all(stored: np.ndarray) -> np.ndarray:
    return stored


@dataclass(frozen=True)
class TrackFeature:
    """One net whose features the artist sweeps probe.

    ``compute``: (audio [n, samples], its sample rate sr) → (the stored array [n, …] or per-layer arrays
    L × [n, d_i], {row: why the net failed on that clip}); ``select``: the stored value → the track feature
    [n, d] (NaN rows for failed clips). ``feature`` ("convnet" | "random") and ``params`` key the cache beside the
    clips; ``info`` goes to the trial's MLflow params.
    """

    feature: str
    params: dict
    compute: Callable[[np.ndarray, int], tuple[np.ndarray | list[np.ndarray], dict[int, str]]]
    select: Callable = _all
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Loaded:
    """A given encoder as imported: ``model`` (a torch net, or an ``AudioEncoder``), the sha256 of what defines it,
    and what its trial records beside its kind and path (``record``)."""

    model: Any
    sha256: str
    record: dict


def choi_layers(e: EncoderConfig) -> str:
    """The Choi tagger's layers forming the track feature: ``encoder.layers``, or all five as Choi et al."""
    return e.layers or "12345"


def choi_feature(ex: Extractor, feature: str, *, layers: str, batch_size: int = 8) -> TrackFeature:
    """The Choi tagger's pooled layer features ([n, 5, 32] stored, as ``layer_combos`` stores them), ``layers``
    concatenated: → [n, 32 · len(layers)]."""
    idx = [int(d) - 1 for d in layers]

    def select(stored: np.ndarray) -> np.ndarray:
        return stored[:, idx].reshape(len(stored), -1)

    # the clips are at the release's rate (the config forces the sweep's mel to the release's): sr is not needed
    return TrackFeature(feature, ex.params, select=select,
                        compute=lambda audio, sr: (layer_features(ex.net, audio, n_samples=CHOI_MEL.n_samples,
                                                                  batch_size=batch_size), {}),
                        info={"layers": layers, "feature": f"choi2017 layers {layers}: global average pool of each, "
                                                           "concatenated (raymir.extract.layer_features)"})


@torch.no_grad()
def park_track_features(net: Park2017, audio: np.ndarray, *, batch_size: int = 16) -> np.ndarray:
    """Park's track feature of every clip: audio [n, samples] at 22.05 kHz (≥ 3 s) → [n, 256] float32.

    The net standardises its log-mel input itself (the release's mean and std, ``PARK_RELEASE_OPTIONS``).
    """
    front = ParkFrontend(PARK_MEL)
    out = [np.zeros((0, 256), dtype=np.float32)]
    for i in range(0, len(audio), batch_size):
        y = torch.from_numpy(np.array(audio[i:i + batch_size], dtype=np.float32))  # a writable copy
        out.append(track_feature(net, front(y)).numpy())
    return np.concatenate(out)


def park_feature(net: Park2017, feature: str, params: dict) -> TrackFeature:
    # the clips are at the release's rate (the config forces the sweep's mel to the release's): sr is not needed
    return TrackFeature(feature, params, compute=lambda audio, sr: (park_track_features(net, audio), {}),
                        info={"feature": "park2017 track feature (256-d): per 3-s segment the last conv layer's max "
                                         "over time, mean over segments (raymir.models.park2017.track_feature)"})


def park_params(sha256: str) -> dict:
    """What the released Park model's track features depend on beside the clips (cf. :func:`release_feature_params`)."""
    return {"encoder": "park2017_keras", "sha256": sha256, "options": PARK_RELEASE_OPTIONS, "mel": asdict(PARK_MEL),
            "feature": "track"}


def encoder_layers(e: EncoderConfig, encoder: AudioEncoder) -> str:
    """The layers of a torch / HEAR encoder forming the track feature: ``encoder.layers``, or "" → its last layer
    (the artist suites probe one track feature, and the last layer is what a user usually means by "the
    embedding"). A combination the encoder lacks raises ModelFileError naming encoder.layers, the value and L."""
    if not e.layers:
        return combo_name((encoder.n_layers,), encoder.n_layers)
    try:
        combo_layers(e.layers, encoder.n_layers)
    except ValueError as err:
        raise ModelFileError(f"encoder.layers: {err} (the {e.kind} encoder {encoder.name} has L = {encoder.n_layers} "
                             "layers)") from None
    return e.layers


def encoder_feature(encoder: AudioEncoder, feature: str, *, layers: str, batch_size: int = 8) -> TrackFeature:
    """A torch / HEAR encoder's pooled layer features (L × [n, d_i] stored, as ``layer_combos`` stores them, with
    the clips it failed on as NaN rows and their messages), ``layers`` concatenated: → [n, Σ d_i]."""
    idx = [layer - 1 for layer in combo_layers(layers, encoder.n_layers)]

    def select(stored: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([stored[i] for i in idx], axis=1)

    e = encoder.section
    how = f"{e.pooling} over time" + (f", mean over {e.window_seconds:g}-s windows" if e.window_seconds else "")
    return TrackFeature(feature, encoder.params, select=select,
                        compute=lambda audio, sr: encoder.embed(audio, sr, batch_size=batch_size),
                        info={"layers": layers, "feature": f"{encoder.name} layers {layers}: {how} of each, "
                                                           "concatenated (raymir.encoders)"})


def _release_loaded(net: torch.nn.Module, info: ReleaseInfo) -> Loaded:
    which = "the published file" if info.published else "not the published file"
    log(f"encoder: {info.path} ({info.model}, {which}, sha256 {info.sha256[:12]}…); nothing is trained")
    record = {"release": info.model, "published": info.published}
    return Loaded(net, info.sha256, record | ({"release_n_artists": info.n_artists} if info.n_artists else {}))


def _load_choi(e: EncoderConfig) -> Loaded:
    return _release_loaded(*load_choi2017(e.path))


def _load_park(e: EncoderConfig) -> Loaded:
    return _release_loaded(*load_park2017(e.path))


def _load_encoder(e: EncoderConfig) -> Loaded:
    encoder = load_encoder(e)
    layers = encoder_layers(e, encoder)  # a combination the encoder lacks stops here
    log(f"encoder: {e.kind} {encoder.name} at {encoder.sr} Hz, {encoder.n_layers} layers of "
        f"{', '.join(map(str, encoder.widths))} dims, track feature: layers {layers} (sha256 {encoder.sha256[:12]}…); "
        "nothing is trained")
    return Loaded(encoder, encoder.sha256, {"encoder.name": encoder.name})


def _choi_release(e: EncoderConfig, loaded: Loaded) -> TrackFeature:
    return choi_feature(Extractor(loaded.model, release_feature_params(loaded.sha256)), "convnet",
                        layers=choi_layers(e))


def _park_release(e: EncoderConfig, loaded: Loaded) -> TrackFeature:
    return park_feature(loaded.model, "convnet", park_params(loaded.sha256))


def _given_encoder(e: EncoderConfig, loaded: Loaded) -> TrackFeature:
    return encoder_feature(loaded.model, "convnet", layers=encoder_layers(e, loaded.model))


def _choi_twin(e: EncoderConfig, seed: int) -> TrackFeature:
    return choi_feature(random_choi(seed), "random", layers=choi_layers(e))


def _park_twin(e: EncoderConfig, seed: int) -> TrackFeature:
    torch.manual_seed(seed)
    net = Park2017(None, n_mels=PARK_MEL.n_mels, **PARK_RELEASE_OPTIONS)  # the release's tower, untrained
    return park_feature(net, "random", {"model": state_digest(net.state_dict()), "options": PARK_RELEASE_OPTIONS,
                                        "mel": asdict(PARK_MEL), "feature": "track"})


def _torch_twin(e: EncoderConfig, seed: int) -> TrackFeature:
    twin = load_encoder(e, random_seed=seed)  # the factory's module, seeded, without encoder.weights
    return encoder_feature(twin, "random", layers=encoder_layers(e, twin))


# kind → (its importer: the encoder section → Loaded; its track feature; its random-weights twin, None if none)
RELEASES: dict[str, tuple[Callable, Callable, Callable | None]] = {
    "choi2017_keras": (_load_choi, _choi_release, _choi_twin),
    "park2017_keras": (_load_park, _park_release, _park_twin),
    "torch": (_load_encoder, _given_encoder, _torch_twin),
    "hear": (_load_encoder, _given_encoder, None),
}


def load_release(e: EncoderConfig) -> Loaded:
    """The given encoder of the section ``e``, imported and checked (a bad file or module, or torch / HEAR
    ``encoder.layers`` naming a layer it lacks, raises ModelFileError naming it)."""
    return RELEASES[e.kind][0](e)


def given_feature(e: EncoderConfig) -> TrackFeature:
    """The given encoder's track feature; its ``info`` records the encoder (kind, path, sha256, what it is)."""
    loaded = load_release(e)
    tf = RELEASES[e.kind][1](e, loaded)
    record = {"encoder.kind": e.kind, "encoder.path": e.path, "encoder.sha256": loaded.sha256} | loaded.record
    return TrackFeature(tf.feature, tf.params, tf.compute, tf.select, tf.info | record)


def no_twin(e: EncoderConfig) -> str:
    """Why the given encoder has no random-weights twin, "" when it has one: a HEAR module, or a torch module
    without ``encoder.weights`` (whose factory's weights are all there is), has no untrained form to build."""
    if RELEASES[e.kind][2] is None:  # hear: the module's load_model gives its trained model only
        return "a HEAR module"
    return "a torch module without encoder.weights" if e.kind == "torch" and not e.weights else ""


def random_twin(e: EncoderConfig, *, seed: int) -> TrackFeature:
    """The given encoder's net and options with untrained weights drawn after ``torch.manual_seed(seed)``
    (ValueError where :func:`no_twin` says there is none)."""
    why = no_twin(e)
    if why:
        raise ValueError(f"{why} has no random-weights twin")
    return RELEASES[e.kind][2](e, seed)


def track_features(tf: TrackFeature, subsets: dict[str, Subset], *, cache_root: Path,
                   rows: dict[str, np.ndarray] | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, dict[int, str]]]:
    """({subset: [n, d]}, {subset: {row: why the net failed on that clip}}) for the subsets of ``rows`` (default:
    every row of every subset), cached by content; a failed clip's row is NaN.

    Only the rows asked for are computed (e.g. the held-out artists' tracks of a large source); the others
    stay zero. A subset computed whole is stored under the same key as in every other sweep.
    """
    torch.set_num_threads(1)  # trials share the machine
    out, failed = {}, {}
    for name, want in (rows or {n: np.arange(len(s)) for n, s in subsets.items()}).items():
        sub = subsets[name]
        want = np.asarray(want, dtype=int)
        whole = len(want) == len(sub)
        part = {} if whole else {"rows": cache.key_of(want.tolist())}
        stored, lost = cached_features_and_failures(
            cache_root, feature=tf.feature, subset_key=sub.key, params=tf.params | part,
            compute=lambda sub=sub, want=want, whole=whole: tf.compute(sub.audio if whole else sub.audio[want], sub.sr))
        feats = tf.select(stored)
        if not whole:
            full = np.zeros((len(sub), feats.shape[1]), dtype=np.float32)
            full[want] = feats
            feats = full
        out[name], failed[name] = feats, {int(want[r]): m for r, m in lost.items()}
    return out, failed
