"""The papers' released Keras 2 models read into raymir's nets, with h5py alone (no TensorFlow, Keras or pickle).

Both files keep every weight as a plain HDF5 dataset at ``model_weights/<layer>/<layer>/<name>:0`` (a file
written by Keras' ``save_weights`` has the same layer groups at its root). The importer lists every
dataset of every layer, checks each name and shape against the architecture before copying anything,
and stops with one :class:`~raymir.errors.ModelFileError` naming the file, the layer, the weight and both
shapes. ``optimizer_weights/`` is never read.

Keras stores kernels channels-last, torch channels-first: Conv2D (kh, kw, in, out) → (out, in, kh, kw),
Conv1D (k, in, out) → (out, in, k), Dense (in, out) → (out, in); BatchNormalization's gamma, beta,
moving_mean, moving_variance → weight, bias, running_mean, running_var, with Keras' epsilon 1e-3.

- **Choi et al. 2017**, ``keras2_model/model_best.hdf5``: kapre ``melgram`` (12 kHz, n_dft 512, hop 256,
  96 mels up to 6 kHz, power 2, dB, "same" padding) → ``normalization2d_1`` (each clip standardised by its
  own mean and std) → 5 × [``conv2d_i`` 3×3, ``batch_normalization_i``, ELU, max-pool] → global max pool →
  ``dense_1`` (32 → 50) sigmoid over the MSD top-50 tags (:data:`CHOI_TAGS`).
- **Park et al. 2017**, ``model_siamese_10000.h5`` and the basic ``weights*.h5``: the 1-D tower
  ``conv1d_1..5`` / ``batch_normalization_1..5`` on log10(1 + 10·mel) standardised by the training set's
  mean and std; the basic model adds ``dense_1`` (256 → N artists). The Siamese file is a functional
  model whose six inputs share the tower's layers, so their weights sit under the same names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from raymir.audio import mel_filterbank
from raymir.config.sections import MelParams
from raymir.errors import ModelFileError
from raymir.models.choi2017 import N_LAYERS, Choi2017
from raymir.models.park2017 import EMBED_DIM, Park2017

# The MSD top-50 tags in the order of the released Choi model's outputs.
CHOI_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock", "jazz",
    "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow", "electronica",
    "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
    "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)
# sha256 of the files the authors published (keunwoochoi/transfer_learning_music, jongpillee/ismir2018-artist).
CHOI_SHA256 = "b5042bd44de1fdd9d757b764d9246e6934f47c8bdc5c15bf13566495f3439d48"
PARK_SIAMESE_SHA256 = "3b3ad09c321786c8ea388269ee3c35ab540734ce5209f40a430f1c9b0a25f753"

KERAS_BN_EPS = 1e-3  # Keras' BatchNormalization default (torch's is 1e-5)
CHOI_MEL = MelParams()  # 12 kHz, n_fft 512, hop 256, 96 Slaney mels, 0-6000 Hz, 29 s: kapre's settings in the release
# Choi2017 options that make it the released model: kapre's "same" framing, per-clip standardisation, Keras BN, max pool
CHOI_RELEASE_OPTIONS = {"standardize": True, "head_pool": "max", "bn_eps": KERAS_BN_EPS, "framing": "same"}
PARK_STANDARDIZE = (0.22620339, 0.25794547)  # mean and std of the release's training log-mels
PARK_RELEASE_OPTIONS = {"standardize": PARK_STANDARDIZE, "bn_eps": KERAS_BN_EPS}
PARK_TOWER = ((4, 128, 128), (4, 128, 128), (4, 128, 128), (2, 128, 128), (1, 128, EMBED_DIM))  # Conv1D (k, in, out)
BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
FRONTEND_RTOL = 1e-4  # the file's DFT kernels and mel filterbank against raymir's, relative to their largest value

Layout = dict[str, dict[str, tuple[int, ...]]]  # layer → weight name (kernel, bias, …) → Keras shape
Weights = dict[str, dict[str, np.ndarray]]  # layer → weight name → array in Keras' layout


@dataclass(frozen=True)
class ReleaseInfo:
    """What was imported: ``sha256`` of the file's bytes; ``published`` says whether it is the authors' file;
    ``tags`` are the output names in order (Choi); ``n_artists`` the basic model's outputs (Park)."""

    path: str
    sha256: str
    model: str  # choi2017 | park2017_basic | park2017_siamese
    published: bool
    tags: tuple[str, ...] = ()
    n_artists: int | None = None


def sha256_of(path: Path | str) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- reading and checking -------------------------------------------------------------------


def _weights_root(f: h5py.File, path: Path) -> h5py.Group:
    if isinstance(f.get("model_weights"), h5py.Group):  # model.save(): the weights beside the model config
        return f["model_weights"]
    if "layer_names" in f.attrs:  # model.save_weights(): the layer groups at the root
        return f
    raise ModelFileError(f"{path}: not a Keras model file (no model_weights group and no layer_names attribute)")


def _inventory(root: h5py.Group) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every layer group holding datasets → {dataset path inside the group: shape}."""
    layers: dict[str, dict[str, tuple[int, ...]]] = {}
    for layer, group in root.items():
        if not isinstance(group, h5py.Group) or layer == "optimizer_weights":
            continue
        found: dict[str, tuple[int, ...]] = {}

        def note(name: str, obj: object, found: dict = found) -> None:
            if isinstance(obj, h5py.Dataset):
                found[name] = obj.shape

        group.visititems(note)
        if found:
            layers[layer] = found
    return layers


def _shapes(weights: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {shape}" for name, shape in weights.items())


def _check(path: Path, arch: str, inventory: dict[str, dict[str, tuple[int, ...]]], expected: Layout) -> None:
    """Every expected layer and weight present with its shape, nothing else holding weights; else one error listing all."""
    problems = []
    for layer, weights in expected.items():
        if layer not in inventory:
            problems.append(f"layer {layer}: missing (expected {_shapes(weights)})")
            continue
        have = dict(inventory[layer])
        for name, shape in weights.items():
            found = have.pop(f"{layer}/{name}:0", None)
            if found is None:
                problems.append(f"layer {layer}, weight {name}: missing (expected {layer}/{layer}/{name}:0 of shape {shape})")
            elif tuple(found) != tuple(shape):
                problems.append(f"layer {layer}, weight {name}: expected shape {tuple(shape)}, found {tuple(found)}")
        problems += [f"layer {layer}: unexpected weight {name} {shape}" for name, shape in have.items()]
    problems += [f"layer {layer}: not part of the {arch} architecture (holds {_shapes(weights)})"
                 for layer, weights in inventory.items() if layer not in expected]
    if problems:
        raise ModelFileError(f"{path}: not the {arch} model raymir can import:\n" + "\n".join(f"  - {p}" for p in problems))


def read_weights(path: Path | str, arch: str, layout: Callable[[dict[str, dict[str, tuple[int, ...]]]], Layout]) -> Weights:
    """The checked weights of a Keras HDF5 file, as float32 arrays in Keras' layout.

    ``layout`` maps the file's inventory (layer → dataset path → shape) to the expected layout, so an
    architecture whose size the file decides (the number of artists) can read it from there. Unreadable
    or truncated files, missing, unexpected or misshapen weights and non-finite values raise
    :class:`ModelFileError` naming the file.
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            root = _weights_root(f, path)
            inventory = _inventory(root)
            expected = layout(inventory)
            _check(path, arch, inventory, expected)
            weights: Weights = {}
            for layer, names in expected.items():
                weights[layer] = {}
                for name in names:
                    ds = root[layer][f"{layer}/{name}:0"]
                    if ds.dtype.kind not in "fiu":
                        raise ModelFileError(f"{path}: layer {layer}, weight {name}: not numbers (dtype {ds.dtype})")
                    a = np.asarray(ds[()], dtype=np.float32)
                    if not np.isfinite(a).all():
                        raise ModelFileError(f"{path}: layer {layer}, weight {name}: holds NaN or infinite values")
                    weights[layer][name] = a
            return weights
    except (OSError, KeyError, RuntimeError) as e:  # h5py's errors for files that are not HDF5, truncated or damaged
        raise ModelFileError(f"{path}: cannot read it as an HDF5 model file ({type(e).__name__}: {e})") from None


# --- copying into torch modules -------------------------------------------------------------


def _copy(param: torch.Tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _set_conv(conv: nn.Conv1d | nn.Conv2d, w: dict[str, np.ndarray]) -> None:
    """Keras (k…, in, out) → torch (out, in, k…): the last two axes first, reversed, then the spatial ones."""
    k = w["kernel"]
    _copy(conv.weight, np.transpose(k, (k.ndim - 1, k.ndim - 2, *range(k.ndim - 2))))
    _copy(conv.bias, w["bias"])


def _set_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d, w: dict[str, np.ndarray]) -> None:
    for target, name in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), BN_WEIGHTS):
        _copy(target, w[name])


def _set_dense(linear: nn.Linear, w: dict[str, np.ndarray]) -> None:
    _copy(linear.weight, w["kernel"].T)  # (in, out) → (out, in)
    _copy(linear.bias, w["bias"])


# --- Choi et al. 2017 -------------------------------------------------------------------------


def choi_layout(_inventory: object = None) -> Layout:
    """The released tagger's weights and their Keras shapes."""
    n_freq, channels = CHOI_MEL.n_fft // 2 + 1, 32
    layout: Layout = {"melgram": {"real_kernels": (CHOI_MEL.n_fft, 1, 1, n_freq), "imag_kernels": (CHOI_MEL.n_fft, 1, 1, n_freq),
                                  "Variable": (n_freq, CHOI_MEL.n_mels)}}
    for i in range(1, N_LAYERS + 1):
        layout[f"conv2d_{i}"] = {"kernel": (3, 3, 1 if i == 1 else channels, channels), "bias": (channels,)}
        layout[f"batch_normalization_{i}"] = {name: (channels,) for name in BN_WEIGHTS}
    layout["dense_1"] = {"kernel": (channels, len(CHOI_TAGS)), "bias": (len(CHOI_TAGS),)}
    return layout


def kapre_frontend(mel: MelParams = CHOI_MEL) -> dict[str, np.ndarray]:
    """What kapre's Melspectrogram stores for these settings, computed here: ``real_kernels`` / ``imag_kernels``
    [n_fft, 1, 1, n_fft // 2 + 1] (periodic-Hann-windowed cos / sin; the sign of sin varies between kapre
    versions and does not change the power) and ``Variable`` [n_fft // 2 + 1, n_mels] (librosa's Slaney mel)."""
    n = np.arange(mel.n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / mel.n_fft)
    phase = 2 * np.pi * np.outer(n, np.arange(mel.n_fft // 2 + 1)) / mel.n_fft  # [time, freq]
    fb = mel_filterbank(sr=mel.sr, n_fft=mel.n_fft, n_mels=mel.n_mels, fmin=mel.fmin, fmax=mel.fmax)
    return {"real_kernels": (window[:, None] * np.cos(phase))[:, None, None, :],
            "imag_kernels": (window[:, None] * np.sin(phase))[:, None, None, :], "Variable": fb.T}


def _check_frontend(path: Path, melgram: dict[str, np.ndarray]) -> None:
    """raymir computes the front end itself (torch.stft + the Slaney mel filterbank): refuse a file whose stored one differs."""
    ours = kapre_frontend()
    for name, value in melgram.items():
        scale = float(np.abs(ours[name]).max())
        diff = float(np.abs(value - ours[name]).max())
        if name == "imag_kernels":
            diff = min(diff, float(np.abs(value + ours[name]).max()))
        if diff > FRONTEND_RTOL * scale:
            raise ModelFileError(
                f"{path}: layer melgram, weight {name}: differs from the front end raymir computes (max difference "
                f"{diff:.3g} of {scale:.3g}); this file's spectrogram settings are not the released model's")


def load_choi2017(path: Path | str) -> tuple[Choi2017, ReleaseInfo]:
    """The released Choi et al. 2017 tagger as a :class:`Choi2017` in eval mode, and what was read.

    net(y [batch, 348000] at 12 kHz) → logits [batch, 50]; sigmoid gives the release's tag probabilities,
    in the order of ``info.tags``. ``net.layer_features`` gives the paper's five 32-d features.
    """
    path = Path(path)
    w = read_weights(path, "Choi 2017 tagger", choi_layout)
    _check_frontend(path, w["melgram"])
    net = Choi2017(len(CHOI_TAGS), mel=CHOI_MEL, **CHOI_RELEASE_OPTIONS)
    for i, block in enumerate(net.blocks, start=1):
        _set_conv(block[0], w[f"conv2d_{i}"])
        _set_bn(block[1], w[f"batch_normalization_{i}"])
    _set_dense(net.head, w["dense_1"])
    digest = sha256_of(path)
    return net.eval(), ReleaseInfo(str(path), digest, "choi2017", digest == CHOI_SHA256, tags=CHOI_TAGS)


@torch.no_grad()
def top_tags(net: Choi2017, y: np.ndarray, tags: tuple[str, ...] = CHOI_TAGS, *, top: int = 10) -> list[tuple[str, float]]:
    """A clip's ``top`` most probable tags, most probable first: y [samples] → [(tag, sigmoid score)]."""
    scores = torch.sigmoid(net.eval()(torch.from_numpy(np.asarray(y, dtype=np.float32))[None]))[0]
    order = torch.argsort(scores, descending=True)[:top]
    return [(tags[i], float(scores[i])) for i in order.tolist()]


# --- Park et al. 2017 -----------------------------------------------------------------------


def park_layout(inventory: dict[str, dict[str, tuple[int, ...]]]) -> Layout:
    """The tower's weights and their Keras shapes, plus ``dense_1`` (256, N) when the file has one (basic model)."""
    layout: Layout = {}
    for i, (k, c_in, c_out) in enumerate(PARK_TOWER, start=1):
        layout[f"conv1d_{i}"] = {"kernel": (k, c_in, c_out), "bias": (c_out,)}
        layout[f"batch_normalization_{i}"] = {name: (c_out,) for name in BN_WEIGHTS}
    if "dense_1" in inventory:
        # N from the kernel's last axis (or the bias): a misshapen kernel is then reported against (256, N)
        kernel, bias = (inventory["dense_1"].get(f"dense_1/{name}:0", ()) for name in ("kernel", "bias"))
        n = kernel[-1] if kernel else (bias[0] if bias else 0)
        layout["dense_1"] = {"kernel": (EMBED_DIM, n), "bias": (n,)}
    return layout


def load_park2017(path: Path | str) -> tuple[Park2017, ReleaseInfo]:
    """A released Park et al. 2017 model (Siamese, or basic with ``dense_1``) as a :class:`Park2017` in eval mode.

    The net takes log10(1 + 10·mel) [batch, 128, frames] (raymir's ``ParkFrontend``) and standardises it as the
    release did. Siamese: net(spec) → embedding [batch, 256]; basic: → artist logits [batch, N].
    ``raymir.models.park2017.track_feature(net, spec)`` → [batch, 256] is the paper's track feature.
    """
    path = Path(path)
    w = read_weights(path, "Park 2017 artist", park_layout)
    n_artists = w["dense_1"]["kernel"].shape[1] if "dense_1" in w else None
    net = Park2017(n_artists, n_mels=PARK_TOWER[0][1], **PARK_RELEASE_OPTIONS)
    for i, block in enumerate(net.tower, start=1):
        _set_conv(block[1], w[f"conv1d_{i}"])  # block: ZeroPad1d, Conv1d, BatchNorm1d, ReLU[, MaxPool1d]
        _set_bn(block[2], w[f"batch_normalization_{i}"])
    if net.head is not None:
        _set_dense(net.head, w["dense_1"])
    digest = sha256_of(path)
    model = "park2017_basic" if n_artists else "park2017_siamese"
    return net.eval(), ReleaseInfo(str(path), digest, model, digest == PARK_SIAMESE_SHA256, n_artists=n_artists)
