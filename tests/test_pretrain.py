import numpy as np
import torch

from raymir.audio import MelParams
from raymir.data.synthetic import SyntheticParams, load_synthetic
from raymir.pretrain import macro_roc_auc, pretrain, split_train_val


def test_two_worker_ray_train_run_checkpoints_and_resumes(ray_session, tmp_path):
    params = SyntheticParams(duration=2.0, source_artists_per_genre=2, source_tracks_per_artist=2)
    source = load_synthetic(params, sr=12000, cache_root=tmp_path / "cache", names=("source",))["source"]
    kw = dict(model="choi2017", label="tags", mel=MelParams(), batch_size=4, lr=1e-3, num_workers=2,
              use_gpu=False, cpus_per_worker=1.0, val_fraction=0.25, seed=0, storage_path=tmp_path / "ray", name="t")
    first = pretrain(source.path, source, epochs=1, **kw)
    assert [h["epoch"] for h in first.history] == [0]
    assert 0.0 <= first.history[0]["val_roc_auc"] <= 1.0
    assert set(first.state_dict) >= {"head.weight", "blocks.0.0.weight"}
    # the same run name resumes from its last checkpoint: only the new epoch is trained
    second = pretrain(source.path, source, epochs=2, **kw)
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
