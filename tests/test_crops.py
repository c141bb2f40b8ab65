"""Crop batches: the windows they cut, and the same batches with 0 or N loader processes."""

import numpy as np
import pytest

from raymir.train import kim as multitask
from raymir.train import park as artist_train
from raymir.train.crops import CropBatches, crop_batches, crop_starts, cut_crops, rank_slices


def _spec(tmp_path, n=12, n_mels=4, n_frames=200):
    spec = np.arange(n * n_mels * n_frames, dtype=np.float32).reshape(n, n_mels, n_frames) % 2048
    np.save(tmp_path / "spec.npy", spec.astype(np.float16))  # whole numbers < 2048 are exact in float16
    return spec


def test_crops_are_windows_of_the_named_tracks():
    spec = np.arange(2 * 4 * 100, dtype=np.float32).reshape(2, 4, 100)
    starts = crop_starts(100, 43, 3, np.random.default_rng(0))
    assert ((starts >= 0) & (starts <= 57)).all()
    x = cut_crops(spec, np.array([1, 0, 1]), starts, 43)
    assert x.shape == (3, 1, 4, 43)
    for row, (i, s) in enumerate(zip([1, 0, 1], starts)):
        np.testing.assert_array_equal(x[row, 0].numpy(), spec[i, :, s:s + 43])
    assert crop_starts(20, 43, 5, np.random.default_rng(0)).tolist() == [0] * 5  # shorter than a crop: from 0


def _kim_plan(epoch, *, rank=0, world=1, n_frames=200):
    return multitask.batch_plan(epoch, seed=3, rank=rank, world=world, train_idx=np.arange(1, 12), batch_size=2,
                                n_tasks=3, task_sampling="batch", n_frames=n_frames)


def test_kim_plan_splits_each_step_between_ranks_on_one_task():
    ranks = [_kim_plan(4, rank=r, world=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 11 // 4
    for a, b in zip(*ranks):
        assert a[2] == b[2]  # every rank trains the same task in a step
        assert not set(a[0]) & set(b[0])
    seen = np.concatenate([b[0] for r in ranks for b in r])
    assert len(set(seen)) == len(seen) and set(seen) <= set(range(1, 12))  # no track twice, only training tracks
    assert all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(_kim_plan(4), _kim_plan(4)))


def test_rank_slices_give_every_rank_the_same_steps():
    perm = np.arange(10)
    assert [a.tolist() for a in rank_slices(perm, batch_size=3, rank=1, world=2)] == [[3, 4, 5]]
    assert [a.tolist() for a in rank_slices(perm, batch_size=3, rank=0, world=3)] == [[0, 1, 2]]
    assert [a.tolist() for a in rank_slices(perm[:2], batch_size=3, rank=1, world=2)] == [[0, 1]]  # too few: repeat


def test_park_siamese_plan_crops_anchors_then_partners():
    artists = np.repeat(np.arange(4), 3)
    train = np.arange(12)
    plan = artist_train.batch_plan(0, seed=0, rank=0, world=1, train=train, label=artists, batch_size=3,
                                   siamese=True, n_negatives=2, n_frames=200)
    assert len(plan) == 4
    for idx, starts, anchors in plan:
        assert len(idx) == len(starts) == 3 * 4
        np.testing.assert_array_equal(idx[:3], train[anchors])
        assert (artists[idx[3:6]] == artists[idx[:3]]).all() and (idx[3:6] != idx[:3]).all()
        assert (artists[idx[6:].reshape(3, 2)] != artists[idx[:3], None]).all()


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_processes_give_the_plan_batches_in_order(tmp_path, workers):
    spec = _spec(tmp_path)
    ds = CropBatches(tmp_path / "spec.npy", _kim_plan, epochs=range(2, 5), frames=43)
    assert ds.per_epoch == 5
    got = list(crop_batches(ds, workers=workers, pin=False))
    want = [b for e in range(2, 5) for b in _kim_plan(e)]
    assert len(got) == len(want) == 15
    for (x, idx, task), (w_idx, w_starts, w_task) in zip(got, want):
        np.testing.assert_array_equal(idx.numpy(), w_idx)
        assert task == w_task
        np.testing.assert_array_equal(x.numpy(), cut_crops(spec, w_idx, w_starts, 43).numpy())


def test_a_plan_of_the_wrong_length_is_named(tmp_path):
    _spec(tmp_path)
    ds = CropBatches(tmp_path / "spec.npy", lambda e: _kim_plan(e)[:4 + e], epochs=range(2), frames=43)
    assert ds.per_epoch == 4 and np.array_equal(ds[3][1], _kim_plan(0)[3][0])
    with pytest.raises(ValueError, match="plan of epoch 1 has 5 batches, expected 4"):
        ds[4]
