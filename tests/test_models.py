import numpy as np
import torch

from raymir.audio import MelParams
from raymir.config import all_layer_combos
from raymir.extract import layer_features
from raymir.models import MODELS
from raymir.models.choi2017 import Choi2017


def test_choi_shapes_at_every_layer():
    torch.manual_seed(0)
    net = Choi2017(50).eval()
    p = MelParams()
    y = torch.randn(2, p.n_samples) * 0.1
    spec = net.frontend(y)
    assert spec.shape == (2, 1, 96, 1360)
    x, shapes = spec, []
    for block in net.blocks:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 48, 340), (32, 16, 85), (32, 8, 17), (32, 4, 4), (32, 1, 1)]
    assert net(y).shape == (2, 50)
    feats = net.layer_features(y)
    assert [f.shape for f in feats] == [(2, 32)] * 5


def test_registry_and_31_layer_combinations():
    assert "choi2017" in MODELS
    combos = all_layer_combos()
    assert len(combos) == 31 and len(set(combos)) == 31
    assert combos[0] == "1" and combos[-1] == "12345"
    assert all(list(c) == sorted(set(c)) for c in combos)


def test_features_do_not_depend_on_batch_size():
    torch.manual_seed(0)
    net = Choi2017(10)
    # give BatchNorm non-trivial running statistics, as after training
    net.train()
    with torch.no_grad():
        net(torch.randn(4, MelParams().n_samples) * 0.1)
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((5, 12000 * 4)) * rng.uniform(0.01, 1, (5, 1))).astype(np.float32)
    one = layer_features(net, audio, n_samples=MelParams().n_samples, batch_size=1)
    five = layer_features(net, audio, n_samples=MelParams().n_samples, batch_size=5)
    assert one.shape == (5, 5, 32)
    np.testing.assert_allclose(one, five, rtol=1e-4, atol=1e-5)
