"""Science check on the default corpus: the paired, corrected resampled t-test on nested-CV scores, each
feature's best combination chosen per outer fold by its inner CV (the report's comparisons). If this fails,
the pipeline or the corpus is wrong, not the test.

- genre (its labels are source tags, ``TAG_OVERLAP``): the tagging-trained convnet beats both the MFCC
  baseline and the random-weights convnet, significantly.
- ballroom (its label is not a source tag; only its tempo is, coarsely, through fast / slow and the moods):
  the convnet beats the random-weights convnet significantly, and is not worse than MFCC by more than 0.05
  (it is not significantly better than MFCC here either). The default 20 clips per dance style leave
  both intervals across 0, so this run renders 60 (``corpus.clips_per_class``; the source corpus, and so
  the pretrained net, are the default ones) and repeats the CV twice on that one net
  (``probe.repeat_training=false``: the check is about what the pretrained net's layers carry, and each extra
  pretraining would double its time).
"""

import pytest

from raymir.config import load_sweep
from raymir.data.synthetic import TAG_OVERLAP
from raymir.recipes.layer_combos_report import by_task, task_comparisons
from raymir.sweep import run

OVERRIDES = ("probe.tasks=[genre, ballroom]", "corpus.clips_per_class=60", "probe.repeats=2",
             "probe.repeat_training=false")
NOT_WORSE_THAN_MFCC = 0.05  # ballroom: the convnet's accuracy margin below MFCC that the interval may reach


def check_genre(rows: dict[tuple[str, str], dict]) -> None:
    """The genre claims on the task's summary rows (``by_task``)."""
    comparisons = {c["b"]: c for c in task_comparisons("genre", rows)}
    for baseline in ("mfcc", "random"):
        c = comparisons[baseline]
        # the convnet's nested best minus the baseline's: the whole 95% interval above 0
        assert c["significant"] and c["ci_low"] > 0, c


def check_ballroom(rows: dict[tuple[str, str], dict]) -> None:
    """The ballroom claims on the task's summary rows (``by_task``)."""
    comparisons = {c["b"]: c for c in task_comparisons("ballroom", rows)}
    c = comparisons["random"]
    assert c["significant"] and c["ci_low"] > 0, c
    c = comparisons["mfcc"]
    assert c["ci_low"] > -NOT_WORSE_THAN_MFCC, c


@pytest.mark.slow
def test_trained_convnet_beats_baselines_on_genre_and_random_weights_on_ballroom(ray_session, tmp_path):
    assert TAG_OVERLAP["genre"].kind == "same" and TAG_OVERLAP["ballroom"].kind != "same"
    cfg = load_sweep("layer_combos", overrides=OVERRIDES)
    result = run(cfg, output=str(tmp_path))
    assert not result["errors"]
    tasks = by_task(result["rows"])
    check_genre(tasks["genre"])
    check_ballroom(tasks["ballroom"])
    assert result["history"][-1]["val_roc_auc"] > 0.62  # the source task was learned (chance: 0.5)
