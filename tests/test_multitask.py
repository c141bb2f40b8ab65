"""The multi-task Ray Train job: trains, checkpoints, resumes, embeds and scores the transfer."""

import numpy as np

from raymir.multitask import TrainConfig, prepare_inputs, train_source
from raymir.transfer import TransferConfig, transfer_splits


def test_job_resumes_from_its_checkpoint(ray_session, tmp_path):
    rng = np.random.default_rng(0)
    n = 24
    genre = np.arange(n) % 3
    artists = np.arange(n) // 2
    spec = rng.normal(0, 10, (n, 128, 90)).astype(np.float32) + genre[:, None, None] * 5.0
    soft = rng.dirichlet(np.ones(4), size=n).astype(np.float32)
    soft[0] = np.nan  # a track without a target is masked, not trained on
    splits = transfer_splits(genre, artists, val_fraction=0.2, seed=0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    prepare_inputs(inputs, spec=spec, targets={"g": np.eye(3, dtype=np.float32)[genre], "m": soft}, genre=genre,
                   splits=splits)
    common = {"tasks": ["g", "m"], "shared": True, "width": 1.0,
              "transfer": TransferConfig(hidden=16, epochs=2), "storage_path": tmp_path / "ray", "name": "kim-resume"}
    first = train_source(inputs, train=TrainConfig(epochs=1, batch_size=8, reports=2), **common)
    assert [h["epoch"] for h in first.history] == [0, 1]  # 2 tasks × 1 epoch
    assert first.embeddings.shape == (n, 2, 512)
    assert {"val_f1_macro", "val_logloss", "val_artist_accuracy", "val_loss_g", "val_loss_m"} <= set(first.metrics)
    # the same job name with more epochs continues from the last checkpoint instead of starting over
    second = train_source(inputs, train=TrainConfig(epochs=2, batch_size=8, reports=4), **common)
    assert [h["epoch"] for h in second.history] == [0, 1, 2, 3]
    assert second.history[:2] == first.history
