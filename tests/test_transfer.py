import numpy as np
import pytest
import torch

from raymir.models.kim2018 import KimNet
from raymir.transfer import TransferConfig, chunks, embed_tracks, evaluate, scores, transfer_splits


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
    assert set(artists[s["val"]]) <= set(artists[s["train"]]) | set(artists[s["val"]])
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
    assert a.shape == (5, 2, 512)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # one chunk at a time from a memory-mapped file, as the training job reads its float16 inputs
    np.save(tmp_path / "spec.npy", spec.astype(np.float16))
    c = embed_tracks(net, np.load(tmp_path / "spec.npy", mmap_mode="r"), frames=43, batch_size=1)
    np.testing.assert_allclose(c, embed_tracks(net, spec.astype(np.float16), frames=43), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="tracks of 40 frames are shorter than one 43-frame chunk"):
        embed_tracks(net, spec[:, :, :40], frames=43)


def test_mlp_transfer_learns_separable_features_and_scores_are_right():
    rng = np.random.default_rng(0)
    n, k, d, classes = 120, 3, 16, 4
    labels = np.arange(n) % classes
    centres = rng.normal(0, 3, (classes, d))
    emb = centres[labels][:, None, :] + rng.normal(0, 1, (n, k, d))
    splits = transfer_splits(labels, np.arange(n) // 2, val_fraction=0.2, seed=0)
    m = evaluate(emb, labels, splits, classes, TransferConfig(hidden=32, epochs=20))
    assert m["val_accuracy"] > 0.9 and m["val_artist_accuracy"] > 0.9 and m["val_f1_macro"] > 0.9
    # scores: a confident correct prediction has small log loss; uniform has log(C)
    s = scores(np.full((4, 4), 0.25), np.arange(4))
    assert abs(s["logloss"] - np.log(4)) < 1e-6
    shuffled = evaluate(emb, rng.permutation(labels), splits, classes, TransferConfig(hidden=32, epochs=20))
    assert shuffled["val_accuracy"] < 0.6
