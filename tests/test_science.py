"""Science check on the default corpus: the tagging-trained convnet's features must beat both the
MFCC baseline and the random-weights convnet on genre. If this fails, the pipeline or the corpus
is wrong, not the test."""

import pytest

from raymir.config import load_sweep
from raymir.sweep import run


@pytest.mark.slow
def test_trained_convnet_beats_mfcc_and_random_on_genre(ray_session, tmp_path):
    cfg = load_sweep("layer_combos", overrides=("probe.tasks=[genre]",))
    result = run(cfg, output=str(tmp_path))
    assert not result["errors"]
    rows = [r for r in result["rows"] if r["task"] == "genre"]
    best = {}
    for feature in ("convnet", "random", "mfcc"):
        scores = [(r["cv_accuracy"], r["nested_accuracy"]) for r in rows if r["feature"] == feature]
        best[feature] = max(scores)
    conv, rand, mfcc = best["convnet"], best["random"], best["mfcc"]
    # the paper's number (best grid point's CV mean) and its nested-CV counterpart
    assert conv[0] > mfcc[0] and conv[0] > rand[0], best
    assert conv[1] > mfcc[1] and conv[1] > rand[1], best
    assert result["history"][-1]["val_roc_auc"] > 0.62  # the source task was learned (chance: 0.5)
