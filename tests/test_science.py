"""Science check on the default corpus: the tagging-trained convnet's features must beat both the
MFCC baseline and the random-weights convnet on genre, significantly: the paired, corrected resampled
t-test on nested-CV scores, each feature's best combination chosen per outer fold by its inner CV (the
report's comparisons). If this fails, the pipeline or the corpus is wrong, not the test."""

import pytest

from raymir.config import load_sweep
from raymir.recipes.layer_combos_report import by_task, task_comparisons
from raymir.sweep import run


@pytest.mark.slow
def test_trained_convnet_beats_mfcc_and_random_on_genre(ray_session, tmp_path):
    cfg = load_sweep("layer_combos", overrides=("probe.tasks=[genre]",))
    result = run(cfg, output=str(tmp_path))
    assert not result["errors"]
    comparisons = {c["b"]: c for c in task_comparisons("genre", by_task(result["rows"])["genre"])}
    for baseline in ("mfcc", "random"):
        c = comparisons[baseline]
        # the convnet's nested best minus the baseline's: the whole 95% interval above 0
        assert c["significant"] and c["ci_low"] > 0, c
    assert result["history"][-1]["val_roc_auc"] > 0.62  # the source task was learned (chance: 0.5)
