"""Kim 2018 DCNN speed, in one run: training crops/s (fp32 vs bf16 autocast + channels-last),
chunk embedding throughput, and the fixed cost of one Ray Train job vs the same loop in-process.

    python benchmarks/bench_kim.py [--threads 1] [--steps 8] [--jobs 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from raymir.models.kim2018 import KimNet
from raymir.trainjob import autocast_dtype
from raymir.transfer import embed_tracks

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
    for label, dt in (("fp32", None), ("bf16", bf16)):
        t0 = time.perf_counter()
        embed_tracks(net, spec, frames=43, autocast=dt)
        print(f"embedding {label}: {64 * 5 / (time.perf_counter() - t0):.0f} chunks/s")
    if args.jobs:
        print(f"one Ray Train job (1 worker, no work): {ray_job_overhead(args.jobs):.1f} s of start-up and teardown")


if __name__ == "__main__":
    main()
