"""The multi-task Ray Train job: trains, checkpoints, resumes, embeds and scores the transfer."""

import numpy as np
import pytest

from raymir.config import KimTrainConfig, TransferConfig
from raymir.models.kim2018 import KimNet
from raymir.probes.transfer import embed_tracks, transfer_splits
from raymir.train.kim import CROP_FRAMES, bin_stats, prepare_inputs, train_source


@pytest.mark.slow  # ~60 s on 2 cores
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
    first = train_source(inputs, train=KimTrainConfig(epochs=1, batch_size=8, reports=2), **common)
    assert [h["epoch"] for h in first.history] == [0, 1]  # 2 tasks × 1 epoch
    assert first.embeddings.shape == (n, 2, 512)
    assert {"val_f1_macro", "val_logloss", "val_artist_accuracy", "val_loss_g", "val_loss_m"} <= set(first.metrics)
    # the same job name with more epochs continues from the last checkpoint instead of starting over
    second = train_source(inputs, train=KimTrainConfig(epochs=2, batch_size=8, reports=4), **common)
    assert [h["epoch"] for h in second.history] == [0, 1, 2, 3]
    assert second.history[:2] == first.history


@pytest.mark.slow  # torch.compile's one-off code generation for each block and mode: ~1-2 min on 2 CPU cores
def test_compiled_job_checkpoints_a_plain_net_with_the_same_embeddings(ray_session, tmp_path):
    rng = np.random.default_rng(1)
    n = 16
    genre = np.arange(n) % 2
    spec = rng.normal(0, 10, (n, 128, 60)).astype(np.float32) + genre[:, None, None] * 5.0
    splits = transfer_splits(genre, np.arange(n) // 2, val_fraction=0.25, seed=0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    prepare_inputs(inputs, spec=spec, targets={"g": np.eye(2, dtype=np.float32)[genre]}, genre=genre, splits=splits)
    res = train_source(inputs, tasks=["g"], shared=False, width=0.5, train=KimTrainConfig(
        epochs=1, batch_size=8, reports=1, precision="fp32", compile=True), transfer=TransferConfig(hidden=8, epochs=1),
        storage_path=tmp_path / "ray", name="kim-compiled")
    plain = KimNet({"g": 2}, shared=False, width=0.5)
    plain.load_state_dict(res.state_dict)  # strict: compiling block by block kept the parameter names
    again = embed_tracks(plain, spec, frames=CROP_FRAMES)
    np.testing.assert_allclose(again, res.embeddings.astype(np.float32), rtol=1e-2, atol=1e-2)  # stored float16


def test_inputs_keep_a_memory_mapped_spec_and_standardise_the_training_tracks(tmp_path):
    rng = np.random.default_rng(0)
    spec = np.lib.format.open_memmap(tmp_path / "spec.npy", mode="w+", dtype=np.float16, shape=(7, 4, 50))
    spec[:] = rng.normal(-30, 10, spec.shape)
    spec.flush()
    written = (tmp_path / "spec.npy").stat().st_mtime_ns
    splits = {"train": np.array([5, 0, 3, 1]), "val": np.array([2]), "val_artist": np.array([4, 6])}
    prepare_inputs(tmp_path, spec=spec, targets={"g": np.eye(2, dtype=np.float32)[np.arange(7) % 2]},
                   genre=np.arange(7) % 2, splits=splits)
    train = np.asarray(spec[np.sort(splits["train"])], dtype=np.float64)
    with np.load(tmp_path / "stats.npz") as st:
        np.testing.assert_allclose(st["mean"], train.mean(axis=(0, 2)), rtol=1e-6)
        np.testing.assert_allclose(st["std"], train.std(axis=(0, 2)), rtol=1e-5)
    mean, std = bin_stats(spec, splits["train"], block=3)  # blocks of tracks add up to the same
    np.testing.assert_allclose(mean, train.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(std, train.std(axis=(0, 2)), rtol=1e-5)
    assert (tmp_path / "spec.npy").stat().st_mtime_ns == written  # the file was used, not written again
