"""Artist-label pretraining (Park et al. 2017) with Ray Train: the basic and the Siamese model.

basic:   softmax over the training artists, cross-entropy, on random 3-s crops.
siamese: shared tower; per anchor crop, a crop of another track by the same artist and 4 crops
         of other artists' tracks; hinge loss on cosine similarities (margin 0.4).

The job's inputs live in one directory: ``spec.npy`` [n, 128, T] float16 (log10(1 + 10·mel)) and
``artists.npy`` [n]; each job names the track indices it trains on (held-out artists are simply
not among them), so runs over different artist sets share one spectrogram file. Re-running a job
name resumes from its last checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from raymir.config.sections import ARTIST_MODELS, ParkTrainConfig
from raymir.models.park2017 import CROP_FRAMES, Park2017
from raymir.train import job
from raymir.train.crops import Batch, CropBatches, crop_batches, crop_starts, rank_slices, save_spec
from raymir.train.siamese import hinge_loss, sample_triplets


def prepare_artist_inputs(directory: Path, *, spec: np.ndarray, artists: np.ndarray) -> None:
    """Write a job's inputs: spec [n, n_mels, T] (stored float16; may already be ``directory/spec.npy``,
    memory-mapped), artists [n]."""
    directory = Path(directory)
    path = directory / "spec.npy"
    save_spec(path, spec)
    np.save(directory / "artists.npy", np.asarray(artists))


def batch_plan(epoch: int, *, seed: int, rank: int, world: int, train: np.ndarray, label: np.ndarray,
               batch_size: int, siamese: bool, n_negatives: int, n_frames: int) -> list[Batch]:
    """One rank's batches of ``epoch``: (track indices, crop starts, anchor positions within ``train``) each.

    A basic batch crops its anchors [B]; a Siamese batch crops anchors, positives and negatives
    [B × (2 + n_negatives)], in that order. The anchor order comes from a generator shared by all
    ranks, partners and crop starts from the rank's own one.
    """
    shared = np.random.default_rng([seed, epoch])
    local = np.random.default_rng([seed, epoch, rank, 1])
    perm = shared.permutation(len(train))  # positions within ``train``
    batches = []
    for anchors in rank_slices(perm, batch_size=batch_size, rank=rank, world=world):
        pos = anchors
        if siamese:
            p, n = sample_triplets(label, anchors, local, n_negatives=n_negatives)
            pos = np.concatenate([anchors, p, n.ravel()])
        batches.append((train[pos], crop_starts(n_frames, CROP_FRAMES, len(pos), local), anchors))
    return batches


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, *,
               target: torch.Tensor | None, n_negatives: int, margin: float, device: torch.device,
               autocast: torch.dtype | None) -> torch.Tensor:
    """One optimizer step of the basic or the Siamese model → the batch's loss (detached, on ``device``).

    basic (``target`` [B]: artist class per crop): x [B, n_mels, frames], cross-entropy of the softmax head.
    Siamese (``target`` None): x [B × (2 + n_negatives), n_mels, frames] holds B anchors, their B positives,
    then n_negatives negatives per anchor (anchor-major); hinge loss on cosine similarities (``margin``).
    x is float16 as cut from the file (converted to float32 on the device), on the host (copied from
    pinned pages without blocking) or already on ``device``.
    """
    x = job.to_device(x, device).float()  # float16 in the file
    with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        if target is not None:
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), job.to_device(target, device))
        else:
            emb = model(x).float()
            k = len(x) // (2 + n_negatives)
            loss = hinge_loss(emb[:k], emb[k:2 * k], emb[2 * k:].reshape(k, n_negatives, -1), margin=margin)
    return job.optimise(optimizer, loss)


def train_loop(config: dict) -> None:
    """One Ray Train worker: train the basic or Siamese model, report and checkpoint a few times."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    data = Path(config["data_dir"])
    spec = np.load(data / "spec.npy", mmap_mode="r")
    artists = np.load(data / "artists.npy")
    train = np.asarray(config["train_idx"], dtype=int)
    names, label = np.unique(artists[train], return_inverse=True)  # class index per training track
    cfg: ParkTrainConfig = config["train"]
    basic = config["model"] == "basic"
    torch.manual_seed(cfg.seed)
    model = Park2017(len(names) if basic else None, n_mels=spec.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history, _ = job.restore(model, optimizer)
    device = ray.train.torch.get_device()
    autocast = job.autocast_dtype(cfg.precision, device)
    if cfg.compile:
        model.compile()  # in place, so the state_dict keeps its names (checkpoints load into a plain model)
    model = ray.train.torch.prepare_model(model)
    net = model.module if hasattr(model, "module") else model
    B, epochs = cfg.batch_size, cfg.epochs
    report_at = job.report_epochs(epochs, cfg.reports)
    total, steps = 0.0, 0
    plan = partial(batch_plan, seed=cfg.seed, rank=rank, world=world, train=train, label=label, batch_size=B,
                   siamese=not basic, n_negatives=cfg.n_negatives, n_frames=spec.shape[2])
    crops = CropBatches(data / "spec.npy", plan, epochs=range(start_epoch, epochs), frames=CROP_FRAMES)
    batches = crop_batches(crops, workers=cfg.loader_workers, pin=device.type == "cuda")
    for epoch in range(start_epoch, epochs):
        model.train()
        for _ in range(crops.per_epoch):
            x, _, anchors = next(batches)
            target = torch.from_numpy(label[anchors.numpy()]) if basic else None
            total = total + train_step(model, optimizer, x[:, 0], target=target, n_negatives=cfg.n_negatives,
                                       margin=cfg.margin, device=device, autocast=autocast)  # no host sync per step
            steps += 1
        if epoch not in report_at:
            continue
        metrics = {"epoch": epoch, "train_loss": float(total) / max(steps, 1)}
        total, steps = 0.0, 0
        history.append(metrics)
        job.report(metrics, rank=rank, model=net, optimizer=optimizer, epoch=epoch, history=history,
                        extra={"n_artists": len(names)})


@dataclass
class ArtistModel:
    state_dict: dict[str, torch.Tensor]
    history: list[dict]
    n_artists: int


def train_artist_model(data_dir: Path, *, model: str, train_idx: np.ndarray, cfg: ParkTrainConfig,
                       storage_path: Path | str, name: str) -> ArtistModel:
    """Run one basic or Siamese (``model``) training job on tracks ``train_idx`` with a Ray Train TorchTrainer."""
    if model not in ARTIST_MODELS:
        raise ValueError(f"model: {model!r} is not one of {', '.join(ARTIST_MODELS)}")
    config = {"data_dir": str(data_dir), "model": model, "train_idx": np.asarray(train_idx).tolist(), "train": cfg}
    result = job.fit(train_loop, config, scaling=cfg, storage_path=storage_path, name=name)
    with result.checkpoint.as_directory() as d:
        state = job.load_state(Path(d))
    return ArtistModel(state["model"], json.loads(state["history"]), int(state["n_artists"]))
