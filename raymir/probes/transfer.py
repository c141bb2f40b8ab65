"""Transfer to genre classification (Kim et al. 2018): chunk embeddings → MLP → track predictions.

Every track is cut into non-overlapping 1-s chunks; each source net gives a 256-d embedding
per chunk (several nets: concatenated). An MLP (dropout 0.5, 1024 ELU, dropout 0.5, softmax)
is trained on the chunks of the training tracks; a track's prediction is the mean of its
chunks' probabilities. Scores: macro F1, log loss and accuracy on two held-out sets:

- ``val``: a stratified random 15 % of tracks (the paper's protocol; their artists also appear in training),
- ``val_artist``: the tracks of 15 % of the artists, none of whom appear in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit
from torch import nn

from raymir.config.sections import TransferConfig
from raymir.probes.moments import blockwise_moments

SPLITS = ("val", "val_artist")
SCORE_NAMES = ("f1_macro", "logloss", "accuracy")  # what :func:`scores` gives, per held-out set


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
                 device: str | torch.device = "cpu", autocast: torch.dtype | None = None,
                 path: Path | None = None) -> np.ndarray:
    """Penultimate features of every chunk: spec [n, n_mels, T] → [n, n_chunks, embed_dim] float16.

    Reads a block of tracks at a time (≈ ``batch_size`` chunks), so a memory-mapped spec never has to fit
    in memory; with ``path`` the embeddings are written into a memory-mapped ``.npy`` there, so neither
    do they. float16 is the form they are stored and compared in (a 5-task net: 2.5 KB per 1-s chunk).
    """
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
            shape = (n, k, emb.shape[1])
            out = np.empty(shape, np.float16) if path is None else \
                np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
        out[lo:lo + per_block] = emb.reshape(len(x), k, -1)
    if path is not None:
        out.flush()
    return out


def gather(parts: Sequence[np.ndarray], tracks: np.ndarray, chunk: np.ndarray | None = None) -> np.ndarray:
    """Several nets' embeddings side by side, float32: parts [n, n_chunks, d_i] each (memory-mapped is fine),
    tracks [m] → [m, n_chunks, Σd]; with ``chunk`` [m] (one chunk per track) → [m, Σd]."""
    rows = (tracks,) if chunk is None else (tracks, chunk)
    return np.concatenate([np.asarray(p[rows], dtype=np.float32) for p in parts], axis=-1)


@dataclass(frozen=True)
class ChunkRows:
    """The standardised chunk features of some tracks, read on demand: an [m, d] matrix whose row r is
    chunk r % n_chunks of track ``tracks[r // n_chunks]`` (m = len(tracks) × n_chunks, d = Σd_i)."""

    parts: tuple[np.ndarray, ...]  # [n, n_chunks, d_i] each
    tracks: np.ndarray  # [t] track indices
    mean: np.ndarray  # [d]
    std: np.ndarray  # [d]

    @property
    def n_chunks(self) -> int:
        return self.parts[0].shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.tracks) * self.n_chunks, len(self.mean)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        """rows [b] → float32 [b, d]."""
        track, chunk = np.divmod(np.asarray(rows), self.n_chunks)
        return (gather(self.parts, self.tracks[track], chunk) - self.mean) / self.std


def mlp(n_in: int, n_classes: int, *, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, hidden), nn.ELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_classes))


def fit_mlp(X: np.ndarray | ChunkRows, y: np.ndarray, n_classes: int, cfg: TransferConfig, *,
            device: str | torch.device = "cpu") -> nn.Module:
    """Train the transfer MLP on chunk features: X [m, d] (an array, or ``ChunkRows`` read batch by batch),
    y [m] → model (softmax outputs via ``track_probs``)."""
    torch.manual_seed(cfg.seed)
    device = torch.device(device)
    model = mlp(X.shape[1], n_classes, hidden=cfg.hidden, dropout=cfg.dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(X.shape[0], generator=gen)
        for start in range(0, len(perm), cfg.batch_size):
            b = perm[start:start + cfg.batch_size]
            # one batch of rows at a time: the training chunks of a large corpus need not fit in memory
            xb = torch.from_numpy(np.asarray(X[b.numpy()], dtype=np.float32)).to(device)
            loss = nn.functional.cross_entropy(model(xb), yt[b.to(device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def track_probs(model: nn.Module, X: ChunkRows, *, device: str | torch.device = "cpu",
                batch_size: int = 4096) -> np.ndarray:
    """Mean of chunk probabilities per track: X of t tracks ([t × n_chunks, d]) → [t, n_classes]."""
    k = X.n_chunks
    per_block = max(1, batch_size // k)
    out = []
    for lo in range(0, len(X.tracks), per_block):
        rows = np.arange(lo * k, min(lo + per_block, len(X.tracks)) * k)
        p = torch.softmax(model(torch.from_numpy(X[rows]).to(device)), dim=1).cpu().numpy()
        out.append(p.reshape(-1, k, p.shape[1]).mean(axis=1))
    return np.concatenate(out)


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Macro F1, log loss and accuracy of track predictions: probs [n, C], labels [n]."""
    n_classes = probs.shape[1]
    pred = probs.argmax(axis=1)
    return {"f1_macro": float(f1_score(labels, pred, average="macro", labels=np.arange(n_classes), zero_division=0)),
            "logloss": float(log_loss(labels, np.clip(probs, 1e-7, 1.0), labels=np.arange(n_classes))),
            "accuracy": float(accuracy_score(labels, pred))}


def evaluate(parts: Sequence[np.ndarray], labels: np.ndarray, splits: dict[str, np.ndarray], n_classes: int,
             cfg: TransferConfig, *, device: str | torch.device = "cpu") -> dict[str, float]:
    """Train the MLP on ``splits["train"]`` and score both held-out sets.

    parts: one or more nets' embeddings [n_tracks, n_chunks, d_i] (memory-mapped is fine: they are read a
    block of tracks or a batch of chunks at a time), concatenated along the features
    → {"val_f1_macro", "val_logloss", "val_accuracy", "val_artist_…"}.
    Features are standardised with the training chunks' mean and std (the nets' feature scales differ).
    """
    parts = tuple(parts)
    shapes = {p.shape[:2] for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"transfer evaluate: embeddings of different tracks or chunks {sorted(shapes)} "
                         f"cannot be concatenated")
    (n, k), = shapes
    if len(labels) != n:
        raise ValueError(f"transfer evaluate: {len(labels)} labels for {n} embedded tracks")
    train = np.asarray(splits["train"])
    mean, std = blockwise_moments(lambda rows: gather(parts, rows), train, axis=2)
    std = std + np.float32(1e-6)
    model = fit_mlp(ChunkRows(parts, train, mean, std), np.repeat(labels[train], k), n_classes, cfg, device=device)
    out = {}
    for split in SPLITS:
        if len(splits[split]):
            tracks = np.asarray(splits[split])
            probs = track_probs(model, ChunkRows(parts, tracks, mean, std), device=device)
            for name, value in scores(probs, labels[tracks]).items():
                out[f"{split}_{name}"] = value
    return out
