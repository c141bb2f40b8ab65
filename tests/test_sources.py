"""Real datasets as pretraining sources: tags, artists, derived artist tags stored beside the subset."""

import numpy as np
import pytest

from raymir.data.clips import DatasetError
from raymir.data.sources import artist_source, artist_tags_from_tracks, tagging_source, with_labels
from raymir.data.subset import Subset
from raymir.train.choi import split_train_val


def _subset(tmp_path, *, labels, classes=None, groups=None, name="toy"):
    d = tmp_path / name
    d.mkdir()
    audio = np.lib.format.open_memmap(d / "audio.npy", mode="w+", dtype=np.float32, shape=(len(groups), 16))
    audio[:] = np.arange(len(groups))[:, None]
    audio.flush()
    Subset(name=name, audio=audio, sr=8000, labels=labels, classes=classes or {},
           groups=None if groups is None else np.asarray(groups)).save_meta(d)
    return Subset.load(d)


def test_artist_tags_are_the_tags_on_a_quarter_of_the_artists_tracks():
    artists = np.array([0, 0, 0, 0, 1, 1])
    tags = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0]])
    out = artist_tags_from_tracks(artists, tags)
    # artist 0: tag 0 on 3/4, tag 1 on 1/4 (kept: ≥ 0.25), tag 2 never; artist 1: tag 2 on 1/2
    assert out.tolist() == [[1, 1, 0]] * 4 + [[0, 0, 1]] * 2
    assert artist_tags_from_tracks(artists, tags, share=0.5).tolist() == [[1, 0, 0]] * 4 + [[0, 0, 1]] * 2


def test_artist_source_stores_derived_labels_beside_shared_audio(tmp_path):
    tags = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]
    sub = _subset(tmp_path, labels={"tags": tags}, classes={"tags": ["a", "b", "c"]}, groups=[5, 5, 7, 7])
    out = artist_source(sub, cache_root=tmp_path / "cache", artist_tags=True)
    again = Subset.load(out.path)  # what a Ray Train worker sees
    assert again.labels["artist"].tolist() == [5, 5, 7, 7] and again.classes["artist_tags"] == ["a", "b", "c"]
    assert again.labels["artist_tags"].tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 1], [0, 1, 1]]
    assert np.array_equal(again.audio, sub.audio) and again.key != sub.key
    assert artist_source(sub, cache_root=tmp_path / "cache", artist_tags=True).path == out.path  # cached
    same_file = (out.path / "audio.npy").stat().st_ino == (sub.path / "audio.npy").stat().st_ino
    assert same_file or (out.path / "audio.npy").stat().st_size == (sub.path / "audio.npy").stat().st_size


def test_sources_without_the_labels_they_need_are_clear_errors(tmp_path):
    sub = _subset(tmp_path, labels={"genre": np.array([0, 1])}, classes={"genre": ["x", "y"]}, groups=[0, 1])
    with pytest.raises(DatasetError, match=r"toy: pretraining on tags needs a multi-label 'tags' label.*genre"):
        tagging_source(sub)
    with pytest.raises(DatasetError, match="toy: pretraining on tags"):
        artist_source(sub, cache_root=tmp_path / "c", artist_tags=True)
    bare = Subset(name="bare", audio=sub.audio, sr=8000, labels={"genre": np.array([0, 1])}, path=sub.path)
    with pytest.raises(DatasetError, match="bare: the artist models need artists"):
        artist_source(bare, cache_root=tmp_path / "c")
    mtat_like = _subset(tmp_path, labels={"artist": np.array([3, 3, 4])}, groups=[0, 1, 2], name="songs")
    assert artist_source(mtat_like, cache_root=tmp_path / "c").labels["artist"].tolist() == [3, 3, 4]
    tagged = with_labels(sub, {"x": np.array([1.0, 2.0])}, classes={}, cache_root=tmp_path / "c")
    assert tagged.labels["x"].tolist() == [1.0, 2.0] and tagged.labels["genre"].tolist() == [0, 1]


def test_pretraining_validates_on_the_datasets_own_valid_set(tmp_path):
    split = np.array(["train", "valid", "test", "training", "validation", "train"])
    sub = _subset(tmp_path, labels={"split": split}, groups=[0, 1, 2, 3, 4, 5])
    train, val = split_train_val(sub, val_fraction=0.5, seed=0)
    assert train.tolist() == [0, 3, 5] and val.tolist() == [1, 4]  # test clips are left out
    no_valid = _subset(tmp_path, labels={"split": np.array(["train"] * 6)}, groups=[0, 0, 1, 1, 2, 2], name="nv")
    train, val = split_train_val(no_valid, val_fraction=0.3, seed=0)
    assert len(val) == 2 and set(no_valid.groups[train]).isdisjoint(no_valid.groups[val])  # by artist
