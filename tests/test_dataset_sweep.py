"""Sweeps on datasets in their own layouts (GTZAN, FMA, MTAT, manifests), through the CLI, with broken files in them."""

import numpy as np
import pytest
import soundfile as sf
from mlflow.tracking import MlflowClient

from raymir.sweep import main


def _gtzan(root):
    rng = np.random.default_rng(0)
    for g, freq in (("blues", 220.0), ("jazz", 440.0), ("metal", 880.0)):
        d = root / "genres" / g
        d.mkdir(parents=True)
        for i in range(4):
            t = np.arange(22050) / 22050
            y = 0.3 * np.sin(2 * np.pi * freq * (1 + 0.02 * i) * t) + 0.01 * rng.normal(size=t.size)
            sf.write(str(d / f"{g}.{i:05d}.wav"), y.astype(np.float32), 22050)
    (root / "genres" / "jazz" / "jazz.00004.wav").write_bytes(b"RIFF\x00\x00")  # truncated


@pytest.mark.slow  # a whole sweep with pretraining on a real layout (~40 s)
def test_layer_combos_tiny_on_a_gtzan_layout(ray_session, tmp_path, capsys):
    _gtzan(tmp_path / "gtzan")
    out = tmp_path / "out"
    rc = main(["layer_combos", "--preset", "tiny", "--dataset", "gtzan", "--data", str(tmp_path / "gtzan"),
               "--output", str(out), "--set", "features.layers=['5','12345']", "--set", "features.kinds=[convnet,mfcc]",
               "--storage", str(tmp_path / "shared" / "ray")])
    assert rc == 0
    # Ray Train and Tune state went to --storage, not under the output directory
    assert not (out / "ray").exists()
    assert {p.name.split("-")[0] for p in (tmp_path / "shared" / "ray").iterdir()} >= {"pretrain", "probes"}
    text = capsys.readouterr().out
    assert "dataset gtzan: 12 clips, 1 skipped" in text
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("layer_combos")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if "raymir.sweep" in r.data.tags)
    assert parent.data.metrics["n_skipped"] == 1 and parent.data.metrics["n_clips"] == 12
    assert "data/skipped.csv" in {a.path for a in client.list_artifacts(parent.info.run_id, "data")}
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    probes = [r for r in children if r.data.params.get("task") == "genre"]
    assert len(probes) == 3 and all(r.info.status == "FINISHED" for r in probes)  # 5, 12345, mfcc
    assert max(r.data.metrics["cv_accuracy"] for r in probes) > 0.6  # three pitches: separable


def test_unknown_dataset_and_missing_folder_are_config_errors(tmp_path, capsys):
    assert main(["layer_combos", "--dataset", "gtzan", "--data", str(tmp_path / "nope"), "--check"]) == 2
    assert "data.path: " in capsys.readouterr().err
    assert main(["layer_combos", "--dataset", "nosuch", "--data", str(tmp_path), "--check"]) == 2
    assert "data.dataset: unknown dataset 'nosuch'" in capsys.readouterr().err


def _fma(root, *, genres=("Rock", "Jazz", "Pop", "Folk"), artists=3, tracks=2):
    rng = np.random.default_rng(1)
    meta = root / "fma_metadata"
    meta.mkdir(parents=True)
    subs = {g: [100 + 10 * i + k for k in range(2)] for i, g in enumerate(genres)}
    titles = [f"{gid},0,0,{g},{gid}" for gid, g in enumerate(genres, start=1)]
    titles += [f"{s},0,{gi},{g}-sub{k},{gi}" for gi, g in enumerate(genres, start=1) for k, s in enumerate(subs[g])]
    (meta / "genres.csv").write_text("genre_id,#tracks,parent,title,top_level\n" + "\n".join(titles) + "\n")
    lines = [",album,artist,set,set,track,track", ",id,id,split,subset,genre_top,genres_all", "track_id,,,,,,"]
    tid = 1
    for gi, g in enumerate(genres, start=1):
        for a in range(artists):
            artist = gi * 10 + a
            for _ in range(tracks):
                sub = subs[g][a % 2]
                lines.append(f'{tid},{artist},{artist},training,small,{g},"[{gi}, {sub}]"')
                t = np.arange(2 * 22050) / 22050
                y = 0.3 * np.sin(2 * np.pi * 110 * gi * (1 + 0.03 * a) * t) + 0.01 * rng.normal(size=t.size)
                path = root / "fma_small" / f"{tid // 1000:03d}" / f"{tid:06d}.mp3"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(path), y.astype(np.float32), 22050, format="MP3")
                tid += 1
    (meta / "tracks.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow  # ~50 s; the default run keeps agf_combos on the synthetic corpus (test_agf_sweep)
def test_agf_combos_on_an_fma_layout(ray_session, tmp_path, capsys):
    _fma(tmp_path / "fma")
    out = tmp_path / "out"
    rc = main(["agf_combos", "--preset", "tiny", "--dataset", "fma", "--data", str(tmp_path / "fma"), "--output",
               str(out), "--set", "tasks=gs", "--set", "archs=[STN]", "--set", "data.duration=2.0"])
    assert rc == 0
    assert "corpus fma: 24 tracks, 12 artists, 4 genres" in capsys.readouterr().out
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("agf_combos")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if "raymir.sweep" in r.data.tags)
    assert parent.data.metrics["n_skipped"] == 0 and parent.data.metrics["n_clips"] == 24
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.data.params["tasks"] for r in children) == ["g", "gs", "s"]


def _wav(path, freq, rng, *, seconds=1.0, sr=16000, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.normal(size=t.size)
    sf.write(str(path), y.astype(np.float32), sr, format=fmt)


def _mtat(root):
    """6 artists × 2 songs × 2 clips in MTAT's layout; each artist's pitch goes with its tags."""
    rng = np.random.default_rng(2)
    tags = ["low", "high", "loud", "soft"]
    rows = ["\t".join(["clip_id", *tags, "mp3_path"])]
    folders = "01c01d"  # artists 0, 1, 3, 4 train; 2 valid; 5 test
    for a in range(6):
        for s in range(2):
            for c in range(2):
                path = f"{folders[a]}/artist{a}-album-0{s}-song{s}-{30 * c}-{30 * c + 29}.mp3"
                _wav(root / path, 200.0 * (1 + a), rng, fmt="MP3")
                on = [a < 3, a >= 3, a % 2 == 0, a % 2 == 1]
                rows.append("\t".join([str(len(rows)), *("1" if t else "0" for t in on), path]))
    (root / "annotations_final.csv").write_text("\n".join(rows) + "\n")


def _parent_and_children(out, experiment):
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    parent = next(r for r in client.search_runs([exp.experiment_id]) if "raymir.sweep" in r.data.tags)
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return client, parent, {r.data.tags["raymir.trial"] if "raymir.trial" in r.data.tags else r.info.run_name: r
                            for r in children}


@pytest.mark.slow  # ~35 s each; the default run keeps layer_combos on a real layout
def test_artist_tags_on_mtat_as_source_and_gtzan_as_target(ray_session, tmp_path, capsys):
    _mtat(tmp_path / "mtat")
    _gtzan(tmp_path / "gtzan")
    out = tmp_path / "out"
    rc = main(["artist_tags", "--preset", "tiny", "--source-dataset", "mtat", "--source-data", str(tmp_path / "mtat"),
               "--dataset", "gtzan", "--data", str(tmp_path / "gtzan"), "--output", str(out)])
    assert rc == 0, capsys.readouterr().err
    client, parent, children = _parent_and_children(out, "artist_tags")
    assert parent.data.metrics["source_n_clips"] == 24 and parent.data.metrics["source_n_skipped"] == 0
    assert parent.data.metrics["n_clips"] == 12 and parent.data.metrics["n_skipped"] == 1
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "data/source")} == {"data/source/skipped.csv"}
    runs = list(children.values())
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    assert all(0 <= r.data.metrics["genre_accuracy"] <= 1 for r in runs)
    trained = [r for r in runs if r.data.params["model"] != "mfcc"]
    assert sorted(r.data.params["label"] for r in trained) == ["artist_tags", "tags"]
    assert {r.data.params["n_artists"] for r in trained} == {"6"}


@pytest.mark.slow  # ~35 s each; the default run keeps layer_combos on a real layout
def test_artist_labels_on_a_manifest_source_and_a_jsonl_target(ray_session, tmp_path, capsys):
    import json

    rng = np.random.default_rng(3)
    rows = ["path,artist,genre,tags"]
    for a in range(8):
        for t in range(3):
            _wav(tmp_path / "src" / f"{a}_{t}.wav", 150.0 * (1 + a), rng, seconds=3.5, sr=22050)
            rows.append(f"src/{a}_{t}.wav,artist {a},{'low' if a < 4 else 'high'},"
                        f"{'bass' if a < 4 else 'treble'};{'odd' if t % 2 else 'even'}")
    (tmp_path / "source.csv").write_text("\n".join(rows) + "\n")
    lines = []
    for i in range(12):
        _wav(tmp_path / "tgt" / f"{i}.wav", 300.0 + 80 * i, rng, seconds=3.5, sr=22050)
        lines.append(json.dumps({"path": f"tgt/{i}.wav", "mood": "calm" if i < 6 else "tense", "arousal": i / 12,
                                 "group": f"g{i // 2}"}))
    (tmp_path / "target.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    rc = main(["artist_labels", "--preset", "tiny", "--source-data", str(tmp_path / "source.csv"), "--data",
               str(tmp_path / "target.jsonl"), "--output", str(out), "--set", "n_artists=[2,4]",
               "--set", "models=[basic]", "--set", "heldout_artists_per_genre=2", "--set", "data.duration=3.5"])
    assert rc == 0, capsys.readouterr().err
    _, parent, children = _parent_and_children(out, "artist_labels")
    assert parent.data.metrics["source_n_clips"] == 24 and parent.data.metrics["n_clips"] == 12
    assert len(children) == 3 and all(r.info.status == "FINISHED" for r in children.values())
    for r in children.values():
        m = r.data.metrics
        assert {"mood_accuracy", "arousal_r2", "tag_roc_auc", "retrieval_map"} <= set(m), sorted(m)
        assert "genre_accuracy" not in m  # the real target replaces the synthetic genre set
    report = (out / "report" / "summary.md") if (out / "report").exists() else next(out.rglob("summary.md"))
    assert "mood_accuracy" in report.read_text()
    # asking for more artists, or more folds, than the source has stops before any training, naming the fix
    common = ["artist_labels", "--preset", "tiny", "--source-data", str(tmp_path / "source.csv"), "--output",
              str(tmp_path / "out2"), "--set", "data.duration=3.5", "--set", "heldout_artists_per_genre=1"]
    assert main([*common, "--set", "n_artists=[7]"]) == 2
    assert "n_artists: 7 exceeds the 6 artists of manifest" in capsys.readouterr().err
    assert main([*common, "--set", "n_artists=[4]"]) == 2
    assert "probe tagging (held-out artists): cannot make 3 folds of 6 clips by 2 artists" in capsys.readouterr().err


@pytest.mark.integration  # opens the sweep's MLflow store before the source is refused
def test_layer_combos_takes_a_real_tagging_source_and_rejects_one_without_tags(tmp_path, capsys):
    from raymir.config import load_sweep
    from raymir.recipes.layer_combos import load_target_and_source

    _mtat(tmp_path / "mtat")
    _gtzan(tmp_path / "gtzan")
    cfg = load_sweep("layer_combos", preset="tiny", overrides=(
        "data.source.dataset=mtat", f"data.source.path={tmp_path / 'mtat'}", "data.duration=2.0"))
    subsets, tasks, skipped = load_target_and_source(cfg, cache_root=tmp_path / "cache")
    source = subsets["source"]
    assert source.name == "mtat" and source.labels["tags"].shape == (24, 4) and skipped == {"source": []}
    assert source.audio.shape == (24, 2 * cfg.mel.sr)
    assert {t.name for t in tasks} == set(cfg.probe.tasks) and "genre" in subsets  # synthetic targets stay
    rc = main(["layer_combos", "--preset", "tiny", "--source-dataset", "gtzan", "--source-data", str(tmp_path / "gtzan"),
               "--output", str(tmp_path / "out")])
    assert rc == 2
    assert "gtzan: pretraining on tags needs a multi-label 'tags' label" in capsys.readouterr().err


@pytest.mark.slow  # a whole sweep (~30 s)
def test_choi_paper_end_to_end_with_the_released_net_on_a_gtzan_layout(ray_session, tmp_path, capsys):
    """The README's command: layer_combos --encoder choi2017_keras:FILE --dataset gtzan --data DIR. Nothing is
    pretrained; GTZAN's genres become the probe task; the file's sha256 is on the parent run."""
    import hashlib

    from test_keras_release import choi_layers, choi_weights, write_keras_h5

    _gtzan(tmp_path / "gtzan")
    model = tmp_path / "model_best.hdf5"
    write_keras_h5(model, choi_weights(), choi_layers())  # the release's layout, random weights
    out = tmp_path / "out"
    assert main(["layer_combos", "--preset", "tiny", "--encoder", f"choi2017_keras:{model}", "--dataset", "gtzan",
                 "--data", str(tmp_path / "gtzan"), "--output", str(out),
                 "--set", "features.layers=['5','12345']"]) == 0
    assert "dataset gtzan: 12 clips, 1 skipped" in capsys.readouterr().out
    _, parent, by_key = _parent_and_children(out, "layer_combos")
    children = list(by_key.values())
    assert parent.data.params["encoder.sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert "pretrain" not in by_key
    genre = {(r.data.params["feature"], r.data.params["layers"]) for r in children if r.data.params.get("task") == "genre"}
    assert genre == {("convnet", "5"), ("convnet", "12345"), ("random", "5"), ("random", "12345"), ("mfcc", "-"),
                     ("convnet+mfcc", "12345")}
    assert all(r.info.status == "FINISHED" for r in children)
    assert not (out / "cache" / "pretrain").exists()
