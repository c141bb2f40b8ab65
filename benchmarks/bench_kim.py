"""Kim 2018 DCNN speed, in one run: training crops/s (fp32 vs bf16 autocast + channels-last),
chunk embedding throughput, the transfer evaluation read batch by batch from memory-mapped embeddings
vs the same with every matrix in memory, and the fixed cost of one Ray Train job.

    python benchmarks/bench_kim.py [--threads 1] [--steps 8] [--jobs 3] [--transfer-tracks 3000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from raymir.models.kim2018 import KimNet
from raymir.probes.transfer import SPLITS, TransferConfig, embed_tracks, evaluate, mlp, scores, transfer_splits
from raymir.train.job import autocast_dtype

HEADS = {"g": 16, "s": 10, "e": 10, "d": 10, "m": 10}


def train_rate(net: KimNet, *, batch: int, steps: int, autocast: torch.dtype | None, channels_last: bool) -> float:
    """Training crops per second on random 1-s patches, cycling over the net's tasks."""
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 128, 43)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    tasks = list(net.tasks)
    t0 = 0.0
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            t0 = time.perf_counter()
        task = tasks[i % len(tasks)]
        y = torch.randint(net.tasks[task], (batch,))
        with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            out = net(x, task)
        loss = torch.nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0)


def in_memory_evaluate(emb: np.ndarray, labels: np.ndarray, splits: dict, n_classes: int,
                       cfg: TransferConfig) -> dict[str, float]:
    """The baseline: the transfer evaluation with every matrix in memory (embeddings as float32, the
    training chunks, their standardised copy, all on the device at once), as raymir did before."""
    n, k, d = emb.shape
    emb = emb.astype(np.float32)
    train = emb[splits["train"]].reshape(-1, d)
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    z = (emb - mean) / std
    torch.manual_seed(cfg.seed)
    model = mlp(d, n_classes, hidden=cfg.hidden, dropout=cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xt = torch.from_numpy(z[splits["train"]].reshape(-1, d))
    yt = torch.from_numpy(np.repeat(labels[splits["train"]], k))
    gen = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(perm), cfg.batch_size):
            b = perm[start:start + cfg.batch_size]
            loss = torch.nn.functional.cross_entropy(model(xt[b]), yt[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    out = {}
    with torch.no_grad():
        for split in SPLITS:
            x = torch.from_numpy(z[splits[split]].reshape(-1, d))
            probs = torch.softmax(model(x), dim=1).numpy().reshape(len(splits[split]), k, -1).mean(axis=1)
            out |= {f"{split}_{m}": v for m, v in scores(probs, labels[splits[split]]).items()}
    return out


def transfer_cost(n_tracks: int, *, chunks: int = 10, dim: int = 1280) -> None:
    """Wall time and peak numpy memory (tracemalloc) of one transfer evaluation (1 MLP epoch) on
    embeddings of a 5-task net stored as float16 .npy: read memory-mapped vs loaded whole."""
    rng = np.random.default_rng(0)
    labels = np.arange(n_tracks) % 16
    splits = transfer_splits(labels, np.arange(n_tracks) // 5, val_fraction=0.15, seed=0)
    cfg = TransferConfig(epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "emb.npy"
        emb = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n_tracks, chunks, dim))
        for lo in range(0, n_tracks, 256):
            emb[lo:lo + 256] = rng.normal(labels[lo:lo + 256, None, None] % 3, 1.0, (len(emb[lo:lo + 256]), chunks, dim))
        emb.flush()
        del emb
        size = path.stat().st_size / 2**20
        print(f"transfer evaluation, {n_tracks} tracks × {chunks} chunks × {dim} (float16 file {size:.0f} MiB), "
              f"MLP {cfg.hidden} hidden, 1 epoch:")
        print(f"{'':<34}{'wall s':>8}{'peak numpy MiB':>16}{'val F1':>8}")
        evaluate([np.load(path, mmap_mode="r")[:50]], labels[:50], {"train": np.arange(40), "val": np.arange(40, 50),
                 "val_artist": np.arange(0)}, 16, cfg)  # torch's one-off start-up is neither's time
        for label, run in (("whole matrices in memory", lambda: in_memory_evaluate(
                               np.load(path), labels, splits, 16, cfg)),
                           ("memory-mapped, batch by batch", lambda: evaluate(
                               [np.load(path, mmap_mode="r")], labels, splits, 16, cfg))):
            tracemalloc.start()
            t0 = time.perf_counter()
            m = run()
            wall = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            print(f"{label:<34}{wall:>8.1f}{peak:>16.0f}{m['val_f1_macro']:>8.3f}")


def ray_job_overhead(jobs: int) -> float:
    """Mean wall seconds of a Ray Train job whose loop only reports once (pure start-up cost)."""
    import tempfile

    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    def loop(_config):
        ray.train.report({"done": 1.0})

    ray.init(include_dashboard=True, dashboard_host="127.0.0.1", logging_level="WARNING", log_to_driver=False)
    times = []
    with tempfile.TemporaryDirectory() as storage:
        for i in range(jobs):
            t0 = time.perf_counter()
            TorchTrainer(loop, scaling_config=ray.train.ScalingConfig(num_workers=1),
                         run_config=ray.train.RunConfig(name=f"bench-{i}", storage_path=storage)).fit()
            times.append(time.perf_counter() - t0)
    ray.shutdown()
    return float(np.mean(times[1:] if len(times) > 1 else times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a Ray Train worker with 1 CPU uses 1)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=3, help="Ray Train jobs to time (0: skip)")
    ap.add_argument("--transfer-tracks", type=int, default=3000, help="tracks of the transfer evaluation (0: skip)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = autocast_dtype("auto", torch.device("cpu"))
    print(f"Kim 2018 DCNN, batch {args.batch}, {args.threads} thread(s), native bf16: {bf16 is not None}")
    print(f"{'net':<14}{'fp32':>12}{'bf16+NHWC':>12}{'ratio':>8}   (training crops/s)")
    for label, tasks, shared in (("STN g", {"g": 16}, False), ("MTN gsedm", HEADS, True)):
        torch.manual_seed(0)
        base = train_rate(KimNet(tasks, shared=shared), batch=args.batch, steps=args.steps, autocast=None,
                          channels_last=False)
        fast = train_rate(KimNet(tasks, shared=shared), batch=args.batch, steps=args.steps, autocast=bf16,
                          channels_last=True)
        print(f"{label:<14}{base:>12.0f}{fast:>12.0f}{fast / base:>7.2f}x")
    net = KimNet({"g": 16}, shared=False)
    spec = np.random.default_rng(0).normal(size=(64, 128, 43 * 5)).astype(np.float32)
    precisions = (("fp32", None), ("bf16", bf16))
    for _, dt in precisions:  # warm-up: the first call of each pays one-off kernel selection
        embed_tracks(net, spec[:8], frames=43, autocast=dt)
    rates = {}
    for label, dt in precisions:
        t0 = time.perf_counter()
        embed_tracks(net, spec, frames=43, autocast=dt)
        rates[label] = 64 * 5 / (time.perf_counter() - t0)
        print(f"embedding {label}: {rates[label]:.0f} chunks/s")
    print(f"  ratio bf16 / fp32: {rates['bf16'] / rates['fp32']:.2f}x")
    if args.transfer_tracks:
        transfer_cost(args.transfer_tracks)
    if args.jobs:
        print(f"one Ray Train job (1 worker, no work): {ray_job_overhead(args.jobs):.1f} s of start-up and teardown")


if __name__ == "__main__":
    main()
