"""The released Keras models' importer (raymir.models.keras_release), on fixture files written here in the
releases' HDF5 layouts with random weights, against a numpy implementation of the Keras forward pass."""

import hashlib
import itertools

import h5py
import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from numpy.lib.stride_tricks import sliding_window_view

from raymir.__main__ import main
from raymir.data.decode import decode
from raymir.errors import ModelFileError
from raymir.models.choi2017 import Choi2017
from raymir.models.keras_release import (
    CHOI_MEL,
    CHOI_RELEASE_OPTIONS,
    CHOI_TAGS,
    PARK_RELEASE_OPTIONS,
    load_choi2017,
    load_park2017,
)
from raymir.models.park2017 import CROP_FRAMES, Park2017, track_feature

# The MSD top-50 tags in the released model's output order, as listed in the design notes.
TAGS = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock", "jazz",
    "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow", "electronica",
    "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
    "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
]
CHOI_POOLS = [(2, 4), (3, 4), (2, 5), (2, 4), (4, 4)]
PARK_TOWER = [(4, 128, 128, 4), (4, 128, 128, 4), (4, 128, 128, 4), (2, 128, 128, 2), (1, 128, 256, None)]
PARK_MEAN, PARK_STD = 0.22620339, 0.25794547
BN = ("gamma", "beta", "moving_mean", "moving_variance")


# --- fixture files in the releases' layouts ---------------------------------------------------


def write_keras_h5(path, weights, layers, *, weights_only=False):
    """A Keras 2.1.1 HDF5 file: ``model_weights/<layer>/<layer>/<name>:0`` (or, as save_weights writes it, the layer
    groups at the root), ``layer_names`` / ``weight_names`` attributes, and an ``optimizer_weights`` group whose
    datasets have the wrong shapes for the model (an importer that read them would fail)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.1.1"
        f.attrs["backend"] = b"tensorflow"
        root = f if weights_only else f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([name.encode() for name in layers])
        for layer in layers:
            g = root.create_group(layer)
            ws = weights.get(layer, {})
            g.attrs["weight_names"] = np.array([f"{layer}/{n}:0".encode() for n in ws], dtype="S64")
            for name, value in ws.items():
                g.create_dataset(f"{layer}/{name}:0", data=np.asarray(value, dtype=np.float32))
        if not weights_only:
            f.attrs["model_config"] = b'{"class_name": "Model", "config": {}}'
            opt = f.create_group("optimizer_weights")
            opt.create_dataset("training/SGD/Variable:0", data=np.ones((7, 3)))
            opt.create_dataset("conv2d_1/kernel:0", data=np.ones(5))
            opt.create_dataset("conv1d_1/kernel:0", data=np.ones(5))


def kapre_melgram_weights():
    """kapre's stored front end: periodic-Hann-windowed DFT kernels [512, 1, 1, 257] and the mel matrix [257, 96]."""
    n_fft = 512
    t = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n_fft)
    w = 2 * np.pi * np.arange(n_fft // 2 + 1) / n_fft
    real = (np.cos(t[:, None] * w[None, :]) * window[:, None])[:, None, None, :]
    imag = (-np.sin(t[:, None] * w[None, :]) * window[:, None])[:, None, None, :]
    fb = librosa.filters.mel(sr=12000, n_fft=n_fft, n_mels=96, fmin=0.0, fmax=6000.0).T
    return {"real_kernels": real, "imag_kernels": imag, "Variable": fb}


def bn_weights(rng, c):
    # small moving variances, so that torch's eps (1e-5) in place of Keras' (1e-3) shows; gamma in proportion, so that
    # activations keep their scale through the layers
    var = rng.uniform(0.005, 1.0, c)
    return {"gamma": np.sqrt(var) * rng.uniform(0.5, 1.5, c), "beta": rng.normal(0, 0.1, c),
            "moving_mean": rng.normal(0, 0.3, c), "moving_variance": var}


def choi_weights(seed=0):
    rng = np.random.default_rng(seed)
    w = {"melgram": kapre_melgram_weights()}
    for i in range(1, 6):
        c_in = 1 if i == 1 else 32
        w[f"conv2d_{i}"] = {"kernel": rng.normal(0, np.sqrt(2 / (9 * c_in)), (3, 3, c_in, 32)),
                            "bias": rng.normal(0, 0.1, 32)}
        w[f"batch_normalization_{i}"] = bn_weights(rng, 32)
    w["dense_1"] = {"kernel": rng.normal(0, 0.05, (32, 50)), "bias": rng.normal(0, 0.5, 50)}
    return w


def choi_layers(rename=None):
    layers = ["melgram", "normalization2d_1"]
    for i in range(1, 6):
        layers += [f"conv2d_{i}", f"batch_normalization_{i}", f"elu_{i}", f"max_pooling2d_{i}"]
    layers += ["global_max_pooling2d_1", "dense_1"]
    return [rename.get(name, name) for name in layers] if rename else layers


def park_weights(n_artists=None, seed=1):
    rng = np.random.default_rng(seed)
    w = {}
    for i, (k, c_in, c_out, _) in enumerate(PARK_TOWER, start=1):
        w[f"conv1d_{i}"] = {"kernel": rng.normal(0, np.sqrt(2 / (k * c_in)), (k, c_in, c_out)), "bias": rng.normal(0, 0.1, c_out)}
        w[f"batch_normalization_{i}"] = bn_weights(rng, c_out)
    if n_artists:
        w["dense_1"] = {"kernel": rng.normal(0, 0.2, (256, n_artists)), "bias": rng.normal(0, 0.2, n_artists)}
    return w


def park_layers(siamese):
    layers = [f"input_{i}" for i in range(1, 7 if siamese else 2)]
    for i in range(1, 6):
        layers += [f"conv1d_{i}", f"batch_normalization_{i}", f"activation_{i}"] + ([f"max_pooling1d_{i}"] if i < 5 else [])
    layers += ["global_average_pooling1d_1"]
    return layers + ([f"dot_{i}" for i in range(1, 6)] + ["concatenate_1", "activation_6"] if siamese else ["dense_1"])


@pytest.fixture
def choi_file(tmp_path):
    path = tmp_path / "model_best.hdf5"
    write_keras_h5(path, choi_weights(), choi_layers())
    return path


# --- an independent Keras forward pass in numpy (channels-last, float64) ----------------------


def conv_same(x, kernel, bias):
    """Keras Conv1D/Conv2D, padding "same", stride 1: x [B, *spatial, C], kernel [*k, C, O] → [B, *spatial, O].
    An even kernel gets one step less of zeros on the left than on the right."""
    ks, spatial = kernel.shape[:-2], x.shape[1:-1]
    xp = np.pad(x, [(0, 0), *(((n - 1) // 2, n // 2) for n in ks), (0, 0)])
    out = np.zeros(x.shape[:-1] + (kernel.shape[-1],))
    for offset in itertools.product(*(range(n) for n in ks)):
        out += xp[(slice(None), *(slice(o, o + s) for o, s in zip(offset, spatial)))] @ kernel[offset]
    return out + bias


def batch_norm(x, w):
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-3) * w["gamma"] + w["beta"]


def max_pool_valid(x, pool):
    """Keras MaxPooling1D/2D, padding "valid": x [B, *spatial, C] → [B, *(spatial // pool), C]."""
    n = [s // p for s, p in zip(x.shape[1:-1], pool)]
    x = x[(slice(None), *(slice(0, m * p) for m, p in zip(n, pool)))]
    x = x.reshape([x.shape[0], *itertools.chain(*zip(n, pool)), x.shape[-1]])
    return x.max(axis=tuple(range(2, 2 + 2 * len(pool), 2)))


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def keras_choi(spec, w):
    """The released tagger after its melgram layer: dB spec [B, 96, T] → (logits, sigmoid) [B, 50]."""
    x = spec[..., None].astype(np.float64)  # channels-last [B, freq, time, 1]
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    x = (x - mean) / (x.std(axis=(1, 2, 3), keepdims=True) + 1e-10)  # kapre Normalization2D, "data_sample"
    for i, pool in enumerate(CHOI_POOLS, start=1):
        x = max_pool_valid(elu(batch_norm(conv_same(x, w[f"conv2d_{i}"]["kernel"], w[f"conv2d_{i}"]["bias"]),
                                          w[f"batch_normalization_{i}"])), pool)
    logits = x.max(axis=(1, 2)) @ w["dense_1"]["kernel"] + w["dense_1"]["bias"]  # GlobalMaxPooling2D, Dense
    return logits, 1 / (1 + np.exp(-logits))


def keras_park_tower(spec, w):
    """The release's tower: log-mel [B, T, 128] (time first, as its inputs) → activation_5 [B, T // 128, 256]."""
    x = (spec.astype(np.float64) - PARK_MEAN) / PARK_STD
    for i, (_, _, _, pool) in enumerate(PARK_TOWER, start=1):
        x = np.maximum(batch_norm(conv_same(x, w[f"conv1d_{i}"]["kernel"], w[f"conv1d_{i}"]["bias"]),
                                  w[f"batch_normalization_{i}"]), 0)
        if pool:
            x = max_pool_valid(x, (pool,))
    return x


def kapre_db_melgram(y, w, *, hop=256):
    """kapre's Melspectrogram (power 2, dB) on one clip: a strided "same" convolution with the stored DFT kernels,
    the stored mel matrix, 10·log10(max(x, 1e-10)) minus the maximum, floored at -80 dB. y [n] → [96, ceil(n / hop)]."""
    n_fft, n = w["real_kernels"].shape[0], len(y)
    n_frames = -(-n // hop)
    pad = max((n_frames - 1) * hop + n_fft - n, 0)
    frames = sliding_window_view(np.pad(y.astype(np.float64), (pad // 2, pad - pad // 2)), n_fft)[::hop][:n_frames]
    power = (frames @ w["real_kernels"][:, 0, 0, :]) ** 2 + (frames @ w["imag_kernels"][:, 0, 0, :]) ** 2
    db = 10 * np.log10(np.maximum(power @ w["Variable"], 1e-10))
    return np.maximum(db - db.max(), -80.0).T


def close(ours, ref, rtol=1e-4):
    """Agreement to ``rtol`` of the reference's scale (float32 torch against float64 numpy)."""
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * float(np.abs(ref).max()))


# --- Choi et al. 2017 -------------------------------------------------------------------------


def test_tag_names_are_the_msd_top_50_in_output_order():
    assert list(CHOI_TAGS) == TAGS and len(set(TAGS)) == 50


def test_choi_release_matches_the_keras_forward_pass_on_a_spectrogram(choi_file):
    net, info = load_choi2017(choi_file)
    w = choi_weights()
    rng = np.random.default_rng(2)
    # two dB spectrograms of the release's size (96 × 1360) with different levels and spreads
    spec = np.stack([rng.uniform(-80, 0, (96, 1360)), 0.3 * rng.uniform(-80, 0, (96, 1360)) - 5]).astype(np.float32)
    logits, probs = keras_choi(spec, w)
    with torch.no_grad():
        ours = net.forward_spec(torch.from_numpy(spec)[:, None])
    close(ours.numpy(), logits)
    close(torch.sigmoid(ours).numpy(), probs)
    assert info.sha256 == hashlib.sha256(choi_file.read_bytes()).hexdigest()
    assert info.tags == tuple(TAGS) and info.model == "choi2017" and not info.published
    assert all(m.eps == 1e-3 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_choi_release_head_is_a_global_max_pool_for_longer_inputs(choi_file):
    net, _ = load_choi2017(choi_file)
    spec = np.random.default_rng(3).uniform(-80, 0, (1, 96, 2600)).astype(np.float32)
    with torch.no_grad():
        last = net.spec_maps(torch.from_numpy(spec)[:, None])[-1]
        ours = net.forward_spec(torch.from_numpy(spec)[:, None]).numpy()
    assert last.shape[2:] == (1, 2)  # two time steps reach the head, so max and mean differ
    close(ours, keras_choi(spec, choi_weights())[0])


def test_choi_release_standardises_each_clip_by_its_own_mean_and_std(choi_file):
    net, _ = load_choi2017(choi_file)
    rng = np.random.default_rng(4)
    spec = torch.from_numpy(rng.uniform(-80, 0, (2, 1, 96, 1360)).astype(np.float32))
    with torch.no_grad():
        both = net.forward_spec(spec)
        alone = net.forward_spec(spec[1:])
        # a clip's level and spread do not reach the first conv: an affine change of one clip changes nothing
        moved = net.forward_spec(torch.cat([spec[:1], 0.25 * spec[1:] - 30]))
    torch.testing.assert_close(both[1:], alone, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(moved, both, rtol=1e-4, atol=1e-4)


def test_imported_front_end_is_kapres_framing_and_db(choi_file):
    net, _ = load_choi2017(choi_file)
    rng = np.random.default_rng(5)
    t = np.arange(CHOI_MEL.sr * 2) / CHOI_MEL.sr
    y = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
    y[12000:18000] *= 1e-5  # a near-silent half second, far under the 80 dB floor
    y = y.astype(np.float32)
    ref = kapre_db_melgram(y, kapre_melgram_weights())
    with torch.no_grad():
        ours = net.frontend(torch.from_numpy(y)[None])[0, 0].numpy()
    assert ours.shape == ref.shape == (96, 94)  # ceil(24000 / 256) frames
    assert (ref == -80).mean() > 0.1  # the floor is reached
    assert np.max(np.abs(ours - ref)) < 0.05  # dB, over an 80 dB range (float32 against float64)
    # the release's 29-s input: 1360 frames, as librosa's centred framing gives (kapre's start 48 samples later)
    assert net.frontend(torch.zeros(1, CHOI_MEL.n_samples)).shape[-1] == CHOI_MEL.n_frames == 1360


def test_release_options_are_off_by_default_and_add_no_parameters():
    mine, release = Choi2017(50), Choi2017(50, **CHOI_RELEASE_OPTIONS)
    assert not mine.standardize and mine.head_pool == "mean" and mine.frontend.framing == "center"
    assert all(m.eps == 1e-5 for m in mine.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in release.state_dict().items()}
    park, park_release = Park2017(None), Park2017(None, **PARK_RELEASE_OPTIONS)
    assert park.standardize is None
    assert {k: v.shape for k, v in park.state_dict().items()} == {k: v.shape for k, v in park_release.state_dict().items()}


def test_tags_command_prints_the_top_tags_in_the_nets_order(choi_file, tmp_path, capsys):
    rng = np.random.default_rng(6)
    sr = 22050  # resampled to 12 kHz, averaged to mono and repeated to 29 s by the command
    t = np.arange(int(sr * 3.0)) / sr
    left = 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.02 * rng.standard_normal(len(t))
    wav = tmp_path / "clip.wav"
    sf.write(wav, np.stack([left, 0.5 * left], axis=1).astype(np.float32), sr)

    net, _ = load_choi2017(choi_file)
    y = decode(wav, sr=12000, duration=29.0)
    with torch.no_grad():
        scores = torch.sigmoid(net(torch.from_numpy(y)[None]))[0].numpy()
    order = np.argsort(-scores, kind="stable")
    assert len(set(scores.tolist())) == 50  # no ties: the order is well defined

    assert main(["tags", str(wav), "--model", str(choi_file), "--top", "5"]) == 0
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [TAGS[i] for i in order[:5]]
    assert [float(line.split()[0]) for line in lines] == pytest.approx([scores[i] for i in order[:5]], abs=6e-4)
    assert "not the published model_best.hdf5" in out.err

    assert main(["tags", str(wav), "--model", str(choi_file)]) == 0  # --top 10 by default
    assert [line.split("  ", 1)[1] for line in capsys.readouterr().out.strip().splitlines()] == [TAGS[i] for i in order[:10]]
    assert main(["tags", str(wav), "--model", str(choi_file), "--top", "50"]) == 0  # every name, in the net's order
    assert [line.split("  ", 1)[1] for line in capsys.readouterr().out.strip().splitlines()] == [TAGS[i] for i in order]


def test_tags_command_reports_a_bad_model_file_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "model_best.hdf5"
    bad.write_text("not a model")
    assert main(["tags", str(tmp_path / "clip.wav"), "--model", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


# --- refusals -------------------------------------------------------------------------------


def test_a_renamed_layer_is_refused_naming_both_layers_and_shapes(tmp_path):
    w = choi_weights()
    w["conv2d_9"] = w.pop("conv2d_3")
    path = tmp_path / "renamed.hdf5"
    write_keras_h5(path, w, choi_layers({"conv2d_3": "conv2d_9"}))
    with pytest.raises(ModelFileError) as e:
        load_choi2017(path)
    msg = str(e.value)
    assert str(path) in msg
    assert "layer conv2d_3: missing (expected kernel (3, 3, 32, 32), bias (32,))" in msg
    assert "layer conv2d_9: not part of the Choi 2017 tagger architecture (holds " in msg
    assert "conv2d_9/kernel:0 (3, 3, 32, 32)" in msg


def test_a_reshaped_kernel_is_refused_naming_the_layer_weight_and_both_shapes(tmp_path):
    w = choi_weights()
    w["conv2d_2"]["kernel"] = w["conv2d_2"]["kernel"].reshape(3, 3, 16, 64)
    path = tmp_path / "reshaped.hdf5"
    write_keras_h5(path, w, choi_layers())
    with pytest.raises(ModelFileError, match=r"layer conv2d_2, weight kernel: expected shape \(3, 3, 32, 32\), "
                                             r"found \(3, 3, 16, 64\)") as e:
        load_choi2017(path)
    assert str(path) in str(e.value)

    pw = park_weights(n_artists=20)
    pw["conv1d_4"]["kernel"] = np.zeros((4, 128, 128))
    path = tmp_path / "park_reshaped.h5"
    write_keras_h5(path, pw, park_layers(siamese=False))
    with pytest.raises(ModelFileError, match=r"layer conv1d_4, weight kernel: expected shape \(2, 128, 128\), "
                                             r"found \(4, 128, 128\)"):
        load_park2017(path)


def test_a_missing_layer_or_a_foreign_front_end_is_refused(tmp_path):
    w = choi_weights()
    del w["batch_normalization_4"]
    path = tmp_path / "missing.hdf5"
    write_keras_h5(path, w, [n for n in choi_layers() if n != "batch_normalization_4"])
    with pytest.raises(ModelFileError, match=r"layer batch_normalization_4: missing \(expected gamma \(32,\)"):
        load_choi2017(path)

    w = choi_weights()
    w["melgram"]["Variable"] = librosa.filters.mel(sr=12000, n_fft=512, n_mels=96, htk=True).T
    path = tmp_path / "htk.hdf5"
    write_keras_h5(path, w, choi_layers())
    with pytest.raises(ModelFileError, match="layer melgram, weight Variable: differs from the front end raymir computes"):
        load_choi2017(path)


@pytest.mark.parametrize("damage", ["truncated", "not_hdf5", "no_weights"])
def test_an_unreadable_file_is_refused_naming_the_file(choi_file, tmp_path, damage):
    path = tmp_path / f"{damage}.hdf5"
    if damage == "truncated":
        path.write_bytes(choi_file.read_bytes()[: choi_file.stat().st_size // 2])
    elif damage == "not_hdf5":
        path.write_bytes(b"<html>404: Not Found</html>")
    else:
        with h5py.File(path, "w") as f:
            f.create_group("something_else")
    with pytest.raises(ModelFileError, match="cannot read it as an HDF5 model file|not a Keras model file") as e:
        load_choi2017(path)
    assert str(path) in str(e.value)


# --- Park et al. 2017 -----------------------------------------------------------------------


def test_park_siamese_release_tower_and_track_feature_match_the_keras_forward_pass(tmp_path):
    path = tmp_path / "model_siamese_10000.h5"
    w = park_weights()
    write_keras_h5(path, w, park_layers(siamese=True))
    net, info = load_park2017(path)
    assert info.model == "park2017_siamese" and info.n_artists is None and net.head is None
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert all(m.eps == 1e-3 for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d))

    rng = np.random.default_rng(7)
    spec = rng.uniform(0, 1.2, (2, 3 * CROP_FRAMES + 20, 128)).astype(np.float32)  # log10(1 + 10·mel), time first
    x = torch.from_numpy(spec).transpose(1, 2)  # raymir's layout [B, n_mels, frames]
    crop = spec[:, :CROP_FRAMES]
    with torch.no_grad():
        emb = net(x[:, :, :CROP_FRAMES]).numpy()
    close(emb, keras_park_tower(crop, w).mean(axis=1))  # GlobalAvgPool1D: the embedding trained with
    # the track feature: activation_5 per 129-frame segment, max over time, mean over the segments
    segs = [keras_park_tower(spec[:, i * CROP_FRAMES:(i + 1) * CROP_FRAMES], w).max(axis=1) for i in range(3)]
    close(track_feature(net, x).numpy(), np.mean(segs, axis=0))


@pytest.mark.parametrize("weights_only", [False, True])
def test_park_basic_release_matches_the_keras_softmax(tmp_path, weights_only):
    path = tmp_path / "weights.h5"
    w = park_weights(n_artists=20)
    write_keras_h5(path, w, park_layers(siamese=False), weights_only=weights_only)
    net, info = load_park2017(path)
    assert info.model == "park2017_basic" and info.n_artists == 20
    spec = np.random.default_rng(8).uniform(0, 1.2, (3, CROP_FRAMES, 128)).astype(np.float32)
    logits = keras_park_tower(spec, w).mean(axis=1) @ w["dense_1"]["kernel"] + w["dense_1"]["bias"]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    with torch.no_grad():
        ours = torch.softmax(net(torch.from_numpy(spec).transpose(1, 2)), dim=1).numpy()
    close(ours, probs / probs.sum(axis=1, keepdims=True))
