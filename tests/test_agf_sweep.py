"""agf_combos end to end on local Ray (tiny presets), checked through MLflow."""

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from raymir.config import load_sweep, task_combos
from raymir.sweep import run

PARAMS = {"tasks", "arch", "n_tasks", "n_params", "split"}
METRICS = {"val_f1_macro", "val_logloss", "val_accuracy", "val_artist_f1_macro", "val_artist_logloss",
           "val_artist_accuracy"}


def _children(result):
    tracker = result["tracker"]
    client = MlflowClient(tracker.uri)
    runs = client.search_runs([tracker.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{tracker.parent_run_id}'",
                              max_results=500)
    return client, runs


def _check_children(result, tasks: str):
    client, runs = _children(result)
    combos = task_combos(tasks)
    by_key = {(r.data.params["tasks"], r.data.params["arch"], r.data.params["n_tasks"]): r for r in runs}
    multi = [c for c in combos if len(c) > 1]
    expected = {(c, "STN", str(len(c))) for c in combos} | {(c, "MTN", str(len(c))) for c in multi} \
        | {("g", "wSTN", str(n)) for n in range(2, len(tasks) + 1)}
    assert set(by_key) == expected and len(runs) == len(expected)
    for (combo, arch, _), r in by_key.items():
        assert PARAMS <= set(r.data.params) and METRICS <= set(r.data.metrics), (combo, arch)
        assert r.info.status == "FINISHED"
        assert 0 <= r.data.metrics["val_f1_macro"] <= 1 and r.data.metrics["val_logloss"] > 0
        arts = {a.path for a in client.list_artifacts(r.info.run_id, "encoder")}
        assert {"encoder/state_dict.pt", "encoder/encoder.json"} <= arts
        if arch != "wSTN":  # the source-task losses, one per task
            assert {f"val_loss_{t}" for t in combo} <= set(r.data.metrics), (combo, arch, r.data.metrics)
    # parameter sharing shows in the counts: an MTN is smaller than its STN by the extra stems
    for c in multi:
        stn, mtn = int(by_key[(c, "STN", str(len(c)))].data.params["n_params"]), \
            int(by_key[(c, "MTN", str(len(c)))].data.params["n_params"])
        assert stn - mtn == (len(c) - 1) * (16 * 25 + 16)
    for n in range(2, len(tasks) + 1):
        w = by_key[("g", "wSTN", str(n))].data.params
        assert abs(int(w["n_params"]) - int(w["target_params"])) <= 0.05 * int(w["target_params"])
    return by_key


@pytest.fixture(scope="module")
def small_run(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("agf")
    cfg = load_sweep("agf_combos", preset="tiny", overrides=("tasks=gs",))
    return run(cfg, output=str(out)), out


@pytest.mark.slow  # with the two below ~5 min on 2 cores; the FMA-layout run covers agf_combos by default
def test_small_combination_sweep_logs_every_run(small_run):
    result, out = small_run
    assert not result["errors"]
    _check_children(result, "gs")
    report = (result["report_dir"] / "report.txt").read_text()
    assert "Table 4" in report and "Table 3" in report and "Table 5" in report
    assert (result["report_dir"] / "tasks_vs_performance.png").stat().st_size > 1000
    client, _ = _children(result)
    arts = {a.path for a in client.list_artifacts(result["tracker"].parent_run_id, "report")}
    assert {"report/report.txt", "report/results.csv", "report/tasks_vs_performance.png"} <= arts


@pytest.mark.slow
def test_rerun_uses_the_cache_and_gives_the_same_numbers(small_run, ray_session):
    result, out = small_run
    again = run(load_sweep("agf_combos", preset="tiny", overrides=("tasks=gs",)), output=str(out))
    first = {(r["tasks"], r["arch"], r["n_tasks"]): r["val_f1_macro"] for r in result["rows"]}
    second = {(r["tasks"], r["arch"], r["n_tasks"]): r["val_f1_macro"] for r in again["rows"]}
    assert first == second
    _, runs = _children(again)
    assert len(runs) == len(first)  # a new parent run with its own children


@pytest.mark.slow  # ~2 min: every net of repeat 1 trains
def test_repeats_redraw_the_split_and_retrain_and_repeat_0_is_the_one_repeat_run(small_run, ray_session):
    import json

    result, out = small_run
    again = run(load_sweep("agf_combos", preset="tiny", overrides=("tasks=gs", "transfer.repeats=2")), output=str(out))
    assert not again["errors"]
    once = {(r["tasks"], r["arch"], r["n_tasks"]): r for r in result["rows"]}
    for r in again["rows"]:
        values = json.loads(r["val_f1_macro_repeats"])
        # repeat 0 is the cached one-repeat run's net (same split, same seeds); repeat 1 a new split and new nets
        assert len(values) == 2 and values[0] == once[(r["tasks"], r["arch"], r["n_tasks"])]["val_f1_macro"]
        assert r["val_f1_macro"] == np.mean(values) and r["val_f1_macro_ci95"] > 0
        assert 0 < r["val_held_out"] < 0.5 and 0 < r["val_artist_held_out"] < 0.5
    losses = [json.loads(r["val_logloss_repeats"]) for r in again["rows"]]
    assert any(a != b for a, b in losses)  # the second repeat is not the first again
    client, runs = _children(again)
    stn = next(r for r in runs if r.data.params["tasks"] == "gs" and r.data.params["arch"] == "STN")
    assert stn.data.params["repeats"] == "2" and len(json.loads(stn.data.params["val_f1_macro_repeats"])) == 2
    assert "val_f1_macro_ci95" in stn.data.metrics
    arts = {a.path for a in client.list_artifacts(stn.info.run_id, "encoder/repeat_1")}
    assert {"encoder/repeat_1/state_dict.pt", "encoder/repeat_1/encoder.json"} <= arts
    report = (again["report_dir"] / "report.txt").read_text()
    assert " ± " in report and "2-task MTNs (mean)" in report
    assert (again["report_dir"] / "comparisons.csv").read_text().count("\n") == 1 + 3 * 6  # 6 claims × 3 scores


@pytest.mark.slow
def test_tiny_preset_runs_all_57_combinations_and_the_wstns(ray_session, tmp_path):
    result = run(load_sweep("agf_combos", preset="tiny"), output=str(tmp_path))
    assert not result["errors"]
    by_key = _check_children(result, "gsedm")
    assert sum(1 for k in by_key if k[1] in ("STN", "MTN")) == 57
    f1 = np.array([r["val_f1_macro"] for r in result["rows"]])
    assert np.isfinite(f1).all()


def _manifest(tmp_path, *, subgenres: bool):
    import soundfile as sf

    rng = np.random.default_rng(0)
    rows = ["path,artist,genre" + (",subgenres" if subgenres else "")]
    for a in range(12):
        genre = ["Rock", "Jazz", "Folk"][a % 3]
        for t in range(3):
            f = tmp_path / "audio" / f"{a}_{t}.wav"
            f.parent.mkdir(exist_ok=True)
            tone = np.sin(2 * np.pi * (100 + 150 * (a % 3)) * np.arange(16000) / 16000)
            sf.write(f, (0.2 * tone + 0.02 * rng.standard_normal(16000)).astype(np.float32), 16000)
            rows.append(f"audio/{f.name},artist {a},{genre}" + (f",{genre} sub{a % 2}" if subgenres else ""))
    csv = tmp_path / "tracks.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


@pytest.mark.slow  # ~50 s; the FMA-layout run covers agf_combos on real data by default
def test_a_csv_corpus_runs_and_missing_subgenres_are_a_clear_error(ray_session, tmp_path, capsys):
    from raymir.sweep import main

    csv = _manifest(tmp_path, subgenres=False)
    common = ["--preset", "tiny", "--output", str(tmp_path / "out"), "--data", str(csv), "--set", "data.duration=1.2"]
    assert main(["agf_combos", *common]) == 2  # task s needs subgenre labels
    err = capsys.readouterr().err
    assert "manifest: task 's' needs subgenre labels (a 'subgenres' column)" in err
    assert main(["agf_combos", *common, "--set", "tasks=gm"]) == 0
    out = capsys.readouterr().out
    assert "36 tracks, 12 artists, 3 genres" in out and "Table 4" in out


@pytest.mark.skipif(not __import__("raymir.targets.descriptors", fromlist=["x"]).essentia_available(),
                    reason="essentia not installed")
def test_essentia_descriptors_have_one_length_per_corpus():
    from raymir.targets.descriptors import descriptor_matrix, essentia_descriptors

    sr = 22050
    t = np.arange(2 * sr) / sr
    songs = [essentia_descriptors((0.2 * np.sin(2 * np.pi * f * t)).astype(np.float32), sr) for f in (220, 330)]
    X = descriptor_matrix(songs)
    assert X.shape[0] == 2 and X.shape[1] > 500 and np.isfinite(X).all()
