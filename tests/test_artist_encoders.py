"""artist_labels and artist_tags with a given encoder: the encoder section's checks, a bad model file stopping
before anything starts, the release's track features (cached by content, a random-weights twin seeded as today's
baseline), and both sweeps end to end on fixture files in the releases' layouts (random weights)."""

import hashlib
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from test_external_encoders import TORCH_MODULE
from test_keras_release import choi_layers, choi_weights, park_layers, park_weights, write_keras_h5

from raymir import cache
from raymir.config import PARK_MEL, ConfigError, EncoderConfig, load_sweep
from raymir.encoders import load_encoder
from raymir.errors import ModelFileError
from raymir.models.keras_release import PARK_RELEASE_OPTIONS, load_park2017
from raymir.models.park2017 import Park2017, ParkFrontend, track_feature
from raymir.probes.suite import ProbeSet, drop_rows
from raymir.recipes import artist_labels, artist_tags
from raymir.recipes.given_encoder import (
    choi_feature,
    given_feature,
    load_release,
    park_params,
    park_track_features,
    random_choi,
    random_twin,
    track_features,
)
from raymir.session import flat, parent_params
from raymir.sweep import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def siamese(tmp_path):
    path = tmp_path / "model_siamese_10000.h5"
    write_keras_h5(path, park_weights(), park_layers(siamese=True))
    return path


@pytest.fixture
def choi(tmp_path):
    path = tmp_path / "model_best.hdf5"
    write_keras_h5(path, choi_weights(), choi_layers())
    return path


def _problems(sweep, *overrides):
    with pytest.raises(ConfigError) as e:
        load_sweep(sweep, overrides=overrides)
    return str(e.value)


# --- the encoder section ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sweep", ["artist_labels", "artist_tags"])
def test_embeddings_are_refused_naming_the_key(sweep, tmp_path):
    text = _problems(sweep, "encoder.kind=embeddings", f"encoder.path={tmp_path}")
    assert "encoder.kind: embeddings carry their own labels; probe them with layer_combos --encoder embeddings:PATH" in text


def test_a_changed_mel_a_missing_path_and_inapplicable_layers_are_named(tmp_path):
    text = _problems("artist_labels", "encoder.kind=park2017_keras", "mel.sr=16000", "encoder.layers='5'")
    for needle in ("encoder.path: required with encoder.kind park2017_keras", "mel: the released Park 2017 artist "
                   "model's front end is fixed", "(changed: sr 16000 → 22050)", "encoder.layers: the Park 2017 track "
                   "feature is its last conv layer's", "got '5'"):
        assert needle in text, needle
    text = _problems("artist_tags", "encoder.kind=choi2017_keras", f"encoder.path={tmp_path / 'nope.hdf5'}",
                     "mel.n_mels=128", "encoder.layers='6'", "data.source.dataset=mtat", f"data.source.path={tmp_path}")
    for needle in (f"encoder.path: '{tmp_path / 'nope.hdf5'}' is not a file (the released model_best.hdf5)",
                   "mel: the released Choi 2017 tagger's front end is fixed", "(changed: n_mels 128 → 96)",
                   "encoder.layers: '6' is not a layer combination of 5 layers", "(the Choi 2017 tagger",
                   "data.source: encoder.kind choi2017_keras gives the encoder, nothing is pretrained"):
        assert needle in text, needle


def test_either_release_on_either_sweep_needs_its_own_front_end(siamese, choi):
    text = _problems("artist_tags", "encoder.kind=park2017_keras", f"encoder.path={siamese}")
    assert "mel: the released Park 2017 artist model's front end is fixed" in text and "sr 12000 → 22050" in text
    park_mel = tuple(f"mel.{k}={v}" for k, v in asdict(PARK_MEL).items())
    cfg = load_sweep("artist_tags", overrides=("encoder.kind=park2017_keras", f"encoder.path={siamese}", *park_mel))
    assert [r.key for r in artist_tags.tags_runs(cfg)] == ["park2017_keras", "random", "mfcc"]
    choi_mel = ("mel.sr=12000", "mel.n_fft=512", "mel.hop_length=256", "mel.n_mels=96", "mel.fmax=6000.0",
                "mel.duration=29.0")
    cfg = load_sweep("artist_labels", overrides=("encoder.kind=choi2017_keras", f"encoder.path={choi}", *choi_mel))
    assert [r.key for r in artist_labels.artist_runs(cfg)] == ["choi2017_keras", "mfcc", "random"]


def test_models_and_n_artists_do_not_apply_to_a_given_encoder(siamese, choi, capsys):
    assert "n_artists: 5000 exceeds" in _problems("artist_labels", "n_artists=[5000]")  # checked when models train
    args = ["artist_labels", "--encoder", f"park2017_keras:{siamese}", "--set", "n_artists=[5000]", "--check"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"the given encoder park2017_keras ({siamese}) + 2 baselines, no artist model trained (models and " \
           "n_artists do not apply)" in out
    cfg = load_sweep("artist_labels", preset="tiny", overrides=("encoder.kind=park2017_keras", f"encoder.path={siamese}"))
    assert [r.key for r in artist_labels.artist_runs(cfg)] == ["park2017_keras", "mfcc"]  # tiny: baselines [mfcc]
    assert main(["artist_tags", "--encoder", f"choi2017_keras:{choi}", "--check"]) == 0
    assert "its random-weights twin, mfcc; nothing pretrained" in capsys.readouterr().out


def test_embeddings_on_an_artist_sweep_get_one_message(tmp_path, capsys):
    assert main(["artist_tags", "--encoder", f"embeddings:{tmp_path}", "--check"]) == 2
    err = capsys.readouterr().err
    assert "embeddings carry their own labels" in err and "features" not in err  # no features.kinds override here


@pytest.mark.parametrize("sweep", ["artist_labels", "artist_tags"])
def test_a_default_sweeps_parent_params_leave_the_encoder_out(sweep, siamese):
    cfg = load_sweep(sweep)
    later = ("encoder.", "probe.repeats", "probe.repeat_training")  # settings added later, left out at defaults
    assert parent_params(cfg) == {k: v for k, v in flat(asdict(cfg)).items() if not k.startswith(later)}
    given = load_sweep(sweep, overrides=("encoder.kind=park2017_keras", f"encoder.path={siamese}",
                                         *(f"mel.{k}={v}" for k, v in asdict(PARK_MEL).items())))
    p = parent_params(given, encoder_sha256="ef" * 32)
    assert (p["encoder.kind"], p["encoder.path"], p["encoder.sha256"]) == ("park2017_keras", str(siamese), "ef" * 32)


# --- a bad model file -------------------------------------------------------------------------------------


def _damaged(tmp_path, case, choi):
    """A file that is not a Park release: → (path, a fragment of the importer's message)."""
    path = tmp_path / "model_siamese_10000.h5"
    if case == "html":
        path.write_bytes(b"<html>404</html>")
        return path, "cannot read it as an HDF5 model file"
    if case == "truncated":
        write_keras_h5(path, park_weights(), park_layers(siamese=True))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        return path, "cannot read it as an HDF5 model file"
    path.write_bytes(choi.read_bytes())  # another architecture
    return path, "not the Park 2017 artist model raymir can import"


@pytest.mark.parametrize("case", ["html", "truncated", "choi_file"])
def test_a_bad_model_file_stops_before_anything_starts(tmp_path, capsys, case, choi):
    bad, fragment = _damaged(tmp_path, case, choi)
    out = tmp_path / "out"
    assert main(["artist_labels", "--preset", "tiny", "--encoder", f"park2017_keras:{bad}", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: ") and fragment in err
    assert not out.exists()  # no MLflow store, no Ray state, no corpus


def test_the_cli_exits_2_without_a_traceback_on_a_bad_file(tmp_path):
    bad = tmp_path / "model_best.hdf5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    done = subprocess.run([sys.executable, "-m", "raymir.sweep", "artist_tags", "--preset", "tiny", "--encoder",
                           f"choi2017_keras:{bad}", "--output", str(tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert str(bad) in done.stderr and "cannot read it as an HDF5 model file" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


# --- track features ---------------------------------------------------------------------------------------


@dataclass
class Clips:
    """The parts of a Subset that track_features reads."""

    key: str
    audio: np.ndarray
    sr: int = PARK_MEL.sr

    def __len__(self):
        return len(self.audio)


def test_park_track_features_are_the_releases_and_are_cached_for_the_rows_asked(siamese, tmp_path):
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.normal(size=(5, int(3.5 * PARK_MEL.sr)))).astype(np.float32)
    e = load_sweep("artist_labels", overrides=("encoder.kind=park2017_keras", f"encoder.path={siamese}")).encoder
    tf = given_feature(e)
    sha = hashlib.sha256(siamese.read_bytes()).hexdigest()
    assert tf.params == park_params(sha) and tf.info["encoder.sha256"] == sha and tf.info["release"] == "park2017_siamese"
    rows = np.array([1, 3])
    feats, failed = track_features(tf, {"source": Clips("K", audio)}, rows={"source": rows}, cache_root=tmp_path)
    feats = feats["source"]
    assert failed == {"source": {}}
    net, _ = load_park2017(siamese)
    with torch.no_grad():
        want = track_feature(net, ParkFrontend(PARK_MEL)(torch.from_numpy(audio[rows]))).numpy()
    assert feats.shape == (5, 256) and not feats[[0, 2, 4]].any()
    np.testing.assert_allclose(feats[rows], want, rtol=1e-5, atol=1e-6)
    assert net.standardize == PARK_RELEASE_OPTIONS["standardize"]  # the release's mean and std, inside the net
    computed = []
    tf2 = type(tf)(tf.feature, tf.params, lambda a, sr: (computed.append(a) or park_track_features(net, a), {}))
    again = track_features(tf2, {"source": Clips("K", audio)}, rows={"source": rows}, cache_root=tmp_path)[0]["source"]
    assert not computed and np.array_equal(again, feats)  # the same content: read from the cache
    track_features(tf2, {"source": Clips("K", audio)}, cache_root=tmp_path)  # every row: another entry
    assert len(computed) == 1 and len(computed[0]) == 5


def test_random_twins_have_the_release_options_and_todays_seeds(siamese):
    e = load_sweep("artist_labels", overrides=("encoder.kind=park2017_keras", f"encoder.path={siamese}")).encoder
    twin = random_twin(e, seed=1)
    torch.manual_seed(1)  # today's random baseline: train.seed + 1, Park2017(None)
    today = Park2017(None, n_mels=128)
    audio = np.random.default_rng(1).normal(size=(2, int(3.1 * PARK_MEL.sr))).astype(np.float32)
    net = Park2017(None, n_mels=128, **PARK_RELEASE_OPTIONS)
    net.load_state_dict(today.state_dict())  # the options add no weights: the same draw, the release's input scaling
    np.testing.assert_allclose(twin.compute(audio, PARK_MEL.sr)[0], park_track_features(net, audio), rtol=1e-5, atol=1e-6)
    assert twin.feature == "random" and twin.params["options"] == PARK_RELEASE_OPTIONS and "sha256" not in twin.params
    assert random_choi(3).params == random_choi(3).params != random_choi(4).params


def test_choi_feature_concatenates_the_chosen_layers():
    tf = choi_feature(random_choi(1), "random", layers="15")
    stored = np.arange(2 * 5 * 32, dtype=np.float32).reshape(2, 5, 32)
    assert np.array_equal(tf.select(stored), np.concatenate([stored[:, 0], stored[:, 4]], axis=1))
    assert tf.info["layers"] == "15"


# --- end to end (tiny presets, local Ray, MLflow) ---------------------------------------------------------


def _parent_and_children(out: Path, experiment: str):
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    parent = next(r for r in client.search_runs([exp.experiment_id]) if "raymir.sweep" in r.data.tags)
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return parent, children


@pytest.mark.slow  # ~50 s (2 shared cores)
def test_artist_labels_probes_a_released_park_model_without_training(ray_session, tmp_path, siamese):
    from raymir.data.synthetic import load_synthetic
    from raymir.extract import feature_key

    out = tmp_path / "out"
    assert main(["artist_labels", "--preset", "tiny", "--encoder", f"park2017_keras:{siamese}", "--output", str(out),
                 "--set", "baselines=[mfcc, random]"]) == 0
    parent, children = _parent_and_children(out, "artist_labels")
    sha = hashlib.sha256(siamese.read_bytes()).hexdigest()
    p = parent.data.params
    assert (p["encoder.kind"], p["encoder.path"], p["encoder.sha256"]) == ("park2017_keras", str(siamese), sha)
    assert {r.data.params["model"] for r in children} == {"park2017_keras", "mfcc", "random"} and len(children) == 3
    for r in children:
        assert r.info.status == "FINISHED"
        assert {"genre_accuracy", "arousal_r2", "tag_roc_auc", "retrieval_map"} <= set(r.data.metrics)
    given = next(r for r in children if r.data.params["model"] == "park2017_keras")
    assert given.data.params["encoder.sha256"] == sha and given.data.params["release"] == "park2017_siamese"
    cache_root = out / "cache"
    assert not (cache_root / "artist_model").exists() and not (cache_root / "park_inputs").exists()  # nothing trained
    assert not list((out / "ray").glob("park-*"))  # and no Ray Train job ran
    cfg = load_sweep("artist_labels", preset="tiny")
    genre = load_synthetic(cfg.corpus, sr=cfg.mel.sr, cache_root=cache_root, names=("genre",))["genre"]
    stored = cache.path_of(cache_root, "features", feature_key("convnet", genre.key, park_params(sha)))
    assert cache.is_done(stored)  # under the file's sha256 and the release's options
    net, _ = load_park2017(siamese)
    np.testing.assert_allclose(np.load(stored / "features.npy")[:2], park_track_features(net, genre.audio[:2]),
                               rtol=1e-5, atol=1e-6)
    assert "| park2017_keras | - |" in next((out / "reports").glob("*/summary.md")).read_text()


@pytest.mark.slow  # ~50 s
def test_artist_tags_probes_the_released_choi_model_without_pretraining(ray_session, tmp_path, choi):
    out = tmp_path / "out"
    assert main(["artist_tags", "--preset", "tiny", "--encoder", f"choi2017_keras:{choi}", "--output", str(out)]) == 0
    parent, children = _parent_and_children(out, "artist_tags")
    sha = hashlib.sha256(choi.read_bytes()).hexdigest()
    assert (parent.data.params["encoder.kind"], parent.data.params["encoder.sha256"]) == ("choi2017_keras", sha)
    by_model = {r.data.params["model"]: r for r in children}
    assert set(by_model) == {"choi2017_keras", "random", "mfcc"} and len(children) == 3
    assert by_model["choi2017_keras"].data.params["layers"] == "12345" == by_model["random"].data.params["layers"]
    for r in children:
        assert r.info.status == "FINISHED" and {"genre_accuracy", "arousal_r2", "valence_r2"} <= set(r.data.metrics)
    assert not (out / "cache" / "pretrain").exists()


# --- torch and HEAR encoders --------------------------------------------------------------------------------

# Tiny's layers at the artist_labels corpus' rate (no resampling: a clip reaches the net sample for sample), and a
# factory whose net raises on one clip, recognised by its first four samples (MARK, set by the test).
PICKY = TORCH_MODULE + """

MARK = None


class Picky(Tiny):
    sample_rate = 22050

    def layer_outputs(self, y):
        if MARK is not None and (y[:, :4] == torch.tensor(MARK)).all(1).any():
            raise RuntimeError("the marked clip")
        return super().layer_outputs(y)


def picky():
    return Picky()
"""


@pytest.mark.parametrize("sweep", ["artist_labels", "artist_tags"])
def test_torch_and_hear_encoders_are_accepted_on_any_front_end(sweep, torch_file, hear_file):
    for kind, path in (("torch", f"{torch_file}:make"), ("hear", str(hear_file))):
        cfg = load_sweep(sweep, overrides=(f"encoder.kind={kind}", f"encoder.path={path}", "mel.sr=16000",
                                           "encoder.layers='12'"))
        assert (cfg.encoder.kind, cfg.encoder.layers, cfg.mel.sr) == (kind, "12", 16000)
    text = _problems(sweep, "encoder.kind=torch", f"encoder.path={torch_file}:make", "encoder.layers=all")
    assert "encoder.layers: 'all' is not a layer combination ('3', '123'; from 10 layers on '1+2+12'; empty: the " \
           "last layer)" in text


def test_the_random_trial_needs_a_torch_module_with_weights(torch_file, hear_file, tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"")
    torch_runs = {w: load_sweep("artist_labels", overrides=("encoder.kind=torch", f"encoder.path={torch_file}:make",
                                                             *((f"encoder.weights={weights}",) if w else ())))
                  for w in (False, True)}
    assert [r.key for r in artist_labels.artist_runs(torch_runs[False])] == ["torch", "mfcc"]
    assert [r.key for r in artist_labels.artist_runs(torch_runs[True])] == ["torch", "mfcc", "random"]
    hear = load_sweep("artist_tags", overrides=("encoder.kind=hear", f"encoder.path={hear_file}"))
    assert [r.key for r in artist_tags.tags_runs(hear)] == ["hear", "mfcc"]
    with_layers = load_sweep("artist_tags", overrides=("encoder.kind=torch", f"encoder.path={torch_file}:make",
                                                       f"encoder.weights={weights}", "encoder.layers='13'"))
    assert [r.key for r in artist_tags.tags_runs(with_layers)] == ["torch/13", "random/13", "mfcc"]


@pytest.mark.parametrize("sweep", ["artist_labels", "artist_tags"])
def test_encoder_layers_beyond_the_encoders_layers_stop_on_load(sweep, torch_file, hear_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([sweep, "--preset", "tiny", "--encoder", f"torch:{torch_file}:make", "--set", "encoder.layers='14'",
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "encoder.layers: '14' is not a layer combination of 3 layers: it names layer 4, not one of 1-3 (the torch " \
           "encoder tiny_encoder:make has L = 3 layers)" in err
    assert not out.exists()  # no MLflow store, no Ray state, no corpus
    assert main([sweep, "--encoder", f"hear:{hear_file}", "--set", "encoder.layers='3'", "--check"]) == 2
    assert "encoder.layers: '3' is not a layer combination of 2 layers" in capsys.readouterr().err
    assert main([sweep, "--encoder", f"hear:{hear_file}", "--check"]) == 0
    assert "the given encoder hear" in capsys.readouterr().out


def test_an_encoders_track_feature_is_its_chosen_layers_with_failed_clips_as_nan_rows(torch_file, tmp_path):
    e = EncoderConfig(kind="torch", path=f"{torch_file}:fragile")
    y = np.random.default_rng(6).normal(0, 0.05, (4, 8000)).astype(np.float32)
    y[1, 7] = 0.9  # fragile() raises on it
    clips = {"genre": Clips("G", y, 8000)}
    torch.manual_seed(0)
    last = given_feature(e)  # encoder.layers "": the last layer
    assert (last.info["layers"], last.info["encoder.sha256"]) == ("3", load_encoder(e).sha256)
    assert last.info["encoder.name"] == "tiny_encoder:fragile" and last.info["encoder.kind"] == "torch"
    feats, failed = track_features(last, clips, cache_root=tmp_path)
    assert feats["genre"].shape == (4, 5) and list(failed["genre"]) == [1]
    assert "clip too loud for this net" in failed["genre"][1]
    assert np.isnan(feats["genre"][1]).all() and np.isfinite(np.delete(feats["genre"], 1, axis=0)).all()
    again, failed_again = track_features(last, clips, cache_root=tmp_path)  # a cache hit still says why
    assert failed_again == failed and np.array_equal(again["genre"], feats["genre"], equal_nan=True)
    torch.manual_seed(0)
    both = given_feature(EncoderConfig(kind="torch", path=f"{torch_file}:fragile", layers="13"))
    feats13, _ = track_features(both, clips, cache_root=tmp_path)  # the same cache entry, other layers
    assert feats13["genre"].shape == (4, 4 + 5)
    np.testing.assert_array_equal(feats13["genre"][:, 4:], feats["genre"])
    partial, lost = track_features(last, clips, rows={"genre": np.array([1, 3])}, cache_root=tmp_path)
    assert list(lost["genre"]) == [1] and not partial["genre"][[0, 2]].any()  # rows of the subset, not of the part


def test_a_bad_layers_setting_is_refused_when_the_encoder_is_loaded(hear_file):
    with pytest.raises(ModelFileError, match=r"encoder.layers: '12\+3' is not a layer combination of 2 layers"):
        load_release(EncoderConfig(kind="hear", path=str(hear_file), layers="12+3"))
    assert load_release(EncoderConfig(kind="hear", path=str(hear_file))).record == {"encoder.name": "tiny_hear"}


def test_drop_rows_renumbers_the_folds_and_drops_retrieval_rows():
    genre = ProbeSet("genre", np.array([0, 1, 2, 3, 4, 5]), np.array([0, 1, 0, 1, 0, 1]),
                     (np.array([0, 3]), np.array([1, 4]), np.array([2, 5])))
    tags = ProbeSet("source", np.array([10, 12, 14, 16]), np.eye(4)[:, :2], (np.array([0, 1]), np.array([2, 3])))
    retrieval = ProbeSet("source", np.array([10, 12, 14, 16]), np.array([7, 7, 8, 8]))
    arousal = ProbeSet("emotion", np.arange(4), np.zeros(4), (np.array([0, 1]), np.array([2, 3])))
    sets = {"genre": genre, "tagging": tags, "retrieval": retrieval, "arousal": arousal}
    kept, dropped = drop_rows(sets, {"genre": {4}, "source": [12, 13], "emotion": []})
    assert dropped == {"genre": 1, "tagging": 1, "retrieval": 1, "arousal": 0}
    assert kept["genre"].rows.tolist() == [0, 1, 2, 3, 5] and kept["genre"].labels.tolist() == [0, 1, 0, 1, 1]
    assert [f.tolist() for f in kept["genre"].folds] == [[0, 3], [1], [2, 4]]  # positions into the kept rows
    assert kept["tagging"].rows.tolist() == [10, 14, 16] and kept["tagging"].labels.tolist() == [[1, 0], [0, 0], [0, 0]]
    assert [f.tolist() for f in kept["tagging"].folds] == [[0], [1, 2]]
    assert kept["retrieval"].rows.tolist() == [10, 14, 16] and kept["retrieval"].labels.tolist() == [7, 8, 8]
    assert kept["retrieval"].folds == () and kept["arousal"] is arousal  # nothing dropped: the same set
    for rows in ([0, 3], [0, 1, 2, 3, 4]):  # a fold left empty; fewer rows than folds
        with pytest.raises(ValueError, match=r"^probe genre: the encoder failed on \d of its 6 clips; the \d left "
                                             r"cannot fill its 3 folds"):
            drop_rows({"genre": genre}, {"genre": rows})
    with pytest.raises(ValueError, match="probe retrieval: the encoder failed on all 4 of its clips"):
        drop_rows({"retrieval": retrieval}, {"source": [10, 12, 14, 16]})


def _children_by_model(out: Path, experiment: str):
    parent, children = _parent_and_children(out, experiment)
    return parent, {r.data.params["model"]: r for r in children}, len(children)


@pytest.mark.slow  # ~95 s (2 shared cores, busy)
def test_artist_labels_skips_and_records_the_clip_a_torch_encoder_fails_on(ray_session, tmp_path, torch_file):
    from raymir.data.synthetic import load_synthetic
    from raymir.encoders.source import import_code

    out = tmp_path / "out"
    cfg = load_sweep("artist_labels", preset="tiny")
    genre = load_synthetic(cfg.corpus, sr=cfg.mel.sr, cache_root=out / "cache", names=("genre",))["genre"]
    torch_file.write_text(PICKY.replace("MARK = None", f"MARK = {[float(v) for v in genre.audio[2, :4]]!r}"))
    weights = tmp_path / "weights.pt"
    torch.save(import_code(str(torch_file)).picky().state_dict(), weights)
    assert main(["artist_labels", "--preset", "tiny", "--encoder", f"torch:{torch_file}:picky", "--output", str(out),
                 "--set", f"encoder.weights={weights}", "--set", "baselines=[mfcc, random]"]) == 0
    parent, by_model, n = _children_by_model(out, "artist_labels")
    e = EncoderConfig(kind="torch", path=f"{torch_file}:picky", weights=str(weights))
    p = parent.data.params
    assert (p["encoder.kind"], p["encoder.path"], p["encoder.sha256"]) == ("torch", e.path, load_encoder(e).sha256)
    assert set(by_model) == {"torch", "mfcc", "random"} and n == 3 and parent.info.status == "FINISHED"
    for model, r in by_model.items():
        assert r.info.status == "FINISHED"
        assert {"genre_accuracy", "arousal_r2", "tag_roc_auc", "retrieval_map"} <= set(r.data.metrics)
        if model != "mfcc":  # the encoder and its twin fail on the marked clip: left out of the genre probe alone
            m = r.data.metrics
            assert (m["genre_skipped_clips"], m["arousal_skipped_clips"], m["retrieval_skipped_clips"]) == (1, 0, 0)
        else:
            assert not any(k.endswith("_skipped_clips") for k in r.data.metrics)
    given = by_model["torch"].data.params
    assert (given["encoder.name"], given["layers"], given["encoder.sha256"]) == ("tiny_encoder:picky", "3",
                                                                                  p["encoder.sha256"])
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    local = client.download_artifacts(by_model["torch"].info.run_id, "encoder_skipped/genre.csv", str(tmp_path))
    assert Path(local).read_text().splitlines() == [
        "path,reason", "genre row 2,tiny_encoder:picky raised RuntimeError: the marked clip"]


@pytest.mark.slow  # ~60 s
def test_artist_tags_probes_a_hear_module_without_a_random_trial(ray_session, tmp_path, hear_file, capsys):
    out = tmp_path / "out"
    assert main(["artist_tags", "--preset", "tiny", "--encoder", f"hear:{hear_file}", "--output", str(out)]) == 0
    assert "no 'random' trial for a HEAR module (no untrained twin to build)" in capsys.readouterr().out
    parent, by_model, n = _children_by_model(out, "artist_tags")
    sha = load_encoder(EncoderConfig(kind="hear", path=str(hear_file))).sha256
    assert (parent.data.params["encoder.kind"], parent.data.params["encoder.sha256"]) == ("hear", sha)
    assert set(by_model) == {"hear", "mfcc"} and n == 2
    hear = by_model["hear"]
    assert (hear.data.params["layers"], hear.data.params["encoder.name"]) == ("2", "tiny_hear")
    assert hear.data.metrics["genre_skipped_clips"] == 0 == hear.data.metrics["valence_skipped_clips"]
    for r in by_model.values():
        assert r.info.status == "FINISHED" and {"genre_accuracy", "arousal_r2", "valence_r2"} <= set(r.data.metrics)
    assert not (out / "cache" / "pretrain").exists()
