import json
from pathlib import Path

import numpy as np
import pytest

from raymir import tracking
from raymir.config import ProbeConfig, SearchConfig, WeightingConfig
from raymir.recipes.layer_combos_probes import (
    WEIGHTED,
    ProbeGrid,
    ProbeTrial,
    TaskData,
    batch_grids,
    feature_matrix,
    run_probe,
    run_probe_trials,
    run_weighted,
)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    conv = rng.normal(size=(n, 5, 4))
    conv[:, 2, 0] += 3 * y  # layer 3 carries the label
    feats = {"convnet": conv, "random": rng.normal(size=(n, 5, 4)), "mfcc": rng.normal(size=(n, 6))}
    folds = [np.arange(i, n, 4) for i in range(4)]
    return TaskData("classification", y, folds, feats)


def test_feature_matrix_concatenates_layers_in_order():
    d = _data()
    X = feature_matrix(d, "convnet", "135")
    np.testing.assert_array_equal(X, np.concatenate([d.features["convnet"][:, i] for i in (0, 2, 4)], axis=1))
    assert feature_matrix(d, "mfcc", "-").shape == (40, 6)
    both = feature_matrix(d, "convnet+mfcc", "12345")
    assert both.shape == (40, 26) and np.array_equal(both[:, 20:], d.features["mfcc"])


def test_per_layer_arrays_give_the_blocks_and_scores_of_the_stacked_array():
    d = _data()
    listed = TaskData(d.kind, d.labels, d.folds, d.features | {"convnet": [d.features["convnet"][:, i] for i in range(5)]})
    probe = ProbeConfig(folds=4, C=(0.1, 8.0), gamma=("2^-3",), nested=True)
    for layers in ("3", "135", "12345"):
        np.testing.assert_array_equal(feature_matrix(listed, "convnet", layers), feature_matrix(d, "convnet", layers))
        grid = ProbeGrid("t", "convnet", layers)
        assert run_probe(grid, listed, probe) == run_probe(grid, d, probe)
    # given embeddings: layers of different widths, concatenated in order
    rng = np.random.default_rng(1)
    ragged = TaskData(d.kind, d.labels, d.folds, {"convnet": [rng.normal(size=(40, w)) for w in (2, 7, 3)]})
    X = feature_matrix(ragged, "convnet", "13")
    assert X.shape == (40, 5) and np.array_equal(X[:, 2:], ragged.features["convnet"][2])


def test_a_failing_trial_is_reported_and_the_rest_complete(ray_session, tmp_path):
    good = _data()
    bad = TaskData("classification", good.labels[:10], good.folds, good.features)  # labels do not match
    uri, art = tracking.resolve_uri(None, tmp_path)
    tracker = tracking.start_parent(tracking.setup_experiment(uri, "t", art), sweep="t", params={})
    grids = [ProbeGrid("good", "convnet", c) for c in ("3", "12")]  # one trial: both
    grids.append(ProbeGrid("bad", "convnet", "3"))
    probe = ProbeConfig(folds=4, C=(1.0,), gamma=("2^-3",), nested=False)
    search = SearchConfig(cpus_per_trial=1, max_concurrent_trials=2, max_failures=1)
    rows, errors = run_probe_trials(grids, {"good": good, "bad": bad}, probe, tracker, search=search,
                                    storage=tmp_path / "ray", name="t")
    assert len(errors) == 1 and errors[0].startswith("bad/convnet/3")
    # the failure is an MLflow child run too: FAILED, with its error, once despite the retry
    failed = tracker.client.search_runs([tracker.experiment_id], filter_string="tags.`raymir.trial` = 'bad/convnet/3'")
    assert len(failed) == 1 and failed[0].info.status == "FAILED"
    assert "IndexError" in failed[0].data.tags["raymir.error"]
    by_layers = {r["layers"]: r for r in rows}
    assert set(by_layers) == {"3", "12"}
    assert by_layers["3"]["cv_accuracy"] > 0.9 > by_layers["12"]["cv_accuracy"]


def test_a_trial_that_fails_once_is_retried_and_logged_once(ray_session, tmp_path):
    import ray.tune as tune

    from raymir.fanout import fan_out

    def _flaky(config, *, marker_dir, tracker):
        """Fails on its first attempt (a preempted node, a transient error), succeeds when retried."""
        import ray.tune as tune

        name = config["trial"].task  # any description with a ``key`` will do: a probe grid's task names the trial here
        marker = Path(marker_dir) / name
        first = not marker.exists()
        marker.touch()
        if first and name == "flaky":
            tracking.log_trial(tracker, name, name=name, params={}, metrics={}, status="FAILED",
                               error="RuntimeError: first attempt")
            raise RuntimeError("first attempt")
        tracking.log_trial(tracker, name, name=name, params={"attempt": 1 if first else 2}, metrics={"score": 1.0})
        tune.report({"name": name, "score": 1.0})

    uri, art = tracking.resolve_uri(None, tmp_path)
    tracker = tracking.start_parent(tracking.setup_experiment(uri, "retry", art), sweep="retry", params={})
    trainable = tune.with_resources(tune.with_parameters(_flaky, marker_dir=str(tmp_path), tracker=tracker), {"cpu": 1})
    rows, errors = fan_out(trainable, [ProbeGrid("flaky", "-", "-"), ProbeGrid("steady", "-", "-")],
                           search=SearchConfig(max_concurrent_trials=2, max_failures=1),
                           keep=lambda k: k in ("name", "score"), name="retry", storage=tmp_path / "ray", label="trials")
    assert not errors and sorted(r["name"] for r in rows) == ["flaky", "steady"]
    runs = tracker.client.search_runs([tracker.experiment_id], filter_string="tags.`raymir.trial` = 'flaky'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].data.params["attempt"] == "2"
    assert "raymir.error" not in runs[0].data.tags


def test_combinations_of_one_task_and_feature_share_trials_of_the_configured_size():
    grids = [ProbeGrid(t, "convnet", c) for t in ("a", "b") for c in ("1", "2", "12", "123", "5")]
    grids.append(ProbeGrid("a", "mfcc", "-"))
    trials = batch_grids(grids, per_trial=2)
    assert [t.combos for t in trials if t.task == "a" and t.feature == "convnet"] == \
        [("1", "2"), ("12", "123"), ("5",)]
    assert ProbeTrial("a", "mfcc", ("-",)) in trials
    assert sum(len(t.combos) for t in trials) == len(grids)
    assert trials[0].key == "a/convnet/1+2" and trials[0].grids()[1].key == "a/convnet/2"


def test_the_weighting_grid_reports_an_svm_rows_keys_and_resumes_from_its_run():
    from raymir.recipes.layer_combos_probes import _child_run, _logged_summary

    d = _data()
    svm, _ = run_probe(ProbeGrid("t", "convnet", "3"), d, ProbeConfig(folds=4, C=(1.0,), gamma=("2^-3",), nested=True))
    summary, result = run_weighted(ProbeGrid("t", "convnet", WEIGHTED), d, WeightingConfig())
    assert set(summary) == set(svm) and result.weights.shape == (4, 5)  # 4 folds, 5 layers
    assert summary["nested_accuracy"] == summary["cv_accuracy"] > 0.8 and result.weights.mean(0).argmax() == 2
    assert (summary["kernel"], summary["C"], summary["gamma"]) == ("-", "-", "-")
    # a resumed sweep rebuilds each finished row from its child run: params as strings, the weights beside
    for row in (summary, svm):
        params, metrics = _child_run(row)
        params = {k: str(v) for k, v in params.items()}
        weights = {f"layer_weight_{i}": 0.2 for i in range(1, 6)} if row is summary else {}
        assert _logged_summary(params, metrics | weights) == {k: v for k, v in row.items() if v is not None} | {"resumed": 1}
        # the per-fold nested scores and inner means, which the report's paired tests read, come back exactly
        assert json.loads(_logged_summary(params, metrics)["nested_folds"]) == json.loads(row["nested_folds"])


def test_repeats_fit_each_repeats_folds_and_pool_them_and_one_repeat_keeps_todays_numbers():
    from raymir.probes.svm import engine_for, grid_points, grid_search

    d = _data()
    probe = ProbeConfig(folds=4, C=(0.1, 8.0), gamma=("2^-3",), nested=True)
    grid = ProbeGrid("t", "convnet", "3")
    once, _ = run_probe(grid, d, probe)
    # one repeat: the numbers of one grid search over the task's folds, unchanged
    direct = grid_search(feature_matrix(d, "convnet", "3"), d.labels, d.folds, grid_points(probe, 4),
                         kind="classification", engine=engine_for(probe))
    assert (once["cv_accuracy"], once["cv_accuracy_std"], once["nested_accuracy"]) == \
        (direct.cv_mean, direct.cv_std, direct.nested_mean)
    assert json.loads(once["nested_folds"]) == direct.nested_scores.tolist() and once["repeats"] == 1
    assert json.loads(once["nested_inner"]) == direct.nested_inner.tolist()
    # the 95% half-width by hand: t(0.975, 3) · sqrt((1/4 + 0.25/0.75) · s²), 10 of 40 clips tested per fold
    best = direct.fold_scores[direct.best]
    assert once["test_fraction"] == 0.25
    assert once["cv_accuracy_ci95"] == pytest.approx(3.182446305 * np.sqrt((1 / 4 + 1 / 3) * best.var(ddof=1)))

    # a second repeat, folds re-drawn: both repeats' folds fitted, pooled over 8 folds (repeat-major)
    redrawn = [np.sort(f) for f in np.array_split(np.random.default_rng(5).permutation(40), 4)]
    second = grid_search(feature_matrix(d, "convnet", "3"), d.labels, redrawn, grid_points(probe, 4),
                         kind="classification", engine=engine_for(probe))
    twice, table = run_probe(grid, TaskData(d.kind, d.labels, d.folds, d.features, more_folds=(redrawn,)), probe)
    assert twice["repeats"] == 2 and [f"fold{j}" in table[0] for j in range(8)] == [True] * 8
    pooled = np.concatenate([direct.fold_scores, second.fold_scores], axis=1)  # [points, 8]
    best = int(np.argmax(pooled.mean(axis=1)))
    assert twice["cv_accuracy"] == pooled[best].mean() and twice["cv_accuracy_std"] == pooled[best].std()
    assert json.loads(twice["nested_folds"]) == direct.nested_scores.tolist() + second.nested_scores.tolist()
    assert twice["nested_accuracy"] == pytest.approx(np.mean(json.loads(twice["nested_folds"])))
    assert len(json.loads(twice["nested_inner"])) == 8


def test_each_repeat_probes_the_features_of_its_own_nets():
    """probe.repeat_training: repeat r's folds are fitted on repeat r's features, not repeat 0's."""
    from raymir.probes.svm import engine_for, grid_points, grid_search

    d, other = _data(), _data(seed=7)
    probe = ProbeConfig(kernels=("linear",), C=(0.1, 8.0), scaler=(True,), folds=4)
    redrawn = [np.sort(f) for f in np.array_split(np.random.default_rng(5).permutation(40), 4)]
    grid = ProbeGrid("t", "convnet", "3")
    second = grid_search(feature_matrix(other, "convnet", "3"), d.labels, redrawn, grid_points(probe, 4),
                         kind="classification", engine=engine_for(probe))
    first = grid_search(feature_matrix(d, "convnet", "3"), d.labels, d.folds, grid_points(probe, 4),
                        kind="classification", engine=engine_for(probe))
    own, _ = run_probe(grid, TaskData(d.kind, d.labels, d.folds, d.features, more_folds=(redrawn,),
                                      more_features=(other.features,)), probe)
    assert json.loads(own["nested_folds"]) == first.nested_scores.tolist() + second.nested_scores.tolist()
    shared, _ = run_probe(grid, TaskData(d.kind, d.labels, d.folds, d.features, more_folds=(redrawn,)), probe)
    assert json.loads(shared["nested_folds"]) != json.loads(own["nested_folds"])
    weighted, _ = run_weighted(ProbeGrid("t", "convnet", WEIGHTED),
                               TaskData(d.kind, d.labels, d.folds, d.features, more_folds=(redrawn,),
                                        more_features=(other.features,)), WeightingConfig(epochs=5))
    alone, _ = run_weighted(ProbeGrid("t", "convnet", WEIGHTED),
                            TaskData(d.kind, d.labels, redrawn, other.features), WeightingConfig(epochs=5))
    assert json.loads(weighted["nested_folds"])[4:] == json.loads(alone["nested_folds"])
    with pytest.raises(ValueError, match="features for 3 repeats but folds for 2"):
        TaskData(d.kind, d.labels, d.folds, d.features, more_folds=(redrawn,), more_features=(d.features,) * 2)


def test_the_weighting_grid_pools_repeats_and_its_inner_values_are_its_fold_scores():
    d = _data()
    redrawn = [np.sort(f) for f in np.array_split(np.random.default_rng(5).permutation(40), 4)]
    cfg = WeightingConfig(epochs=30)
    summary, result = run_weighted(ProbeGrid("t", "convnet", WEIGHTED),
                                   TaskData(d.kind, d.labels, d.folds, d.features, more_folds=(redrawn,)), cfg)
    assert result.scores.shape == (8,) and result.weights.shape == (8, 5)
    assert json.loads(summary["nested_folds"]) == json.loads(summary["nested_inner"]) == result.scores.tolist()
    assert summary["cv_accuracy"] == summary["nested_accuracy"] == result.scores.mean() and summary["repeats"] == 2
