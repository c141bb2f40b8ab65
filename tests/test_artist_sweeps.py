"""artist_labels and artist_tags end to end on local Ray (tiny presets), checked through MLflow;
the science check runs the default artist_labels sweep (slow)."""

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from raymir.config import ConfigError, load_sweep
from raymir.sweep import run

SUITE = {"genre_accuracy", "arousal_r2", "valence_r2", "tag_roc_auc", "tag_pr_auc", "retrieval_map",
         "retrieval_recall_at_10"}


def _children(result):
    tracker = result["tracker"]
    client = MlflowClient(tracker.uri)
    runs = client.search_runs([tracker.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{tracker.parent_run_id}'", max_results=100)
    return client, runs


@pytest.mark.slow  # ~90 s; the default run keeps the artist trainers (test_artist_train) and the suite's parts
def test_artist_labels_tiny_sweep_logs_every_run(ray_session, tmp_path):
    cfg = load_sweep("artist_labels", preset="tiny")
    result = run(cfg, output=str(tmp_path))
    assert not result["errors"]
    client, runs = _children(result)
    got = sorted((r.data.params["model"], int(r.data.params["n_artists"])) for r in runs)
    assert got == sorted([(m, n) for m in ("basic", "siamese") for n in cfg.n_artists] + [("mfcc", 0)])
    for r in runs:
        assert r.info.status == "FINISHED"
        assert SUITE <= set(r.data.metrics), r.data.metrics
        assert 0 <= r.data.metrics["genre_accuracy"] <= 1 and 0 < r.data.metrics["retrieval_map"] <= 1
        assert 0 <= r.data.metrics["tag_roc_auc"] <= 1 and r.data.metrics["arousal_r2"] <= 1
        if r.data.params["model"] != "mfcc":
            assert int(r.data.params["n_tracks"]) == int(r.data.params["n_artists"]) * cfg.corpus.source_tracks_per_artist
            arts = {a.path for a in client.list_artifacts(r.info.run_id, "encoder")}
            assert {"encoder/state_dict.pt", "encoder/encoder.json"} <= arts
            assert [m.step for m in client.get_metric_history(r.info.run_id, "train_loss")] == [cfg.train.epochs - 1]
    report = {a.path for a in client.list_artifacts(result["tracker"].parent_run_id, "report")}
    assert {"report/summary.md", "report/summary.csv", "report/metrics.png"} <= report
    assert "| basic | 20 |" in (result["report_dir"] / "summary.md").read_text()

    # a re-run finds every model in the cache and gives the same numbers
    again = run(cfg, output=str(tmp_path))
    first = {(r["model"], r["n_artists"]): r for r in result["rows"]}
    for r in again["rows"]:
        assert r["genre_accuracy"] == first[(r["model"], r["n_artists"])]["genre_accuracy"]
        assert r["retrieval_map"] == first[(r["model"], r["n_artists"])]["retrieval_map"]
        assert r.get("seconds_train", 0) < 5


@pytest.mark.slow  # ~50 s
def test_artist_tags_tiny_sweep_logs_every_model(ray_session, tmp_path):
    cfg = load_sweep("artist_tags", preset="tiny")
    result = run(cfg, output=str(tmp_path))
    assert not result["errors"]
    client, runs = _children(result)
    by_model = {r.data.params["model"]: r for r in runs}
    assert set(by_model) == {"artist_tags", "choi_tags", "mfcc"} and len(runs) == 3
    assert by_model["artist_tags"].data.params["layers"] == "5"
    assert by_model["choi_tags"].data.params["layers"] == "12345"
    assert by_model["artist_tags"].data.params["label"] == "artist_tags"
    assert by_model["choi_tags"].data.params["label"] == "tags"
    for r in runs:
        assert {"genre_accuracy", "arousal_r2", "valence_r2"} <= set(r.data.metrics)
        assert not {"tag_roc_auc", "retrieval_map"} & set(r.data.metrics)
    for m in ("artist_tags", "choi_tags"):
        r = by_model[m]
        assert int(r.data.params["n_artists"]) == 10 * cfg.corpus.source_artists_per_genre
        arts = {a.path for a in client.list_artifacts(r.info.run_id, "encoder")}
        assert {"encoder/state_dict.pt", "encoder/encoder.json"} <= arts
        assert client.get_metric_history(r.info.run_id, "val_roc_auc")


def test_artist_sweep_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        load_sweep("artist_labels", overrides=("n_artists=[15, 5000]", "models=[basic, triplet]", "probe.tagger=svm",
                                               "heldout_artists_per_genre=0", "probe.tasks=[genre, mood]"))
    text = str(err.value)
    for fragment in ("n_artists: 5000 exceeds ", "models: unknown model 'triplet'", "probe.tagger",
                     "heldout_artists_per_genre: must be ≥ 1", "probe.tasks: unknown task 'mood'"):
        assert fragment in text, fragment
    with pytest.raises(ConfigError, match="probe.tasks: unknown task 'retrieval'"):
        load_sweep("artist_tags", overrides=("probe.tasks=[genre, retrieval]",))
    with pytest.raises(ConfigError, match="artist_tags_layers: '6'"):
        load_sweep("artist_tags", overrides=("artist_tags_layers='6'",))


@pytest.mark.slow
def test_science_artist_features_beat_mfcc_and_retrieve_unseen_artists(ray_session, tmp_path):
    """On the default corpus: basic artist-model features beat MFCC on genre, and retrieval of
    artists never seen in training is far above chance."""
    result = run(load_sweep("artist_labels"), output=str(tmp_path))
    assert not result["errors"]
    rows = result["rows"]
    mfcc = next(r for r in rows if r["model"] == "mfcc")
    basic = [r for r in rows if r["model"] == "basic"]
    best_n = max(r["n_artists"] for r in basic)
    top = next(r for r in basic if r["n_artists"] == best_n)
    assert top["genre_accuracy"] > mfcc["genre_accuracy"] + 0.05, (top, mfcc)
    assert top["genre_accuracy_nested"] > mfcc["genre_accuracy_nested"], (top, mfcc)
    for r in basic + [x for x in rows if x["model"] == "siamese"]:
        assert r["retrieval_map"] > 3 * r["retrieval_chance_map"], r
    assert np.mean([r["retrieval_map"] for r in basic]) > mfcc["retrieval_map"]
