"""Feature extraction: per-layer pooled convnet features and the MFCC baseline, cached by content.

Features are computed in eval mode (BatchNorm running statistics) with a per-clip dB
reference, so a clip's features do not depend on the batch it is computed in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from raymir import cache
from raymir.audio import mfcc_stats, repeat_pad, tile_shifted


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """Content hash of a model's weights (names, shapes and values)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def layer_features(model: nn.Module, audio: np.ndarray, *, n_samples: int, batch_size: int = 8,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Pooled features of every layer: audio [n, samples] → [n, n_layers, channels] float32.

    Clips are repeated (tiled) to ``n_samples`` (29 s for the Choi convnet): on a GPU by the device
    (``audio.tile_shifted``), after a non-blocking copy of the clips at their stored length from pinned
    pages, so a short clip crosses the bus once; on a CPU by ``repeat_pad`` (the same samples). The
    features stay on the device until the last batch, so the host reads the next batch while the
    device computes.
    """
    device = torch.device(device)
    model = model.to(device, memory_format=torch.channels_last).eval()  # NHWC: faster convolutions
    out = []
    for start in range(0, len(audio), batch_size):
        y = np.array(audio[start:start + batch_size], dtype=np.float32)  # a writable copy
        if device.type == "cuda":
            y = torch.from_numpy(y).pin_memory().to(device, non_blocking=True)
            y = tile_shifted(y, torch.zeros(len(y), dtype=torch.long, device=device), n_samples)
        else:
            y = torch.from_numpy(repeat_pad(y, n_samples))
        out.append(torch.stack(model.layer_features(y), dim=1).float())
    return torch.cat(out).cpu().numpy() if out else np.zeros((0, 0, 0), dtype=np.float32)


def mfcc_features(audio: np.ndarray, sr: int) -> np.ndarray:
    """MFCC baseline for every clip: audio [n, samples] → [n, 120]."""
    return np.stack([mfcc_stats(np.asarray(y), sr) for y in audio]) if len(audio) else np.zeros((0, 120))


def feature_key(feature: str, subset_key: str, params: dict) -> dict:
    """What a feature matrix depends on: the feature ("convnet", "random", "mfcc"), the subset's content, the extractor."""
    return {"features": feature, "subset": subset_key, **params}


def save_feature(folder: Path, value: np.ndarray | list[np.ndarray]) -> None:
    """One array as features.npy; a list of per-layer arrays (widths may differ) as layer_1.npy, layer_2.npy, …"""
    if isinstance(value, (list, tuple)):
        for i, a in enumerate(value, start=1):
            np.save(folder / f"layer_{i}.npy", a)
    else:
        np.save(folder / "features.npy", value)


def load_feature(folder: Path) -> np.ndarray | list[np.ndarray]:
    """What :func:`save_feature` wrote: the array, or the list of per-layer arrays in layer order."""
    if (folder / "features.npy").exists():
        return np.load(folder / "features.npy")
    layers = sorted(folder.glob("layer_*.npy"), key=lambda f: int(f.stem.split("_")[1]))
    return [np.load(f) for f in layers]


def cached_features(cache_root: Path, *, feature: str, subset_key: str, params: dict, compute
                    ) -> np.ndarray | list[np.ndarray]:
    """Features stored under hash(subset content key, extractor params); ``compute()`` runs only on a miss and
    returns one array or a list of per-layer arrays (given back as it was)."""
    key = feature_key(feature, subset_key, params)
    path = cache.cached(cache_root, "features", key, lambda d: save_feature(d, compute()))
    return load_feature(path)


def cached_features_and_failures(cache_root: Path, *, feature: str, subset_key: str, params: dict, compute
                                 ) -> tuple[np.ndarray | list[np.ndarray], dict[int, str]]:
    """:func:`cached_features` for a ``compute()`` that also names the clips it failed on: → (the array or per-layer
    arrays, {row: message}); the messages are stored beside as failed.json, so a cache hit still says why. An entry
    without failed.json (written by :func:`cached_features`) failed on no clip."""
    def build(d: Path) -> None:
        value, failed = compute()
        save_feature(d, value)
        (d / "failed.json").write_text(json.dumps({str(r): m for r, m in failed.items()}))

    path = cache.cached(cache_root, "features", feature_key(feature, subset_key, params), build)
    failed = json.loads((path / "failed.json").read_text()) if (path / "failed.json").exists() else {}
    return load_feature(path), {int(r): m for r, m in failed.items()}


def cached_embeddings(cache_root: Path, subset, encoder, *, feature: str = "convnet", batch_size: int = 8
                      ) -> tuple[list[np.ndarray], dict[int, str]]:
    """A given encoder's (``raymir.encoders.AudioEncoder``) per-layer features of every clip of ``subset``:
    → (L × [n, d_i] float32, {row: why the encoder failed on it}; those rows are NaN), cached by content
    (the subset's key and ``encoder.params``) as layer_1.npy … and failed.json."""
    return cached_features_and_failures(cache_root, feature=feature, subset_key=subset.key, params=encoder.params,
                                        compute=lambda: encoder.embed(subset.audio, subset.sr, batch_size=batch_size))


def cached_mfcc(cache_root: Path, subset) -> np.ndarray:
    """The MFCC baseline of every clip of ``subset`` (a ``raymir.data.subset.Subset``): [n, 120], cached by content."""
    return cached_features(cache_root, feature="mfcc", subset_key=subset.key, params={"n_mfcc": 20},
                           compute=lambda: mfcc_features(subset.audio, subset.sr))
