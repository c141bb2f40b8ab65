"""GPU proof: raymir's CUDA paths tested and timed in one command, without Ray or MLflow.

    python3 benchmarks/gpu_proof.py               # on a machine with a GPU (sized for under 8 minutes on one H200)
    python3 benchmarks/gpu_proof.py --cpu-smoke   # the same script end to end on a CPU, tiny sizes (about a minute)

1. Installs the wheels carried in ``.whl/`` if there are any (the proof needs none beyond PyTorch, NumPy,
   SciPy and scikit-learn: raymir computes its mel filterbank itself, and nothing it runs imports Ray,
   MLflow or librosa).
2. Runs ``pytest -m gpu tests/test_gpu.py`` in subprocesses (eager tests, then the compiled ones; over 4
   processes where pytest-xdist is installed) and prints their summaries; the benchmarks run even if
   tests fail, and the exit status is then non-zero.
3. (a) Training throughput of the Choi convnet (29-s clips from a memory-mapped audio cache, tiled and
   turned into mel spectrograms on the device), the Kim MTN and the Park basic and Siamese nets (crops
   from a memory-mapped float16 spectrogram file, cut by ``CropBatches`` loader processes into pinned
   memory), each through the trainers' own ``train_step`` in bf16 autocast with channels-last, eager and
   with torch.compile. Beside the end-to-end rate, the rates of each part alone: the loader (batches
   handed to the training process), the host→device copies, and the training step on a batch already on
   the device (with the share of its time the host spends issuing it); the slowest part, and the GPU
   utilisation sampled from NVML, name what limits the end-to-end rate.
   (b) The LS-SVM over the whole Choi probe grid (31 layer combinations × 64 grid points × 10 folds) on
   synthetic 5-layer features at 1,000 / 4,000 / 8,700 clips, fp64 and mixed precision; where a whole
   grid would take too long, a subset of combinations is timed and the whole grid extrapolated (said so
   in the output). On the smallest size the fold scores are compared with the LS-SVM in fp64 on the CPU.
   (c) Feature extraction clips/s (``extract.layer_features`` on the device), and its agreement with the
   CPU's features.

Writes under ``$OUT`` (or ``--out``): proof.log, tests.log, training.csv, lssvm.csv, extraction.csv,
summary.txt, env.json. The last lines printed are the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import glob
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's raymir, not an installed one
    sys.path.insert(0, str(ROOT))

TARGET_CHOI = 3000.0  # clips/s, Choi pretraining on one H100-class GPU
TARGET_GRID_S = 60.0  # s, the whole Choi grid at 8,700 clips with the LS-SVM
KIM_HEADS = {"g": 16, "s": 10, "e": 10, "d": 10, "m": 10}  # an MTN of all five Kim tasks


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Every workload size of the proof (GPU defaults; ``SMOKE`` shrinks them for a CPU)."""

    choi_clips: int = 384  # distinct 29-s clips in the audio cache (537 MB float32), read over and over
    choi_seconds: float = 29.0  # stored clip length
    choi_batch: int = 128
    kim_tracks: int = 1024  # 30-s float16 spectrograms (338 MB)
    kim_batch: int = 256
    park_artists: int = 120
    park_tracks: int = 960
    park_batch: int = 128
    park_anchors: int = 64  # Siamese: × (2 + 4 negatives) crops per step
    spec_frames: int = 1292  # 30 s at 22.05 kHz, hop 512
    loader_workers: int = 8  # Choi's DataLoader processes
    crop_workers: int = 4  # CropBatches processes
    measure_s: float = 1.5  # seconds each timed phase aims at
    min_steps: int = 10
    max_steps: int = 300
    warmup: int = 3
    lssvm_sizes: tuple[int, ...] = (1000, 4000, 8700)
    lssvm_folds: int = 10
    lssvm_full_cap_s: float = 20.0  # a whole grid estimated longer than this is timed on a subset and extrapolated
    lssvm_always_full: int = 1000  # ... except up to this many clips: always the whole grid
    lssvm_subset_s: float = 12.0  # about how long a subset run may take
    lssvm_cpu_combos: tuple[str, ...] = ("12345", "135", "1")  # compared with the CPU's fp64 on the smallest size
    extract_clips: int = 2048
    extract_seconds: float = 4.0  # UrbanSound8K's clips, tiled to 29 s
    extract_batch: int = 128
    tests_timeout_s: float = 240.0
    reserve_after_training_s: float = 120.0  # kept for (b) and (c) when training would run over the budget
    compile_backend: str = "inductor"
    torch_threads: int = 0  # 0: PyTorch's default


SMOKE = Sizes(choi_clips=4, choi_seconds=2.0, choi_batch=2, kim_tracks=16, kim_batch=16, park_artists=6, park_tracks=18,
              park_batch=6, park_anchors=3, spec_frames=200, loader_workers=1, crop_workers=1, measure_s=0.05,
              min_steps=2, max_steps=3, warmup=1, lssvm_sizes=(40, 60, 80), lssvm_folds=10, lssvm_full_cap_s=1.0,
              lssvm_always_full=40, lssvm_subset_s=0.3, extract_clips=8, extract_seconds=1.0, extract_batch=4,
              tests_timeout_s=120.0, reserve_after_training_s=5.0, compile_backend="eager", torch_threads=1)


class Log:
    """Prints and appends to ``proof.log``; collects the summary lines."""

    def __init__(self, out: Path) -> None:
        self.file = (out / "proof.log").open("w")
        self.summary: list[str] = []
        self.failures: list[str] = []

    def __call__(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
            self.file.write(line + "\n")
        self.file.flush()

    def fail(self, what: str) -> None:
        self.failures.append(what)
        self(f"FAILED: {what}")


class Clock:
    """The run's time budget: sections ask how much is left and skip what would not fit."""

    def __init__(self, budget_s: float) -> None:
        self.t0, self.budget = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.budget - self.elapsed()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Utilisation:
    """GPU utilisation (NVML: share of time a kernel ran) sampled every 20 ms while the block runs."""

    def __init__(self, device: torch.device) -> None:
        self.ok = False
        if device.type == "cuda":
            try:
                torch.cuda.utilization(device)
                self.ok = True
            except Exception:  # no NVML bindings (nvidia-ml-py): utilisation is reported as n/a
                pass
        self.device = device

    @contextlib.contextmanager
    def sample(self) -> Iterator[list[float]]:
        samples: list[float] = []
        if not self.ok:
            yield samples
            return
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                samples.append(float(torch.cuda.utilization(self.device)))
                stop.wait(0.02)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield samples
        finally:
            stop.set()
            thread.join()


def mean_or_none(xs: list[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}%"


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.write_text("")
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


# --- 1. wheels and tests ------------------------------------------------------------------------------


def install_wheels(log: Log) -> str | None:
    """pip-installs the wheels in ``.whl/`` (if any) into a folder put first on the path; → that folder."""
    wheels = sorted(glob.glob(str(ROOT / ".whl" / "*.whl")))
    if not wheels:
        log("wheels: none carried in .whl/ (none needed)")
        return None
    site = Path(tempfile.gettempdir()) / "raymir-gpu-proof-site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
           "--upgrade", "--target", str(site), *wheels]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        log.fail(f"installing {len(wheels)} wheels from .whl/: {res.stderr.strip()[-500:]}")
        return None
    sys.path.insert(0, str(site))
    log(f"wheels: installed {len(wheels)} from .whl/ into {site}: " + ", ".join(Path(w).name for w in wheels))
    return str(site)


def run_tests(log: Log, out: Path, sizes: Sizes, site: str | None, clock: Clock, *, gpu: bool) -> str:
    """``pytest -m gpu`` on the GPU tests in subprocesses, the compiled variants last (they take the time), each
    over 4 processes where pytest-xdist is installed; → the summary (failures recorded in ``log``; the full output
    in tests.log). A run cut short by the time limit still reports what it printed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, str(ROOT), env.get("PYTHONPATH")) if p)
    parallel = ["-n", "4"] if gpu and importlib.util.find_spec("xdist") is not None else []
    summaries, texts = [], []
    deadline = clock.elapsed() + sizes.tests_timeout_s
    for label, select in (("eager", "not compile"), ("compiled", "compile")):
        cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-k", select, "-q", "-p", "no:cacheprovider", "-rfE",
               "--durations=5", *parallel, "tests/test_gpu.py"]
        log(f"$ {' '.join(cmd[2:])}")
        t0 = time.perf_counter()
        timeout = max(30.0, deadline - clock.elapsed())
        try:
            res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
            text, rc = res.stdout + res.stderr, res.returncode
        except subprocess.TimeoutExpired as e:
            text = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            text, rc = text + f"\n(timed out after {timeout:.0f} s)", -1
        texts.append(f"$ {' '.join(cmd[2:])}\n{text}")
        (out / "tests.log").write_text("\n".join(texts))
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        summary = next((ln for ln in reversed(lines)
                        if re.search(r"\b(passed|failed|skipped|deselected|errors?|no tests ran|timed out)\b", ln)),
                       lines[-1] if lines else "(no output)").strip("= ")
        log(*[ln for ln in lines if ln.startswith(("FAILED", "ERROR"))][:20])
        log(f"pytest ({label}): {summary} (rc {rc}, {time.perf_counter() - t0:.0f} s)")
        if rc not in (0, 5):  # 5: nothing selected
            log.fail(f"pytest -m gpu ({label}): {summary}")
        summaries.append(f"{label}: {summary}")
    return "; ".join(summaries)


# --- 2(a). training throughput ------------------------------------------------------------------------


@dataclasses.dataclass
class Workload:
    """One net's training workload through its trainer's own ``train_step``.

    batches(workers=None, pin=None): a fresh iterator of the production loader's batches (host, pinned on a
    GPU; other settings only to locate a loader limit);
    prepare(raw) → the ``train_step`` arguments as the Ray loop builds them on the host;
    step(model, optimizer, args) → loss; build() → model on the device; compile(model) in place.
    """

    name: str
    unit: str
    batches: Callable[..., Iterator]
    prepare: Callable[[tuple], tuple]
    step: Callable[[torch.nn.Module, torch.optim.Optimizer, tuple], torch.Tensor]
    build: Callable[[], torch.nn.Module]
    compile: Callable[[torch.nn.Module], None]
    workers: int
    queue: int  # batches the loader may hold ready (processes × prefetch)
    kind: Callable[[tuple], object] = lambda args: None  # what the device-resident batches must cover (Kim: tasks)
    kinds: int = 1


def to_dev(args: tuple, device: torch.device) -> tuple:
    from raymir.train.job import to_device

    return tuple(to_device(a, device) if isinstance(a, torch.Tensor) else a for a in args)


def nbytes(args: tuple) -> int:
    return sum(a.numel() * a.element_size() for a in args if isinstance(a, torch.Tensor))


def choi_workload(tmp: Path, sizes: Sizes, device: torch.device, autocast, compile_kw: dict) -> Workload:
    from torch.utils.data import DataLoader

    from raymir.audio import MelParams
    from raymir.models.choi2017 import Choi2017
    from raymir.train import choi

    mel = MelParams()
    n, t = sizes.choi_clips, int(round(sizes.choi_seconds * mel.sr))
    path = tmp / "audio.npy"
    audio = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, t))
    rng = np.random.default_rng(0)
    tone = np.sin(2 * np.pi * 440.0 * np.arange(t, dtype=np.float32) / mel.sr)
    for lo in range(0, n, 32):  # noise over a tone, a gain per clip
        k = min(32, n - lo)
        audio[lo:lo + k] = rng.uniform(0.01, 0.3, (k, 1)).astype(np.float32) * (
            rng.standard_normal((k, t), dtype=np.float32) + tone)
    audio.flush()
    del audio
    targets = (rng.random((n, 50)) < 0.1).astype(np.float32)
    pin = device.type == "cuda"
    w = sizes.loader_workers
    shifts = choi.epoch_shifts(n, t, seed=0, epoch=0)  # drawn in the training process, as the training loop does

    def batches(workers: int | None = None, pin_memory: bool | None = None) -> Iterator:
        # the cache's clips over and over (page cache), so an epoch never ends inside a measurement
        idx = np.tile(np.arange(n), -(-sizes.choi_batch * (4 * sizes.max_steps + 64) // n))
        ds = choi.ClipDataset(np.load(path, mmap_mode="r"), targets, idx)
        k = w if workers is None else workers
        return iter(DataLoader(ds, batch_size=sizes.choi_batch, shuffle=True, drop_last=True, num_workers=k,
                               pin_memory=pin if pin_memory is None else pin_memory, prefetch_factor=2 if k else None))

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return Choi2017(50, mel=mel).to(device).to(memory_format=torch.channels_last)

    return Workload(
        f"Choi 2017, {sizes.choi_seconds:g}-s clips → {mel.duration:g} s, batch {sizes.choi_batch}", "clips", batches,
        lambda raw: (raw[0], raw[1], shifts[raw[2] % n]),
        lambda model, opt, a: choi.train_step(model, opt, *a, n_samples=mel.n_samples, device=device,
                                              autocast=autocast),
        build, lambda model: model.compile(**compile_kw), w, 2 * w)


def spec_file(path: Path, n: int, frames: int, seed: int) -> None:
    """A memory-mapped float16 spectrogram cache [n, 128, frames], written block by block."""
    spec = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, 128, frames))
    rng = np.random.default_rng(seed)
    for lo in range(0, n, 64):
        k = min(64, n - lo)
        spec[lo:lo + k] = rng.standard_normal((k, 128, frames), dtype=np.float32)
    spec.flush()


def crop_iterator(path: Path, plan, *, frames: int, steps: int, per_epoch: int, workers: int, pin: bool) -> Iterator:
    from raymir.train.crops import CropBatches, crop_batches

    epochs = -(-steps // max(per_epoch, 1)) + 1
    return crop_batches(CropBatches(path, plan, epochs=range(epochs), frames=frames), workers=workers, pin=pin)


def kim_workload(tmp: Path, sizes: Sizes, device: torch.device, autocast, compile_kw: dict) -> Workload:
    from raymir.models.kim2018 import KimNet
    from raymir.train import kim

    n = sizes.kim_tracks
    path = tmp / "kim_spec.npy"
    spec_file(path, n, sizes.spec_frames, seed=1)
    rng = np.random.default_rng(1)
    targets = {t: rng.dirichlet(np.ones(k), size=n).astype(np.float32) for t, k in KIM_HEADS.items()}
    tasks = list(KIM_HEADS)
    plan = partial(kim.batch_plan, seed=0, rank=0, world=1, train_idx=np.arange(n), batch_size=sizes.kim_batch,
                   n_tasks=len(tasks), task_sampling="batch", n_frames=sizes.spec_frames)
    pin = device.type == "cuda"

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return KimNet(KIM_HEADS, shared=True).to(device).to(memory_format=torch.channels_last)

    def prepare(raw: tuple) -> tuple:
        x, idx, task_i = raw
        task = tasks[task_i]
        return x, torch.from_numpy(targets[task][idx.numpy()]), task

    return Workload(
        f"Kim 2018 MTN (5 tasks), 1-s crops, batch {sizes.kim_batch}", "crops",
        lambda workers=None, pin_memory=None: crop_iterator(
            path, plan, frames=kim.CROP_FRAMES, steps=4 * sizes.max_steps + 64, per_epoch=n // sizes.kim_batch,
            workers=sizes.crop_workers if workers is None else workers, pin=pin if pin_memory is None else pin_memory),
        prepare,
        lambda model, opt, a: kim.train_step(model, opt, *a, device=device, autocast=autocast, channels_last=True),
        build, lambda model: kim.compile_blocks(model, **compile_kw), sizes.crop_workers, 4 * sizes.crop_workers,
        kind=lambda args: args[2], kinds=len(tasks))


def park_workload(tmp: Path, sizes: Sizes, device: torch.device, autocast, compile_kw: dict, *,
                  siamese: bool) -> Workload:
    from raymir.models.park2017 import CROP_FRAMES, Park2017
    from raymir.train import park

    n = sizes.park_tracks
    path = tmp / "park_spec.npy"
    if not path.exists():
        spec_file(path, n, sizes.spec_frames, seed=2)
    label = np.arange(n) % sizes.park_artists  # the artist of each track
    batch = sizes.park_anchors if siamese else sizes.park_batch
    plan = partial(park.batch_plan, seed=0, rank=0, world=1, train=np.arange(n), label=label, batch_size=batch,
                   siamese=siamese, n_negatives=4, n_frames=sizes.spec_frames)
    pin = device.type == "cuda"

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return Park2017(None if siamese else sizes.park_artists).to(device)

    def prepare(raw: tuple) -> tuple:
        x, _, anchors = raw
        return x[:, 0], None if siamese else torch.from_numpy(label[anchors.numpy()])

    what = f"Siamese, {batch} anchors × 6 crops" if siamese else f"basic, batch {batch}"
    return Workload(
        f"Park 2017 {what}, 3-s crops", "crops",
        lambda workers=None, pin_memory=None: crop_iterator(
            path, plan, frames=CROP_FRAMES, steps=4 * sizes.max_steps + 64, per_epoch=n // batch,
            workers=sizes.crop_workers if workers is None else workers, pin=pin if pin_memory is None else pin_memory),
        prepare,
        lambda model, opt, a: park.train_step(model, opt, a[0], target=a[1], n_negatives=4, margin=0.4,
                                              device=device, autocast=autocast),
        build, lambda model: model.compile(**compile_kw), sizes.crop_workers, 4 * sizes.crop_workers)


def dynamo_graphs() -> int:
    """Graphs torch.compile has captured in this process so far."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def n_items(args: tuple) -> int:
    return len(args[0])


def steps_for(seconds_per_step: float, sizes: Sizes) -> int:
    return int(min(sizes.max_steps, max(sizes.min_steps, math.ceil(sizes.measure_s / max(seconds_per_step, 1e-6)))))


def loader_alone(w: Workload, sizes: Sizes, **settings) -> tuple[float, float, tuple]:
    """The loader alone: batches handed to the training process (pinned on a GPU), nothing else
    → (items/s, seconds per batch, one prepared batch)."""
    it = w.batches(**settings)
    for _ in range(sizes.warmup + w.queue):  # processes started, their prefetched batches taken
        next(it)
    t0 = time.perf_counter()
    k, items = 0, 0
    while k < sizes.min_steps or (time.perf_counter() - t0 < sizes.measure_s and k < sizes.max_steps):
        items += n_items(w.prepare(next(it)))
        k += 1
    wall = time.perf_counter() - t0
    sample = w.prepare(next(it))
    del it
    return items / wall, wall / k, sample


def measure_workload(w: Workload, *, device: torch.device, sizes: Sizes, util: Utilisation, log: Log,
                     variants: list[str], clock: Clock, reserve_s: float) -> list[dict]:
    """Loader alone, copies alone, then per variant (eager, compile): the step on a device-resident batch and
    the whole pipeline → one row per variant."""
    loader_rate, loader_step_s, sample = loader_alone(w, sizes)
    # host→device copies of a pinned batch (the step's own copies, without the step)
    reps = max(sizes.min_steps, 20)
    to_dev(sample, device)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        to_dev(sample, device)
    sync(device)
    copy_s = (time.perf_counter() - t0) / reps
    copy_rate = n_items(sample) / copy_s
    log(f"  loader: {loader_rate:,.0f} {w.unit}/s ({w.workers} processes); host→device: {copy_rate:,.0f} {w.unit}/s "
        f"({nbytes(sample) / copy_s / 1e9:.1f} GB/s, {nbytes(sample) / 1e6:.1f} MB per batch)")
    rows = []
    for variant in variants:
        if clock.left() < reserve_s + 20:
            log(f"  {variant}: skipped (time budget: {clock.left():.0f} s left)")
            continue
        model = w.build()
        graphs = dynamo_graphs()
        if variant == "compile":
            w.compile(model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        # the step alone, on batches already on the device: 4, or one of each task of an MTN, so that every
        # branch is compiled and warm before anything is timed
        it = w.batches()
        dev_batches, kinds = [], set()
        while len(dev_batches) < 4 or (len(kinds) < w.kinds and len(dev_batches) < 64):
            args = w.prepare(next(it))
            if len(dev_batches) < 4 or w.kind(args) not in kinds:
                dev_batches.append(to_dev(args, device))
                kinds.add(w.kind(args))
        nb = len(dev_batches)
        sync(device)
        t0 = time.perf_counter()
        w.step(model, opt, dev_batches[0])
        sync(device)
        first_s = time.perf_counter() - t0
        for i in range(1, max(nb, sizes.warmup + 1)):
            w.step(model, opt, dev_batches[i % nb])
        sync(device)
        t0 = time.perf_counter()
        for i in range(sizes.warmup):
            w.step(model, opt, dev_batches[i % nb])
        sync(device)
        steps = steps_for((time.perf_counter() - t0) / sizes.warmup, sizes)
        total = torch.zeros((), device=device)
        with util.sample() as u_compute:
            t0 = time.perf_counter()
            for i in range(steps):
                total += w.step(model, opt, dev_batches[i % nb])
            issued = time.perf_counter() - t0
            sync(device)
            wall = time.perf_counter() - t0
        compute_rate = sum(n_items(dev_batches[i % nb]) for i in range(steps)) / wall
        host_share = issued / wall
        # the whole pipeline: loader → pinned copies → step
        for _ in range(sizes.warmup + w.queue):
            total += w.step(model, opt, w.prepare(next(it)))
        sync(device)
        e2e_steps = steps_for(max(wall / steps, loader_step_s), sizes)
        with util.sample() as u_e2e:
            t0 = time.perf_counter()
            items = 0
            for _ in range(e2e_steps):
                args = w.prepare(next(it))
                items += n_items(args)
                total += w.step(model, opt, args)
            sync(device)
            e2e_wall = time.perf_counter() - t0
        del it
        e2e_rate = items / e2e_wall
        graphs = dynamo_graphs() - graphs
        if variant == "compile" and not graphs:
            log.fail(f"{w.name}: torch.compile captured no graph (the model ran eagerly)")
        loss = float(total) / (steps + e2e_steps + sizes.warmup + w.queue)
        limit = name_limit(e2e_rate, compute_rate, loader_rate, copy_rate, host_share, mean_or_none(u_compute),
                           w.unit, w.workers, gpu=device.type == "cuda")
        row = {"net": w.name, "variant": variant, "unit": w.unit, "first_step_s": round(first_s, 2),
               "compute_only_per_s": round(compute_rate), "compute_host_issue_share": round(host_share, 2),
               "compute_gpu_util_pct": mean_or_none(u_compute), "loader_only_per_s": round(loader_rate),
               "loader_processes": w.workers, "h2d_only_per_s": round(copy_rate),
               "end_to_end_per_s": round(e2e_rate), "end_to_end_gpu_util_pct": mean_or_none(u_e2e),
               "steps_timed": f"{steps}+{e2e_steps}", "compiled_graphs": graphs, "mean_loss": round(loss, 4),
               "limit": limit}
        log(f"  {variant:<8} end to end {e2e_rate:>9,.0f} {w.unit}/s (GPU util {pct(row['end_to_end_gpu_util_pct'])}); "
            f"step alone {compute_rate:,.0f}/s (host issuing {100 * host_share:.0f}% of it, util "
            f"{pct(row['compute_gpu_util_pct'])}); first step {first_s:.1f} s; {graphs} graphs compiled → limit: {limit}")
        if not math.isfinite(loss):
            log.fail(f"{w.name} {variant}: non-finite loss")
        if limit.startswith("loader") and not any("loader_unpinned_per_s" in r for r in rows):
            # where in the loader: more processes reading, or the one thread that pins their batches?
            more = min(2 * w.workers or 1, os.cpu_count() or 1)
            row["loader_2x_processes_per_s"] = round(loader_alone(w, sizes, workers=more)[0])
            row["loader_unpinned_per_s"] = round(loader_alone(w, sizes, pin_memory=False)[0])
            log(f"  loader alone with {more} processes: {row['loader_2x_processes_per_s']:,} {w.unit}/s; with "
                f"{w.workers}, not pinned: {row['loader_unpinned_per_s']:,} {w.unit}/s (pinning is one thread of "
                "the training process)")
        rows.append(row)
        del model, opt, dev_batches
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def name_limit(e2e: float, compute: float, loader: float, copy: float, host_share: float, util: float | None,
               unit: str, workers: int, *, gpu: bool = True) -> str:
    """What limits the end-to-end rate, from the rates of its parts measured alone."""
    if e2e >= 0.8 * compute:
        if not gpu:  # a CPU computes as it issues: the step is all host time
            return f"CPU compute: the step alone runs at {compute:,.0f} {unit}/s"
        if host_share >= 0.9 and (util is None or util < 90):
            return (f"host: issuing the step (Python, kernel launches or a host sync) takes {100 * host_share:.0f}% "
                    f"of its time; step alone {compute:,.0f} {unit}/s")
        return f"GPU compute: the step alone runs at {compute:,.0f} {unit}/s"
    parts = {"loader": loader, "host→device copies": copy}
    slowest = min(parts, key=parts.get)
    if parts[slowest] <= 1.25 * e2e:
        where = f" with {workers} processes" if slowest == "loader" else ""
        return f"{slowest}: {parts[slowest]:,.0f} {unit}/s alone{where} (step alone {compute:,.0f})"
    return (f"the parts do not overlap: loader {loader:,.0f}, copies {copy:,.0f}, step {compute:,.0f} {unit}/s alone, "
            f"{e2e:,.0f} together")


def training_section(log: Log, out: Path, tmp: Path, sizes: Sizes, device: torch.device, util: Utilisation,
                     clock: Clock) -> list[dict]:
    from raymir.train.job import autocast_dtype

    autocast = autocast_dtype("auto", device)
    compile_kw = {} if sizes.compile_backend == "inductor" else {"backend": sizes.compile_backend}
    log(f"autocast: {autocast}; channels-last (2-D convnets); torch.compile backend {sizes.compile_backend}")
    makers = [("choi", lambda: choi_workload(tmp, sizes, device, autocast, compile_kw)),
              ("kim", lambda: kim_workload(tmp, sizes, device, autocast, compile_kw)),
              ("park basic", lambda: park_workload(tmp, sizes, device, autocast, compile_kw, siamese=False)),
              ("park siamese", lambda: park_workload(tmp, sizes, device, autocast, compile_kw, siamese=True))]
    rows: list[dict] = []
    for key, make in makers:
        if clock.left() < sizes.reserve_after_training_s + 30 and key != "choi":
            log(f"{key}: skipped (time budget: {clock.left():.0f} s left)")
            continue
        try:
            w = make()
            log(f"{w.name}:")
            rows += measure_workload(w, device=device, sizes=sizes, util=util, log=log, variants=["eager", "compile"],
                                     clock=clock, reserve_s=sizes.reserve_after_training_s)
        except Exception:
            log(traceback.format_exc())
            log.fail(f"training throughput, {key}")
        write_csv(out / "training.csv", rows)
    return rows


# --- 2(b). the LS-SVM over the whole Choi grid ----------------------------------------------------------


def grid_features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic pooled features of a Choi net: [n, 5 layers, 32] float32, 10 classes, recordings of 10 clips
    (the folds keep a recording together, as UrbanSound8K's) → (features, labels, fold of each clip)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 10)
    recording = np.arange(n) // 10
    centres = rng.standard_normal((5, 10, 32))
    offsets = 0.5 * rng.standard_normal((recording.max() + 1, 5, 32))
    feats = np.stack([(centres[b, y] + offsets[recording, b] + 2.0 * rng.standard_normal((n, 32))) * (1 + b)
                      for b in range(5)], axis=1)
    return feats.astype(np.float32), y, recording % 10


def lssvm_grid(feats: np.ndarray, y: np.ndarray, fold_of: np.ndarray, combos: list[str], *, device: str,
               precision: str, memory_gb: float, n_folds: int) -> dict:
    from raymir.config import ProbeConfig
    from raymir.probes.folds import make_folds
    from raymir.probes.svm import Engine, grid_points, grid_search_combos

    probe = ProbeConfig(folds=n_folds, nested=False)
    folds = make_folds(y, kind="classification", n_folds=n_folds, predefined=fold_of % n_folds)
    blocks = {str(b + 1): feats[:, b] for b in range(feats.shape[1])}
    engine = Engine(solver="lssvm", device=device, precision=precision, kernel_memory_gb=memory_gb)
    return grid_search_combos(blocks, {c: tuple(c) for c in combos}, y, folds,
                              {c: grid_points(probe, feats.shape[2] * len(c)) for c in combos}, kind="classification",
                              nested=False, engine=engine)


def lssvm_section(log: Log, out: Path, sizes: Sizes, device: torch.device, clock: Clock) -> list[dict]:
    from raymir.config import ProbeConfig, all_layer_combos
    from raymir.probes.lssvm import lssvm_predict, solve_precision
    from raymir.probes.svm import grid_points

    every = list(all_layer_combos())
    order = list(sizes.lssvm_cpu_combos) + [c for c in every if c not in sizes.lssvm_cpu_combos]
    n_points = len(grid_points(ProbeConfig(), 32))
    n_max = max(sizes.lssvm_sizes)
    feats, y, fold_of = grid_features(n_max)
    dev = device.type
    if dev == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        memory_gb = 0.5 * free / 2**30
    else:
        memory_gb = 2.0
    log(f"grid: {len(every)} combinations × {n_points} points × {sizes.lssvm_folds} folds; kernels and solves on {dev} "
        f"(kernel memory budget {memory_gb:.0f} GB); precision auto = {solve_precision('auto', dev)} here")
    lssvm_predict(np.eye(4)[None], np.eye(4)[None, :1], np.arange(4) % 2, (1.0,), kind="classification", n_classes=2,
                  device=dev)  # the solver libraries' one-off start-up is not the grid's time
    rows: list[dict] = []
    results: dict = {}
    probe = ProbeConfig(folds=sizes.lssvm_folds)
    # kernels per (combination, scaler): linear + one per distinct γ (1/n_features may repeat a 2^k)
    n_kernels = {c: len({(p.kernel, p.gamma) for p in grid_points(probe, 32 * len(c)) if p.scaler}) for c in every}
    big, *rest = sorted(sizes.lssvm_sizes, reverse=True)
    for n in (big, *sorted(rest)):  # the largest first: it is the target
        idx = np.arange(n)
        n_train = n - n // sizes.lssvm_folds
        for precision in ("fp64", "mixed"):
            if clock.left() < 30:
                log(f"  {n} clips {precision}: skipped (time budget: {clock.left():.0f} s left)")
                continue
            run = partial(lssvm_grid, feats[idx], y[idx], fold_of[idx], device=dev, precision=precision,
                          memory_gb=memory_gb, n_folds=sizes.lssvm_folds)
            sync(device)
            t0 = time.perf_counter()
            res = run(order[:1])
            sync(device)
            t1 = time.perf_counter() - t0
            if n <= sizes.lssvm_always_full or t1 * len(every) <= min(sizes.lssvm_full_cap_s, clock.left() - 60):
                more = len(every) - 1  # the whole grid: every combination
            else:  # a subset, then the whole grid extrapolated from its time per combination
                more = int(min(len(every) - 2, max(1, sizes.lssvm_subset_s // max(t1, 1e-3))))
            sync(device)
            t0 = time.perf_counter()
            res |= run(order[1:1 + more])
            sync(device)
            k, tk = 1 + more, t1 + time.perf_counter() - t0
            whole = tk * len(every) / k
            how = "measured" if k == len(every) else f"extrapolated ×{len(every)}/{k} from {k} combinations"
            factorisations = sizes.lssvm_folds * 2 * len(probe.C) * sum(n_kernels[c] for c in order[:k])
            tflops = factorisations * n_train**3 / 3 / tk / 1e12
            acc = float(np.mean([r.cv_mean for r in res.values()]))
            results[(n, precision)] = res
            rows.append({"clips": n, "precision": precision, "engine": next(iter(res.values())).engine,
                         "combos_timed": k, "seconds_timed": round(tk, 2), "whole_grid_s": round(whole, 1),
                         "how": how, "one_combo_s": round(t1, 2), "mean_best_cv_accuracy": round(acc, 4),
                         "factorisations_timed": factorisations, "cholesky_tflops_all_time": round(tflops, 2)})
            log(f"  {n:>5} clips {precision:<5} whole grid {whole:7.1f} s ({how}; {k} combinations in {tk:.1f} s); "
                f"mean best CV accuracy {acc:.3f}; {factorisations} Cholesky factorisations of n={n_train} "
                f"≈ {tflops:.2f} TFLOP/s counting all time")
            write_csv(out / "lssvm.csv", rows)
    # the smallest size against the LS-SVM in fp64 on the CPU, on a few combinations
    n = min(sizes.lssvm_sizes)
    if clock.left() > 30 and any((n, p) in results for p in ("fp64", "mixed")):
        t0 = time.perf_counter()
        cpu = lssvm_grid(feats[:n], y[:n], fold_of[:n], list(sizes.lssvm_cpu_combos), device="cpu", precision="fp64",
                         memory_gb=4.0, n_folds=sizes.lssvm_folds)
        t_cpu = time.perf_counter() - t0
        for precision in ("fp64", "mixed"):
            if (n, precision) not in results:
                continue
            res = results[(n, precision)]
            common = [c for c in cpu if c in res]
            diffs = np.concatenate([np.abs(res[c].fold_scores - cpu[c].fold_scores).ravel() for c in common])
            same_best = sum(res[c].best == cpu[c].best for c in common)
            log(f"  {n} clips, {precision} on {dev} vs fp64 on the CPU ({len(common)} combinations, CPU {t_cpu:.1f} s): "
                f"{np.mean(diffs > 0):.1%} of fold scores differ, largest by {diffs.max():.4f}; same best point "
                f"{same_best}/{len(common)}")
            for r in rows:
                if r["clips"] == n and r["precision"] == precision:
                    r |= {"vs_cpu_fp64_share_differing": round(float(np.mean(diffs > 0)), 4),
                          "vs_cpu_fp64_max_diff": round(float(diffs.max()), 4),
                          "vs_cpu_fp64_same_best": f"{same_best}/{len(common)}"}
        write_csv(out / "lssvm.csv", rows)
    return rows


# --- 2(c). feature extraction ----------------------------------------------------------------------------


def extraction_section(log: Log, out: Path, tmp: Path, sizes: Sizes, device: torch.device, clock: Clock) -> list[dict]:
    from raymir.audio import MelParams, tile_shifted
    from raymir.extract import layer_features
    from raymir.models.choi2017 import Choi2017

    mel = MelParams()
    n, t = sizes.extract_clips, int(round(sizes.extract_seconds * mel.sr))
    path = tmp / "clips.npy"
    audio = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, t))
    rng = np.random.default_rng(3)
    for lo in range(0, n, 256):
        k = min(256, n - lo)
        audio[lo:lo + k] = 0.1 * rng.standard_normal((k, t), dtype=np.float32)
    audio.flush()
    audio = np.load(path, mmap_mode="r")
    torch.manual_seed(0)
    model = Choi2017(50, mel=mel)
    b = sizes.extract_batch
    layer_features(model, audio[:b], n_samples=mel.n_samples, batch_size=b, device=device)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    feats = layer_features(model, audio, n_samples=mel.n_samples, batch_size=b, device=device)
    rate = n / (time.perf_counter() - t0)
    # the model alone on a batch already on the device
    with torch.no_grad():
        y = torch.from_numpy(np.array(audio[:b])).to(device)
        zero = torch.zeros(len(y), dtype=torch.long, device=device)
        model.layer_features(tile_shifted(y, zero, mel.n_samples))
        sync(device)
        reps = max(3, sizes.min_steps // 2)
        t0 = time.perf_counter()
        for _ in range(reps):
            model.layer_features(tile_shifted(y, zero, mel.n_samples))
        sync(device)
        compute_rate = reps * len(y) / (time.perf_counter() - t0)
    m = min(16, n)
    cpu = layer_features(model, audio[:m], n_samples=mel.n_samples, batch_size=8)
    scale = float(np.abs(cpu).max())
    err = float(np.abs(feats[:m] - cpu).max()) / scale
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        strict = layer_features(model, audio[:m], n_samples=mel.n_samples, batch_size=8, device=device)
    finally:
        torch.backends.cudnn.allow_tf32 = before
    err_strict = float(np.abs(strict - cpu).max()) / scale
    limit = "the model (GPU compute)" if rate >= 0.8 * compute_rate else \
        f"the host: reading and copying clips (model alone {compute_rate:,.0f} clips/s)"
    row = {"clips": n, "stored_s": sizes.extract_seconds, "tiled_to_s": mel.duration, "batch": b,
           "clips_per_s": round(rate), "model_alone_clips_per_s": round(compute_rate),
           "max_diff_vs_cpu_rel": f"{err:.2e}", "max_diff_vs_cpu_rel_no_tf32": f"{err_strict:.2e}", "limit": limit}
    log(f"  {n} clips of {sizes.extract_seconds:g} s → {mel.duration:g} s, batch {b}: {rate:,.0f} clips/s "
        f"(model alone {compute_rate:,.0f}); vs CPU features: max |Δ| / max|f| = {err:.1e} (default TF32 "
        f"convolutions), {err_strict:.1e} (TF32 off); limit: {limit}")
    write_csv(out / "extraction.csv", [row])
    return [row]


# --- the run -----------------------------------------------------------------------------------------------


def environment(device: torch.device) -> dict:
    from raymir.probes.lssvm import FAST_FP64, solve_precision

    env = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        cap = torch.cuda.get_device_capability(device)
        env |= {"gpu": p.name, "capability": f"{cap[0]}.{cap[1]}", "gpu_memory_gb": round(p.total_memory / 2**30, 1),
                "multiprocessors": p.multi_processor_count, "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported(),
                "full_rate_fp64 (FAST_FP64)": cap in FAST_FP64, "lssvm_auto_precision": solve_precision("auto", "cuda"),
                "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}
    return env


def summarise(log: Log, tests: str, training: list[dict], lssvm: list[dict], extraction: list[dict],
              env: dict, smoke: bool) -> list[str]:
    lines = [f"== raymir GPU proof: {env.get('gpu', 'CPU smoke run')}, torch {env['torch']} ==", f"tests: {tests}"]
    for r in training:
        lines.append(f"{r['net'][:44]:<44} {r['variant']:<7} {r['end_to_end_per_s']:>8,} {r['unit']}/s "
                     f"(util {pct(r['end_to_end_gpu_util_pct'])}) limit: {r['limit']}")
    choi = [r["end_to_end_per_s"] for r in training if r["net"].startswith("Choi")]
    if choi and not smoke:
        best = max(choi)
        lines.append(f"Choi pretraining target ≥ {TARGET_CHOI:,.0f} clips/s: {'MET' if best >= TARGET_CHOI else 'NOT MET'} "
                     f"({best:,} clips/s)")
    for r in lssvm:
        cmp = f"; vs CPU fp64: {r['vs_cpu_fp64_share_differing']:.1%} differ" if "vs_cpu_fp64_share_differing" in r else ""
        lines.append(f"LS-SVM whole grid {r['clips']:>5} clips {r['precision']:<5} {r['whole_grid_s']:>7.1f} s "
                     f"({r['how']}){cmp}")
    big = [r for r in lssvm if r["clips"] == max(r2["clips"] for r2 in lssvm)]
    if big and not smoke:
        best = min(big, key=lambda r: r["whole_grid_s"])
        ok = best["whole_grid_s"] < TARGET_GRID_S
        lines.append(f"probe grid target < {TARGET_GRID_S:.0f} s at {best['clips']} clips: {'MET' if ok else 'NOT MET'} "
                     f"({best['whole_grid_s']:.1f} s, {best['precision']}"
                     + ("" if ok else f"; limit: the solver, Cholesky at ≈ {best['cholesky_tflops_all_time']} "
                        "TFLOP/s counting all time") + ")")
    for r in extraction:
        lines.append(f"extraction: {r['clips_per_s']:,} clips/s ({r['stored_s']:g}-s clips → {r['tiled_to_s']:g} s; "
                     f"model alone {r['model_alone_clips_per_s']:,}); vs CPU {r['max_diff_vs_cpu_rel']} "
                     f"({r['max_diff_vs_cpu_rel_no_tf32']} without TF32)")
    lines.append("failures: " + ("; ".join(log.failures) if log.failures else "none"))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="run everything on the CPU at tiny sizes (about a minute)")
    ap.add_argument("--out", default=None, help="where the tables go (default: $OUT, else raymir_out/gpu_proof)")
    ap.add_argument("--budget-s", type=float, default=None, help="wall-clock budget (default 450 s; smoke 240 s)")
    ap.add_argument("--skip-tests", action="store_true", help="benchmarks only")
    ap.add_argument("--only", default="training,lssvm,extraction", help="sections to run (comma-separated)")
    args = ap.parse_args()
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("gpu_proof: no CUDA device is visible. Run it on a machine with a GPU, or use --cpu-smoke for the "
              "CPU rehearsal at tiny sizes.", file=sys.stderr)
        return 2
    out = Path(args.out or os.environ.get("OUT") or ROOT / "raymir_out" / "gpu_proof")
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out)
    sizes = SMOKE if args.cpu_smoke else Sizes()
    if sizes.torch_threads:  # one thread: a small CPU run is not at the mercy of other processes' load
        torch.set_num_threads(sizes.torch_threads)
    clock = Clock(args.budget_s or (240.0 if args.cpu_smoke else 450.0))
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    site = install_wheels(log)
    env = environment(device)
    (out / "env.json").write_text(json.dumps(env, indent=1))
    log("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    tests = "skipped (--skip-tests)" if args.skip_tests else run_tests(log, out, sizes, site, clock, gpu=device.type == "cuda")
    util = Utilisation(device)
    sections = set(args.only.split(","))
    training: list[dict] = []
    lssvm: list[dict] = []
    extraction: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="raymir-gpu-proof-") as tmp:
        for name, title, fn in (
                ("training", "(a) training throughput from memory-mapped caches", training_section),
                ("lssvm", "(b) LS-SVM over the whole Choi probe grid", lssvm_section),
                ("extraction", "(c) feature extraction", extraction_section)):
            if name not in sections:
                continue
            log("", f"{title} [{clock.elapsed():.0f} s elapsed]")
            try:
                if name == "training":
                    training = fn(log, out, Path(tmp), sizes, device, util, clock)
                elif name == "lssvm":
                    lssvm = fn(log, out, sizes, device, clock)
                else:
                    extraction = fn(log, out, Path(tmp), sizes, device, clock)
            except Exception:
                log(traceback.format_exc())
                log.fail(title)
    lines = summarise(log, tests, training, lssvm, extraction, env, args.cpu_smoke)
    lines.append(f"wall {clock.elapsed():.0f} s; tables in {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    log("", *lines)
    log.file.close()
    return 1 if log.failures else 0


if __name__ == "__main__":
    sys.exit(main())
