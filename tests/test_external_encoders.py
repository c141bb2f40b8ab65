"""Any encoder through two entry points: a torch module from a factory, a module in the HEAR API
(``raymir.encoders``): windows, resampling and pooling; the checks on load; clips an encoder fails on; state_dict
weights; and ``layer_combos`` probing such encoders end to end."""

import csv
import hashlib

import numpy as np
import pytest
import torch
from test_encoders import _parent_and_children

from raymir.config import EncoderConfig, load_sweep
from raymir.encoders import load_encoder
from raymir.encoders.windows import average_windows, cut, n_windows, pool, resample
from raymir.errors import ModelFileError
from raymir.sweep import main

# A 3-layer conv net at 8 kHz. Layers 1 and 2 are [batch, channels, time], layer 3 is [batch, channels].
# The other factories are broken on purpose, one way each.
TORCH_MODULE = '''
import torch
from torch import nn

LOUD = 0.5  # fragile(): a clip whose peak exceeds this makes the net raise (a whole batch, or the clip alone)


class Tiny(nn.Module):
    sample_rate = 8000

    def __init__(self, fault=""):
        super().__init__()
        self.fault = fault
        self.c1 = nn.Conv1d(1, 4, 64, stride=32)
        self.c2 = nn.Conv1d(4, 6, 8, stride=4)
        self.c3 = nn.Conv1d(6, 5, 4, stride=2)

    def layer_outputs(self, y):
        if self.fault == "fragile" and (y.abs().amax(dim=1) > LOUD).any():
            raise RuntimeError("clip too loud for this net")
        a = torch.relu(self.c1(y[:, None]))
        b = torch.relu(self.c2(a))
        c = torch.relu(self.c3(b)).mean(-1)
        if self.fault == "rank":
            b = b[..., None]
        if self.fault == "batch":
            c = c[:1]
        if self.fault == "nan":
            c = c * float("nan")
        return [a, b, c]


def make():
    return Tiny()


def fragile():
    return Tiny("fragile")


def wrong_rank():
    return Tiny("rank")


def wrong_batch():
    return Tiny("batch")


def nan_out():
    return Tiny("nan")


def raises():
    raise OSError("checkpoint download failed")


def not_a_module():
    return "a string"


def no_rate():
    net = Tiny()
    net.sample_rate = None
    return net


def no_layers():
    net = nn.Linear(2, 2)
    net.sample_rate = 8000
    return net


NOT_CALLABLE = 3
'''

# A module in the HEAR API: 8 kHz, scene embedding [n, 4] (clip statistics), timestamp embeddings
# [n, frames, 3] (per-frame mean, std and peak of 1000-sample frames).
HEAR_MODULE = '''
import torch


class Model(torch.nn.Module):
    sample_rate = 8000
    scene_embedding_size = 4
    timestamp_embedding_size = 3

    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = gain


def load_model(model_file_path=""):
    return Model(float(open(model_file_path).read()) if model_file_path else 1.0)


def get_timestamp_embeddings(audio, model):
    frames = audio[:, : audio.shape[1] // 1000 * 1000].reshape(len(audio), -1, 1000)
    emb = torch.stack([frames.mean(-1), frames.std(-1), frames.abs().amax(-1)], dim=-1) * model.gain
    return emb, torch.arange(emb.shape[1], dtype=torch.float32)[None].repeat(len(audio), 1) * 125.0


def get_scene_embeddings(audio, model):
    return torch.stack([audio.mean(1), audio.std(1), audio.abs().amax(1), (audio ** 2).mean(1)], dim=-1) * model.gain
'''




def torch_encoder(torch_file, factory="make", **kw):
    return EncoderConfig(kind="torch", path=f"{torch_file}:{factory}", **kw)


def seeded(e: EncoderConfig):
    """The encoder of ``e`` with the factory's weights drawn from seed 0: two loads, the same net."""
    torch.manual_seed(0)
    return load_encoder(e)


# --- windows, resampling, pooling --------------------------------------------------------------


def test_pooling_keeps_2d_outputs_and_pools_time_by_mean_max_or_mean_and_std():
    out = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]]])  # [batch 1, channels 2, time 3]
    assert pool(out, "mean").tolist() == [[2.0, 2.0]]
    assert pool(out, "max").tolist() == [[3.0, 6.0]]
    # the means, then the population standard deviations: std(1, 2, 3) = √(2/3), std(0, 0, 6) = √8
    np.testing.assert_allclose(pool(out, "mean+std").numpy(), [[2.0, 2.0, np.sqrt(2 / 3), np.sqrt(8.0)]], rtol=1e-6)
    flat2d = torch.arange(6.0).reshape(2, 3)
    for how in ("mean", "max", "mean+std"):
        assert torch.equal(pool(flat2d, how), flat2d)  # [batch, channels] is already pooled
    with pytest.raises(ValueError, match="pooling 'median'"):
        pool(out, "median")


def test_windows_cut_clip_major_tile_short_clips_and_drop_the_remainder():
    y = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    assert cut(y, 0) is not None and cut(y, 0).shape == (2, 10)  # 0: the whole clip is one window
    w = cut(y, 4)  # 2 whole windows per clip; the last 2 samples of each clip are dropped
    assert w.shape == (4, 4) and n_windows(10, 4) == 2
    assert w[:, 0].tolist() == [0, 4, 10, 14]  # clip 0's windows, then clip 1's
    short = cut(y[:, :3], 5)  # shorter than a window: tiled to it
    assert short.shape == (2, 5) and short[0].tolist() == [0, 1, 2, 0, 1]
    x = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 0.0], [7.0, 0.0]])  # 2 clips × 2 windows
    assert average_windows(x, 2).tolist() == [[2.0, 15.0], [6.0, 0.0]]


def test_resampling_changes_the_length_by_the_ratio_and_keeps_a_tone():
    t = np.arange(12000) / 12000
    y = np.stack([np.sin(2 * np.pi * 440 * t), np.ones(12000)]).astype(np.float32)
    z = resample(y, 12000, 8000)
    assert z.shape == (2, 8000) and z.dtype == np.float32
    assert resample(y, 8000, 8000) is not None and resample(y, 8000, 8000).shape == (2, 12000)
    spectrum = np.abs(np.fft.rfft(z[0]))
    assert np.argmax(spectrum) == 440  # 1 s at 8 kHz: bin k is k Hz
    np.testing.assert_allclose(z[1, 1000:7000], 1.0, atol=1e-3)  # a constant stays constant away from the edges


# --- load_encoder: a torch factory ---------------------------------------------------------------


def test_a_torch_factory_gives_an_encoder_with_its_layers_widths_and_digest(torch_file):
    e = load_encoder(torch_encoder(torch_file, pooling="mean+std"))
    assert (e.kind, e.sr, e.n_layers, e.widths) == ("torch", 8000, 3, (8, 12, 5))  # mean+std doubles 3-d layers
    assert e.name == "tiny_encoder:make" and len(e.sha256) == 64
    assert e.params == {"kind": "torch", "path": f"{torch_file}:make", "sha256": e.sha256, "pooling": "mean+std",
                        "window_seconds": 0.0}
    assert e.sha256 == hashlib.sha256(len(TORCH_MODULE.encode()).to_bytes(8, "little")
                                      + TORCH_MODULE.encode()).hexdigest()  # the module's source file alone
    layers, failed = e.embed(np.random.default_rng(0).normal(0, 0.1, (5, 12000)).astype(np.float32), 12000,
                             batch_size=2)
    assert [a.shape for a in layers] == [(5, 8), (5, 12), (5, 5)] and failed == {}
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in layers)


def test_features_are_the_mean_of_the_windows_features(torch_file):
    y = np.random.default_rng(1).normal(0, 0.1, (3, 24000)).astype(np.float32)  # 3 s at 8 kHz
    whole = seeded(torch_encoder(torch_file))
    windowed = seeded(torch_encoder(torch_file, window_seconds=1.0))
    assert windowed.params["window_seconds"] == 1.0 and windowed.params != whole.params
    layers, _ = windowed.embed(y, 8000, batch_size=4)
    per_window, _ = whole.embed(y.reshape(9, 8000), 8000)  # each second as a clip of its own
    for a, b in zip(layers, per_window):
        np.testing.assert_allclose(a, b.reshape(3, 3, -1).mean(axis=1), rtol=1e-5, atol=1e-6)
    # clips at another rate are resampled first
    at_16k, _ = whole.embed(resample(y, 8000, 16000), 16000)
    at_8k, _ = whole.embed(resample(resample(y, 8000, 16000), 16000, 8000), 8000)
    for a, b in zip(at_16k, at_8k):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_module_given_by_its_importable_name(torch_file, monkeypatch):
    monkeypatch.syspath_prepend(str(torch_file.parent))
    e = load_encoder(EncoderConfig(kind="torch", path="tiny_encoder:make"))
    assert e.n_layers == 3 and e.name == "tiny_encoder:make"
    assert e.sha256 == load_encoder(torch_encoder(torch_file)).sha256  # the same file, the same digest


BROKEN = {  # factory (or path) → fragments the message must hold
    "missing_module": ("no_such_encoder_module_xyz:make", ["cannot import the module 'no_such_encoder_module_xyz'"]),
    "missing_factory": ("{file}:build", ["{file} has no factory 'build'", "make"]),
    "not_callable": ("{file}:NOT_CALLABLE", ["{file}:NOT_CALLABLE is a int, not a callable factory"]),
    "factory_raises": ("{file}:raises", ["calling {file}:raises() raised OSError: checkpoint download failed"]),
    "not_a_module": ("{file}:not_a_module", ["{file}:not_a_module() returned a str, not a torch.nn.Module"]),
    "no_sample_rate": ("{file}:no_rate", ["needs an int attribute sample_rate", "found None"]),
    "no_layer_outputs": ("{file}:no_layers", ["(Linear) has no method layer_outputs"]),
    "wrong_rank": ("{file}:wrong_rank", ["the module of {file}:wrong_rank: layer 2 has shape [2, 6, 61, 1]; expected "
                                         "[batch=2, channels] or [batch=2, channels, time]"]),
    "wrong_batch": ("{file}:wrong_batch", ["layer 3 has shape [1, 5]; expected [batch=2, channels]"]),
    "nan_output": ("{file}:nan_out", ["layer 3 (shape [2, 5]) holds NaN or infinite values on the test signal"]),
    "missing_file": ("{file}.py:make", ["{file}.py' is not a file"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_torch_encoder_stops_on_load_naming_what_is_wrong(torch_file, case):
    path, fragments = BROKEN[case]
    with pytest.raises(ModelFileError) as e:
        load_encoder(EncoderConfig(kind="torch", path=path.format(file=torch_file)))
    for fragment in fragments:
        assert fragment.format(file=torch_file) in str(e.value)


def test_a_clip_the_encoder_fails_on_gets_nan_rows_and_its_message_while_the_others_get_features(torch_file):
    y = np.random.default_rng(2).normal(0, 0.05, (5, 8000)).astype(np.float32)
    y[3, 100] = 0.9  # too loud for fragile(): its batch raises, then it alone
    good = seeded(torch_encoder(torch_file)).embed(y, 8000, batch_size=2)[0]
    layers, failed = seeded(torch_encoder(torch_file, "fragile")).embed(y, 8000, batch_size=2)
    assert list(failed) == [3] and "RuntimeError: clip too loud for this net" in failed[3]
    for a, b in zip(layers, good):
        assert np.isnan(a[3]).all()
        np.testing.assert_allclose(np.delete(a, 3, axis=0), np.delete(b, 3, axis=0), rtol=1e-5, atol=1e-6)


# --- weights --------------------------------------------------------------------------------------


def test_a_state_dict_is_loaded_with_weights_only_and_changes_the_digest(torch_file, tmp_path):
    from raymir.encoders.source import import_code

    net = import_code(str(torch_file)).make()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.01)
    weights = tmp_path / "weights.pt"
    torch.save(net.state_dict(), weights)
    e = load_encoder(torch_encoder(torch_file, weights=str(weights)))
    plain = load_encoder(torch_encoder(torch_file))
    assert e.sha256 != plain.sha256 and e.params["sha256"] == e.sha256
    y = np.random.default_rng(3).normal(0, 0.1, (2, 8000)).astype(np.float32)
    with torch.no_grad():
        expected = [out.numpy() if out.ndim == 2 else out.mean(-1).numpy()
                    for out in net.eval().layer_outputs(torch.from_numpy(y))]
    for a, b in zip(e.embed(y, 8000)[0], expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    twin = load_encoder(torch_encoder(torch_file, weights=str(weights)), random_seed=1)
    assert twin.params["random_seed"] == 1 and twin.sha256 == plain.sha256  # the module's code, not the weights
    assert not np.allclose(twin.embed(y, 8000)[0][2], e.embed(y, 8000)[0][2])


class Payload:
    """Pickled into a weights file: weights_only must refuse to rebuild it (unpickling can run code)."""


def test_a_weights_file_holding_pickled_objects_is_refused(torch_file, tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"c1.weight": Payload()}, bad)
    with pytest.raises(ModelFileError) as e:
        load_encoder(torch_encoder(torch_file, weights=str(bad)))
    assert f"encoder.weights: {bad}" in str(e.value) and "weights_only=True" in str(e.value)
    wrong = tmp_path / "wrong.pt"
    torch.save({"c1.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ModelFileError, match=r"does not fit the module of .*:make"):
        load_encoder(torch_encoder(torch_file, weights=str(wrong)))


# --- HEAR ---------------------------------------------------------------------------------------


def test_a_hear_module_gives_its_scene_and_pooled_timestamp_embeddings(hear_file, monkeypatch, tmp_path):
    e = load_encoder(EncoderConfig(kind="hear", path=str(hear_file), pooling="mean+std"))
    assert (e.kind, e.sr, e.widths, e.name) == ("hear", 8000, (4, 6), "tiny_hear")
    y = np.random.default_rng(4).normal(0, 0.1, (3, 16000)).astype(np.float32)
    (scene, frames), failed = e.embed(y, 8000)
    assert failed == {}
    np.testing.assert_allclose(scene[:, 0], y.mean(1), atol=1e-6)
    per_frame_std = y.reshape(3, 16, 1000).std(-1, ddof=1)  # the module's torch.std: sample std per frame
    np.testing.assert_allclose(frames[:, 1], per_frame_std.mean(1), rtol=1e-5)  # mean over frames …
    np.testing.assert_allclose(frames[:, 4], per_frame_std.std(1), rtol=1e-4, atol=1e-6)  # … then their std
    monkeypatch.syspath_prepend(str(tmp_path))
    gain = tmp_path / "gain.txt"
    gain.write_text("2.0")
    named = load_encoder(EncoderConfig(kind="hear", path="tiny_hear", weights=str(gain)))  # → load_model(gain.txt)
    np.testing.assert_allclose(named.embed(y, 8000)[0][0], 2 * e.embed(y, 8000)[0][0], rtol=1e-5)
    assert named.sha256 != e.sha256  # the model file is part of what defines it


@pytest.mark.parametrize("case", ["no_api", "wrong_width", "flat_frames"])
def test_a_broken_hear_module_stops_on_load_naming_what_is_wrong(hear_file, case):
    src = HEAR_MODULE
    if case == "no_api":
        src, fragment = src.replace("def get_scene_embeddings", "def scene"), "no get_scene_embeddings"
    elif case == "wrong_width":
        src, fragment = src.replace("scene_embedding_size = 4", "scene_embedding_size = 5"), \
            "layer 1: width 4 (shape (2, 4)), but the model declares scene_embedding_size 5"
    else:
        src, fragment = src.replace("return emb, torch", "return emb.mean(1), torch"), \
            "layer 2: get_timestamp_embeddings gave embeddings of shape (2, 3); expected [n=2, frames, d]"
    hear_file.write_text(src)
    with pytest.raises(ModelFileError) as e:
        load_encoder(EncoderConfig(kind="hear", path=str(hear_file)))
    assert str(hear_file) in str(e.value) and fragment in str(e.value)


# --- layer_combos ------------------------------------------------------------------------------


def test_layer_combos_takes_torch_and_hear_encoders_and_checks_them(torch_file, hear_file, capsys):
    assert main(["layer_combos", "--encoder", f"torch:{torch_file}:make", "--set", "features.layers=[]",
                 "--set", "probe.tasks=[genre]", "--check"]) == 0
    out = capsys.readouterr().out  # 7 convnet combinations + mfcc + convnet+mfcc: no random twin without weights
    assert "ok (9 probe grids in 3 Ray Tune trials; features of the torch module" in out
    assert main(["layer_combos", "--encoder", f"hear:{hear_file}", "--set", "features.layers=['2','12']",
                 "--set", "probe.tasks=[genre]", "--check"]) == 0
    assert "ok (4 probe grids in 3 Ray Tune trials; features of the HEAR module" in capsys.readouterr().out
    assert main(["layer_combos", "--preset", "tiny", "--encoder", f"torch:{torch_file}:make", "--check"]) == 2  # tiny's layers
    err = capsys.readouterr().err
    assert "features.layers: '5' is not a layer combination of 3 layers" in err and "the torch encoder" in err
    assert main(["layer_combos", "--encoder", f"torch:{torch_file}:wrong_batch", "--check"]) == 2
    assert "layer 3 has shape [1, 5]" in capsys.readouterr().err
    out = torch_file.parent / "out"
    assert main(["layer_combos", "--encoder", f"torch:{torch_file}:nan_out", "--output", str(out)]) == 2
    assert "layer 3 (shape [2, 5]) holds NaN" in capsys.readouterr().err
    assert not out.exists()  # no MLflow store, no Ray state: it stopped before either
    cfg = load_sweep("layer_combos", overrides=("encoder.kind=hear", "encoder.path=some_module", "mel.sr=16000"))
    assert cfg.encoder.kind == "hear"  # the mel section is the released Choi model's concern, not theirs


def test_clips_an_encoder_fails_on_leave_the_task_with_their_labels_groups_and_predefined_folds(torch_file, tmp_path):
    from raymir.data.subset import Subset, TargetTask
    from raymir.recipes.layer_combos import encoder_stage, task_data

    y = np.random.default_rng(5).normal(0, 0.05, (6, 8000)).astype(np.float32)
    y[2, 10] = 0.9  # fragile() fails on it
    sub = Subset(name="x", audio=y, sr=8000, labels={"mood": np.array([0, 1, 0, 1, 0, 1])},
                 classes={"mood": ["a", "b"], "path": [f"c{i}.wav" for i in range(6)]},
                 groups=np.array([0, 0, 1, 1, 2, 2]), folds=np.array([1, 1, 2, 2, 3, 3]))
    cfg = load_sweep("layer_combos", preset="tiny")
    encoders = {"convnet": seeded(torch_encoder(torch_file, "fragile"))}
    kept, features, skipped = encoder_stage(cfg, {"x": sub}, encoders, cache_root=tmp_path / "cache")
    assert [(s.path, "clip too loud" in s.reason) for s in skipped["x"]] == [("c2.wav", True)]
    k = kept["x"]
    assert len(k) == 5 and k.labels["mood"].tolist() == [0, 1, 1, 0, 1] and k.groups.tolist() == [0, 0, 1, 2, 2]
    assert k.folds.tolist() == [1, 1, 2, 3, 3] and k.classes["path"] == ["c0.wav", "c1.wav", "c3.wav", "c4.wav", "c5.wav"]
    assert [a.shape[0] for a in features["x"]["convnet"]] == [5, 5, 5] and features["x"]["mfcc"].shape == (5, 120)
    assert all(np.isfinite(a).all() for a in features["x"]["convnet"])
    np.testing.assert_array_equal(k.audio, np.delete(y, 2, axis=0))
    tasks = task_data(cfg, kept, [TargetTask("mood", "x", "mood", "classification")], features)
    assert [f.tolist() for f in tasks["mood"].folds] == [[0, 1], [2], [3, 4]]  # the predefined folds, less row 2


def test_layer_combos_probes_every_combination_of_a_torch_encoders_layers(ray_session, tmp_path, torch_file):
    from raymir.data.synthetic import load_synthetic

    out = tmp_path / "out"
    overrides = ("probe.tasks=[genre]", "features.layers=[]")
    cfg = load_sweep("layer_combos", preset="tiny", overrides=overrides)
    genre = load_synthetic(cfg.corpus, sr=cfg.mel.sr, cache_root=out / "cache", names=("genre",))["genre"]
    peaks = np.abs(resample(np.asarray(genre.audio), genre.sr, 8000)).max(axis=1)
    loudest = int(np.argmax(peaks))  # the one clip fragile() fails on: set its limit between the two loudest
    torch_file.write_text(TORCH_MODULE.replace("LOUD = 0.5", f"LOUD = {float(np.mean(np.sort(peaks)[-2:]))!r}"))
    weights = tmp_path / "weights.pt"
    from raymir.encoders.source import import_code
    torch.save(import_code(str(torch_file)).make().state_dict(), weights)
    assert main(["layer_combos", "--preset", "tiny", "--encoder", f"torch:{torch_file}:fragile", "--output", str(out),
                 "--set", f"encoder.weights={weights}", *(a for o in overrides for a in ("--set", o))]) == 0
    client, parent, children = _parent_and_children(out)
    p = parent.data.params
    sha = load_encoder(EncoderConfig(kind="torch", path=f"{torch_file}:fragile", weights=str(weights))).sha256
    assert (p["encoder.kind"], p["encoder.path"], p["encoder.sha256"]) == ("torch", f"{torch_file}:fragile", sha)
    assert parent.info.status == "FINISHED"
    assert all(r.data.tags["raymir.trial"] != "pretrain" for r in children)  # nothing pretrained
    assert not (out / "cache" / "pretrain").exists()
    combos = {"1", "2", "3", "12", "13", "23", "123"}
    assert {(r.data.params["feature"], r.data.params["layers"]) for r in children} == \
        {(f, c) for f in ("convnet", "random") for c in combos} | {("mfcc", "-"), ("convnet+mfcc", "123")}
    assert all(r.info.status == "FINISHED" for r in children)
    width = {(r.data.params["feature"], r.data.params["layers"]): int(r.data.params["n_features"]) for r in children}
    assert width["convnet", "123"] == 4 + 6 + 5 and width["convnet+mfcc", "123"] == 15 + 120
    # the clip the encoder failed on is left out of the probes and recorded, as a dataset's unreadable clips are
    assert parent.data.metrics["n_encoder_skipped.genre"] == 1
    local = client.download_artifacts(parent.info.run_id, "data/encoder_skipped/genre.csv", str(tmp_path))
    rows = list(csv.DictReader(open(local)))
    assert [r["path"] for r in rows] == [f"genre row {loudest}"] and "clip too loud" in rows[0]["reason"]


@pytest.mark.slow  # a whole sweep; the torch one runs the same stages in the default suite
def test_layer_combos_probes_a_hear_module_without_a_random_baseline(ray_session, tmp_path, hear_file, capsys):
    out = tmp_path / "out"
    assert main(["layer_combos", "--preset", "tiny", "--encoder", f"hear:{hear_file}", "--output", str(out),
                 "--set", "probe.tasks=[genre]", "--set", "features.layers=[]"]) == 0
    assert "no 'random' baseline for a HEAR module" in capsys.readouterr().out
    _, parent, children = _parent_and_children(out)
    assert parent.data.params["encoder.sha256"] == load_encoder(EncoderConfig(kind="hear", path=str(hear_file))).sha256
    assert {(r.data.params["feature"], r.data.params["layers"]) for r in children} == \
        {("convnet", "1"), ("convnet", "2"), ("convnet", "12"), ("mfcc", "-"), ("convnet+mfcc", "12")}
    assert all(r.info.status == "FINISHED" for r in children)


def test_the_park_release_is_a_five_layer_encoder_with_an_untrained_twin(tmp_path, capsys):
    """park2017_keras in layer_combos: the tower's five blocks (128 × 4, 256 channels) from Park's front end; the
    file's sha256; a random twin of the same tower and options; a foreign file refused before anything starts."""
    from test_keras_release import park_layers, park_weights, write_keras_h5

    from raymir.models.keras_release import load_park2017
    from raymir.models.park2017 import ParkFrontend, track_feature
    from raymir.sweep import main

    path = tmp_path / "model_siamese_10000.h5"
    write_keras_h5(path, park_weights(), park_layers(siamese=True))
    e = EncoderConfig(kind="park2017_keras", path=str(path))
    enc = load_encoder(e)
    assert (enc.n_layers, enc.widths, enc.sr) == (5, (128, 128, 128, 128, 256), 22050)
    assert enc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    twin = load_encoder(e, random_seed=1)
    assert twin.sha256 != enc.sha256 and twin.widths == enc.widths
    y = 0.1 * np.random.default_rng(0).standard_normal((2, 3 * 22050)).astype(np.float32)
    layers, failed = enc.embed(y, 22050)
    assert not failed and [a.shape for a in layers] == [(2, 128)] * 4 + [(2, 256)]
    net, _ = load_park2017(path)  # the last block, max over time, is the paper's track feature of one segment
    with torch.no_grad():
        last = net.maps(ParkFrontend()(torch.from_numpy(y))).mean(dim=2).numpy()
    np.testing.assert_allclose(layers[4], last, rtol=1e-4, atol=1e-5)
    assert track_feature(net, ParkFrontend()(torch.from_numpy(y))).shape == (2, 256)
    assert main(["layer_combos", "--encoder", f"park2017_keras:{path}", "--check"]) == 0
    assert "448 probe grids" in capsys.readouterr().out  # 7 tasks × (31 convnet + 31 random + MFCC + all + MFCC)
    bad = tmp_path / "other.h5"
    write_keras_h5(bad, park_weights(), [n.replace("conv1d_3", "conv1d_9") for n in park_layers(siamese=True)])
    assert main(["layer_combos", "--encoder", f"park2017_keras:{bad}", "--check"]) == 2
    assert "conv1d_3" in capsys.readouterr().err
