"""Random crops of a memory-mapped spectrogram file, cut in DataLoader processes while the device trains.

A crop-trained job (Kim's 1-s crops, Park's 3-s crops) draws its batches from a *plan*: a pure
function of the epoch that lists, per batch, which tracks, where each crop starts, and whatever else
the loop needs (a task, the anchors of a Siamese batch). ``CropBatches`` replays the plan of every
epoch, so the batches are the same with 0 or N loader processes and after a resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

Batch = tuple[np.ndarray, np.ndarray, Any]  # (track indices [B], crop starts [B], the loop's own extra)
Plan = Callable[[int], list[Batch]]  # epoch → its batches, in order


def save_spec(path: Path, spec: np.ndarray) -> None:
    """Store spec [n, n_mels, T] as a float16 ``.npy`` at ``path``, unless it already is that file, memory-mapped
    (``audio.spectrograms(..., path=path)``)."""
    if not (isinstance(spec, np.memmap) and Path(spec.filename).resolve() == Path(path).resolve()):
        np.save(path, spec.astype(np.float16))


def rank_slices(perm: np.ndarray, *, batch_size: int, rank: int, world: int) -> list[np.ndarray]:
    """This rank's share of each step when ``world`` ranks walk ``perm`` together: [batch_size] each.

    Every rank gets the same number of steps (at least one; a set smaller than a step repeats its start)."""
    out = []
    for b in range(max(1, len(perm) // (batch_size * world))):
        lo = (b * world + rank) * batch_size
        out.append(perm[lo:lo + batch_size] if lo < len(perm) else perm[:batch_size])
    return out


def crop_starts(n_frames: int, frames: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform start frames of ``frames``-long windows in a ``n_frames``-long spectrogram: [n] int."""
    return rng.integers(0, max(1, n_frames - frames + 1), size=n)


def cut_crops(spec: np.ndarray, idx: np.ndarray, starts: np.ndarray, frames: int) -> torch.Tensor:
    """spec [n, n_mels, T] → crops [len(idx), 1, n_mels, frames] in spec's dtype (track ``idx[i]`` from ``starts[i]``).

    The crops keep the file's float16: cutting is then a plain copy, and half the bytes travel to the
    device, which converts them (numpy's float16 → float32 cast costs 2-4× the copy itself)."""
    out = np.empty((len(idx), spec.shape[1], frames), dtype=spec.dtype)
    for row, (i, s) in enumerate(zip(idx, starts)):
        out[row] = spec[i, :, s:s + frames]
    return torch.from_numpy(out).unsqueeze(1)


class CropBatches(Dataset):
    """Item ``i`` is batch ``i % per_epoch`` of epoch ``epochs[i // per_epoch]``: (crops [B, 1, n_mels,
    frames] in the file's dtype, idx [B], extra). ``per_epoch`` is the length of the first epoch's plan.
    The spectrogram file is opened (memory-mapped) in the process that cuts, and each process computes
    an epoch's plan once."""

    def __init__(self, spec_path: Path, plan: Plan, *, epochs: range, frames: int) -> None:
        self.spec_path, self.plan, self.epochs, self.frames = Path(spec_path), plan, epochs, frames
        self._spec: np.ndarray | None = None
        self._epoch, self._batches = epochs.start, plan(epochs.start)  # kept: the first epoch is cut from it
        self.per_epoch = len(self._batches)

    def __len__(self) -> int:
        return len(self.epochs) * self.per_epoch

    def __getitem__(self, i: int):
        epoch, b = self.epochs[i // self.per_epoch], i % self.per_epoch
        if self._spec is None:
            self._spec = np.load(self.spec_path, mmap_mode="r")
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self.plan(epoch)
            if len(self._batches) != self.per_epoch:  # a plan that disagrees would shift every later batch
                raise ValueError(f"plan of epoch {epoch} has {len(self._batches)} batches, expected {self.per_epoch}")
        idx, starts, extra = self._batches[b]
        return cut_crops(self._spec, idx, starts, self.frames), idx, extra


def crop_batches(dataset: CropBatches, *, workers: int, pin: bool) -> Iterator:
    """The dataset's batches in order, cut by ``workers`` DataLoader processes (0: in this process).

    ``pin`` puts them in page-locked memory (for asynchronous copies to a GPU)."""
    loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers, pin_memory=pin,
                        prefetch_factor=4 if workers else None)
    return iter(loader)
