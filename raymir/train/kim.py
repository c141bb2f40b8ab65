"""Source-net training for artist group factors (Kim et al. 2018) with Ray Train.

One job trains one STN, MTN or wSTN (``raymir.models.kim2018``) on random 1-s crops with a
softmax + categorical cross-entropy head per task against soft targets (AGF topic
distributions) or one-hot genre. Each batch (or each epoch, as in the 2018 code) trains one
task drawn at random, and a multi-task net runs ``epochs × n_tasks`` epochs, so every task's
branch gets as many updates as a single-task net (the paper's rule: 200 STN, 1000 MTN epochs).

After training, rank 0 embeds every track's 1-s chunks and evaluates the transfer MLP
(``raymir.probes.transfer``); the final checkpoint holds the weights and the embeddings.

The job's inputs live in one directory (``prepare_inputs``): ``spec.npy`` [n, n_mels, T]
float16 log-mel, ``targets.npz`` (task → [n, K], NaN rows where a track has no target),
``genre.npy`` [n], ``splits.json`` (train / val / val_artist track indices) and
``stats.npz`` (per-bin mean/std of the training spectrograms).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from raymir.config.sections import KimTrainConfig, TransferConfig
from raymir.models.kim2018 import KimNet, n_params
from raymir.probes.moments import blockwise_moments
from raymir.probes.transfer import embed_tracks, evaluate
from raymir.train import job
from raymir.train.crops import Batch, CropBatches, crop_batches, crop_starts, rank_slices, save_spec

EMBEDDINGS_FILE = "embeddings.npy"
CROP_FRAMES = 43  # 1 s at 22.05 kHz, hop 512


def prepare_inputs(directory: Path, *, spec: np.ndarray, targets: dict[str, np.ndarray], genre: np.ndarray,
                   splits: dict[str, np.ndarray]) -> None:
    """Write a job's inputs (see the module docstring) into ``directory``.

    ``spec`` may already be ``directory/spec.npy``, memory-mapped (``audio.spectrograms(..., path=...)``);
    the statistics are accumulated over blocks of tracks, so neither needs the corpus in memory.
    """
    directory = Path(directory)
    path = directory / "spec.npy"
    save_spec(path, spec)
    np.savez(directory / "targets.npz", **targets)
    np.save(directory / "genre.npy", np.asarray(genre))
    (directory / "splits.json").write_text(json.dumps({k: np.asarray(v).tolist() for k, v in splits.items()}))
    mean, std = bin_stats(np.load(path, mmap_mode="r"), np.asarray(splits["train"]))
    np.savez(directory / "stats.npz", mean=mean, std=std)


def bin_stats(spec: np.ndarray, idx: np.ndarray, *, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every mel bin over tracks ``idx`` and all frames: [n_mels] float32 each."""
    return blockwise_moments(lambda rows: spec[rows], idx, axis=1, block=block)


def batch_plan(epoch: int, *, seed: int, rank: int, world: int, train_idx: np.ndarray, batch_size: int,
               n_tasks: int, task_sampling: str, n_frames: int) -> list[Batch]:
    """One rank's batches of ``epoch``: (track indices [B], crop starts [B], task index) each.

    The track order and the tasks come from a generator shared by all ranks (every rank trains the
    same task in a step, on its own share of the batch); the crop starts from the rank's own one.
    """
    shared = np.random.default_rng([seed, epoch])
    local = np.random.default_rng([seed, epoch, rank, 1])
    perm = shared.permutation(train_idx)
    epoch_task = int(shared.integers(n_tasks))
    batches = []
    for idx in rank_slices(perm, batch_size=batch_size, rank=rank, world=world):
        task = epoch_task if task_sampling == "epoch" else int(shared.integers(n_tasks))
        batches.append((idx, crop_starts(n_frames, CROP_FRAMES, len(idx), local), task))
    return batches


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy against target distributions: [B, K] each → scalar (rows with NaN targets skipped)."""
    keep = ~torch.isnan(targets).any(dim=1)
    if not keep.any():  # still part of the graph, so DDP ranks stay in step
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits[keep], dim=1)
    return -(targets[keep] * logp).sum(dim=1).mean()


def compile_blocks(model: KimNet, **kwargs) -> None:
    """torch.compile a Kim net block by block, in place: one graph per stem or branch and mode, whichever
    task a step trains (a whole-model graph would recompile per task), and the state_dict keeps its
    names. ``kwargs`` go to ``torch.compile`` (e.g. ``backend``)."""
    for block in (*([model.stem] if model.shared else model.stems.values()), *model.branches.values()):
        block.compile(**kwargs)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, targets: torch.Tensor,
               task: str, *, device: torch.device, autocast: torch.dtype | None,
               channels_last: bool) -> torch.Tensor:
    """One optimizer step of ``task`` on a batch of crops → its soft cross-entropy (detached, on ``device``).

    x [B, 1, n_mels, frames] crops, float16 as cut from the file (converted to float32 on the device),
    targets [B, K] the task's target distributions (NaN rows are skipped): on the host (copied from
    pinned pages without blocking) or already on ``device``. Only ``task``'s stem and branch run;
    untouched branches keep grad None, so Adam leaves them be.
    """
    x = job.to_device(x, device).float()  # float16 from the file, converted on the device
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    tgt = job.to_device(targets, device)
    with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        logits = model(x, task)
    loss = soft_cross_entropy(logits.float(), tgt)
    return job.optimise(optimizer, loss)


def _val_losses(model, spec, targets, val_idx, tasks, device, autocast) -> dict[str, float]:
    """Source-task loss of each task on held-out tracks (centre crop)."""
    if not len(val_idx):
        return {}
    t = spec.shape[2]
    s = max(0, (t - CROP_FRAMES) // 2)
    x = torch.from_numpy(spec[val_idx, :, s:s + CROP_FRAMES].astype(np.float32)).unsqueeze(1).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    out = {}
    model.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        for task in tasks:
            tgt = torch.from_numpy(targets[task][val_idx]).to(device)
            out[f"val_loss_{task}"] = float(soft_cross_entropy(model(x, task).float(), tgt))
    return out


def train_loop(config: dict) -> None:
    """One Ray Train worker: train, report a few times with checkpoints, then (rank 0) embed and transfer."""
    import ray.train
    import ray.train.torch

    t_start = time.time()
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    data = Path(config["data_dir"])
    spec = np.load(data / "spec.npy", mmap_mode="r")
    with np.load(data / "targets.npz") as z:
        targets = {t: z[t].astype(np.float32) for t in config["tasks"]}
    splits = {k: np.asarray(v, dtype=int) for k, v in json.loads((data / "splits.json").read_text()).items()}
    cfg: KimTrainConfig = config["train"]
    tasks = list(config["tasks"])
    torch.manual_seed(cfg.seed)
    model = KimNet({t: targets[t].shape[1] for t in tasks}, shared=config["shared"], width=config["width"],
                   n_mels=spec.shape[1])
    with np.load(data / "stats.npz") as st:
        model.set_standardisation(torch.from_numpy(st["mean"]), torch.from_numpy(st["std"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history, _ = job.restore(model, optimizer)
    device = ray.train.torch.get_device()
    autocast = job.autocast_dtype(cfg.precision, device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile:
        compile_blocks(model)
    # Only the sampled task's branch runs in a step, so DDP must tolerate unused parameters.
    model = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"find_unused_parameters": True})
    net = model.module if hasattr(model, "module") else model
    B = cfg.batch_size
    total_epochs = cfg.epochs * len(tasks)
    report_at = job.report_epochs(total_epochs, cfg.reports)
    train_idx, val_idx = splits["train"], splits["val"]
    sums = {t: [0.0, 0] for t in tasks}
    plan = partial(batch_plan, seed=cfg.seed, rank=rank, world=world, train_idx=train_idx, batch_size=B,
                   n_tasks=len(tasks), task_sampling=cfg.task_sampling, n_frames=spec.shape[2])
    crops = CropBatches(data / "spec.npy", plan, epochs=range(start_epoch, total_epochs), frames=CROP_FRAMES)
    batches = crop_batches(crops, workers=cfg.loader_workers, pin=device.type == "cuda")

    for epoch in range(start_epoch, total_epochs):
        model.train()
        for _ in range(crops.per_epoch):
            x, idx, task_i = next(batches)
            task = tasks[task_i]
            loss = train_step(model, optimizer, x, torch.from_numpy(targets[task][idx.numpy()]), task, device=device,
                              autocast=autocast, channels_last=cfg.channels_last)
            sums[task][0] = sums[task][0] + loss  # stays on the device: no host sync per step
            sums[task][1] += 1
        if epoch not in report_at:
            continue
        metrics = {"epoch": epoch} | {f"train_loss_{t}": float(s) / n for t, (s, n) in sums.items() if n}
        metrics |= _val_losses(net, spec, targets, val_idx, tasks, device, autocast)
        sums = {t: [0.0, 0] for t in tasks}
        history.append(metrics)
        write, scratch = None, None
        if rank == 0 and epoch == total_epochs - 1:  # the transfer evaluation, once, on the finished net
            t0 = time.time()
            # embeddings go to disk as they are made, then into the checkpoint: the corpus's need not fit in memory
            scratch = tempfile.TemporaryDirectory(prefix="raymir-embeddings-")
            emb_path = Path(scratch.name) / EMBEDDINGS_FILE
            emb = embed_tracks(net, spec, frames=CROP_FRAMES, device=device, autocast=autocast, path=emb_path)
            genre = np.load(data / "genre.npy")
            metrics |= evaluate([emb], genre, splits, int(genre.max()) + 1, config["transfer"],
                                device=device)
            metrics |= {"n_params": n_params(net), "seconds_transfer": time.time() - t0,
                        "seconds_training": t0 - t_start}
            del emb

            def write(d: Path, src=emb_path) -> None:
                shutil.move(src, d / EMBEDDINGS_FILE)
        job.report(metrics, rank=rank, model=net, optimizer=optimizer, epoch=epoch, history=history, write=write)
        if scratch is not None:
            scratch.cleanup()


@dataclass
class SourceResult:
    state_dict: dict[str, torch.Tensor]
    history: list[dict]
    embeddings: np.ndarray  # [n_tracks, n_chunks, embed_dim] float16, memory-mapped
    metrics: dict[str, float]


def train_source(data_dir: Path, *, tasks: list[str], shared: bool, width: float, train: KimTrainConfig,
                 transfer: TransferConfig, storage_path: Path | str, name: str) -> SourceResult:
    """Run one source-net job (a head per task in ``tasks``) with a Ray Train TorchTrainer; re-running
    ``name`` resumes it."""
    config = {"data_dir": str(data_dir), "tasks": tasks, "shared": shared, "width": width, "train": train,
              "transfer": transfer}
    t0 = time.time()
    result = job.fit(train_loop, config, scaling=train, storage_path=storage_path, name=name)
    metrics = dict(result.metrics) | {"seconds_job": time.time() - t0}
    with result.checkpoint.as_directory() as d:
        state = job.load_state(Path(d))
        emb = np.load(Path(d) / EMBEDDINGS_FILE, mmap_mode="r")  # stays readable after the context: mapped
    return SourceResult(state["model"], json.loads(state["history"]), emb, metrics)
