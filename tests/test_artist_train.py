"""Park 2017 basic and Siamese training through Ray Train on a tiny corpus where artists differ audibly."""

import numpy as np
import pytest
import torch

from raymir.config import ParkTrainConfig
from raymir.models.park2017 import Park2017, track_feature
from raymir.probes.retrieval import chance_map, retrieval_scores
from raymir.train.park import prepare_artist_inputs, train_artist_model


def _inputs(tmp_path):
    rng = np.random.default_rng(0)
    artists = np.repeat(np.arange(8), 4)
    spec = rng.normal(0, 0.3, (len(artists), 128, 140)).astype(np.float32)
    for i, a in enumerate(artists):  # each artist owns a band of mel bins
        spec[i, 16 * a:16 * a + 16] += 1.5
    d = tmp_path / "inputs"
    d.mkdir()
    train = np.flatnonzero(artists < 6)  # artists 6 and 7 are held out, as for retrieval on unseen artists
    prepare_artist_inputs(d, spec=spec, artists=artists)
    return d, spec, artists, train


@pytest.mark.parametrize("variant", ["basic", "siamese"])
def test_artist_training_learns_and_transfers_to_unseen_artists(ray_session, tmp_path, variant):
    d, spec, artists, train = _inputs(tmp_path)
    # the Siamese run cuts its crops in two DataLoader processes inside the Ray Train worker
    cfg = ParkTrainConfig(epochs=6, batch_size=8, lr=3e-3, reports=2, loader_workers=2 * (variant == "siamese"))
    model = train_artist_model(d, model=variant, train_idx=train, cfg=cfg, storage_path=tmp_path / "ray",
                               name=f"park-{variant}")
    assert [h["epoch"] for h in model.history] == [2, 5]
    assert model.history[-1]["train_loss"] < model.history[0]["train_loss"]
    net = Park2017(model.n_artists if variant == "basic" else None)
    net.load_state_dict(model.state_dict)
    feats = track_feature(net, torch.from_numpy(spec)).numpy()
    held = artists >= 6
    scores = retrieval_scores(np.concatenate([feats[held], feats[~held][:8]]),
                              np.concatenate([artists[held], artists[~held][:8]]), k=3)
    assert scores["map"] > chance_map(np.concatenate([artists[held], artists[~held][:8]])) + 0.2


@pytest.mark.slow  # torch.compile's one-off code generation: ~30-60 s on 2 CPU cores
def test_compiled_basic_training_checkpoints_a_plain_model(ray_session, tmp_path):
    d, spec, _, train = _inputs(tmp_path)
    cfg = ParkTrainConfig(epochs=2, batch_size=8, reports=1, compile=True)
    model = train_artist_model(d, model="basic", train_idx=train, cfg=cfg, storage_path=tmp_path / "ray",
                               name="park-compiled")
    assert [h["epoch"] for h in model.history] == [1] and np.isfinite(model.history[0]["train_loss"])
    Park2017(model.n_artists).load_state_dict(model.state_dict)  # strict: compiling kept the parameter names
