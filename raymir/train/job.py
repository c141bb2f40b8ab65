"""What every Ray Train job in raymir shares: precision choice, resume from the latest checkpoint,
reporting with a rank-0 checkpoint, and the TorchTrainer wiring.

A checkpoint is one ``checkpoint.pt`` (a dict of tensors, numbers and a JSON history, loadable with
``weights_only=True``) plus any files a loop adds beside it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "checkpoint.pt"


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast where the hardware computes bf16 natively ("auto"), always ("bf16"), or never ("fp32")."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host batch on ``device``. To a GPU it goes from pinned pages without blocking, so the host
    cuts the next batch while the device still trains on this one. A batch already pinned (a loader
    with ``pin_memory``) is not copied again on the host; one already on ``device`` is returned as is."""
    if x.device.type == device.type and (device.index is None or x.device.index == device.index):
        return x
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def report_epochs(epochs: int, reports: int) -> set[int]:
    """The epochs after which a job reports metrics and checkpoints: ``reports`` of them, evenly spaced,
    always including the last."""
    n = min(epochs, reports)
    return {(i + 1) * epochs // n - 1 for i in range(n)}


def optimise(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One update: gradients cleared (to None, so a branch the loss did not reach keeps none and Adam skips
    it), ``loss`` back-propagated, the optimizer stepped. → the loss, detached (it stays on the device)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, list[dict], dict]:
    """Load the job's latest checkpoint, if any (after a worker failure or a re-run of the same job name).

    → (first epoch still to run, history so far, the whole saved state).
    """
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return 0, [], {}
    with checkpoint.as_directory() as d:
        state = torch.load(Path(d) / CHECKPOINT_FILE, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["epoch"] + 1, json.loads(state["history"]), state


def report(metrics: dict, *, rank: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
           history: list[dict], extra: dict | None = None, write: Callable[[Path], None] | None = None) -> None:
    """Report ``metrics`` from every rank (a barrier); rank 0 attaches a checkpoint of model, optimizer,
    epoch, history and ``extra``, plus whatever ``write(directory)`` puts beside it."""
    import ray.train

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = None
        if rank == 0:
            if write is not None:
                write(Path(tmp))
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "history": json.dumps(history), **(extra or {})}, Path(tmp) / CHECKPOINT_FILE)
            ckpt = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=ckpt)


def fit(loop: Callable[[dict], None], config: dict, *, scaling: Any, storage_path: Path | str, name: str,
        keep: int = 1):
    """Run ``loop`` on DDP workers with a TorchTrainer; returns the Ray Train Result.

    ``scaling`` is the job's training section (``PretrainConfig``, ``KimTrainConfig``, ``ParkTrainConfig``): its
    ``num_workers``, ``use_gpu`` and ``cpus_per_worker`` size the job. A stable ``name`` under the same
    ``storage_path`` makes a re-run resume from the latest checkpoint.
    """
    import ray.train
    from ray.train.torch import TorchTrainer

    resources = {"CPU": scaling.cpus_per_worker} | ({"GPU": 1} if scaling.use_gpu else {})
    trainer = TorchTrainer(
        loop, train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(num_workers=scaling.num_workers, use_gpu=scaling.use_gpu,
                                               resources_per_worker=resources),
        run_config=ray.train.RunConfig(name=name, storage_path=str(storage_path),
                                       checkpoint_config=ray.train.CheckpointConfig(num_to_keep=keep),
                                       failure_config=ray.train.FailureConfig(max_failures=2)),
    )
    return trainer.fit()


def load_state(checkpoint_dir: Path) -> dict:
    """The saved state of a checkpoint directory (weights only: no pickled code)."""
    return torch.load(Path(checkpoint_dir) / CHECKPOINT_FILE, weights_only=True)
