"""CSV manifests of a researcher's own corpus → cached Subset (labels, decoding, caching, errors)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from raymir.data import manifest
from raymir.data.manifest import ManifestError, load_manifest

SR = 8000
DURATION = 0.5
N = int(round(SR * DURATION))


def _tone(freq: float, sr: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return y if channels == 1 else np.stack([y, -0.5 * y], axis=1)  # [t, 2]: mono mix = 0.25 * y


def _write(path: Path, y: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr)
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Four tracks: wav/flac at 8, 16, 22.05 and 44.1 kHz, one stereo, one longer than the clip."""
    audio = tmp_path / "corpus" / "audio"
    _write(audio / "a1.wav", _tone(440, 16000, 0.3), 16000)  # short: repeat-padded
    _write(audio / "a2.flac", _tone(220, 22050, 1.0), 22050)  # long: cropped
    _write(audio / "b1.wav", _tone(330, 44100, 0.7, channels=2), 44100)  # stereo
    absolute = _write(tmp_path / "elsewhere" / "c1.wav", _tone(550, SR, 0.5), SR)  # absolute path, no resampling
    csv = tmp_path / "corpus" / "my_corpus.csv"
    csv.write_text(
        "path,artist,genre,album,subgenres,track_id,notes\n"
        "audio/a1.wav,Zed,rock,First,grunge;indie,t1,ignored\n"
        "audio/a2.flac,Zed,rock,Second,indie,t2,\n"
        "audio/b1.wav,Ann,jazz,First, bebop ; cool ,t3,x\n"
        f"{absolute},Bob,rock,,,t4,\n"
    )
    return csv


def test_labels_classes_groups(corpus: Path, tmp_path: Path) -> None:
    s = load_manifest(corpus, sr=SR, duration=DURATION, cache_root=tmp_path / "cache", workers=1)
    assert s.name == "my_corpus" and s.sr == SR and len(s) == 4
    assert s.classes["genre"] == ["jazz", "rock"]
    assert s.labels["genre"].tolist() == [1, 1, 0, 1]
    assert s.classes["artist"] == ["Ann", "Bob", "Zed"]
    assert s.labels["artist"].tolist() == [2, 2, 0, 1]
    assert s.groups.tolist() == s.labels["artist"].tolist()
    # Albums are per (artist, album): Zed/First and Ann/First differ; Bob has none.
    assert s.classes["album"] == ["Ann / First", "Bob / (no album)", "Zed / First", "Zed / Second"]
    assert s.labels["album"].tolist() == [2, 3, 0, 1]
    assert s.classes["subgenres"] == ["bebop", "cool", "grunge", "indie"]
    assert s.labels["subgenres"].dtype == np.float32
    np.testing.assert_array_equal(s.labels["subgenres"], [[0, 0, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]])
    assert s.classes["track_id"] == ["t1", "t2", "t3", "t4"]
    assert "notes" not in s.labels and s.folds is None


def test_audio_resampled_mono_exact_length(corpus: Path, tmp_path: Path) -> None:
    s = load_manifest(corpus, sr=SR, duration=DURATION, cache_root=tmp_path / "cache", workers=1)
    assert s.audio.shape == (4, N) and s.audio.dtype == np.float32
    assert np.all(np.isfinite(s.audio))
    # Each clip keeps its pitch after resampling: the spectral peak sits at the tone's frequency.
    freqs = np.fft.rfftfreq(N, 1 / SR)
    peaks = [freqs[np.argmax(np.abs(np.fft.rfft(y)))] for y in np.asarray(s.audio)]
    np.testing.assert_allclose(peaks, [440, 220, 330, 550], atol=3)
    # Stereo (y, -0.5 y) is mixed to mono 0.25 y: amplitude 0.075, not 0.3 (one channel) or 0 (a difference).
    assert np.max(np.abs(s.audio[2])) == pytest.approx(0.075, rel=0.05)
    # The 0.3 s clip at 16 kHz is repeat-padded: 2400 samples at 8 kHz, then repeated.
    np.testing.assert_allclose(s.audio[0, 2400:4000], s.audio[0, :1600])
    # An 8 kHz file needs no resampling: stored exactly.
    np.testing.assert_allclose(s.audio[3], sf.read(corpus.parent.parent / "elsewhere" / "c1.wav", dtype="float32")[0])


def test_workers_match_sequential_and_no_track_id_column(tmp_path: Path) -> None:
    d = tmp_path / "c"
    for i in range(3):
        _write(d / f"x{i}.wav", _tone(200 + 100 * i, 11025, 0.4, channels=1 + i % 2), 11025)
    csv = d / "plain.csv"
    csv.write_text("Path , Artist,GENRE\n" + "".join(f"x{i}.wav,art{i % 2},g{i}\n" for i in range(3)))
    seq = load_manifest(csv, sr=SR, duration=DURATION, cache_root=tmp_path / "c1", workers=1)
    par = load_manifest(csv, sr=SR, duration=DURATION, cache_root=tmp_path / "c2", workers=2)
    np.testing.assert_array_equal(np.asarray(seq.audio), np.asarray(par.audio))
    assert seq.classes == par.classes and seq.classes["track_id"] == ["x0.wav", "x1.wav", "x2.wav"]
    assert "album" not in seq.labels and "subgenres" not in seq.labels


def test_cache_hit_and_rebuild_after_audio_change(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = manifest._decode

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(manifest, "_decode", counting)
    root = tmp_path / "cache"
    first = load_manifest(corpus, sr=SR, duration=DURATION, cache_root=root, workers=1)
    assert len(calls) == 4
    again = load_manifest(corpus, sr=SR, duration=DURATION, cache_root=root, workers=1)
    assert len(calls) == 4 and again.path == first.path  # nothing decoded

    # Another sample rate or duration is another corpus.
    load_manifest(corpus, sr=SR, duration=0.25, cache_root=root, workers=1)
    assert len(calls) == 8

    changed = corpus.parent / "audio" / "a1.wav"
    _write(changed, _tone(880, 16000, 0.3), 16000)
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # mtime surely differs
    rebuilt = load_manifest(corpus, sr=SR, duration=DURATION, cache_root=root, workers=1)
    assert len(calls) == 12 and rebuilt.path != first.path
    assert not np.allclose(rebuilt.audio[0], first.audio[0])
    np.testing.assert_array_equal(rebuilt.audio[1:], first.audio[1:])

    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))  # touched only: rebuilt too
    load_manifest(corpus, sr=SR, duration=DURATION, cache_root=root, workers=1)
    assert len(calls) == 16


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    _write(d / "ok.wav", _tone(440, SR, 0.2), SR)
    (d / "x.wav").write_text("this is not audio")
    csv = d / "broken.csv"
    csv.write_text(
        "path,artist,genre\n"
        "ok.wav,A,rock\n"
        "missing.flac,A,rock\n"
        "ok.wav,B,\n"
        "x.wav,B,pop\n"
    )
    with pytest.raises(ManifestError) as info:
        load_manifest(csv, sr=SR, duration=DURATION, cache_root=tmp_path / "cache", workers=1)
    err = info.value
    msg = str(err)
    assert str(csv) in msg and len(err.problems) == 3
    assert "row 3, column 'path': audio file not found" in msg and "missing.flac" in msg
    assert "row 4, column 'genre': empty cell" in msg
    assert "row 5, column 'path'" in msg and "x.wav" in msg and "cannot decode" in msg
    assert "Format not recognised" in msg or "Error opening" in msg  # the decoder's own message
    assert not (tmp_path / "cache" / "corpus").exists() or not any((tmp_path / "cache" / "corpus").iterdir())


def test_missing_column_reported_with_row_problems(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    _write(d / "ok.wav", _tone(440, SR, 0.2), SR)
    csv = d / "noartist.csv"
    csv.write_text("path,genre\nok.wav,rock\nnope.wav,\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(csv, sr=SR, duration=DURATION, cache_root=tmp_path / "cache")
    msg = str(info.value)
    assert str(csv) in msg and "missing required column: artist" in msg
    assert "row 3, column 'path': audio file not found" in msg and "row 3, column 'genre': empty cell" in msg


def test_undecodable_and_empty_files_found_while_decoding(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    _write(d / "ok.wav", _tone(440, SR, 0.2), SR)
    _write(d / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    (d / "x.wav").write_bytes(b"RIFF\x00\x00garbage")
    csv = d / "dec.csv"
    csv.write_text("path,artist,genre\nok.wav,A,rock\nempty.wav,A,rock\nx.wav,B,pop\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(csv, sr=SR, duration=DURATION, cache_root=tmp_path / "cache", workers=1)
    msg = str(info.value)
    assert len(info.value.problems) == 2 and str(csv) in msg
    assert "row 3, column 'path'" in msg and "no audio samples" in msg
    assert "row 4, column 'path'" in msg and "cannot decode" in msg
    # A failed build leaves no cached corpus behind.
    assert not any(p.name.endswith(".done") for p in (tmp_path / "cache").rglob("*"))


def test_manifest_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        load_manifest(tmp_path / "none.csv", sr=SR, duration=DURATION, cache_root=tmp_path / "cache")
    header_only = tmp_path / "h.csv"
    header_only.write_text("path,artist,genre\n")
    with pytest.raises(ManifestError, match="no data rows"):
        load_manifest(header_only, sr=SR, duration=DURATION, cache_root=tmp_path / "cache")
    _write(tmp_path / "a.wav", _tone(440, SR, 0.2), SR)
    dup = tmp_path / "dup.csv"
    dup.write_text("path,artist,genre,track_id\na.wav,A,rock,t\na.wav,A,rock,t\n")
    with pytest.raises(ManifestError, match=r"row 3, column 'track_id': duplicate track id 't' \(also on row 2\)"):
        load_manifest(dup, sr=SR, duration=DURATION, cache_root=tmp_path / "cache")
    err = ManifestError(dup, ["a", "b"])
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert again.problems == ["a", "b"] and str(again) == str(err)
