"""Transfer to genre classification (Kim et al. 2018): chunk embeddings → MLP → track predictions.

Every track is cut into non-overlapping 1-s chunks; each source net gives a 256-d embedding
per chunk (several nets: concatenated). An MLP (dropout 0.5, 1024 ELU, dropout 0.5, softmax)
is trained on the chunks of the training tracks; a track's prediction is the mean of its
chunks' probabilities. Scores: macro F1, log loss and accuracy on two held-out sets:

- ``val``: a stratified random 15 % of tracks (the paper's protocol; their artists also appear in training),
- ``val_artist``: the tracks of 15 % of the artists, none of whom appear in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit
from torch import nn

SPLITS = ("val", "val_artist")


@dataclass(frozen=True)
class TransferConfig:
    """The MLP trained on source-net features (paper: 1024 hidden, dropout 0.5, 50 epochs)."""

    hidden: int = 1024
    dropout: float = 0.5
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    val_fraction: float = 0.15  # of tracks (stratified) and, separately, of artists
    seed: int = 0


def transfer_splits(genre: np.ndarray, artists: np.ndarray, *, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Track indices: {"train", "val" (stratified by genre), "val_artist" (unseen artists)}; disjoint, sorted."""
    n = len(genre)
    idx = np.arange(n)
    rest, val_artist = next(GroupShuffleSplit(1, test_size=val_fraction, random_state=seed).split(idx, groups=artists))
    n_val = max(len(np.unique(genre)), int(round(val_fraction * n)))
    try:
        tr, va = next(StratifiedShuffleSplit(1, test_size=n_val, random_state=seed).split(rest, genre[rest]))
    except ValueError:  # a genre with a single track left: fall back to a plain random split
        perm = np.random.default_rng(seed).permutation(len(rest))
        tr, va = perm[n_val:], perm[:n_val]
    return {"train": np.sort(rest[tr]), "val": np.sort(rest[va]), "val_artist": np.sort(val_artist)}


def chunks(spec: np.ndarray, *, frames: int) -> np.ndarray:
    """Non-overlapping chunks of every track: spec [n, n_mels, T] → [n, T // frames, n_mels, frames]."""
    n, n_mels, t = spec.shape
    k = t // frames
    return spec[:, :, :k * frames].reshape(n, n_mels, k, frames).transpose(0, 2, 1, 3)


@torch.no_grad()
def embed_tracks(model: nn.Module, spec: np.ndarray, *, frames: int, batch_size: int = 256,
                 device: str | torch.device = "cpu", autocast: torch.dtype | None = None) -> np.ndarray:
    """Penultimate features of every chunk: spec [n, n_mels, T] → [n, n_chunks, embed_dim] float32.

    Reads a block of tracks at a time (≈ ``batch_size`` chunks), so a memory-mapped spec never has to fit
    in memory."""
    device = torch.device(device)
    model = model.to(device).eval()
    n, _, t = spec.shape
    k = t // frames
    if k == 0:
        raise ValueError(f"embed_tracks: tracks of {t} frames are shorter than one {frames}-frame chunk")
    out = None
    per_block = max(1, batch_size // k)
    for lo in range(0, n, per_block):
        x = chunks(np.asarray(spec[lo:lo + per_block], dtype=np.float32), frames=frames)
        batch = torch.from_numpy(np.ascontiguousarray(x.reshape(-1, 1, *x.shape[2:]))).to(device)
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            emb = model.embed(batch.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()
        if out is None:
            out = np.empty((n, k, emb.shape[1]), dtype=np.float32)
        out[lo:lo + per_block] = emb.reshape(len(x), k, -1)
    return out


def mlp(n_in: int, n_classes: int, *, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, hidden), nn.ELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_classes))


def fit_mlp(X: np.ndarray, y: np.ndarray, n_classes: int, cfg: TransferConfig, *,
            device: str | torch.device = "cpu") -> nn.Module:
    """Train the transfer MLP on chunk features: X [m, d], y [m] → model (softmax outputs via ``predict``)."""
    torch.manual_seed(cfg.seed)
    device = torch.device(device)
    model = mlp(X.shape[1], n_classes, hidden=cfg.hidden, dropout=cfg.dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    Xt = torch.from_numpy(np.asarray(X, dtype=np.float32)).to(device)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(Xt), generator=gen).to(device)
        for start in range(0, len(perm), cfg.batch_size):
            b = perm[start:start + cfg.batch_size]
            loss = nn.functional.cross_entropy(model(Xt[b]), yt[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def track_probs(model: nn.Module, emb: np.ndarray, *, device: str | torch.device = "cpu") -> np.ndarray:
    """Mean of chunk probabilities per track: emb [n, n_chunks, d] → [n, n_classes]."""
    n, k, d = emb.shape
    x = torch.from_numpy(np.asarray(emb, dtype=np.float32).reshape(n * k, d)).to(device)
    p = torch.softmax(model(x), dim=1).cpu().numpy()
    return p.reshape(n, k, -1).mean(axis=1)


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Macro F1, log loss and accuracy of track predictions: probs [n, C], labels [n]."""
    n_classes = probs.shape[1]
    pred = probs.argmax(axis=1)
    return {"f1_macro": float(f1_score(labels, pred, average="macro", labels=np.arange(n_classes), zero_division=0)),
            "logloss": float(log_loss(labels, np.clip(probs, 1e-7, 1.0), labels=np.arange(n_classes))),
            "accuracy": float(accuracy_score(labels, pred))}


def evaluate(emb: np.ndarray, labels: np.ndarray, splits: dict[str, np.ndarray], n_classes: int,
             cfg: TransferConfig, *, device: str | torch.device = "cpu") -> dict[str, float]:
    """Train the MLP on ``splits["train"]`` and score both held-out sets.

    emb [n_tracks, n_chunks, d] → {"val_f1_macro", "val_logloss", "val_accuracy", "val_artist_…"}.
    Features are standardised with the training chunks' mean and std (the nets' feature scales differ).
    """
    n, k, d = emb.shape
    train = emb[splits["train"]].reshape(-1, d)
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    z = (emb - mean) / std
    model = fit_mlp(z[splits["train"]].reshape(-1, d), np.repeat(labels[splits["train"]], k), n_classes, cfg,
                    device=device)
    out = {}
    for split in SPLITS:
        if len(splits[split]):
            for name, value in scores(track_probs(model, z[splits[split]], device=device), labels[splits[split]]).items():
                out[f"{split}_{name}"] = value
    return out
