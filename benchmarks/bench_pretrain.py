"""Pretraining throughput, in one run: training clips/s of the Choi convnet (29-s waveforms, mel on the
device) and crops/s of the Kim DCNN, fp32 vs bf16 autocast + channels-last (+ torch.compile), on the
CPU and on a GPU when one is visible; and, with 0 and N loader processes, how fast the DataLoader feeds
clips from the memory-mapped audio cache (at their stored length, tiled on the device, vs tiled in the
loader) and the Kim / Park crop batches from a memory-mapped spectrogram file.

    python benchmarks/bench_pretrain.py [--batch 16] [--steps 6] [--compile] [--loader-workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from raymir.audio import MelParams, repeat_pad, tile_shifted
from raymir.models.choi2017 import Choi2017
from raymir.models.kim2018 import KimNet
from raymir.train import kim as multitask
from raymir.train import park as artist_train
from raymir.train.choi import ClipDataset, epoch_shifts
from raymir.train.crops import CropBatches, crop_batches
from raymir.train.job import autocast_dtype


def train_rate(net: torch.nn.Module, make_batch, loss_fn, *, device: torch.device, steps: int,
               autocast: torch.dtype | None, channels_last: bool, compile: bool) -> float:
    """Items per second of forward + backward + Adam steps; the loss stays on the device (no per-step sync)."""
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    if compile:
        net.compile()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, t = make_batch()
    x, t = x.to(device), t.to(device)
    total = torch.zeros((), device=device)
    t0 = 0.0
    for i in range(steps + 2):  # two warm-up steps (and compilation)
        if i == 2:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            out = net(x)
        loss = loss_fn(out.float(), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
    total.item()  # one sync at the end
    return len(x) * steps / (time.perf_counter() - t0)


class _Kim(torch.nn.Module):
    """The Kim genre STN as a one-input module for ``train_rate``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = KimNet({"g": 16}, shared=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.net(spec, "g")


class _TiledInLoader(ClipDataset):
    """The baseline: each loader item shifted and tiled to the model's length in the loader (as raymir did before)."""

    def __init__(self, *args, n_samples: int) -> None:
        super().__init__(*args)
        self.n_samples = n_samples

    def __getitem__(self, i: int):
        y, t, j = super().__getitem__(i)
        shift = int(torch.randint(len(y), ()))
        return torch.from_numpy(repeat_pad(np.roll(y.numpy(), shift), self.n_samples)), t, j


def loader_rate(audio: np.ndarray, *, workers: int, batch: int, n_samples: int, in_loader: bool) -> float:
    """Clips per second turned into shifted batches of ``n_samples`` from the memory-mapped cache: tiled in the
    loader (``in_loader``, the baseline) or, as raymir does, loaded at their stored length and tiled by
    ``tile_shifted`` in the training process (here on the CPU, inside the timed loop, so both do the same work)."""
    args = (audio, np.zeros((len(audio), 50), np.float32), np.arange(len(audio)))
    ds = _TiledInLoader(*args, n_samples=n_samples) if in_loader else ClipDataset(*args)
    dl = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
    shifts = epoch_shifts(len(audio), audio.shape[1], seed=0, epoch=0)
    best = 0.0
    for _ in range(3):  # best of 3 passes: the first may still meet pages being written back
        t0 = time.perf_counter()
        n = 0
        for y, _, j in dl:
            if not in_loader:
                y = tile_shifted(y, shifts[j], n_samples)
            assert y.shape[1] == n_samples
            n += len(y)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def crop_rate(spec_path: Path, plan, *, workers: int, frames: int, epochs: int) -> tuple[float, float]:
    """Crops per second that ``crop_batches`` (the training loop's own loader) delivers for ``plan``, and the
    CPU time per batch it costs the training process (cutting in place, or receiving from loader processes)."""
    ds = CropBatches(spec_path, plan, epochs=range(epochs), frames=frames)
    batches = crop_batches(ds, workers=workers, pin=False)
    next(batches)  # loader processes started
    t0, cpu0 = time.perf_counter(), time.process_time()
    n = k = 0
    for x, _, _ in batches:
        n, k = n + len(x), k + 1
    return n / (time.perf_counter() - t0), (time.process_time() - cpu0) / k


def crop_rates(workers: list[int]) -> None:
    """Kim (64 × 1-s crops) and Park Siamese (32 anchors × 6 × 3-s crops) batches from 30-s float16 spectrograms."""
    n, n_frames = 512, 1292
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.npy"
        rng = np.random.default_rng(0)
        np.save(path, rng.standard_normal((n, 128, n_frames), dtype=np.float32).astype(np.float16))
        train = np.arange(n)
        plans = {
            "Kim 1-s crops, batch 64": (multitask.CROP_FRAMES, lambda e: multitask.batch_plan(
                e, seed=0, rank=0, world=1, train_idx=train, batch_size=64, n_tasks=5, task_sampling="batch",
                n_frames=n_frames)),
            "Park Siamese 3-s crops, 32 × 6": (artist_train.CROP_FRAMES, lambda e: artist_train.batch_plan(
                e, seed=0, rank=0, world=1, train=train, label=train // 8, batch_size=32, siamese=True, n_negatives=4,
                n_frames=n_frames)),
        }
        print(f"{'crop batches (file in page cache)':<34}{'loader processes':>18}{'crops/s':>10}"
              f"{'training-process CPU':>24}")
        for name, (frames, plan) in plans.items():
            for w in workers:
                rate, cpu = crop_rate(path, plan, workers=w, frames=frames, epochs=40)
                print(f"{name:<34}{w:>18}{rate:>10,.0f}{cpu * 1e3:>18.2f} ms/batch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--loader-workers", type=int, default=2)
    args = ap.parse_args()
    mel = MelParams()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    nets = {
        "Choi 2017 (29-s clips)": (lambda: Choi2017(50, mel=mel),
                                   lambda: (0.1 * torch.randn(args.batch, mel.n_samples), torch.rand(args.batch, 50)),
                                   bce),
        "Kim 2018 STN (crops)": (_Kim, lambda: (torch.randn(args.batch, 1, 128, 43), torch.randint(16, (args.batch,))),
                                 torch.nn.functional.cross_entropy),
    }
    print(f"batch {args.batch}, {args.steps} timed steps, torch threads {torch.get_num_threads()}")
    settings = [("fp32", False, False), ("bf16+NHWC", True, False)] + ([("bf16+NHWC+compile", True, True)]
                                                                       if args.compile else [])
    print(f"{'net':<26}{'device':<8}" + "".join(f"{s[0]:>20}" for s in settings) + "   (items/s)")
    for name, (make, batch, loss) in nets.items():
        for dev in devices:
            bf16 = autocast_dtype("auto", dev)
            rates = []
            for _, fast, comp in settings:
                torch.manual_seed(0)
                rates.append(train_rate(make(), batch, loss, device=dev, steps=args.steps,
                                        autocast=bf16 if fast else None, channels_last=fast, compile=comp))
            print(f"{name:<26}{dev.type:<8}" + "".join(f"{r:>20.1f}" for r in rates) +
                  f"   bf16 native: {bf16 is not None}")
    print(f"{'DataLoader, memory-mapped audio cache':<40}{'loader processes':>18}{'tiled in loader':>17}"
          f"{'tiled after':>15}   (clips/s; both end in shifted {mel.duration:g}-s batches)")
    for seconds in (6, 29):  # the synthetic corpus's clips (tiled ×4.8) and full-length ones
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "audio.npy"
            clips = 0.1 * np.random.default_rng(0).standard_normal((256, mel.sr * seconds), dtype=np.float32)
            np.save(path, clips)
            audio = np.load(path, mmap_mode="r")
            for w in sorted({0, args.loader_workers}):
                base = loader_rate(audio, workers=w, batch=args.batch, n_samples=mel.n_samples, in_loader=True)
                ours = loader_rate(audio, workers=w, batch=args.batch, n_samples=mel.n_samples, in_loader=False)
                print(f"{f'{seconds}-s clips → {mel.duration:g} s':<40}{w:>18}{base:>17,.0f}{ours:>15,.0f}"
                      f"   {ours / base:.2f}×")
    crop_rates(sorted({0, args.loader_workers}))


if __name__ == "__main__":
    main()
