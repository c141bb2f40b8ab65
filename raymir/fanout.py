"""The Ray Tune fan-out every recipe uses: one trial per description, a progress line, resume, and
Train-inside-Tune trials whose drivers hold no CPU.

A trial description is a recipe's small frozen dataclass with a ``key`` (its MLflow and Tune identity,
e.g. ``"genre/convnet/135"``, ``"gsedm/MTN"``, ``"basic/80"``). Each trial function receives it as
``config["trial"]``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The classic reporter honours verbose=0; the newer one prints a configuration box per run.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import ray  # noqa: E402
import ray.tune as tune  # noqa: E402

from raymir.config import SearchConfig  # noqa: E402
from raymir.session import DRIVER_RESOURCE  # noqa: E402


class ProgressLine(tune.Callback):
    """One progress line for the whole sweep instead of a box per trial."""

    def __init__(self, total: int, label: str = "probes") -> None:
        self.total, self.label, self.done, self.failed = total, label, 0, 0
        self.start = time.time()
        self._last = 0.0

    def setup(self, *args, **info) -> None:
        # A restored run unpickles this callback: time this driver's part, not the killed one's too.
        self.start = time.time()

    def _print(self, final: bool = False) -> None:
        now = time.time()
        if not final and now - self._last < 2.0:
            return
        self._last = now
        msg = f"{self.label}: {self.done}/{self.total} trials done, {self.failed} failed, {now - self.start:.0f} s"
        if sys.stdout.isatty():
            print("\r" + msg, end="\n" if final else "", flush=True)
        else:
            print(msg, flush=True)

    def _count(self, trials, trial, status: str) -> None:
        """From the trials' states, so a restored run starts part done; ``trial`` is not marked yet."""
        others = [t for t in trials if t is not trial]
        self.done = sum(t.status == "TERMINATED" for t in others) + (status == "TERMINATED")
        self.failed = sum(t.status == "ERROR" for t in others) + (status == "ERROR")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._count(trials, trial, "TERMINATED")
        self._print(self.done == self.total)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._count(trials, trial, "ERROR")
        self._print()


def fan_out(trainable, trials: Sequence[Any], *, search: SearchConfig, keep: Callable[[str], bool], name: str,
            storage: Path | str, label: str, max_concurrent: int | None = None) -> tuple[list[dict], list[str]]:
    """One Ray Tune trial per description (``config["trial"]``): → (the reported rows, "key: error" per failed trial).

    ``keep`` picks a row's fields out of what the trial reported (Tune adds its own bookkeeping).
    ``search`` gives the retries and, unless ``max_concurrent`` says otherwise, the concurrency.
    When ``storage``/``name`` already holds this Tune run (its driver was killed, or trials failed),
    it is restored: finished trials keep their results, the rest (errored ones too) run again.
    """
    path = f"{str(storage).rstrip('/')}/{name}"
    concurrent = search.max_concurrent_trials if max_concurrent is None else max_concurrent
    if tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable, param_space={"trial": tune.grid_search(list(trials))},
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrent or None, reuse_actors=True),
            run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0,
                                      callbacks=[ProgressLine(len(trials), label=label)],
                                      failure_config=tune.FailureConfig(max_failures=search.max_failures)))
    rows, errors = [], []
    for result in tuner.fit():
        trial = (result.config or {}).get("trial")
        if result.error is not None:
            errors.append(f"{trial.key if trial is not None else '?'}: {result.error}")
        elif result.metrics:
            rows.append({k: v for k, v in result.metrics.items() if keep(k)})
    return rows, errors


def driver_resources() -> dict[str, float]:
    """Resources for a trial whose work runs in its own Ray Train workers."""
    if ray.cluster_resources().get(DRIVER_RESOURCE, 0) > 0:
        return {"cpu": 0, DRIVER_RESOURCE: 1}
    return {"cpu": 0.01}  # clusters started without the resource: a sliver of a CPU


def trial_resources(search: SearchConfig) -> dict[str, float]:
    """What a trial that does its compute itself holds: ``search.cpus_per_trial`` CPUs and ``search.gpus_per_trial``
    GPUs, in Ray Tune's resource names."""
    return {"cpu": search.cpus_per_trial} | ({"gpu": search.gpus_per_trial} if search.gpus_per_trial else {})


def task_resources(search: SearchConfig) -> dict[str, float]:
    """What one unit of a trial's own compute (features, probes) asks Ray for: ``search.cpus_per_trial`` CPUs and
    ``search.gpus_per_trial`` GPUs, in Ray's task-option names."""
    return {"num_cpus": search.cpus_per_trial} | ({"num_gpus": search.gpus_per_trial} if search.gpus_per_trial else {})


def _in_task(fn: Callable[..., Any], threads: int, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    import torch

    torch.set_num_threads(threads)  # as many as the CPUs the task holds, not the node's
    return fn(*args, **kwargs), ray.get_runtime_context().get_node_id()


def run_as_task(fn: Callable[..., Any], *args: Any, search: SearchConfig, **kwargs: Any) -> tuple[Any, str]:
    """Run ``fn(*args, **kwargs)`` as a Ray task holding ``search``'s CPUs and GPUs (:func:`task_resources`), wait for
    it: → (its result, the id of the node it ran on).

    For a trial whose driver holds no CPU (Train-inside-Tune, on a cluster pinned to the head node): the work it
    does itself besides the Train job goes where Ray finds the resources it declares, not onto the head. An
    exception inside ``fn`` is raised here as that exception's type (Ray wraps it with the remote traceback)."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    threads = max(1, int(search.cpus_per_trial))
    # Outside the trial's placement group (Tune makes a trial's tasks its children by default): the group holds
    # only the driver's sliver or the head's raymir_driver resource, never the CPUs the task asks for.
    free = PlacementGroupSchedulingStrategy(placement_group=None)
    task = ray.remote(_in_task).options(max_retries=0, scheduling_strategy=free, **task_resources(search))
    return ray.get(task.remote(fn, threads, *args, **kwargs))


def train_concurrency(scaling: Any) -> int:
    """How many Ray Train jobs of this shape (a training section's ``num_workers``, ``cpus_per_worker``,
    ``use_gpu``) the cluster holds at once: its CPUs or GPUs over one job's."""
    res = ray.cluster_resources()
    if scaling.use_gpu:
        return max(1, int(res.get("GPU", 0) // scaling.num_workers))
    return max(1, int(res.get("CPU", 1) // (scaling.num_workers * scaling.cpus_per_worker)))


def fan_out_jobs(trial_fn: Callable[..., None], trials: Sequence[Any], *, scaling: Any, search: SearchConfig,
                 keep: Callable[[str], bool], name: str, storage: Path | str, label: str,
                 **params: Any) -> tuple[list[dict], list[str]]:
    """Train-inside-Tune: one trial per description, each driving its own Ray Train job (sized by the training
    section ``scaling``); the trial's driver holds no CPU, so the job's workers get them all.

    ``params`` go to ``trial_fn`` through the object store (``tune.with_parameters``), and so does ``storage``:
    the Tune run's and the Train jobs' checkpoints share it. As many jobs run at once as the cluster
    holds, unless ``search.max_concurrent_trials`` says otherwise.
    """
    trainable = tune.with_resources(tune.with_parameters(trial_fn, storage=storage, **params), driver_resources())
    return fan_out(trainable, trials, search=search, keep=keep, name=name, storage=storage, label=label,
                   max_concurrent=search.max_concurrent_trials or train_concurrency(scaling))
