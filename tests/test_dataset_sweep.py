"""layer_combos on a dataset in its own layout (GTZAN), through the CLI, with a broken file in it."""

import numpy as np
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


def test_layer_combos_tiny_on_a_gtzan_layout(ray_session, tmp_path, capsys):
    _gtzan(tmp_path / "gtzan")
    out = tmp_path / "out"
    rc = main(["layer_combos", "--preset", "tiny", "--dataset", "gtzan", "--data", str(tmp_path / "gtzan"),
               "--output", str(out), "--set", "features.layers=['5','12345']", "--set", "features.kinds=[convnet,mfcc]"])
    assert rc == 0
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
