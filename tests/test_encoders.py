"""layer_combos with a given encoder: the encoder section and --encoder, a folder of precomputed embeddings
(read, checked, probed alone) and the released Choi model in place of pretraining."""

import csv
import hashlib
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from raymir.config import ConfigError, EncoderConfig, load_sweep
from raymir.data.embeddings import load_embeddings
from raymir.errors import DatasetError
from raymir.models.choi2017 import Choi2017
from raymir.models.keras_release import CHOI_MEL, CHOI_RELEASE_OPTIONS, ReleaseInfo
from raymir.recipes.layer_combos import embeddings_label, parent_params, release_extractors, sweep_combos
from raymir.session import flat
from raymir.sweep import main

REPO = Path(__file__).resolve().parents[1]


def write_embeddings(folder, *, n=60, widths=(8, 16, 4), informative=2, stacked=False, table="csv", seed=0):
    """A folder of embeddings: 3 classes (``mood``) and a value (``energy``), 20 rows each in pairs sharing a group;
    layer ``informative`` carries both, the other layers are noise. → the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    y = np.repeat([0, 1, 2], n // 3)
    energy = y + 0.3 * rng.normal(size=n)
    layers = [rng.normal(size=(n, d)) for d in widths]
    layers[informative - 1][:, :3] += 2.5 * np.eye(3)[y]
    layers[informative - 1][:, 3] += energy
    if stacked:
        np.save(folder / "features.npy", np.stack(layers, axis=1))
    else:
        for i, a in enumerate(layers, start=1):
            np.save(folder / f"{i}.npy", a.astype(np.float32))
    rows = [{"id": i, "mood": "abc"[y[i]], "energy": round(float(energy[i]), 4), "group": f"g{i // 2}"} for i in range(n)]
    if table == "csv":
        (folder / "manifest.csv").write_text("id,mood,energy,group\n" + "".join(
            f"{r['id']},{r['mood']},{r['energy']},{r['group']}\n" for r in rows))
    else:
        (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder.resolve()


# --- the embeddings folder ---------------------------------------------------------------------


def test_an_embeddings_folder_reads_as_layers_labels_groups_and_a_digest(tmp_path):
    emb = load_embeddings(write_embeddings(tmp_path / "a"))
    assert emb.n_layers == 3 and len(emb) == 60 and [a.shape for a in emb.layers] == [(60, 8), (60, 16), (60, 4)]
    assert all(a.dtype == np.float32 for a in emb.layers)
    assert emb.subset.classes["mood"] == ["a", "b", "c"] and emb.subset.labels["mood"].tolist() == [0] * 20 + [1] * 20 + [2] * 20
    assert emb.subset.labels["energy"].dtype == np.float32 and len(np.unique(emb.subset.groups)) == 30
    stacked = load_embeddings(write_embeddings(tmp_path / "b", widths=(8, 8, 8), stacked=True, table="jsonl"))
    assert stacked.n_layers == 3 and [a.shape for a in stacked.layers] == [(60, 8)] * 3
    assert set(stacked.subset.labels) == {"mood", "energy"}
    assert len(emb.sha256) == 64 and emb.sha256 != stacked.sha256
    assert load_embeddings(tmp_path / "a").sha256 == emb.sha256  # the same files, the same digest


def _break(folder: Path, case: str) -> tuple[Path, str]:
    """Damage a good folder one way: → (the file the message must name, a fragment of the message)."""
    csv = folder / "manifest.csv"
    if case == "rows":
        csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:-1]))
        return csv, "59 rows, but the arrays have 60"
    if case == "nan":
        a = np.load(folder / "2.npy")
        a[7, 3] = np.nan
        np.save(folder / "2.npy", a)
        return folder / "2.npy", "row 7 (counting from 0), layer 2 holds NaN or infinite values"
    if case == "inf_stacked":
        for i in (1, 2, 3):
            (folder / f"{i}.npy").unlink()
        a = np.zeros((60, 3, 4))
        a[5, 2, 1] = np.inf
        np.save(folder / "features.npy", a)
        return folder / "features.npy", "row 5 (counting from 0), layer 3 holds NaN or infinite values"
    if case == "ragged":
        np.save(folder / "3.npy", np.zeros((59, 4)))
        return folder / "3.npy", "59 rows, but 1.npy has 60"
    if case == "no_label_column":
        csv.write_text("id,group\n" + "".join(f"{i},g{i}\n" for i in range(60)))
        return csv, "no label column"
    if case == "missing_label":
        csv.unlink()
        rows = [{"mood": "a", "energy": 0.5} for _ in range(60)]
        del rows[4]["mood"]
        (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return folder / "manifest.jsonl", "row 4 (counting from 0) has no value for label mood"
    if case == "unreadable_array":
        (folder / "2.npy").write_bytes(b"\x00 not an array")
        return folder / "2.npy", "cannot read it as a .npy array"
    if case == "truncated_array":
        data = (folder / "1.npy").read_bytes()
        (folder / "1.npy").write_bytes(data[: len(data) // 2])
        return folder / "1.npy", "cannot read it as a .npy array"
    if case == "unreadable_manifest":
        csv.unlink()
        (folder / "manifest.jsonl").write_text('{"mood": "a"}\n{"mood": \n')
        return folder / "manifest.jsonl", "line 2: not JSON"
    if case == "not_numbers":
        np.save(folder / "1.npy", np.full((60, 2), "x"))
        return folder / "1.npy", "values, not numbers"
    if case == "too_many_layers":
        for i in (1, 2, 3):
            (folder / f"{i}.npy").unlink()
        np.save(folder / "features.npy", np.zeros((60, 1001, 1), dtype=np.float32))  # frames saved as layers
        return folder / "features.npy", "1001 layers, more than 1000; is another axis saved as the layers"
    if case == "layer_gap":
        (folder / "2.npy").unlink()
        return folder, "layer file(s) 2.npy missing"
    if case == "no_manifest":
        csv.unlink()
        return folder, "no manifest.csv or manifest.jsonl"
    raise AssertionError(case)


BAD = ["rows", "nan", "inf_stacked", "ragged", "no_label_column", "missing_label", "unreadable_array",
       "truncated_array", "unreadable_manifest", "not_numbers", "too_many_layers", "layer_gap", "no_manifest"]


@pytest.mark.parametrize("case", BAD)
def test_a_malformed_embeddings_folder_stops_naming_the_file(tmp_path, case):
    folder = write_embeddings(tmp_path / "emb")
    culprit, fragment = _break(folder, case)
    with pytest.raises(DatasetError) as e:
        load_embeddings(folder)
    assert str(culprit) in str(e.value) and fragment in str(e.value)


@pytest.mark.parametrize("case", ["nan", "ragged", "missing_label"])
def test_the_cli_reports_a_malformed_folder_before_anything_starts(tmp_path, capsys, case):
    folder = write_embeddings(tmp_path / "emb")
    culprit, fragment = _break(folder, case)
    out = tmp_path / "out"
    assert main(["layer_combos", "--encoder", f"embeddings:{folder}", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: embeddings: ") and str(culprit) in err and fragment in err
    assert not out.exists()  # no MLflow store, no Ray state: it stopped before either


def test_the_cli_exits_2_with_the_message_and_no_traceback(tmp_path):
    folder = write_embeddings(tmp_path / "emb")
    culprit, fragment = _break(folder, "ragged")
    done = subprocess.run([sys.executable, "-m", "raymir.sweep", "layer_combos", "--encoder", f"embeddings:{folder}",
                           "--output", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert str(culprit) in done.stderr and fragment in done.stderr and "Traceback" not in done.stderr


def test_layer_combinations_follow_the_folders_layers(tmp_path):
    emb = load_embeddings(write_embeddings(tmp_path / "emb"))

    def combos(*overrides, preset=None):
        cfg = load_sweep("layer_combos", preset=preset, overrides=overrides)
        return sweep_combos(cfg, emb.n_layers, encoder=embeddings_label(emb))

    assert combos() == ("1", "2", "3", "12", "13", "23", "123")
    assert combos("features.layers=['2','13']") == ("2", "13")
    with pytest.raises(ConfigError, match=r"features.layers: '5' is not a layer combination of 3 layers: it names "
                                          r"layer 5, not one of 1-3 \(the layers of the embeddings in .*emb, 3 layers\)"):
        combos(preset="tiny")  # its layers: 1, 5, 12345


def test_twelve_layers_of_embeddings_are_read_and_their_combinations_checked(tmp_path, capsys):
    folder = write_embeddings(tmp_path / "emb", widths=(4,) * 12, informative=7)
    assert load_embeddings(folder).n_layers == 12
    assert main(["layer_combos", "--encoder", f"embeddings:{folder}", "--set", "features.layers=[cumulative]",
                 "--set", "weighting.enabled=true", "--check"]) == 0
    assert "ok (26 probe grids in 6 Ray Tune trials" in capsys.readouterr().out  # 2 tasks × (12 cumulative + weighted)
    assert main(["layer_combos", "--encoder", f"embeddings:{folder}", "--check"]) == 2  # all: 4095 combinations
    err = capsys.readouterr().err
    assert "features.layers: 'all' is 4095 layer combinations of 12 layers, more than features.max_combinations=63" in err
    assert f"(the layers of the embeddings in {folder}, 12 layers)" in err and "Traceback" not in err


# --- the encoder section ----------------------------------------------------------------------


def test_the_encoder_section_defaults_to_pretraining_and_stays_out_of_the_parent_params():
    cfg = load_sweep("layer_combos")
    assert cfg.encoder == EncoderConfig(kind="", path="")
    params = parent_params(cfg)
    assert not any(k.startswith("encoder") for k in params)
    left_out = ("encoder.", "weighting.", "features.max_combinations", "probe.repeats",
                "probe.repeat_training")  # added later, at defaults
    assert params == {k: v for k, v in flat(asdict(cfg)).items() if not k.startswith(left_out)}


def test_encoder_flag_sets_the_section_and_its_params(tmp_path, capsys):
    folder = write_embeddings(tmp_path / "emb")
    assert main(["layer_combos", "--encoder", f"embeddings:{folder}", "--check"]) == 0
    assert "ok (14 probe grids in 2 Ray Tune trials; the embeddings in" in capsys.readouterr().out  # 2 tasks × 7
    model = tmp_path / "model_best.hdf5"
    model.write_bytes(b"weights")
    cfg = load_sweep("layer_combos", overrides=("encoder.kind=choi2017_keras", f"encoder.path={model}"))
    params = parent_params(cfg, encoder_sha256="ab" * 32)
    assert params["encoder.kind"] == "choi2017_keras" and params["encoder.path"] == str(model)
    assert params["encoder.sha256"] == "ab" * 32
    for bad in ("bogus:/x", "embeddings", "choi2017_keras:"):
        with pytest.raises(SystemExit) as e:
            main(["layer_combos", "--encoder", bad, "--check"])
        assert e.value.code == 2
    assert "expected KIND:PATH, KIND one of choi2017_keras" in capsys.readouterr().err


def test_encoder_problems_are_named_by_key(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_sweep("layer_combos", overrides=("encoder.kind=nope",))
    assert "encoder.kind: 'nope' is not available here" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_sweep("layer_combos", overrides=(f"encoder.path={tmp_path}",))
    assert "encoder.path: set encoder.kind too" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_sweep("layer_combos", overrides=("encoder.kind=choi2017_keras", f"encoder.path={tmp_path}", "mel.sr=16000",
                                              "data.source.dataset=mtat", f"data.source.path={tmp_path}"))
    text = str(e.value)
    for needle in ("encoder.path: ", "is not a file (the released model_best.hdf5)", "mel: the released Choi 2017 "
                   "model's front end is fixed", "(changed: sr)", "data.source: encoder.kind choi2017_keras gives the "
                   "encoder"):
        assert needle in text
    with pytest.raises(ConfigError) as e:
        load_sweep("layer_combos", overrides=("encoder.kind=embeddings", "data.dataset=gtzan", f"data.path={tmp_path}"))
    text = str(e.value)
    assert "encoder.path: required with encoder.kind embeddings" in text
    assert "features.kinds: embeddings come without audio, so only 'convnet'" in text
    assert "drop random, mfcc, convnet+mfcc" in text
    assert "data.dataset: embeddings carry their own labels" in text


def test_the_random_baseline_of_the_release_has_its_options_and_todays_seed_rule():
    cfg = load_sweep("layer_combos")
    release = Choi2017(50, mel=CHOI_MEL, **CHOI_RELEASE_OPTIONS)
    ex = release_extractors(cfg, release, ReleaseInfo("m.hdf5", "cd" * 32, "choi2017", False))
    assert ex["convnet"].net is release
    assert ex["convnet"].params == {"encoder": "choi2017_keras", "sha256": "cd" * 32, "options": CHOI_RELEASE_OPTIONS,
                                    "mel": asdict(CHOI_MEL)}
    rand = ex["random"].net
    assert rand.standardize and rand.head_pool == "max" and rand.frontend.framing == "same"
    assert all(m.eps == 1e-3 for m in rand.modules() if isinstance(m, torch.nn.BatchNorm2d))
    torch.manual_seed(cfg.pretrain.seed + 1)
    twin = Choi2017(50, mel=CHOI_MEL, **CHOI_RELEASE_OPTIONS)
    for (name, a), b in zip(rand.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), name
    assert ex["random"].params["options"] == CHOI_RELEASE_OPTIONS and "sha256" not in ex["random"].params


def test_a_bad_model_file_stops_before_anything_starts(tmp_path, capsys):
    bad = tmp_path / "model_best.hdf5"
    bad.write_bytes(b"<html>404</html>")
    out = tmp_path / "out"
    assert main(["layer_combos", "--encoder", f"choi2017_keras:{bad}", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "cannot read it as an HDF5 model file" in err and not out.exists()


# --- end to end (tiny preset, local Ray, MLflow) ----------------------------------------------


def _parent_and_children(out: Path):
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("layer_combos")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if "raymir.sweep" in r.data.tags)
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return client, parent, children


@pytest.mark.slow  # the 12-layer embeddings sweep runs the same path in the default suite
def test_layer_combos_probes_a_folder_of_embeddings_alone(ray_session, tmp_path):
    folder = write_embeddings(tmp_path / "emb")  # layer 2 (16-d) carries the labels; layers 1 (8-d) and 3 (4-d) are noise
    out = tmp_path / "out"
    assert main(["layer_combos", "--preset", "tiny", "--encoder", f"embeddings:{folder}", "--set", "features.layers=[]",
                 "--output", str(out)]) == 0
    client, parent, children = _parent_and_children(out)
    p = parent.data.params
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_clips"] == 60
    assert (p["encoder.kind"], p["encoder.path"], p["encoder.sha256"]) == ("embeddings", str(folder),
                                                                           load_embeddings(folder).sha256)
    assert all(r.data.tags["raymir.trial"] != "pretrain" for r in children)  # nothing pretrained
    assert not (out / "cache" / "corpus").exists() and not (out / "cache" / "pretrain").exists()  # no audio at all
    combos = {"1", "2", "3", "12", "13", "23", "123"}
    assert {(r.data.params["task"], r.data.params["feature"], r.data.params["layers"]) for r in children} == \
        {(t, "convnet", c) for t in ("mood", "energy") for c in combos}
    assert all(r.info.status == "FINISHED" for r in children)
    width = {r.data.params["layers"]: int(r.data.params["n_features"]) for r in children}
    assert width["13"] == 12 and width["123"] == 28  # the layers' own widths, concatenated
    for task, metric in (("mood", "cv_accuracy"), ("energy", "cv_r2")):
        score = {r.data.params["layers"]: r.data.metrics[metric] for r in children if r.data.params["task"] == task}
        assert min(v for c, v in score.items() if "2" in c) > max(v for c, v in score.items() if "2" not in c) + 0.2
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/results.csv", "report/mood.png", "report/energy.png"} <= report


def test_layer_combos_probes_the_released_choi_model_without_pretraining(ray_session, tmp_path):
    from test_keras_release import choi_layers, choi_weights, write_keras_h5

    from raymir import cache
    from raymir.data.synthetic import load_synthetic
    from raymir.extract import feature_key, layer_features
    from raymir.models.keras_release import load_choi2017
    from raymir.recipes.layer_combos import probe_grids

    model = tmp_path / "model_best.hdf5"
    write_keras_h5(model, choi_weights(), choi_layers())  # the release's layout, random weights
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    out = tmp_path / "out"
    overrides = ("probe.tasks=[genre]", "features.layers=['1','12345']")
    assert main(["layer_combos", "--preset", "tiny", "--encoder", f"choi2017_keras:{model}", "--output", str(out),
                 *(a for o in overrides for a in ("--set", o))]) == 0
    client, parent, children = _parent_and_children(out)
    p = parent.data.params
    assert (p["encoder.kind"], p["encoder.path"], p["encoder.sha256"]) == ("choi2017_keras", str(model), sha)
    assert all(r.data.tags["raymir.trial"] != "pretrain" for r in children)  # no pretraining child run
    assert not client.search_logged_models([parent.info.experiment_id])  # and no trained encoder logged
    cfg = load_sweep("layer_combos", preset="tiny", overrides=overrides)
    assert {(r.data.params["feature"], r.data.params["layers"]) for r in children} == \
        {(g.feature, g.layers) for g in probe_grids(cfg)}  # convnet, random, mfcc, convnet+mfcc as today
    assert all(r.info.status == "FINISHED" for r in children)
    cache_root = out / "cache"
    assert not (cache_root / "pretrain").exists() and len(list((cache_root / "corpus").iterdir())) == 1  # genre only
    genre = load_synthetic(cfg.corpus, sr=cfg.mel.sr, cache_root=cache_root, names=("genre",))["genre"]
    key = {"encoder": "choi2017_keras", "sha256": sha, "options": CHOI_RELEASE_OPTIONS, "mel": asdict(CHOI_MEL)}
    stored = cache.path_of(cache_root, "features", feature_key("convnet", genre.key, key))
    assert cache.is_done(stored)  # under the file's sha256 and the release's options
    net, _ = load_choi2017(model)
    np.testing.assert_allclose(np.load(stored / "features.npy")[:2],
                               layer_features(net, genre.audio[:2], n_samples=cfg.mel.n_samples), rtol=1e-4, atol=1e-5)


def test_twelve_layers_of_embeddings_cumulative_combinations_and_learned_weights(ray_session, tmp_path):
    from raymir.config import combo_name

    # layer 7 carries both labels; 150 rows, as 40 training rows let the weighting fit the energy to noise layers
    folder = write_embeddings(tmp_path / "emb", n=150, widths=(4,) * 12, informative=7)
    out = tmp_path / "out"
    overrides = ("features.layers=[cumulative]", "weighting.enabled=true", "probe.C=[1.0]",
                 "probe.gamma=['2^-3']", "probe.kernels=[linear]", "probe.scaler=[true]", "probe.nested=false")
    assert main(["layer_combos", "--preset", "tiny", "--encoder", f"embeddings:{folder}", "--output", str(out),
                 *(a for o in overrides for a in ("--set", o))]) == 0
    client, parent, children = _parent_and_children(out)
    cumulative = {combo_name(tuple(range(1, k + 1)), 12) for k in range(1, 13)}
    assert "1+2+3+4+5+6+7+8+9+10+11+12" in cumulative
    assert {(r.data.params["task"], r.data.params["layers"]) for r in children} == \
        {(t, c) for t in ("mood", "energy") for c in cumulative | {"weighted"}}
    assert all(r.info.status == "FINISHED" for r in children)
    weighted = [r for r in children if r.data.params["layers"] == "weighted"]
    for run in weighted:
        weights = [run.data.metrics[f"layer_weight_{i}"] for i in range(1, 13)]
        assert abs(sum(weights) - 1) < 1e-4 and max(range(12), key=weights.__getitem__) == 6  # layer 7
        assert run.data.params["kernel"] == "-" and run.data.params["engine"] == "layer weighting, linear head"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"grid.csv", "layer_weights.png"} <= artifacts
    mood = next(r for r in weighted if r.data.params["task"] == "mood").data.metrics
    assert mood["cv_accuracy"] > 0.8 and mood["nested_accuracy"] == mood["cv_accuracy"]  # chance: 1/3
    report = Path(client.download_artifacts(parent.info.run_id, "report", str(tmp_path)))
    with (report / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["task"], r["layers"]) for r in rows) == sorted((t, c) for t in ("mood", "energy")
                                                                    for c in cumulative | {"weighted"})
    assert (report / "mood.png").is_file() and (report / "energy.png").is_file()
    text = (report / "report.txt").read_text()
    assert "convnet       weighted" in text and "layer weighting, linear head" in text
