"""The tiny layer_combos preset end to end on local Ray, checked through MLflow."""

import csv
import json
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from raymir.config import load_sweep
from raymir.recipes.layer_combos import probe_grids
from raymir.sweep import run


@pytest.fixture(scope="module")
def tiny_run(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    cfg = load_sweep("layer_combos", preset="tiny")
    result = run(cfg, output=str(out))
    return cfg, out, result


@pytest.mark.slow  # the four tests on the tiny run: ~2.5 min on 2 cores; released-encoder runs cover layer_combos by default
def test_every_trial_is_a_child_run_with_the_contract(tiny_run):
    cfg, out, result = tiny_run
    assert not result["errors"]
    tracker = result["tracker"]
    client = MlflowClient(tracker.uri)
    assert tracker.uri == f"sqlite:///{out / 'mlflow.db'}"
    exp = client.get_experiment(tracker.experiment_id)
    assert exp.name == "layer_combos"
    parent = client.get_run(tracker.parent_run_id)
    assert parent.data.tags["raymir.sweep"] == "layer_combos" and parent.info.status == "FINISHED"
    children = client.search_runs([tracker.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{tracker.parent_run_id}'")
    probes = [r for r in children if r.data.tags["raymir.trial"] != "pretrain"]
    grids = probe_grids(cfg)
    assert len(probes) == len(grids) == 3 * (3 + 3 + 1 + 1)
    seen = {(r.data.params["task"], r.data.params["feature"], r.data.params["layers"]) for r in probes}
    assert seen == {(s.task, s.feature, s.layers) for s in grids}
    for r in probes:
        p, m = r.data.params, r.data.metrics
        assert p["kernel"] in ("linear", "rbf") and float(p["C"]) in (0.1, 8.0) and p["scaler"] in ("True", "False")
        assert "gamma" in p
        metric = "r2" if p["task"] == "emotion_arousal" else "accuracy"
        assert {f"cv_{metric}", f"cv_{metric}_std", f"cv_{metric}_ci95", f"nested_{metric}",
                f"nested_{metric}_ci95", "test_fraction"} <= set(m)
        # the per-fold nested scores and inner means of the report's paired tests: 3 folds × 1 repeat
        assert len(json.loads(p["nested_folds"])) == len(json.loads(p["nested_inner"])) == 3 and p["repeats"] == "1"
        if p["feature"] == "mfcc":
            assert p["layers"] == "-"
        arts = [a.path for a in client.list_artifacts(r.info.run_id)]
        assert "grid.csv" in arts
    # the grid CSV holds every grid point: 2 scalers × (2 linear C + 2 C × 2 γ)
    one = probes[0]
    path = mlflow.artifacts.download_artifacts(run_id=one.info.run_id, artifact_path="grid.csv",
                                               tracking_uri=tracker.uri, dst_path=str(out / "dl"))
    with open(path) as f:
        assert len(list(csv.DictReader(f))) == 2 * (2 + 2 * 2)


@pytest.mark.slow
def test_pretraining_run_has_roc_auc_and_the_encoder(tiny_run):
    _, _, result = tiny_run
    tracker = result["tracker"]
    client = MlflowClient(tracker.uri)
    pre = client.search_runs([tracker.experiment_id], filter_string="tags.`raymir.trial` = 'pretrain'")
    assert len(pre) == 1
    assert 0 <= pre[0].data.metrics["val_roc_auc"] <= 1
    # the encoder is its weights and how to rebuild them; no pickled MLflow PyTorch model
    assert not client.search_logged_models([tracker.experiment_id])
    enc = {a.path for a in client.list_artifacts(pre[0].info.run_id, "encoder")}
    assert enc == {"encoder/state_dict.pt", "encoder/encoder.json"}
    parent = client.get_run(tracker.parent_run_id).data.tags["mlflow.note.content"]
    assert parent.startswith("```\n== genre") and "convnet" in parent  # the report tables as its description


@pytest.mark.slow
def test_report_tables_and_figures_are_logged(tiny_run):
    _, _, result = tiny_run
    tracker = result["tracker"]
    client = MlflowClient(tracker.uri)
    report = {a.path for a in client.list_artifacts(tracker.parent_run_id, "report")}
    assert {"report/results.csv", "report/report.txt", "report/genre.png", "report/sound_events.png",
            "report/emotion_arousal.png", "report/comparisons.csv"} <= report


@pytest.mark.slow
def test_rerun_reuses_cached_stages(tiny_run):
    cfg, out, first = tiny_run
    features = sorted((out / "cache" / "features").iterdir())
    stamps = {p.name: (p / ".done").stat().st_mtime for p in features}
    second = run(cfg, output=str(out))
    assert not second["errors"]
    assert sorted(p.name for p in (out / "cache" / "features").iterdir()) == [p.name for p in features]
    assert {p.name: (p / ".done").stat().st_mtime for p in features} == stamps
    # same inputs, same cached features and pretraining: identical results
    key = lambda r: (r["task"], r["feature"], r["layers"])  # noqa: E731
    a = {key(r): r for r in first["rows"]}
    b = {key(r): r for r in second["rows"]}
    assert a.keys() == b.keys()
    for k in a:
        m = f"cv_{a[k]['metric']}"
        assert a[k][m] == pytest.approx(b[k][m])


@pytest.mark.slow
def test_repeats_pretrain_again_and_probe_each_repeat_s_own_net(tiny_run):
    """probe.repeats=2 in the same output: repeat 0's net is the cached one, repeat 1 pretrains with seed + 1 (its own
    pretraining child, its own features), and every grid pools both repeats' folds — the predefined folds too."""
    cfg, out, first = tiny_run
    before = {p.name for p in (out / "cache" / "pretrain").iterdir()}
    again = run(load_sweep("layer_combos", preset="tiny", overrides=("probe.repeats=2",)), output=str(out))
    assert not again["errors"]
    assert len({p.name for p in (out / "cache" / "pretrain").iterdir()} - before) == 1  # repeat 1's net only
    tracker = again["tracker"]
    client = MlflowClient(tracker.uri)
    children = client.search_runs([tracker.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{tracker.parent_run_id}'")
    pre = {r.data.tags["raymir.trial"]: r for r in children if r.data.tags["raymir.trial"].startswith("pretrain")}
    assert set(pre) == {"pretrain", "pretrain/repeat_1"}
    assert int(pre["pretrain/repeat_1"].data.params["seed"]) == cfg.pretrain.seed + 1
    rows = {(r["task"], r["feature"], r["layers"]): r for r in again["rows"]}
    for key, row in rows.items():
        assert row["repeats"] == 2 and len(json.loads(row["nested_folds"])) == 2 * 3, key
    once = {(r["task"], r["feature"], r["layers"]): r for r in first["rows"]}
    for key in rows:  # repeat 0 is the single run, fold by fold; repeat 1 probes another net (MFCC: other folds)
        assert json.loads(rows[key]["nested_folds"])[:3] == pytest.approx(json.loads(once[key]["nested_folds"]))
    fixed = ("sound_events", "convnet", "12345")  # predefined folds: the same folds, the second net's features
    assert json.loads(rows[fixed]["nested_folds"])[3:] != json.loads(rows[fixed]["nested_folds"])[:3]


def test_an_encoder_is_logged_as_weights_and_a_description_without_pickle(tmp_path, monkeypatch):
    """The trained encoder is logged as a state_dict (weights_only loads it) and encoder.json; no MLflow PyTorch
    model (a pickle), and MLflow's global tracking URI is left as it was."""
    import json
    import os

    import torch
    from mlflow.tracking import MlflowClient

    from raymir import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = tracking.setup_experiment(f"sqlite:///{tmp_path / 'a.db'}", "x", (tmp_path / "art").as_uri())
    first = tracking.start_parent(first, sweep="x", params={})
    state = tmp_path / "state_dict.pt"
    net = torch.nn.Linear(2, 2)
    torch.save(net.state_dict(), state)
    tracking.log_encoder(first, first.parent_run_id, state, {"model": "linear", "load": "nn.Linear(2, 2)"})
    assert "MLFLOW_TRACKING_URI" not in os.environ
    client = MlflowClient(first.uri)
    logged = sorted(f.path for f in client.list_artifacts(first.parent_run_id, "encoder"))
    assert logged == ["encoder/encoder.json", "encoder/state_dict.pt"]
    assert not [f for f in client.list_artifacts(first.parent_run_id) if f.path == "model"]
    local = client.download_artifacts(first.parent_run_id, "encoder", str(tmp_path / "back"))
    assert json.loads((Path(local) / "encoder.json").read_text())["model"] == "linear"
    back = torch.load(Path(local) / "state_dict.pt", weights_only=True)
    assert torch.equal(back["weight"], net.weight.detach())
