import numpy as np
import pytest
import torch

from raymir.models.kim2018 import KimNet
from raymir.probes.moments import blockwise_moments
from raymir.probes.transfer import ChunkRows, TransferConfig, chunks, embed_tracks, evaluate, gather, scores, transfer_splits


def test_splits_are_disjoint_and_artist_split_holds_unseen_artists():
    rng = np.random.default_rng(0)
    artists = np.repeat(np.arange(40), 5)
    genre = artists % 8
    genre = np.where(rng.random(len(genre)) < 0.1, rng.integers(8, size=len(genre)), genre)
    s = transfer_splits(genre, artists, val_fraction=0.15, seed=0)
    allidx = np.concatenate([s["train"], s["val"], s["val_artist"]])
    assert sorted(allidx.tolist()) == list(range(len(genre)))
    assert not set(artists[s["val_artist"]]) & set(artists[s["train"]])
    assert not set(artists[s["val_artist"]]) & set(artists[s["val"]])
    # the paper's protocol: a stratified split of tracks, so val tracks' artists are (nearly all) in training too
    assert np.isin(artists[s["val"]], artists[s["train"]]).mean() >= 0.9
    assert abs(len(s["val"]) - 0.15 * len(genre)) <= 2 and len(np.unique(genre[s["val"]])) >= 6


def test_chunks_cut_whole_seconds():
    spec = np.arange(2 * 3 * 100).reshape(2, 3, 100)
    c = chunks(spec, frames=43)
    assert c.shape == (2, 2, 3, 43)
    np.testing.assert_array_equal(c[1, 1], spec[1, :, 43:86])


def test_embeddings_do_not_depend_on_batch(tmp_path):
    torch.manual_seed(0)
    net = KimNet({"g": 4, "s": 3}, shared=True)
    spec = np.random.default_rng(0).normal(size=(5, 128, 90)).astype(np.float32)
    a = embed_tracks(net, spec, frames=43, batch_size=3)
    b = embed_tracks(net, spec, frames=43, batch_size=64)
    assert a.shape == (5, 2, 512) and a.dtype == np.float16
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-4)  # float16: a rounding step apart at most
    # one chunk at a time from a memory-mapped file, as the training job reads its float16 inputs, and
    # written into a memory-mapped file as the job stores them
    np.save(tmp_path / "spec.npy", spec.astype(np.float16))
    c = embed_tracks(net, np.load(tmp_path / "spec.npy", mmap_mode="r"), frames=43, batch_size=1,
                     path=tmp_path / "emb.npy")
    assert isinstance(c, np.memmap)
    np.testing.assert_array_equal(np.load(tmp_path / "emb.npy"), c)
    np.testing.assert_allclose(c, embed_tracks(net, spec.astype(np.float16), frames=43), rtol=2e-3, atol=1e-4)
    with pytest.raises(ValueError, match="tracks of 40 frames are shorter than one 43-frame chunk"):
        embed_tracks(net, spec[:, :, :40], frames=43)


def test_mlp_transfer_learns_separable_features_and_scores_are_right():
    rng = np.random.default_rng(0)
    n, k, d, classes = 120, 3, 16, 4
    labels = np.arange(n) % classes
    centres = rng.normal(0, 3, (classes, d))
    emb = centres[labels][:, None, :] + rng.normal(0, 1, (n, k, d))
    splits = transfer_splits(labels, np.arange(n) // 2, val_fraction=0.2, seed=0)
    m = evaluate([emb], labels, splits, classes, TransferConfig(hidden=32, epochs=20))
    assert m["val_accuracy"] > 0.9 and m["val_artist_accuracy"] > 0.9 and m["val_f1_macro"] > 0.9
    # scores: a confident correct prediction has small log loss; uniform has log(C)
    s = scores(np.full((4, 4), 0.25), np.arange(4))
    assert abs(s["logloss"] - np.log(4)) < 1e-6
    shuffled = evaluate([emb], rng.permutation(labels), splits, classes, TransferConfig(hidden=32, epochs=20))
    assert shuffled["val_accuracy"] < 0.6


def test_transfer_reads_several_nets_memory_mapped_and_batch_by_batch(tmp_path):
    rng = np.random.default_rng(1)
    n, k, classes = 60, 3, 3
    labels = np.arange(n) % classes
    a = (rng.normal(0, 1, (n, k, 8)) + labels[:, None, None]).astype(np.float16)
    b = (rng.normal(5, 3, (n, k, 4)) - labels[:, None, None]).astype(np.float16)
    splits = transfer_splits(labels, np.arange(n) // 3, val_fraction=0.2, seed=0)
    cfg = TransferConfig(hidden=16, epochs=3, batch_size=16)
    joined = evaluate([np.concatenate([a, b], axis=-1)], labels, splits, classes, cfg)
    for name, arr in (("a", a), ("b", b)):
        np.save(tmp_path / f"{name}.npy", arr)
    mapped = [np.load(tmp_path / "a.npy", mmap_mode="r"), np.load(tmp_path / "b.npy", mmap_mode="r")]
    assert evaluate(mapped, labels, splits, classes, cfg) == joined  # same rows, same batches, same model
    # the training chunks' statistics, summed a few tracks at a time, are numpy's over all of them at once
    train = splits["train"]
    flat = np.concatenate([a, b], axis=-1)[train].astype(np.float64).reshape(-1, 12)
    mean, std = blockwise_moments(lambda rows: gather(mapped, rows), train, axis=2, block=7)
    np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std, flat.std(axis=0), rtol=1e-5)
    # a row of the chunk matrix is chunk r % k of the r // k-th listed track, standardised
    rows = ChunkRows(tuple(mapped), train, mean, std)
    assert rows.shape == (len(train) * k, 12)
    np.testing.assert_allclose(rows[np.array([7, 0])][0], (flat[7] - mean) / std, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="embeddings of different tracks or chunks"):
        evaluate([a, b[:-1]], labels, splits, classes, cfg)
    with pytest.raises(ValueError, match="59 labels for 60 embedded tracks"):
        evaluate([a], labels[:-1], splits, classes, cfg)
