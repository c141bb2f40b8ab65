"""The learned layer weighting probe's core (``raymir.probes.weighting``) on synthetic layers where one layer
carries the label."""

import numpy as np
import pytest

from raymir.config import WeightingConfig
from raymir.probes.weighting import stacked_layers, weighted_probe

WIDTHS = (6, 10, 3, 8)  # layers of different widths, as given embeddings may have
INFORMATIVE = 3  # 1-based: the only layer that carries the label


def _layers(n=90, seed=0):
    """4 noise layers; layer 3 also carries 3 classes (and a value that follows them). → (layers, classes, values)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    value = y + 0.3 * rng.normal(size=n)
    layers = [rng.normal(size=(n, d)) for d in WIDTHS]
    layers[INFORMATIVE - 1][:, :3] += 2.5 * np.eye(3)[y]
    layers[INFORMATIVE - 1][:, 2] += 2.0 * value
    return layers, y, value


FOLDS = [np.arange(i, 90, 3) for i in range(3)]


@pytest.fixture(autouse=True)
def one_thread():
    """Matrices this small fit fastest on one thread; several contend with whatever else the cores run."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_layer_that_carries_the_label_gets_the_largest_weight():
    layers, y, _ = _layers()
    result = weighted_probe(layers, y, FOLDS, kind="classification", cfg=WeightingConfig())
    assert result.metric == "accuracy" and result.scores.shape == (3,) and result.weights.shape == (3, 4)
    np.testing.assert_allclose(result.weights.sum(axis=1), 1.0, rtol=1e-5)
    mean = result.weights.mean(axis=0)
    assert mean.argmax() == INFORMATIVE - 1 and mean[INFORMATIVE - 1] > 2 * np.delete(mean, INFORMATIVE - 1).max()
    assert result.cv_mean > 0.85  # chance: 1/3
    table = result.table()
    assert len(table) == 3 and set(table[0]) == {"fold", "accuracy", *(f"layer_weight_{i}" for i in range(1, 5))}


def test_shuffled_labels_score_near_chance():
    layers, y, _ = _layers()
    shuffled = np.random.default_rng(1).permutation(y)
    result = weighted_probe(layers, shuffled, FOLDS, kind="classification", cfg=WeightingConfig())
    assert result.cv_mean < 0.5


def test_regression_and_the_mlp_head_find_the_layer_too():
    layers, y, value = _layers()
    reg = weighted_probe(layers, value.astype(np.float32), FOLDS, kind="regression", cfg=WeightingConfig())
    assert reg.metric == "r2" and reg.cv_mean > 0.6 and reg.weights.mean(axis=0).argmax() == INFORMATIVE - 1
    mlp = weighted_probe(layers, y, FOLDS, kind="classification", cfg=WeightingConfig(head="mlp", hidden=16,
                                                                                     weight_decay=0.01))
    assert mlp.cv_mean > 0.7 and mlp.weights.mean(axis=0).argmax() == INFORMATIVE - 1


def test_seeded_runs_repeat_and_the_seed_matters():
    layers, y, _ = _layers()
    a = weighted_probe(layers, y, FOLDS, kind="classification", cfg=WeightingConfig(epochs=30, head="mlp", hidden=8))
    b = weighted_probe(layers, y, FOLDS, kind="classification", cfg=WeightingConfig(epochs=30, head="mlp", hidden=8))
    c = weighted_probe(layers, y, FOLDS, kind="classification", cfg=WeightingConfig(epochs=30, head="mlp", hidden=8,
                                                                                   seed=1))
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, c.weights)


def test_layers_are_standardised_on_the_training_rows_and_padded_to_the_widest():
    layers, _, _ = _layers()
    train = np.setdiff1d(np.arange(90), FOLDS[0])
    x = stacked_layers(layers, train)
    assert x.shape == (90, 4, 10) and x.dtype == np.float32
    np.testing.assert_allclose(x[train, 0, :6].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x[train, 0, :6].std(axis=0), 1, rtol=1e-4)
    assert not x[:, 0, 6:].any() and not x[:, 2, 3:].any()  # zeros beyond a layer's width
    mu, sd = layers[1][train].mean(0), layers[1][train].std(0)
    np.testing.assert_allclose(x[FOLDS[0], 1], (layers[1][FOLDS[0]] - mu) / sd, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_the_callers_random_state_is_left_alone(kind):
    import torch

    layers, y, value = _layers(n=30)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    weighted_probe(layers, y if kind == "classification" else value, [np.arange(0, 30, 2), np.arange(1, 30, 2)],
                   kind=kind, cfg=WeightingConfig(epochs=5))
    assert torch.equal(torch.rand(3), before)
