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
Another kind plugs in as one more entry of :data:`RELEASES` and :data:`TWINS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from raymir import cache
from raymir.config.sections import PARK_MEL, EncoderConfig
from raymir.data.subset import Subset
from raymir.extract import cached_features, layer_features, state_digest
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

    ``compute``: audio [n, samples] at the net's sample rate → the stored array [n, …]; ``select``: that → the
    track feature [n, d]. ``feature`` ("convnet" | "random") and ``params`` key the cache beside the clips;
    ``info`` goes to the trial's MLflow params.
    """

    feature: str
    params: dict
    compute: Callable[[np.ndarray], np.ndarray]
    select: Callable[[np.ndarray], np.ndarray] = _all
    info: dict = field(default_factory=dict)


def choi_layers(e: EncoderConfig) -> str:
    """The Choi tagger's layers forming the track feature: ``encoder.layers``, or all five as Choi et al."""
    return e.layers or "12345"


def choi_feature(ex: Extractor, feature: str, *, layers: str, batch_size: int = 8) -> TrackFeature:
    """The Choi tagger's pooled layer features ([n, 5, 32] stored, as ``layer_combos`` stores them), ``layers``
    concatenated: → [n, 32 · len(layers)]."""
    idx = [int(d) - 1 for d in layers]

    def select(stored: np.ndarray) -> np.ndarray:
        return stored[:, idx].reshape(len(stored), -1)

    return TrackFeature(feature, ex.params, select=select,
                        compute=lambda audio: layer_features(ex.net, audio, n_samples=CHOI_MEL.n_samples,
                                                             batch_size=batch_size),
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
    return TrackFeature(feature, params, compute=lambda audio: park_track_features(net, audio),
                        info={"feature": "park2017 track feature (256-d): per 3-s segment the last conv layer's max "
                                         "over time, mean over segments (raymir.models.park2017.track_feature)"})


def park_params(sha256: str) -> dict:
    """What the released Park model's track features depend on beside the clips (cf. :func:`release_feature_params`)."""
    return {"encoder": "park2017_keras", "sha256": sha256, "options": PARK_RELEASE_OPTIONS, "mel": asdict(PARK_MEL),
            "feature": "track"}


def _choi_release(e: EncoderConfig, net: torch.nn.Module, info: ReleaseInfo) -> TrackFeature:
    return choi_feature(Extractor(net, release_feature_params(info.sha256)), "convnet", layers=choi_layers(e))


def _park_release(e: EncoderConfig, net: torch.nn.Module, info: ReleaseInfo) -> TrackFeature:
    return park_feature(net, "convnet", park_params(info.sha256))


def _choi_twin(e: EncoderConfig, seed: int) -> TrackFeature:
    return choi_feature(random_choi(seed), "random", layers=choi_layers(e))


def _park_twin(e: EncoderConfig, seed: int) -> TrackFeature:
    torch.manual_seed(seed)
    net = Park2017(None, n_mels=PARK_MEL.n_mels, **PARK_RELEASE_OPTIONS)  # the release's tower, untrained
    return park_feature(net, "random", {"model": state_digest(net.state_dict()), "options": PARK_RELEASE_OPTIONS,
                                        "mel": asdict(PARK_MEL), "feature": "track"})


# kind → (its importer: path → (net, ReleaseInfo); its track feature; its random-weights twin)
RELEASES: dict[str, tuple[Callable, Callable, Callable]] = {
    "choi2017_keras": (load_choi2017, _choi_release, _choi_twin),
    "park2017_keras": (load_park2017, _park_release, _park_twin),
}


def load_release(e: EncoderConfig) -> tuple[torch.nn.Module, ReleaseInfo]:
    """The released model of ``encoder.path`` (a bad file raises ModelFileError naming it)."""
    net, info = RELEASES[e.kind][0](e.path)
    which = "the published file" if info.published else "not the published file"
    log(f"encoder: {info.path} ({info.model}, {which}, sha256 {info.sha256[:12]}…); nothing is trained")
    return net, info


def given_feature(e: EncoderConfig) -> TrackFeature:
    """The given encoder's track feature; its ``info`` records the file (kind, path, sha256, what it is)."""
    net, info = load_release(e)
    tf = RELEASES[e.kind][1](e, net, info)
    record = {"encoder.kind": e.kind, "encoder.path": e.path, "encoder.sha256": info.sha256, "release": info.model,
              "published": info.published} | ({"release_n_artists": info.n_artists} if info.n_artists else {})
    return TrackFeature(tf.feature, tf.params, tf.compute, tf.select, tf.info | record)


def random_twin(e: EncoderConfig, *, seed: int) -> TrackFeature:
    """The given encoder's net and options with untrained weights drawn after ``torch.manual_seed(seed)``."""
    return RELEASES[e.kind][2](e, seed)


def track_features(tf: TrackFeature, subsets: dict[str, Subset], *, cache_root: Path,
                   rows: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """{subset: [n, d]} for the subsets of ``rows`` (default: every row of every subset), cached by content.

    Only the rows asked for are computed (e.g. the held-out artists' tracks of a large source); the others
    stay zero. A subset computed whole is stored under the same key as in every other sweep.
    """
    torch.set_num_threads(1)  # trials share the machine
    out = {}
    for name, want in (rows or {n: np.arange(len(s)) for n, s in subsets.items()}).items():
        sub = subsets[name]
        whole = len(want) == len(sub)
        part = {} if whole else {"rows": cache.key_of(np.asarray(want).tolist())}
        stored = cached_features(cache_root, feature=tf.feature, subset_key=sub.key, params=tf.params | part,
                                 compute=lambda sub=sub, want=want, whole=whole:
                                 tf.compute(sub.audio if whole else sub.audio[want]))
        feats = tf.select(stored)
        if not whole:
            full = np.zeros((len(sub), feats.shape[1]), dtype=np.float32)
            full[want] = feats
            feats = full
        out[name] = feats
    return out
