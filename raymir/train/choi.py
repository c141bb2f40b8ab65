"""Choi et al. 2017 pretraining with Ray Train: multi-label tagging (BCE, Adam) on the source subset.

``train_loop`` runs on every Ray Train worker (DDP over gloo on CPU, NCCL on GPU);
``pretrain`` wires it into a ``TorchTrainer`` and returns the trained weights;
``cached_pretrain`` keeps the result in the content-addressed cache. Re-running with the same
name and storage path resumes from the latest checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from raymir import cache
from raymir.audio import tile_shifted
from raymir.config.sections import MelParams, PretrainConfig
from raymir.data.subset import Subset
from raymir.models import MODELS
from raymir.train import job


class ClipDataset(Dataset):
    """(y [t], target [k], index) for the given clips, y at its stored length t.

    The training loop tiles y to the model's length on the device (``audio.tile_shifted``), from a
    circular shift it draws itself (``epoch_shifts``), so epochs do not show the network the same frames
    again and the batches do not depend on which loader process read them.
    """

    def __init__(self, audio: np.ndarray, targets: np.ndarray, indices: np.ndarray) -> None:
        self.audio, self.targets, self.indices = audio, targets, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        j = int(self.indices[i])
        y = np.array(self.audio[j], dtype=np.float32)  # a writable copy of the memory-mapped row
        return torch.from_numpy(y), torch.from_numpy(np.asarray(self.targets[j], dtype=np.float32)), j


def epoch_shifts(n_clips: int, length: int, *, seed: int, epoch: int) -> torch.Tensor:
    """[n_clips] each clip's circular-shift start (in samples, < ``length``) for ``epoch``.

    Drawn from (seed, epoch) alone in the training process: loader processes seed their own random
    generators by their number, so shifts drawn there would change with ``loader_workers``.
    """
    return torch.from_numpy(np.random.default_rng([seed, epoch]).integers(0, max(length, 1), size=n_clips))


def train_loader(ds: ClipDataset, *, batch_size: int, seed: int, rank: int = 0, world: int = 1, workers: int = 0,
                 pin: bool = False) -> DataLoader:
    """Shuffled training batches of this rank's shard. The order is the sampler's, seeded by (seed, epoch) through
    ``set_epoch``, not drawn from a global random stream that loader processes would consume differently."""
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=len(ds) > batch_size, num_workers=workers,
                      pin_memory=pin, persistent_workers=workers > 0)


def split_train_val(subset: Subset, *, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's own train / valid sets when it has them (MTAT: test clips stay unused), else a
    held-out split by artist (group) when known, so validation clips come from unseen artists."""
    n = len(subset)
    split = subset.labels.get("split")
    if split is not None:
        train, val = np.isin(split, ("train", "training")), np.isin(split, ("valid", "validation", "val"))
        if train.any() and val.any():
            return np.flatnonzero(train), np.flatnonzero(val)
    groups = subset.groups if subset.groups is not None else np.arange(n)
    train, val = next(GroupShuffleSplit(1, test_size=val_fraction, random_state=seed).split(np.zeros(n), groups=groups))
    return np.sort(train), np.sort(val)


def macro_roc_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC-AUC over the tags that have both positives and negatives: [n, k] each."""
    aucs = [roc_auc_score(targets[:, j], scores[:, j]) for j in range(targets.shape[1])
            if 0 < targets[:, j].sum() < len(targets)]
    return float(np.mean(aucs)) if aucs else float("nan")


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, y: torch.Tensor, targets: torch.Tensor,
               shift: torch.Tensor, *, n_samples: int, device: torch.device,
               autocast: torch.dtype | None) -> torch.Tensor:
    """One optimizer step on a batch of clips → the batch's mean BCE loss (detached, on ``device``).

    y [B, t] clips at their stored length, targets [B, k] multi-hot, shift [B] start samples: on the host
    (copied from pinned pages without blocking) or already on ``device`` (as Ray Train's loader hands
    them over). The device tiles each clip to ``n_samples`` from its shift (``audio.tile_shifted``) and
    computes the mel front end; ``autocast`` (e.g. bf16) or None for float32.
    """
    y, targets, shift = (job.to_device(v, device) for v in (y, targets, shift))
    y = tile_shifted(y, shift, n_samples)
    with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        logits = model(y)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)
    return job.optimise(optimizer, loss)


def train_loop(config: dict) -> None:
    """One Ray Train worker: build model + data, train ``epochs``, report metrics and checkpoints."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    cfg: PretrainConfig = config["pretrain"]
    mel: MelParams = config["mel"]
    torch.manual_seed(cfg.seed)
    subset = Subset.load(Path(config["subset_dir"]))
    targets = subset.labels[config["label"]]
    model = MODELS[cfg.model](targets.shape[1], mel=mel)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history, _ = job.restore(model, optimizer)
    device = ray.train.torch.get_device()
    autocast = job.autocast_dtype(cfg.precision, device)
    if cfg.channels_last:  # NHWC convolutions: faster in oneDNN (CPU) and cuDNN (GPU) alike
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile:
        model.compile()  # in place, so the state_dict keeps its names (checkpoints load into a plain model)
    model = ray.train.torch.prepare_model(model)
    # Audio stays memory-mapped; tiling to the model's length and the mel front end run on the device.
    # Loader processes read clips while the device trains; pinned pages copy to a GPU asynchronously.
    loader = {"batch_size": cfg.batch_size, "num_workers": cfg.loader_workers,
              "pin_memory": device.type == "cuda", "persistent_workers": cfg.loader_workers > 0}
    train_ds = ClipDataset(subset.audio, targets, np.asarray(config["train_idx"]))
    val_ds = ClipDataset(subset.audio, targets, np.asarray(config["val_idx"]))
    train_dl = ray.train.torch.prepare_data_loader(  # our DistributedSampler stays: Ray adds none beside it
        train_loader(train_ds, batch_size=cfg.batch_size, seed=cfg.seed, rank=rank, world=world,
                     workers=cfg.loader_workers, pin=device.type == "cuda"))
    sampler = train_dl.sampler
    val_dl = ray.train.torch.prepare_data_loader(DataLoader(val_ds, **loader))

    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)  # this epoch's order, whatever the number of ranks or loader processes
        model.train()
        total = torch.zeros((), device=device)  # summed on device: no host sync per step
        steps = 0
        shifts = epoch_shifts(len(subset), subset.audio.shape[1], seed=cfg.seed, epoch=epoch).to(device)
        for y, t, j in train_dl:
            total += train_step(model, optimizer, y, t, shifts[job.to_device(j, device)], n_samples=mel.n_samples,
                                device=device, autocast=autocast)
            steps += 1
        model.eval()
        scores, truth, index = [], [], []
        with torch.no_grad():
            for y, t, j in val_dl:
                zero = torch.zeros(len(y), dtype=torch.long, device=y.device)  # validation clips unshifted
                scores.append(torch.sigmoid(model(tile_shifted(y, zero, mel.n_samples))).cpu().numpy())
                truth.append(t.cpu().numpy())
                index.append(np.asarray(j))
        local = (np.concatenate(scores), np.concatenate(truth), np.concatenate(index))
        if world > 1:  # each rank scored a shard of the validation set; gather, drop sampler padding
            parts: list = [None] * world
            torch.distributed.all_gather_object(parts, local)
            local = tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
        _, first = np.unique(local[2], return_index=True)
        val_auc = macro_roc_auc(local[1][first], local[0][first])
        metrics = {"epoch": epoch, "train_loss": float(total.item() / max(steps, 1)), "val_roc_auc": val_auc}
        history.append(metrics)
        net = model.module if hasattr(model, "module") else model
        job.report(metrics, rank=rank, model=net, optimizer=optimizer, epoch=epoch, history=history)


@dataclass
class PretrainResult:
    state_dict: dict[str, torch.Tensor]
    history: list[dict]  # one dict per epoch: epoch, train_loss, val_roc_auc
    n_classes: int
    checkpoint_path: str


def load_checkpoint(path: Path) -> tuple[dict, list[dict]]:
    """Weights and per-epoch history from a checkpoint directory (weights only: no pickled code)."""
    state = job.load_state(path)
    return state["model"], json.loads(state["history"])


def pretrain(subset: Subset, *, label: str, cfg: PretrainConfig, mel: MelParams, storage_path: Path | str,
             name: str) -> PretrainResult:
    """Train ``cfg.model`` on ``subset.labels[label]`` (multi-label) with a Ray Train TorchTrainer."""
    train_idx, val_idx = split_train_val(subset, val_fraction=cfg.val_fraction, seed=cfg.seed)
    config = {"subset_dir": str(subset.path), "label": label, "pretrain": cfg, "mel": mel,
              "train_idx": train_idx.tolist(), "val_idx": val_idx.tolist()}
    result = job.fit(train_loop, config, scaling=cfg, storage_path=storage_path, name=name, keep=2)
    with result.checkpoint.as_directory() as d:
        state, history = load_checkpoint(Path(d))
    return PretrainResult(state, history, int(subset.labels[label].shape[1]), result.checkpoint.path)


def pretrain_key(source_key: str, *, label: str, cfg: PretrainConfig, mel: MelParams) -> dict:
    """What a pretrained net depends on: the source subset's content, the label, the training and front-end settings."""
    return {"subset": source_key, "pretrain": asdict(cfg), "mel": asdict(mel), "label": label}


def cached_pretrain(source: Subset, *, label: str, cfg: PretrainConfig, mel: MelParams, cache_root: Path,
                    storage: Path | str, log=print) -> tuple[dict, list[dict], Path]:
    """Train on ``source.labels[label]``, or fetch the result from the cache: → (state_dict, history, directory).

    Cached by the subset's content, the training settings, the front end and the label, so sweeps
    that share a source model (e.g. the tag-trained convnet) train it once.
    """
    key = pretrain_key(source.key, label=label, cfg=cfg, mel=mel)

    def build(d: Path) -> None:
        log(f"pretraining {cfg.model} on {label} of {len(source)} clips: {cfg.epochs} epochs, {cfg.num_workers} Ray "
            f"Train worker(s), {'GPU' if cfg.use_gpu else 'CPU'}")
        res = pretrain(source, label=label, cfg=cfg, mel=mel, storage_path=storage, name=f"pretrain-{cache.key_of(key)}")
        torch.save(res.state_dict, d / "state_dict.pt")
        (d / "history.json").write_text(json.dumps(res.history))
        (d / "n_classes.txt").write_text(str(res.n_classes))

    path = cache.cached(cache_root, "pretrain", key, build)
    state = torch.load(path / "state_dict.pt", weights_only=True)
    return state, json.loads((path / "history.json").read_text()), path
