from dataclasses import replace

import numpy as np
import pytest
import torch

from raymir.config import MelParams, PretrainConfig
from raymir.data.synthetic import SyntheticParams, load_synthetic
from raymir.train.choi import macro_roc_auc, pretrain, split_train_val


@pytest.mark.slow  # ~75 s on 2 cores; the two-node test trains 2 workers too
def test_two_worker_ray_train_run_checkpoints_and_resumes(ray_session, tmp_path):
    params = SyntheticParams(duration=2.0, source_artists_per_genre=2, source_tracks_per_artist=2)
    source = load_synthetic(params, sr=12000, cache_root=tmp_path / "cache", names=("source",))["source"]
    cfg = PretrainConfig(batch_size=4, lr=1e-3, num_workers=2, val_fraction=0.25, seed=0)
    kw = dict(label="tags", mel=MelParams(), storage_path=tmp_path / "ray", name="t")
    first = pretrain(source, cfg=replace(cfg, epochs=1), **kw)
    assert [h["epoch"] for h in first.history] == [0]
    assert 0.0 <= first.history[0]["val_roc_auc"] <= 1.0
    assert set(first.state_dict) >= {"head.weight", "blocks.0.0.weight"}
    # the same run name resumes from its last checkpoint: only the new epoch is trained
    second = pretrain(source, cfg=replace(cfg, epochs=2), **kw)
    assert [h["epoch"] for h in second.history] == [0, 1]
    assert second.history[0] == first.history[0]
    assert not torch.equal(first.state_dict["head.weight"], second.state_dict["head.weight"])


def test_validation_split_holds_out_whole_artists():
    class S:
        groups = np.repeat(np.arange(20), 3)
        labels = {"genre": np.zeros(60)}

        def __len__(self):
            return 60

    train, val = split_train_val(S(), val_fraction=0.2, seed=0)
    assert not set(S.groups[train]) & set(S.groups[val])
    assert len(train) + len(val) == 60


def test_macro_roc_auc_skips_constant_tags():
    t = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 1], [0, 0, 1]], dtype=float)
    s = np.array([[0.9, 0.1, 0.2], [0.1, 0.2, 0.3], [0.8, 0.3, 0.9], [0.2, 0.1, 0.7]])
    assert macro_roc_auc(t, s) == 1.0


@pytest.mark.slow  # ~1 min: a 2-worker run that loses a worker and restarts from its checkpoint
def test_a_dead_worker_restarts_the_run_from_its_last_checkpoint(ray_session, tmp_path):
    import os
    import signal
    import threading
    import time

    from ray.util.state import list_actors

    params = SyntheticParams(duration=2.0, source_artists_per_genre=2, source_tracks_per_artist=2)
    source = load_synthetic(params, sr=12000, cache_root=tmp_path / "cache", names=("source",))["source"]
    cfg = PretrainConfig(batch_size=4, lr=1e-3, num_workers=2, val_fraction=0.25, seed=0, epochs=6)
    kw = dict(label="tags", mel=MelParams(), cfg=cfg, storage_path=tmp_path / "ray", name="dies")
    result = {}
    job = threading.Thread(target=lambda: result.update(res=pretrain(source, **kw)))
    job.start()
    killed = None
    deadline = time.time() + 240
    while killed is None and job.is_alive() and time.time() < deadline:
        if list((tmp_path / "ray" / "dies").glob("checkpoint_*")):  # an epoch is saved: kill a worker
            workers = list_actors(filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
            if len(workers) == 2:
                killed = workers[1]["pid"]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    job.join(timeout=300)
    assert killed is not None, "the run finished before a worker could be killed"
    history = result["res"].history
    assert [h["epoch"] for h in history] == list(range(6))  # every epoch once in the run's history
    assert all(0.0 <= h["val_roc_auc"] <= 1.0 for h in history)
    # a new worker group replaced the one that lost a worker (and restored the checkpoint: test above)
    ids = {a["actor_id"] for a in list_actors(filters=[("class_name", "=", "RayTrainWorker")], limit=1000)
           if a["pid"] == killed or a["state"] == "DEAD"}
    assert len(ids) >= 3


@pytest.mark.slow  # torch.compile's one-off code generation: ~40 s on 2 CPU cores
def test_compiled_training_with_loader_processes_checkpoints_a_plain_model(ray_session, tmp_path):
    from raymir.models.choi2017 import Choi2017

    params = SyntheticParams(duration=2.0, source_artists_per_genre=2, source_tracks_per_artist=2)
    source = load_synthetic(params, sr=12000, cache_root=tmp_path / "cache", names=("source",))["source"]
    cfg = PretrainConfig(epochs=1, batch_size=4, lr=1e-3, num_workers=1, val_fraction=0.25, seed=0, loader_workers=1,
                         compile=True)
    res = pretrain(source, label="tags", cfg=cfg, mel=MelParams(), storage_path=tmp_path / "ray", name="compiled")
    assert [h["epoch"] for h in res.history] == [0] and 0.0 <= res.history[0]["val_roc_auc"] <= 1.0
    plain = Choi2017(source.labels["tags"].shape[1])
    plain.load_state_dict(res.state_dict)  # strict: the compiled run kept the plain model's parameter names


def test_choi_batches_and_shifts_are_the_same_with_any_number_of_loader_workers(tmp_path):
    """The shuffle order comes from the training process's sampler and the circular shifts from (seed, epoch):
    loader processes (seeded by their number) draw nothing."""
    from raymir.train.choi import ClipDataset, epoch_shifts, train_loader

    rng = np.random.default_rng(0)
    path = tmp_path / "audio.npy"
    np.save(path, rng.standard_normal((10, 300)).astype(np.float32))
    targets = (rng.random((10, 4)) < 0.5).astype(np.float32)
    ds = ClipDataset(np.load(path, mmap_mode="r"), targets, np.arange(10))

    def batches(workers: int) -> list[tuple[list[int], list[int]]]:
        loader = train_loader(ds, batch_size=3, seed=0, workers=workers)
        out = []
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)
            shifts = epoch_shifts(len(ds), 300, seed=0, epoch=epoch)
            out += [(j.tolist(), shifts[j].tolist()) for _, _, j in loader]
        return out

    plain = batches(0)
    assert plain == batches(2)
    first = [i for j, _ in plain[:3] for i in j]  # epoch 0: 3 full batches of 3, the last clip dropped
    assert len(plain) == 6 and len(set(first)) == 9 and plain[:3] != plain[3:]  # a new order each epoch
    a, b = epoch_shifts(10, 300, seed=0, epoch=0), epoch_shifts(10, 300, seed=0, epoch=1)
    assert not torch.equal(a, b) and int(a.max()) < 300  # a new shift each epoch, inside the clip
