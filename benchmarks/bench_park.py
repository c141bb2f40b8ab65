"""Park 2017 artist convnet speed, in one run: training crops/s for the basic and Siamese models
(fp32 vs bf16 autocast; a Siamese step encodes 6 crops per anchor), and track-feature throughput.

    python benchmarks/bench_park.py [--threads 1] [--steps 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from raymir.models.park2017 import CROP_FRAMES, Park2017, track_feature
from raymir.train.job import autocast_dtype
from raymir.train.siamese import hinge_loss, sample_triplets


def train_rate(mode: str, *, batch: int, steps: int, autocast: torch.dtype | None, n_artists: int = 120) -> float:
    """Crops encoded per second of training (forward + backward + Adam step) on random spectrograms."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = Park2017(n_artists if mode == "basic" else None)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    labels = np.repeat(np.arange(n_artists), 5)
    per_step = batch if mode == "basic" else batch * 6
    x = torch.randn(per_step, 128, CROP_FRAMES)
    t0 = 0.0
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            t0 = time.perf_counter()
        anchors = rng.choice(len(labels), batch, replace=False)
        with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            out = net(x).float()
        if mode == "basic":
            loss = torch.nn.functional.cross_entropy(out, torch.from_numpy(labels[anchors]))
        else:
            sample_triplets(labels, anchors, rng, n_negatives=4)  # the sampling is part of a step's cost
            loss = hinge_loss(out[:batch], out[batch:2 * batch], out[2 * batch:].reshape(batch, 4, -1), margin=0.4)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return per_step * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a Ray Train worker with 1 CPU uses 1)")
    ap.add_argument("--batch", type=int, default=32, help="anchors per step")
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = autocast_dtype("auto", torch.device("cpu"))
    print(f"Park 2017 1-D convnet, batch {args.batch} anchors, {args.threads} thread(s), native bf16: {bf16 is not None}")
    print(f"{'model':<10}{'fp32':>10}{'bf16':>10}{'ratio':>8}   (training crops/s)")
    for mode in ("basic", "siamese"):
        base = train_rate(mode, batch=args.batch, steps=args.steps, autocast=None)
        fast = train_rate(mode, batch=args.batch, steps=args.steps, autocast=bf16) if bf16 else base
        print(f"{mode:<10}{base:>10.0f}{fast:>10.0f}{fast / base:>7.2f}x")
    net = Park2017(None)
    spec = torch.randn(64, 128, 2 * CROP_FRAMES + 1)  # 6-s tracks: two 3-s segments
    t0 = time.perf_counter()
    for i in range(0, 64, 32):
        track_feature(net, spec[i:i + 32])
    print(f"track features (6-s tracks, fp32): {64 / (time.perf_counter() - t0):.0f} tracks/s")


if __name__ == "__main__":
    main()
